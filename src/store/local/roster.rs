//! The roster: one row per certificate, conditions checked like DynamoDB's; the client heads
//! live in the `coordination` table beside it, and a commit writes roster rows, heads and
//! audit rows in one SQLite transaction.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Rows, TransactionBehavior, params};
use time::OffsetDateTime;

use super::coordination::{check_fence, head_key, read_row, write_row};
use super::vault::LocalVault;
use super::{Db, FailResult, to_i64};
use crate::model::CertRecord;
use crate::store::item::{self, AttrValue, Item, names};
use crate::store::{
    ClientHead, Commit, Contended, Expect, Listing, Roster, RosterWrite, StoreError, StoreResult,
};
use crate::timefmt;

pub(super) struct LocalRoster {
    db: Arc<Db>,
    /// The vault in the same database, for commits that carry vault writes.
    vault: Arc<LocalVault>,
}

impl LocalRoster {
    pub(super) fn new(db: Arc<Db>, vault: Arc<LocalVault>) -> Self {
        LocalRoster { db, vault }
    }
}

/// Long listings are read in batches of this many rows, each decoded on every core.
const DECODE_BATCH_ROWS: usize = 8192;

/// One row as read: serial, item JSON, PEM.
type RawRow = (String, String, Option<String>);

/// Records from rows of (serialNumber, item, certificatePem). Decoding the JSON costs more
/// than reading it from SQLite, so long listings are read a batch at a time and each batch is
/// decoded on every core; only one batch of raw JSON is held at a time. Items that do not
/// decode are skipped and listed.
fn records(mut rows: Rows<'_>, with_pem: bool) -> FailResult<Listing> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut out = Listing::default();
    let mut batch: Vec<RawRow> = Vec::with_capacity(DECODE_BATCH_ROWS);
    loop {
        let row = rows.next()?;
        if let Some(row) = row {
            let pem = if with_pem { row.get(2)? } else { None };
            batch.push((row.get(0)?, row.get(1)?, pem));
            if batch.len() < DECODE_BATCH_ROWS {
                continue;
            }
        }
        if batch.len() < DECODE_BATCH_ROWS || threads == 1 {
            let decoded: Vec<_> = batch.drain(..).map(decode).collect();
            append(&mut out, decoded);
        } else {
            decode_parallel(&mut batch, threads, &mut out);
        }
        if row.is_none() {
            return Ok(out);
        }
    }
}

fn append(out: &mut Listing, decoded: Vec<(String, StoreResult<CertRecord>)>) {
    let part = Listing::from_results(decoded);
    out.records.extend(part.records);
    out.skipped.extend(part.skipped);
}

/// Decodes `batch` (emptying it) on `threads` threads, appending in order to `out`.
fn decode_parallel(batch: &mut Vec<RawRow>, threads: usize, out: &mut Listing) {
    let chunk = batch.len().div_ceil(threads);
    let parts: Vec<Vec<(String, StoreResult<CertRecord>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = batch
            .chunks_mut(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter_mut()
                        .map(|raw| decode(std::mem::take(raw)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    vec![(
                        "?".to_string(),
                        Err(StoreError::Backend("decoding the roster failed".into())),
                    )]
                })
            })
            .collect()
    });
    batch.clear();
    for part in parts {
        append(out, part);
    }
}

fn decode((serial, item_json, pem): RawRow) -> (String, StoreResult<CertRecord>) {
    let rec = item::from_json(&item_json).map(|mut rec| {
        rec.cert_pem = pem;
        rec
    });
    (serial, rec)
}

#[async_trait]
impl Roster for LocalRoster {
    async fn scan(&self, with_pem: bool) -> StoreResult<Listing> {
        self.db
            .run(move |conn| {
                let sql = if with_pem {
                    "SELECT r.serialNumber, r.item, p.certificatePem
                     FROM roster r LEFT JOIN roster_pem p USING (serialNumber)"
                } else {
                    "SELECT serialNumber, item, NULL FROM roster"
                };
                let mut stmt = conn.prepare_cached(sql)?;
                records(stmt.query([])?, with_pem)
            })
            .await
    }

    async fn get_item(&self, serial: &str) -> StoreResult<Option<Item>> {
        let serial = serial.to_string();
        self.db
            .run(move |conn| {
                let row: Option<(String, Option<String>)> = conn
                    .prepare_cached(
                        "SELECT r.item, p.certificatePem
                         FROM roster r LEFT JOIN roster_pem p USING (serialNumber)
                         WHERE r.serialNumber = ?1",
                    )?
                    .query_row([&serial], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                let Some((json, pem)) = row else {
                    return Ok(None);
                };
                let mut attrs = item::item_from_json(&json)?;
                if let Some(pem) = pem {
                    attrs.insert(names::CERTIFICATE_PEM.into(), AttrValue::S(pem));
                }
                Ok(Some(attrs))
            })
            .await
    }

    async fn client_items(&self, client_id: &str) -> StoreResult<Listing> {
        let client_id = client_id.to_string();
        self.db
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT r.serialNumber, r.item, p.certificatePem
                     FROM roster r LEFT JOIN roster_pem p USING (serialNumber)
                     WHERE r.client_id = ?1
                     ORDER BY r.issuedAt, r.serialNumber",
                )?;
                records(stmt.query([&client_id])?, true)
            })
            .await
    }

    async fn commit(&self, commit: Commit) -> StoreResult<()> {
        commit.check()?;
        let vault = Arc::clone(&self.vault);
        self.db
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                apply_commit(&tx, &vault, &commit)?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn commit_each(&self, commits: Vec<Commit>) -> Vec<StoreResult<()>> {
        let count = commits.len();
        let path = self.db.path.clone();
        let vault = Arc::clone(&self.vault);
        let outcome = self
            .db
            .run(move |conn| {
                Ok(super::each_in_one_transaction(
                    conn,
                    &path,
                    &commits,
                    |conn, commit| {
                        commit.check()?;
                        apply_commit(conn, &vault, commit)
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

    fn commits_vault(&self) -> bool {
        true
    }

    async fn head(&self, client_id: &str) -> StoreResult<Option<ClientHead>> {
        let key = head_key(client_id);
        self.db
            .run(move |conn| match read_row(conn, &key)? {
                Some((version, _, body)) => Ok(Some(decode_head(&body, version)?)),
                None => Ok(None),
            })
            .await
    }

    async fn heads(&self) -> StoreResult<Vec<ClientHead>> {
        self.db
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT version, body FROM coordination WHERE pk LIKE 'client#%' ORDER BY pk",
                )?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                rows.into_iter()
                    .map(|(version, body)| decode_head(&body, version).map_err(Into::into))
                    .collect()
            })
            .await
    }
}

fn decode_head(body: &str, version: i64) -> StoreResult<ClientHead> {
    let mut head: ClientHead = serde_json::from_str(body).map_err(|e| {
        StoreError::Backend(format!(
            "a client head in the local database is unreadable ({e}); `mtls-console repair` rebuilds heads from the roster"
        ))
    })?;
    head.version = u64::try_from(version).unwrap_or(0);
    Ok(head)
}

/// Applies a commit inside the caller's transaction: the fence, the heads, the vault items,
/// the roster writes, then the audit rows. Any failed condition returns before the caller
/// commits.
fn apply_commit(tx: &Connection, vault: &LocalVault, commit: &Commit) -> FailResult<()> {
    if let Some(fence) = &commit.fence {
        check_fence(tx, fence)?;
    }
    for write in &commit.heads {
        let key = head_key(&write.head.client_id);
        let found = read_row(tx, &key)?.map(|(v, _, _)| v).unwrap_or(0);
        if found != to_i64(write.expect) {
            return Err(StoreError::conflict(
                Contended::Client(write.head.client_id.clone()),
                format!(
                    "client {} was changed by someone else meanwhile (expected head version {}, found {found}); nothing was written, reload and retry",
                    write.head.client_id, write.expect
                ),
            )
            .into());
        }
        let body = serde_json::to_string(&write.head).map_err(|e| {
            StoreError::Backend(format!(
                "cannot encode the head of {}: {e}",
                write.head.client_id
            ))
        })?;
        write_row(tx, &key, write.expect + 1, None, &body)?;
    }
    if !commit.vault.is_empty() {
        let now = timefmt::format(OffsetDateTime::now_utc());
        for write in &commit.vault {
            vault.write_in(tx, write, &now)?;
        }
    }
    for write in &commit.certs {
        apply(tx, write)?;
    }
    for record in &commit.audit {
        super::audit::insert_record(tx, record)?;
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
                return Err(StoreError::conflict(
                    Contended::Cert(rec.serial.clone()),
                    format!(
                        "certificate {} is already in the roster; reload and retry",
                        rec.serial
                    ),
                )
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
        return Err(StoreError::conflict(
            Contended::Cert(serial.to_string()),
            format!("certificate {serial} is no longer in the roster; reload and retry"),
        ));
    };
    if version != to_i64(expect.version) {
        return Err(StoreError::conflict(
            Contended::Cert(serial.to_string()),
            format!(
                "certificate {serial} was changed by someone else (expected version {}, found \
                 {version}); reload and retry",
                expect.version
            ),
        ));
    }
    if expect.active && status != "active" {
        return Err(StoreError::conflict(
            Contended::Cert(serial.to_string()),
            format!("certificate {serial} is not active ({status})"),
        ));
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
            Err(StoreError::Conflict { message: m, .. }) if m.contains("no longer in the roster")
        ));
    }
}
