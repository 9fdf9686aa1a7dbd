//! The console's coordination state on the embedded backend: the `coordination` table holds
//! client heads (`client#{id}`), leases (`lease#{name}`) and the rotation journal
//! and documents such as the rotation journal (`journal#rotation`), each a row of (pk, version, token, body) with conditional writes as
//! the DynamoDB coordination table has them.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{Db, FailResult, to_i64};
use crate::store::{
    Contended, Coordination, Fence, LeaseRecord, StoreError, StoreResult, Versioned,
};

/// The key of a client's head.
pub(super) fn head_key(client_id: &str) -> String {
    format!("client#{client_id}")
}

fn lease_key(name: &str) -> String {
    format!("lease#{name}")
}

/// (version, token, body) of a row.
pub(super) fn read_row(
    conn: &Connection,
    key: &str,
) -> FailResult<Option<(i64, Option<String>, String)>> {
    Ok(conn
        .prepare_cached("SELECT version, token, body FROM coordination WHERE pk = ?1")?
        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?)
}

pub(super) fn write_row(
    conn: &Connection,
    key: &str,
    version: u64,
    token: Option<&str>,
    body: &str,
) -> FailResult<()> {
    conn.prepare_cached(
        "INSERT INTO coordination (pk, version, token, body) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (pk) DO UPDATE SET version = ?2, token = ?3, body = ?4",
    )?
    .execute(params![key, to_i64(version), token, body])?;
    Ok(())
}

fn lost_lease(name: &str) -> StoreError {
    StoreError::conflict(
        Contended::Lease(name.to_string()),
        format!(
            "the {name} lease is no longer held by this run (it expired and another run took it \
             over); nothing was written"
        ),
    )
}

/// The condition a fenced write is made under: the lease still holds the fence's token.
pub(super) fn check_fence(conn: &Connection, fence: &Fence) -> FailResult<()> {
    match read_row(conn, &lease_key(&fence.lease))? {
        Some((_, Some(token), _)) if token == fence.token => Ok(()),
        _ => Err(lost_lease(&fence.lease).into()),
    }
}

pub(super) struct LocalCoordination {
    db: Arc<Db>,
}

impl LocalCoordination {
    pub(super) fn new(db: Arc<Db>) -> Self {
        LocalCoordination { db }
    }
}

fn decode_lease(body: &str) -> StoreResult<LeaseRecord> {
    serde_json::from_str(body).map_err(|e| {
        StoreError::Backend(format!(
            "a lease in the local database is unreadable ({e}); it is removed when it expires"
        ))
    })
}

#[async_trait]
impl Coordination for LocalCoordination {
    async fn lease(&self, name: &str) -> StoreResult<Option<LeaseRecord>> {
        let key = lease_key(name);
        self.db
            .run(move |conn| match read_row(conn, &key)? {
                Some((_, _, body)) => Ok(Some(decode_lease(&body)?)),
                None => Ok(None),
            })
            .await
    }

    async fn put_lease(&self, lease: &LeaseRecord, expect: Option<&str>) -> StoreResult<()> {
        let key = lease_key(&lease.name);
        let name = lease.name.clone();
        let token = lease.token.clone();
        let expect = expect.map(str::to_string);
        let body = serde_json::to_string(lease)
            .map_err(|e| StoreError::Backend(format!("cannot encode the {name} lease: {e}")))?;
        self.db
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let found = read_row(&tx, &key)?;
                let ok = match (&expect, &found) {
                    (None, None) => true,
                    (Some(want), Some((_, Some(have), _))) => want == have,
                    _ => false,
                };
                if !ok {
                    return Err(StoreError::conflict(
                        Contended::Lease(name.clone()),
                        format!("the {name} lease changed meanwhile; another run holds it"),
                    )
                    .into());
                }
                let version = found.map_or(0, |(v, _, _)| v) + 1;
                write_row(&tx, &key, version as u64, Some(&token), &body)?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn delete_lease(&self, name: &str, token: &str) -> StoreResult<()> {
        let key = lease_key(name);
        let name = name.to_string();
        let token = token.to_string();
        self.db
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                match read_row(&tx, &key)? {
                    Some((_, Some(have), _)) if have == token => {
                        tx.prepare_cached("DELETE FROM coordination WHERE pk = ?1")?
                            .execute([&key])?;
                    }
                    _ => return Err(lost_lease(&name).into()),
                }
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn doc(&self, key: &str) -> StoreResult<Option<Versioned>> {
        let key = key.to_string();
        self.db
            .run(move |conn| {
                Ok(read_row(conn, &key)?.map(|(version, _, text)| Versioned {
                    text,
                    version: u64::try_from(version).unwrap_or(0),
                }))
            })
            .await
    }

    async fn put_doc(
        &self,
        key: &str,
        text: &str,
        expect: u64,
        fence: Option<&Fence>,
        resource: Contended,
    ) -> StoreResult<()> {
        let key = key.to_string();
        let text = text.to_string();
        let fence = fence.cloned();
        self.db
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                if let Some(fence) = &fence {
                    check_fence(&tx, fence)?;
                }
                let found = read_row(&tx, &key)?.map_or(0, |(v, _, _)| v);
                if found != to_i64(expect) {
                    return Err(StoreError::conflict(
                        resource.clone(),
                        format!(
                            "{resource} was changed by another run (expected version {expect}, \
                             found {found}); nothing was written"
                        ),
                    )
                    .into());
                }
                write_row(&tx, &key, expect + 1, None, &text)?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    fn location(&self) -> String {
        format!("local:{}#coordination", self.db.path.display())
    }
}
