//! Storage ports: the three things the console persists (the certificate roster, the key
//! vault and the truststore object) plus the audit log. Adapters: `local` (embedded SQLite),
//! `aws` (DynamoDB, SSM / Secrets Manager, S3) and `faulty` (fault injection for tests).
//!
//! Every write that can race another operator is conditional, mirroring DynamoDB: a lost
//! race comes back as [`StoreError::Conflict`], never as a silent overwrite.

pub mod aws;
pub mod faulty;
pub mod item;
pub mod local;

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::model::{AuditRecord, CertRecord, VaultItem};

/// What a lost race was about: conflicts carry the resource, so callers branch on it rather
/// than on exit codes or message text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "name")]
pub enum Contended {
    /// A roster item, by decimal serial.
    Cert(String),
    /// A client's head (its client_id): issue, reissue and revoke of one client.
    Client(String),
    /// A lease for exclusive work, by name.
    Lease(String),
    /// The rotation journal.
    Journal,
    /// The truststore object, by location.
    Truststore(String),
    /// A vault item, by its backend name.
    Vault(String),
    /// An audit record, by id.
    Audit(String),
    /// Anything else (named for messages): an API Gateway domain, a table.
    Other(String),
}

impl std::fmt::Display for Contended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Contended::Cert(serial) => write!(f, "certificate {serial}"),
            Contended::Client(id) => write!(f, "client {id}"),
            Contended::Lease(name) => write!(f, "lease {name}"),
            Contended::Journal => write!(f, "the rotation journal"),
            Contended::Truststore(location) => write!(f, "truststore {location}"),
            Contended::Vault(name) => write!(f, "vault item {name}"),
            Contended::Audit(id) => write!(f, "audit record {id}"),
            Contended::Other(what) => write!(f, "{what}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost: somebody else changed `resource` first.
    #[error("conflict: {message}")]
    Conflict {
        resource: Contended,
        message: String,
    },
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

impl StoreError {
    /// A conflict on `resource`.
    pub fn conflict(resource: Contended, message: impl Into<String>) -> StoreError {
        StoreError::Conflict {
            resource,
            message: message.into(),
        }
    }

    /// The resource of a conflict, None for every other error.
    pub fn contended(&self) -> Option<&Contended> {
        match self {
            StoreError::Conflict { resource, .. } => Some(resource),
            _ => None,
        }
    }
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

/// Every readable item of a listing, and the items that could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub records: Vec<CertRecord>,
    /// Items another tool wrote in a form the console does not know (a status other than
    /// active/revoked, a missing expiry, ...): reported and skipped, never fatal.
    pub skipped: Vec<Skipped>,
}

/// A roster item a listing skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    /// Its serialNumber, or `?` when even that is unreadable.
    pub serial: String,
    pub why: String,
}

impl Listing {
    /// Sorts and splits items decoded one by one: records and the items that failed.
    pub fn from_results(
        results: impl IntoIterator<Item = (String, StoreResult<CertRecord>)>,
    ) -> Listing {
        let mut listing = Listing::default();
        for (serial, result) in results {
            match result {
                Ok(rec) => listing.records.push(rec),
                Err(e) => listing.skipped.push(Skipped {
                    serial,
                    why: e.to_string(),
                }),
            }
        }
        listing
    }
}

/// Who holds a lease or a client claim: the operator, and the process (host, pid and the
/// process's start time), so a holder on this host that is gone can be told from one that
/// is still working.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Owner {
    pub operator: String,
    pub host: String,
    pub pid: u32,
    /// The process's start time in clock ticks since boot (`/proc/PID/stat` field 22), 0 when unknown.
    pub started: u64,
}

/// An operation in progress on one client (issue, reissue, revoke): while a claim is valid no
/// other console writes that client's vault items or roster items.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Claim {
    pub token: String,
    pub owner: Owner,
    pub purpose: String,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// One client's head: the console's own record of a client (in the coordination table, never
/// in the roster, so the authorizer and the reference tooling never see it as a cert). Every
/// issue, reissue and revoke changes it in the same transaction as the roster items, so
/// a change that lost a race changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClientHead {
    pub client_id: String,
    /// Bumped by every write; writes are conditional on the version read.
    pub version: u64,
    /// Serial of the client's current cert as the last change left it (None: none active).
    pub current: Option<String>,
    /// The operation in progress, if any.
    pub claim: Option<Claim>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A head write of a [`Commit`]: the stored version must be `expect` (0: no head yet); it
/// becomes `expect + 1` (the head's own `version` is ignored). Claiming a head bumps its
/// version, so a write conditional on the claimed version also requires the claim.
#[derive(Debug, Clone)]
pub struct HeadWrite {
    pub head: ClientHead,
    pub expect: u64,
}

/// The lease a commit is made under: the commit fails unless the lease item still holds this
/// token (a holder whose lease was taken over can change nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub lease: String,
    pub token: String,
}

/// One all-or-nothing change: roster items, client heads and audit records together
/// (DynamoDB TransactWriteItems across the roster, coordination and audit tables; one SQLite
/// transaction on the embedded backend). At most [`MAX_COMMIT_ITEMS`] writes.
#[derive(Debug, Clone, Default)]
pub struct Commit {
    pub certs: Vec<RosterWrite>,
    pub heads: Vec<HeadWrite>,
    /// Appended only if everything else is written; an existing id fails the commit.
    pub audit: Vec<AuditRecord>,
    pub fence: Option<Fence>,
    /// Vault items written in the same transaction: only on a roster that shares the
    /// vault's database ([`Roster::commits_vault`]); any other roster refuses the commit.
    pub vault: Vec<VaultWrite>,
}

/// A vault item a [`Commit`] writes (a new version if it exists). The value never appears in
/// `Debug` output.
#[derive(Clone)]
pub struct VaultWrite {
    pub item: VaultItem,
    pub value: Zeroizing<String>,
}

impl std::fmt::Debug for VaultWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultWrite")
            .field("item", &self.item)
            .field("value", &"<redacted>")
            .finish()
    }
}

/// DynamoDB's limit on the items of one TransactWriteItems.
pub const MAX_COMMIT_ITEMS: usize = 100;

impl Commit {
    /// Writes of roster items only.
    pub fn certs(writes: Vec<RosterWrite>) -> Commit {
        Commit {
            certs: writes,
            ..Commit::default()
        }
    }

    /// Every item the commit writes or checks.
    pub fn len(&self) -> usize {
        self.certs.len()
            + self.heads.len()
            + self.audit.len()
            + self.vault.len()
            + usize::from(self.fence.is_some())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What DynamoDB refuses before looking at any item: too many writes, or two on one item.
    pub fn check(&self) -> StoreResult<()> {
        if self.len() > MAX_COMMIT_ITEMS {
            return Err(StoreError::Invalid(format!(
                "a roster transaction holds {} writes; DynamoDB allows at most {MAX_COMMIT_ITEMS}: split it",
                self.len()
            )));
        }
        let mut serials = std::collections::HashSet::new();
        for write in &self.certs {
            let serial = match write {
                RosterWrite::Put(rec) | RosterWrite::Update(rec, _) => rec.serial.as_str(),
            };
            if serial.is_empty() {
                return Err(StoreError::Invalid(
                    "a roster write has an empty serialNumber".into(),
                ));
            }
            if !serials.insert(serial) {
                return Err(StoreError::Invalid(format!(
                    "a roster transaction writes certificate {serial} twice; DynamoDB refuses that: \
                     merge the writes"
                )));
            }
        }
        let mut clients = std::collections::HashSet::new();
        for write in &self.heads {
            if !clients.insert(write.head.client_id.as_str()) {
                return Err(StoreError::Invalid(format!(
                    "a roster transaction writes the head of client {} twice: merge the writes",
                    write.head.client_id
                )));
            }
        }
        Ok(())
    }
}

/// The certificate roster: the DynamoDB table of the contract, plus the client heads the
/// console keeps beside it.
#[async_trait]
pub trait Roster: Send + Sync {
    /// Every item, without `cert_pem` unless `with_pem` (listing projection); items that
    /// cannot be read as a certificate record are in [`Listing::skipped`].
    async fn scan(&self, with_pem: bool) -> StoreResult<Listing>;
    /// The readable items of [`Roster::scan`].
    async fn list(&self, with_pem: bool) -> StoreResult<Vec<CertRecord>> {
        Ok(self.scan(with_pem).await?.records)
    }
    /// One item as stored (every attribute of the known types), by decimal serial: what the
    /// authorizer's GetItem returns.
    async fn get_item(&self, serial: &str) -> StoreResult<Option<item::Item>>;
    /// One item with everything, by decimal serial; an unreadable item is an error.
    async fn get(&self, serial: &str) -> StoreResult<Option<CertRecord>> {
        self.get_item(serial)
            .await?
            .map(|attrs| item::from_attrs(&attrs))
            .transpose()
    }
    /// Every item of one client (all its certs, any status), with PEMs.
    async fn client_items(&self, client_id: &str) -> StoreResult<Listing>;
    /// The readable items of [`Roster::client_items`].
    async fn by_client(&self, client_id: &str) -> StoreResult<Vec<CertRecord>> {
        Ok(self.client_items(client_id).await?.records)
    }
    /// All writes of the commit succeed together or none does. A failed condition is
    /// [`StoreError::Conflict`] naming the certificate, the client or the lease.
    async fn commit(&self, commit: Commit) -> StoreResult<()>;
    /// Can a [`Commit`] carry vault writes ([`Commit::vault`])? Only where the vault lives in
    /// the roster's own database (the embedded backend), so one transaction holds both.
    fn commits_vault(&self) -> bool {
        false
    }
    /// Each commit on its own: one failure leaves the others written. One result per commit,
    /// in order. Adapters that can make many commits at once cheaply (one database
    /// transaction) do so; the others send up to [`WRITES_IN_FLIGHT`] at once.
    async fn commit_each(&self, commits: Vec<Commit>) -> Vec<StoreResult<()>> {
        futures::stream::iter(commits)
            .map(|commit| self.commit(commit))
            .buffered(WRITES_IN_FLIGHT)
            .collect()
            .await
    }
    /// Roster writes alone, all or nothing.
    async fn transact(&self, writes: Vec<RosterWrite>) -> StoreResult<()> {
        self.commit(Commit::certs(writes)).await
    }
    /// Creates each item on its own (see [`Roster::commit_each`]).
    async fn put_each(&self, records: Vec<CertRecord>) -> Vec<StoreResult<()>> {
        let commits = records
            .into_iter()
            .map(|r| Commit::certs(vec![RosterWrite::Put(r)]))
            .collect();
        self.commit_each(commits).await
    }
    /// One client's head, if the console ever changed that client.
    async fn head(&self, client_id: &str) -> StoreResult<Option<ClientHead>>;
    /// Every client head (for `repair`).
    async fn heads(&self) -> StoreResult<Vec<ClientHead>>;
}

/// A lease for exclusive work (rotations, `ca init`, `revoke --issued-by`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeaseRecord {
    pub name: String,
    /// Changes on every take-over; renewals and releases are conditional on it.
    pub token: String,
    pub owner: Owner,
    /// What the holder is doing, for the refusal message.
    pub purpose: String,
    #[serde(with = "time::serde::rfc3339")]
    pub acquired_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub heartbeat_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// The coordination document of the rotation in progress (or the last one).
pub const JOURNAL_DOC: &str = "journal#rotation";
/// The coordination document listing the CAs marked compromised.
pub const COMPROMISED_DOC: &str = "ca#compromised";

/// A stored value with the version its conditional writes compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub text: String,
    pub version: u64,
}

/// The console's coordination state: leases for exclusive work and small versioned documents
/// (the rotation journal, the CAs marked compromised), in the coordination table on AWS and a
/// table of the database locally.
#[async_trait]
pub trait Coordination: Send + Sync {
    async fn lease(&self, name: &str) -> StoreResult<Option<LeaseRecord>>;
    /// Writes `lease`. `expect` None: no lease of that name may exist; Some(token): the stored
    /// lease must still hold that token. Conflict otherwise.
    async fn put_lease(&self, lease: &LeaseRecord, expect: Option<&str>) -> StoreResult<()>;
    /// Removes the lease if it still holds `token` (Conflict otherwise).
    async fn delete_lease(&self, name: &str, token: &str) -> StoreResult<()>;
    /// A document (JSON) and its version, by key (e.g. [`JOURNAL_DOC`]).
    async fn doc(&self, key: &str) -> StoreResult<Option<Versioned>>;
    /// Writes the document if its stored version is still `expect` (0: none yet); it becomes
    /// `expect + 1`. With a fence, the lease must still hold the fence's token. A lost race is
    /// a conflict on `resource`.
    async fn put_doc(
        &self,
        key: &str,
        text: &str,
        expect: u64,
        fence: Option<&Fence>,
        resource: Contended,
    ) -> StoreResult<()>;
    /// Where the coordination state lives, for messages.
    fn location(&self) -> String;
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
    /// [`Vault::get`] of each item, one result per item, in order. Adapters that can read
    /// many values in one call (SSM GetParameters) do so.
    async fn get_each(&self, items: &[VaultItem]) -> Vec<StoreResult<Option<Zeroizing<String>>>> {
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            results.push(self.get(item).await);
        }
        results
    }
    /// Earlier values of the item, newest first, the current one excluded (SSM keeps 99 of
    /// them): what `repair` restores a key from when the current value lost a race.
    async fn history(&self, item: &VaultItem) -> StoreResult<Vec<Zeroizing<String>>>;
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

/// An API mapped to a custom domain (apigatewayv2 GetApiMappings, GetApi) and the Lambda
/// authorizers its routes use (GetRoutes, GetAuthorizer).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MappedApi {
    pub api_id: String,
    pub name: Option<String>,
    /// The stage the mapping serves.
    pub stage: Option<String>,
    /// `disableExecuteApiEndpoint`: when false the default `execute-api` endpoint answers
    /// without mutual TLS, bypassing the domain.
    pub execute_api_disabled: bool,
    /// The REQUEST (Lambda) authorizers of its routes, each once.
    pub authorizers: Vec<RouteAuthorizer>,
}

/// A Lambda authorizer and how long API Gateway caches its answers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RouteAuthorizer {
    pub authorizer_id: String,
    pub name: Option<String>,
    /// `authorizerResultTtlInSeconds`; None when the authorizer does not state it.
    pub result_ttl_seconds: Option<u32>,
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
    /// Turns mutual TLS on again, reading `uri` at `version` (None: the object's newest
    /// version), as [`Gateway::point_truststore`] does.
    async fn enable_mtls(
        &self,
        name: &str,
        uri: &str,
        version: Option<&str>,
    ) -> StoreResult<DomainTruststore>;
    /// Turns mutual TLS off: UpdateDomainName with an empty `truststoreUri`, as API Gateway's
    /// developer guide ("Disable mutual TLS") says. The domain then accepts requests without
    /// a client certificate. Paced like [`Gateway::point_truststore`].
    async fn disable_mtls(&self, name: &str) -> StoreResult<DomainTruststore>;
    /// The APIs mapped to the domain with their authorizers; None when the backend models no
    /// APIs (the embedded one).
    async fn mapped_apis(&self, name: &str) -> StoreResult<Option<Vec<MappedApi>>>;
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
    pub coordination: Arc<dyn Coordination>,
    /// Who is operating (OS user locally, STS caller ARN on AWS).
    pub operator: String,
    /// One line for headers: `local (/path)` or `aws 123456789012 eu-west-2`.
    pub description: String,
}
