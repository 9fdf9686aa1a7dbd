//! The roster: one row per certificate, conditions checked like DynamoDB's.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Rows, TransactionBehavior, params};

use super::{Db, FailResult, to_i64};
use crate::model::CertRecord;
use crate::store::item::{self, AttrValue, names};
use crate::store::{Expect, Roster, RosterWrite, StoreError, StoreResult};
use crate::timefmt;

/// DynamoDB's limit on the writes of one TransactWriteItems, kept so the local backend
/// refuses what the table would.
const MAX_TRANSACT_WRITES: usize = 100;

pub(super) struct LocalRoster {
    db: Arc<Db>,
}

impl LocalRoster {
    pub(super) fn new(db: Arc<Db>) -> Self {
        LocalRoster { db }
    }
}

/// Long listings are read in batches of this many rows, each decoded on every core.
const DECODE_BATCH_ROWS: usize = 8192;

/// Records from rows of (item, certificatePem). Decoding the JSON costs more than reading it
/// from SQLite, so long listings are read a batch at a time and each batch is decoded on every
/// core; only one batch of raw JSON is held at a time.
fn records(mut rows: Rows<'_>, with_pem: bool) -> FailResult<Vec<CertRecord>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut out = Vec::new();
    let mut batch: Vec<(String, Option<String>)> = Vec::with_capacity(DECODE_BATCH_ROWS);
    loop {
        let row = rows.next()?;
        if let Some(row) = row {
            let pem = if with_pem { row.get(1)? } else { None };
            batch.push((row.get(0)?, pem));
            if batch.len() < DECODE_BATCH_ROWS {
                continue;
            }
        }
        if batch.len() < DECODE_BATCH_ROWS || threads == 1 {
            for raw in batch.drain(..) {
                out.push(decode(raw)?);
            }
        } else {
            decode_parallel(&mut batch, threads, &mut out)?;
        }
        if row.is_none() {
            return Ok(out);
        }
    }
}

/// Decodes `batch` (emptying it) on `threads` threads, appending in order to `out`.
fn decode_parallel(
    batch: &mut Vec<(String, Option<String>)>,
    threads: usize,
    out: &mut Vec<CertRecord>,
) -> FailResult<()> {
    let chunk = batch.len().div_ceil(threads);
    let parts: Vec<FailResult<Vec<CertRecord>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = batch
            .chunks_mut(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter_mut()
                        .map(|raw| decode(std::mem::take(raw)))
                        .collect::<FailResult<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(StoreError::Backend("decoding the roster failed".into()).into())
                })
            })
            .collect()
    });
    batch.clear();
    for part in parts {
        out.extend(part?);
    }
    Ok(())
}

fn decode((item_json, pem): (String, Option<String>)) -> FailResult<CertRecord> {
    let mut rec = item::from_json(&item_json)?;
    rec.cert_pem = pem;
    Ok(rec)
}

#[async_trait]
impl Roster for LocalRoster {
    async fn list(&self, with_pem: bool) -> StoreResult<Vec<CertRecord>> {
        self.db
            .run(move |conn| {
                let sql = if with_pem {
                    "SELECT r.item, p.certificatePem
                     FROM roster r LEFT JOIN roster_pem p USING (serialNumber)"
                } else {
                    "SELECT item FROM roster"
                };
                let mut stmt = conn.prepare_cached(sql)?;
                records(stmt.query([])?, with_pem)
            })
            .await
    }

    async fn get(&self, serial: &str) -> StoreResult<Option<CertRecord>> {
        let serial = serial.to_string();
        self.db
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT r.item, p.certificatePem
                     FROM roster r LEFT JOIN roster_pem p USING (serialNumber)
                     WHERE r.serialNumber = ?1",
                )?;
                Ok(records(stmt.query([&serial])?, true)?.pop())
            })
            .await
    }

    async fn by_client(&self, client_id: &str) -> StoreResult<Vec<CertRecord>> {
        let client_id = client_id.to_string();
        self.db
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT r.item, p.certificatePem
                     FROM roster r LEFT JOIN roster_pem p USING (serialNumber)
                     WHERE r.client_id = ?1
                     ORDER BY r.issuedAt, r.serialNumber",
                )?;
                records(stmt.query([&client_id])?, true)
            })
            .await
    }

    async fn transact(&self, writes: Vec<RosterWrite>) -> StoreResult<()> {
        check_transaction(&writes)?;
        self.db
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                for write in &writes {
                    apply(&tx, write)?;
                }
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn put_each(&self, records: Vec<CertRecord>) -> Vec<StoreResult<()>> {
        let count = records.len();
        let path = self.db.path.clone();
        let outcome = self
            .db
            .run(move |conn| {
                let writes: Vec<RosterWrite> = records.into_iter().map(RosterWrite::Put).collect();
                Ok(super::each_in_one_transaction(
                    conn,
                    &path,
                    &writes,
                    |conn, write| {
                        check_transaction(std::slice::from_ref(write))?;
                        apply(conn, write)
                    },
                ))
            })
            .await;
        outcome.unwrap_or_else(|e| {
            let message = e.to_string();
            (0..count)
                .map(|_| Err(StoreError::Backend(message.clone())))
                .collect()
        })
    }
}

/// What DynamoDB refuses before looking at any item: too many writes, or two on one item.
fn check_transaction(writes: &[RosterWrite]) -> StoreResult<()> {
    if writes.len() > MAX_TRANSACT_WRITES {
        return Err(StoreError::Invalid(format!(
            "a roster transaction holds {} writes; DynamoDB allows at most {MAX_TRANSACT_WRITES}: split it",
            writes.len()
        )));
    }
    let mut seen = HashSet::new();
    for write in writes {
        let serial = match write {
            RosterWrite::Put(rec) | RosterWrite::Update(rec, _) => rec.serial.as_str(),
        };
        if serial.is_empty() {
            return Err(StoreError::Invalid(
                "a roster write has an empty serialNumber".into(),
            ));
        }
        if !seen.insert(serial) {
            return Err(StoreError::Invalid(format!(
                "a roster transaction writes certificate {serial} twice; DynamoDB refuses that: \
                 merge the writes"
            )));
        }
    }
    Ok(())
}

fn apply(tx: &Connection, write: &RosterWrite) -> FailResult<()> {
    match write {
        RosterWrite::Put(rec) => {
            let exists = tx
                .prepare_cached("SELECT 1 FROM roster WHERE serialNumber = ?1")?
                .exists([&rec.serial])?;
            if exists {
                return Err(StoreError::Conflict(format!(
                    "certificate {} is already in the roster; reload and retry",
                    rec.serial
                ))
                .into());
            }
            store(tx, rec, rec.version, true)
        }
        RosterWrite::Update(rec, expect) => {
            let found: Option<(String, i64)> = tx
                .prepare_cached("SELECT status, version FROM roster WHERE serialNumber = ?1")?
                .query_row([&rec.serial], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            check_expect(&rec.serial, found, *expect)?;
            store(tx, rec, expect.version + 1, false)
        }
    }
}

/// The condition of an update, as the AWS backend's expression states it:
/// `attribute_exists(serialNumber) AND version = :v [AND status = active]`.
fn check_expect(serial: &str, found: Option<(String, i64)>, expect: Expect) -> StoreResult<()> {
    let Some((status, version)) = found else {
        return Err(StoreError::Conflict(format!(
            "certificate {serial} is no longer in the roster; reload and retry"
        )));
    };
    if version != to_i64(expect.version) {
        return Err(StoreError::Conflict(format!(
            "certificate {serial} was changed by someone else (expected version {}, found \
             {version}); reload and retry",
            expect.version
        )));
    }
    if expect.active && status != "active" {
        return Err(StoreError::Conflict(format!(
            "certificate {serial} is not active ({status})"
        )));
    }
    Ok(())
}

/// Writes the row (insert or replace) and its PEM with the given version.
fn store(tx: &Connection, rec: &CertRecord, version: u64, insert: bool) -> FailResult<()> {
    let mut attrs = item::to_attrs(rec);
    attrs.remove(names::CERTIFICATE_PEM);
    attrs.insert(names::VERSION.into(), AttrValue::N(version.to_string()));
    let item_json = serde_json::to_string(&attrs).map_err(|e| {
        StoreError::Backend(format!(
            "cannot encode the roster item of certificate {}: {e}",
            rec.serial
        ))
    })?;
    let sql = if insert {
        "INSERT INTO roster (client_id, status, issuedAt, version, item, serialNumber)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    } else {
        "UPDATE roster SET client_id = ?1, status = ?2, issuedAt = ?3, version = ?4, item = ?5
         WHERE serialNumber = ?6"
    };
    tx.prepare_cached(sql)?.execute(params![
        rec.client_id,
        rec.status.as_str(),
        timefmt::format(rec.issued_at),
        to_i64(version),
        item_json,
        rec.serial,
    ])?;
    match &rec.cert_pem {
        Some(pem) => tx
            .prepare_cached(
                "INSERT OR REPLACE INTO roster_pem (serialNumber, certificatePem) VALUES (?1, ?2)",
            )?
            .execute(params![rec.serial, pem])?,
        None => tx
            .prepare_cached("DELETE FROM roster_pem WHERE serialNumber = ?1")?
            .execute([&rec.serial])?,
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect(version: u64, active: bool) -> Expect {
        Expect { version, active }
    }

    #[test]
    fn conditions_mirror_dynamodb() {
        let active = || Some(("active".to_string(), 3));
        assert!(check_expect("1", active(), expect(3, true)).is_ok());
        let stale = check_expect("1", active(), expect(2, false)).unwrap_err();
        assert_eq!(
            stale.to_string(),
            "conflict: certificate 1 was changed by someone else (expected version 2, found 3); \
             reload and retry"
        );
        let revoked = Some(("revoked".to_string(), 3));
        assert!(check_expect("1", revoked.clone(), expect(3, false)).is_ok());
        assert_eq!(
            check_expect("1", revoked, expect(3, true))
                .unwrap_err()
                .to_string(),
            "conflict: certificate 1 is not active (revoked)"
        );
        assert!(matches!(
            check_expect("1", None, expect(0, false)),
            Err(StoreError::Conflict(m)) if m.contains("no longer in the roster")
        ));
    }
}
