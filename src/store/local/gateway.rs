//! A stand-in for API Gateway's custom domains on the embedded backend: the domain's
//! truststore pointer (uri and version), kept in the database so that publish, rollback,
//! rotation and `truststore check` behave on a laptop as they do against AWS. The table is
//! created on first use; a domain exists once it has been pointed at a version. Mutual TLS
//! off is an empty truststore uri, as on AWS. It models no APIs: the bypass check and the
//! authorizer cache are AWS-only.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use time::OffsetDateTime;

use super::Db;
use crate::store::{DomainTruststore, Gateway, MappedApi, StoreError, StoreResult};
use crate::timefmt;

const TABLE: &str = "CREATE TABLE IF NOT EXISTS gateway_domain (
    name            TEXT PRIMARY KEY NOT NULL,
    truststoreUri   TEXT NOT NULL,
    truststoreVersion TEXT NOT NULL,
    updatedAt       TEXT NOT NULL
)";

pub(super) struct LocalGateway {
    db: Arc<Db>,
}

impl LocalGateway {
    pub(super) fn new(db: Arc<Db>) -> Self {
        LocalGateway { db }
    }
}

#[async_trait]
impl Gateway for LocalGateway {
    async fn domain(&self, name: &str) -> StoreResult<DomainTruststore> {
        let name = name.to_string();
        self.db
            .run(move |conn| {
                conn.execute(TABLE, [])?;
                let row = conn
                    .prepare_cached(
                        "SELECT truststoreUri, truststoreVersion FROM gateway_domain WHERE name = ?1",
                    )?
                    .query_row([&name], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                    .optional()?;
                let named = |s: String| (!s.is_empty()).then_some(s);
                match row {
                    Some((uri, version)) => Ok(DomainTruststore {
                        domain: name,
                        truststore_uri: named(uri),
                        truststore_version: named(version),
                        warnings: Vec::new(),
                        status: Some("AVAILABLE".into()),
                    }),
                    None => Err(StoreError::NotFound(format!(
                        "the local gateway has no domain '{name}' yet; `truststore publish` creates it"
                    ))
                    .into()),
                }
            })
            .await
    }

    async fn point_truststore(
        &self,
        name: &str,
        uri: &str,
        version: &str,
    ) -> StoreResult<DomainTruststore> {
        self.enable_mtls(name, uri, Some(version)).await
    }

    async fn enable_mtls(
        &self,
        name: &str,
        uri: &str,
        version: Option<&str>,
    ) -> StoreResult<DomainTruststore> {
        let (name, uri) = (name.to_string(), uri.to_string());
        let version = version.map(str::to_string);
        self.db
            .run(move |conn| {
                conn.execute(TABLE, [])?;
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.prepare_cached(
                    "INSERT INTO gateway_domain (name, truststoreUri, truststoreVersion, updatedAt)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (name) DO UPDATE SET truststoreUri = ?2, truststoreVersion = ?3,
                         updatedAt = ?4",
                )?
                .execute(params![
                    name,
                    uri,
                    version.as_deref().unwrap_or_default(),
                    timefmt::format(OffsetDateTime::now_utc())
                ])?;
                tx.commit()?;
                Ok(DomainTruststore {
                    domain: name,
                    truststore_uri: Some(uri),
                    truststore_version: version,
                    warnings: Vec::new(),
                    status: Some("AVAILABLE".into()),
                })
            })
            .await
    }

    async fn disable_mtls(&self, name: &str) -> StoreResult<DomainTruststore> {
        let name = name.to_string();
        self.db
            .run(move |conn| {
                conn.execute(TABLE, [])?;
                let changed = conn
                    .prepare_cached(
                        "UPDATE gateway_domain SET truststoreUri = '', truststoreVersion = '',
                             updatedAt = ?2 WHERE name = ?1",
                    )?
                    .execute(params![name, timefmt::format(OffsetDateTime::now_utc())])?;
                if changed == 0 {
                    return Err(StoreError::NotFound(format!(
                        "the local gateway has no domain '{name}' yet; `truststore publish` creates it"
                    ))
                    .into());
                }
                Ok(DomainTruststore {
                    domain: name,
                    truststore_uri: None,
                    truststore_version: None,
                    warnings: Vec::new(),
                    status: Some("AVAILABLE".into()),
                })
            })
            .await
    }

    async fn mapped_apis(&self, _name: &str) -> StoreResult<Option<Vec<MappedApi>>> {
        Ok(None)
    }
}
