//! Storage ports: the three things the console persists (the certificate roster, the key
//! vault and the truststore object) plus the audit log. Adapters: `local` (embedded SQLite),
//! `aws` (DynamoDB, SSM / Secrets Manager, S3) and `faulty` (fault injection for tests).
//!
//! Every write that can race another operator is conditional, mirroring DynamoDB: a lost
//! race comes back as [`StoreError::Conflict`], never as a silent overwrite.

pub mod aws;
pub mod item;
pub mod local;

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::model::{AuditRecord, CertRecord, VaultItem};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost: somebody else changed the item first.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The caller lacks a permission. The message names the refused action (e.g. `ssm:PutParameter`).
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// Throttled and out of retries.
    #[error("throttled: {0}")]
    Throttled(String),
    /// The value is not storable as asked (e.g. larger than the SSM tier allows).
    #[error("{0}")]
    Invalid(String),
    /// The backend is unreachable or misconfigured, or the stored data is unreadable.
    #[error("{0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Independent writes a batch method sends at once to a remote store (DynamoDB, SSM): enough
/// to hide each call's latency, few enough to stay near the quotas the stores pace to.
pub const WRITES_IN_FLIGHT: usize = 16;

/// The condition a roster update is made under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expect {
    /// The item's `version` must still be this (items without one count as 0).
    pub version: u64,
    /// The item's `status` must still be `active`.
    pub active: bool,
}

/// One write of a roster transaction.
#[derive(Debug, Clone)]
pub enum RosterWrite {
    /// Create an item; fails if the serial exists (`attribute_not_exists(serialNumber)`).
    Put(CertRecord),
    /// Replace an existing item under a condition; the stored version becomes `expect.version + 1`
    /// (the record's own `version` field is ignored).
    Update(CertRecord, Expect),
}

/// The certificate roster: the DynamoDB table of the contract.
#[async_trait]
pub trait Roster: Send + Sync {
    /// Items of every certificate, without `cert_pem` unless `with_pem` (listing projection).
    async fn list(&self, with_pem: bool) -> StoreResult<Vec<CertRecord>>;
    /// One item with everything, by decimal serial.
    async fn get(&self, serial: &str) -> StoreResult<Option<CertRecord>>;
    /// Every item of one client (all its certs, any status), with PEMs.
    async fn by_client(&self, client_id: &str) -> StoreResult<Vec<CertRecord>>;
    /// All writes succeed together or none does (DynamoDB TransactWriteItems).
    /// A failed condition is [`StoreError::Conflict`] naming the serial.
    async fn transact(&self, writes: Vec<RosterWrite>) -> StoreResult<()>;
    /// Creates each item on its own, as one `transact([Put])` per record would: one failure
    /// (an existing serial, say) leaves the others written. One result per record, in order.
    /// Adapters that can store many items at once cheaply (one database transaction) do so;
    /// the others send up to [`WRITES_IN_FLIGHT`] at once.
    async fn put_each(&self, records: Vec<CertRecord>) -> Vec<StoreResult<()>> {
        futures::stream::iter(records)
            .map(|record| self.transact(vec![RosterWrite::Put(record)]))
            .buffered(WRITES_IN_FLIGHT)
            .collect()
            .await
    }
}

/// The key vault: CA and client keys (secret) and certificates (plain).
#[async_trait]
pub trait Vault: Send + Sync {
    /// The stored value, or None when absent.
    async fn get(&self, item: &VaultItem) -> StoreResult<Option<Zeroizing<String>>>;
    /// Stores a value. With `overwrite` false, fails with Conflict if it exists.
    async fn put(&self, item: &VaultItem, value: &str, overwrite: bool) -> StoreResult<()>;
    /// Removes an item with its history (SSM DeleteParameter); absent items are fine.
    async fn delete(&self, item: &VaultItem) -> StoreResult<()>;
    /// [`Vault::put`] of each item, one result per item, in order; a failure leaves the
    /// others stored. Adapters that can write many values at once cheaply do so.
    async fn put_each(&self, items: &[(VaultItem, &str)], overwrite: bool) -> Vec<StoreResult<()>> {
        let mut results = Vec::with_capacity(items.len());
        for (item, value) in items {
            results.push(self.put(item, value, overwrite).await);
        }
        results
    }
    /// The name this item has in the backend (for messages and doctor).
    fn name_of(&self, item: &VaultItem) -> String;
}

/// One version of the truststore object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TruststoreVersion {
    pub version_id: String,
    pub etag: String,
    #[serde(with = "time::serde::rfc3339")]
    pub last_modified: OffsetDateTime,
    pub size: u64,
    pub is_latest: bool,
}

/// The versioned truststore object (S3 `truststore.pem`).
#[async_trait]
pub trait TruststoreStore: Send + Sync {
    /// The newest version and its content, or None when never published.
    async fn current(&self) -> StoreResult<Option<(String, TruststoreVersion)>>;
    /// Writes a new version. `if_match` is the ETag of the version the caller diffed against;
    /// None means the object must not exist yet (`If-None-Match: *`). Conflict when it moved.
    async fn put(&self, pem: &str, if_match: Option<&str>) -> StoreResult<TruststoreVersion>;
    /// Every version, newest first.
    async fn history(&self) -> StoreResult<Vec<TruststoreVersion>>;
    /// Content of one version.
    async fn get_version(&self, version_id: &str) -> StoreResult<String>;
    /// `s3://bucket/key` or the local equivalent, for messages.
    fn location(&self) -> String;
}

/// The mutual-TLS settings of an API Gateway custom domain (apigatewayv2 GetDomainName).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DomainTruststore {
    pub domain: String,
    /// `s3://bucket/key` the domain reads, None when mTLS is off.
    pub truststore_uri: Option<String>,
    /// The S3 object version the domain serves; None means "the newest at the last update".
    pub truststore_version: Option<String>,
    /// API Gateway's `truststoreWarnings` from the last create or update.
    pub warnings: Vec<String>,
    /// `AVAILABLE`, `UPDATING`, `PENDING_CERTIFICATE_REIMPORT`, ...
    pub status: Option<String>,
}

/// API Gateway custom domains: which truststore version each one serves.
#[async_trait]
pub trait Gateway: Send + Sync {
    /// The domain's mutual-TLS settings; NotFound when the domain does not exist.
    async fn domain(&self, name: &str) -> StoreResult<DomainTruststore>;
    /// Points the domain at `uri` / `version` (UpdateDomainName) and returns the settings it
    /// reports afterwards, warnings included. Paced: AWS allows about one call per 30 s.
    async fn point_truststore(
        &self,
        name: &str,
        uri: &str,
        version: &str,
    ) -> StoreResult<DomainTruststore>;
}

/// The append-only audit log.
#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn append(&self, record: &AuditRecord) -> StoreResult<()>;
    /// [`AuditLog::append`] of each record, one result per record, in order. Adapters that
    /// can append many records at once cheaply do so; the others send up to
    /// [`WRITES_IN_FLIGHT`] at once.
    async fn append_each(&self, records: &[AuditRecord]) -> Vec<StoreResult<()>> {
        let appends: Vec<_> = records.iter().map(|record| self.append(record)).collect();
        futures::stream::iter(appends)
            .buffered(WRITES_IN_FLIGHT)
            .collect()
            .await
    }
    /// Newest first, at most `limit`.
    async fn recent(&self, limit: usize) -> StoreResult<Vec<AuditRecord>>;
}

/// Everything an environment's operations need, behind the ports.
#[derive(Clone)]
pub struct Backend {
    pub roster: Arc<dyn Roster>,
    pub vault: Arc<dyn Vault>,
    pub truststore: Arc<dyn TruststoreStore>,
    pub audit: Arc<dyn AuditLog>,
    pub gateway: Arc<dyn Gateway>,
    /// Who is operating (OS user locally, STS caller ARN on AWS).
    pub operator: String,
    /// One line for headers: `local (/path)` or `aws 123456789012 eu-west-2`.
    pub description: String,
}
