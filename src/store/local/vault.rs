//! The vault: rows keyed by the contract's SSM names, versioned like SSM parameters.
//! Values are never logged or put in messages.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{Db, FailResult};
use crate::config::EnvConfig;
use crate::model::VaultItem;
use crate::store::{Contended, StoreError, StoreResult, Vault, VaultWrite};
use crate::timefmt;

/// SSM keeps this many versions of a parameter, the current one included.
const KEPT_VERSIONS: i64 = 100;

pub(super) struct LocalVault {
    db: Arc<Db>,
    project: String,
    account_name: String,
    operator: String,
}

impl LocalVault {
    pub(super) fn new(db: Arc<Db>, env: &EnvConfig, operator: &str) -> Self {
        LocalVault {
            db,
            project: env.project.clone(),
            account_name: env.account_name().to_string(),
            operator: operator.to_string(),
        }
    }

    /// Writes `write` inside the caller's transaction (a [`crate::store::Commit`] of the
    /// roster, which shares this database), as [`Vault::put`] with overwrite would.
    pub(super) fn write_in(
        &self,
        conn: &Connection,
        write: &VaultWrite,
        now: &str,
    ) -> FailResult<()> {
        let name = self.name_of(&write.item);
        if write.value.is_empty() {
            return Err(empty_value(&name).into());
        }
        self::write(
            conn,
            &name,
            kind(&write.item),
            &write.value,
            now,
            &self.operator,
            true,
        )
    }
}

/// SSM's parameter type for an item.
fn kind(item: &VaultItem) -> &'static str {
    if item.is_secret() {
        "SecureString"
    } else {
        "String"
    }
}

fn empty_value(name: &str) -> StoreError {
    StoreError::Invalid(format!(
        "refusing to store an empty value in {name} (SSM refuses empty parameters)"
    ))
}

/// Stores one value like SSM's PutParameter: version 1, or the next version with the old one
/// kept in the history (at most [`KEPT_VERSIONS`] in all).
fn write(
    conn: &Connection,
    name: &str,
    kind: &str,
    value: &str,
    now: &str,
    user: &str,
    overwrite: bool,
) -> FailResult<()> {
    let current: Option<i64> = conn
        .prepare_cached("SELECT version FROM vault WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?;
    match current {
        None => {
            conn.prepare_cached(
                "INSERT INTO vault (name, kind, value, version, lastModified, lastModifiedUser)
                 VALUES (?1, ?2, ?3, 1, ?4, ?5)",
            )?
            .execute(params![name, kind, value, now, user])?;
        }
        Some(version) if !overwrite => {
            return Err(StoreError::conflict(
                Contended::Vault(name.to_string()),
                format!("{name} already exists (version {version}); it was not overwritten"),
            )
            .into());
        }
        Some(version) => {
            conn.prepare_cached(
                "INSERT INTO vault_history
                 SELECT name, version, kind, value, lastModified, lastModifiedUser
                 FROM vault WHERE name = ?1",
            )?
            .execute([name])?;
            conn.prepare_cached(
                "UPDATE vault SET kind = ?2, value = ?3, version = ?4,
                     lastModified = ?5, lastModifiedUser = ?6
                 WHERE name = ?1",
            )?
            .execute(params![name, kind, value, version + 1, now, user])?;
            conn.prepare_cached("DELETE FROM vault_history WHERE name = ?1 AND version <= ?2")?
                .execute(params![name, version + 1 - KEPT_VERSIONS])?;
        }
    }
    Ok(())
}

#[async_trait]
impl Vault for LocalVault {
    async fn get(&self, item: &VaultItem) -> StoreResult<Option<Zeroizing<String>>> {
        let name = self.name_of(item);
        self.db
            .run(move |conn| {
                let value = conn
                    .prepare_cached("SELECT value FROM vault WHERE name = ?1")?
                    .query_row([&name], |r| r.get::<_, String>(0).map(Zeroizing::new))
                    .optional()?;
                Ok(value)
            })
            .await
    }

    async fn put(&self, item: &VaultItem, value: &str, overwrite: bool) -> StoreResult<()> {
        let name = self.name_of(item);
        if value.is_empty() {
            return Err(empty_value(&name));
        }
        let value = Zeroizing::new(value.to_string());
        let kind = kind(item);
        let user = self.operator.clone();
        self.db
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let now = timefmt::format(OffsetDateTime::now_utc());
                write(&tx, &name, kind, &value, &now, &user, overwrite)?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn delete(&self, item: &VaultItem) -> StoreResult<()> {
        let name = self.name_of(item);
        self.db
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.prepare_cached("DELETE FROM vault_history WHERE name = ?1")?
                    .execute([&name])?;
                tx.prepare_cached("DELETE FROM vault WHERE name = ?1")?
                    .execute([&name])?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn put_each(&self, items: &[(VaultItem, &str)], overwrite: bool) -> Vec<StoreResult<()>> {
        let mut named = Vec::with_capacity(items.len());
        for (item, value) in items {
            let name = self.name_of(item);
            if value.is_empty() {
                named.push(Err(empty_value(&name)));
            } else {
                named.push(Ok((name, kind(item), Zeroizing::new(value.to_string()))));
            }
        }
        let user = self.operator.clone();
        let path = self.db.path.clone();
        let outcome = self
            .db
            .run(move |conn| {
                let now = timefmt::format(OffsetDateTime::now_utc());
                Ok(super::each_in_one_transaction(
                    conn,
                    &path,
                    &named,
                    |conn, entry| match entry {
                        Ok((name, kind, value)) => {
                            write(conn, name, kind, value, &now, &user, overwrite)
                        }
                        Err(e) => Err(StoreError::Invalid(e.to_string()).into()),
                    },
                ))
            })
            .await;
        match outcome {
            Ok(results) => results,
            Err(e) => {
                let message = e.to_string();
                items
                    .iter()
                    .map(|_| Err(StoreError::Backend(message.clone())))
                    .collect()
            }
        }
    }

    async fn history(&self, item: &VaultItem) -> StoreResult<Vec<Zeroizing<String>>> {
        let name = self.name_of(item);
        self.db
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT value FROM vault_history WHERE name = ?1 ORDER BY version DESC",
                )?;
                let values = stmt
                    .query_map([&name], |r| r.get::<_, String>(0).map(Zeroizing::new))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(values)
            })
            .await
    }

    fn name_of(&self, item: &VaultItem) -> String {
        item.ssm_name(&self.project, &self.account_name)
    }
}
