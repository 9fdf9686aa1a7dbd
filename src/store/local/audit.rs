//! The audit log: an append-only table (the schema's triggers refuse UPDATE and DELETE).

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use time::format_description::well_known::Rfc3339;

use super::{Db, FailResult};
use crate::model::{AuditOutcome, AuditRecord};
use crate::store::{AuditLog, Contended, StoreError, StoreResult};
use crate::timefmt;

pub(super) struct LocalAudit {
    db: Arc<Db>,
}

impl LocalAudit {
    pub(super) fn new(db: Arc<Db>) -> Self {
        LocalAudit { db }
    }
}

fn bad_column(index: usize, what: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, Type::Text, what.into())
}

fn at_text(record: &AuditRecord) -> StoreResult<String> {
    record.at.format(&Rfc3339).map_err(|e| {
        StoreError::Invalid(format!(
            "audit record {} has an unwritable time: {e}",
            record.id
        ))
    })
}

fn at_nanos(record: &AuditRecord) -> StoreResult<i64> {
    i64::try_from(record.at.unix_timestamp_nanos()).map_err(|_| {
        StoreError::Invalid(format!(
            "audit record {} has a time out of range",
            record.id
        ))
    })
}

/// Appends one record inside the caller's transaction (a roster commit's audit rows).
pub(super) fn insert_record(conn: &Connection, record: &AuditRecord) -> FailResult<()> {
    insert(conn, record, &at_text(record)?, at_nanos(record)?)
}

/// Appends one record; an existing id is a conflict (the log is append-only).
fn insert(conn: &Connection, record: &AuditRecord, at: &str, at_nanos: i64) -> FailResult<()> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM audit WHERE id = ?1")?
        .query_row([&record.id], |_| Ok(()))
        .optional()?
        .is_some();
    if exists {
        return Err(StoreError::conflict(
            Contended::Audit(record.id.clone()),
            format!(
                "audit record {} exists already; the log is append-only",
                record.id
            ),
        )
        .into());
    }
    conn.prepare_cached(
        "INSERT INTO audit (id, at, atNanos, operator, action, target, outcome, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        record.id,
        at,
        at_nanos,
        record.operator,
        record.action,
        record.target,
        record.outcome.as_str(),
        record.detail,
    ])?;
    Ok(())
}

#[async_trait]
impl AuditLog for LocalAudit {
    async fn append(&self, record: &AuditRecord) -> StoreResult<()> {
        let record = record.clone();
        let at = at_text(&record)?;
        let nanos = at_nanos(&record)?;
        self.db
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                insert(&tx, &record, &at, nanos)?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn append_each(&self, records: &[AuditRecord]) -> Vec<StoreResult<()>> {
        let rows: Vec<StoreResult<(AuditRecord, String, i64)>> = records
            .iter()
            .map(|r| Ok((r.clone(), at_text(r)?, at_nanos(r)?)))
            .collect();
        let path = self.db.path.clone();
        let outcome = self
            .db
            .run(move |conn| {
                Ok(super::each_in_one_transaction(
                    conn,
                    &path,
                    &rows,
                    |conn, row| match row {
                        Ok((record, at, nanos)) => insert(conn, record, at, *nanos),
                        Err(e) => Err(StoreError::Invalid(e.to_string()).into()),
                    },
                ))
            })
            .await;
        outcome.unwrap_or_else(|e| {
            let message = e.to_string();
            records
                .iter()
                .map(|_| Err(StoreError::Backend(message.clone())))
                .collect()
        })
    }

    async fn recent(&self, limit: usize) -> StoreResult<Vec<AuditRecord>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT id, at, operator, action, target, outcome, detail FROM audit
                     ORDER BY atNanos DESC, seq DESC LIMIT ?1",
                )?;
                let records = stmt
                    .query_map([limit], |r| {
                        let at: String = r.get(1)?;
                        let outcome: String = r.get(5)?;
                        Ok(AuditRecord {
                            id: r.get(0)?,
                            at: timefmt::parse(&at).ok_or_else(|| {
                                bad_column(1, format!("'{at}' is not an RFC 3339 time"))
                            })?,
                            operator: r.get(2)?,
                            action: r.get(3)?,
                            target: r.get(4)?,
                            outcome: AuditOutcome::parse(&outcome).ok_or_else(|| {
                                bad_column(5, format!("'{outcome}' is not an audit outcome"))
                            })?,
                            detail: r.get(6)?,
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(records)
            })
            .await
    }
}
