//! The vault: rows keyed by the contract's SSM names, versioned like SSM parameters.
//! Values are never logged or put in messages.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::Db;
use crate::config::EnvConfig;
use crate::model::VaultItem;
use crate::store::{StoreError, StoreResult, Vault};
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
}

/// SSM's parameter type for an item.
fn kind(item: &VaultItem) -> &'static str {
    if item.is_secret() {
        "SecureString"
    } else {
        "String"
    }
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
            return Err(StoreError::Invalid(format!(
                "refusing to store an empty value in {name} (SSM refuses empty parameters)"
            )));
        }
        let value = Zeroizing::new(value.to_string());
        let kind = kind(item);
        let user = self.operator.clone();
        self.db
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let now = timefmt::format(OffsetDateTime::now_utc());
                let current: Option<i64> = tx
                    .prepare_cached("SELECT version FROM vault WHERE name = ?1")?
                    .query_row([&name], |r| r.get(0))
                    .optional()?;
                match current {
                    None => {
                        tx.prepare_cached(
                            "INSERT INTO vault (name, kind, value, version, lastModified, lastModifiedUser)
                             VALUES (?1, ?2, ?3, 1, ?4, ?5)",
                        )?
                        .execute(params![name, kind, value.as_str(), now, user])?;
                    }
                    Some(version) if !overwrite => {
                        return Err(StoreError::Conflict(format!(
                            "{name} already exists (version {version}); it was not overwritten"
                        ))
                        .into());
                    }
                    Some(version) => {
                        tx.prepare_cached(
                            "INSERT INTO vault_history
                             SELECT name, version, kind, value, lastModified, lastModifiedUser
                             FROM vault WHERE name = ?1",
                        )?
                        .execute([&name])?;
                        tx.prepare_cached(
                            "UPDATE vault SET kind = ?2, value = ?3, version = ?4,
                                 lastModified = ?5, lastModifiedUser = ?6
                             WHERE name = ?1",
                        )?
                        .execute(params![name, kind, value.as_str(), version + 1, now, user])?;
                        tx.prepare_cached(
                            "DELETE FROM vault_history WHERE name = ?1 AND version <= ?2",
                        )?
                        .execute(params![name, version + 1 - KEPT_VERSIONS])?;
                    }
                }
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

    fn name_of(&self, item: &VaultItem) -> String {
        item.ssm_name(&self.project, &self.account_name)
    }
}
