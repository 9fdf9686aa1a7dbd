//! The use cases: the only layer that combines `pki` and `store`. The CLI and the TUI call
//! these; neither talks to a store directly.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::config::EnvConfig;
use crate::error::Result;
use crate::model::{AuditRecord, CertRecord, RevocationReason};
use crate::pki::{BundleProblem, CertInfo, ChainReport, KeyAlgorithm, Subject};
use crate::store::{Backend, TruststoreVersion};

/// What every operation runs with: the environment, its backend and the clock.
#[derive(Clone)]
pub struct Ctx {
    pub env: EnvConfig,
    pub backend: Backend,
    /// Fixed time for tests and demos; None means the system clock.
    pub clock: Option<OffsetDateTime>,
}

impl Ctx {
    pub fn now(&self) -> OffsetDateTime {
        self.clock.unwrap_or_else(OffsetDateTime::now_utc)
    }
}

/// Progress callback for long operations: (done, total).
pub type Progress = Arc<dyn Fn(usize, usize) + Send + Sync>;

#[derive(Debug, Clone)]
pub struct CaInitOptions {
    pub root_only: bool,
    pub key_algorithm: KeyAlgorithm,
    pub subject: Subject,
    pub root_days: u32,
    pub intermediate_days: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaSummary {
    pub root: CertInfo,
    pub intermediate: Option<CertInfo>,
    /// Names of the vault items, e.g. the SSM parameters.
    pub vault_names: Vec<String>,
}

/// How the client's key is obtained when issuing.
#[derive(Debug, Clone)]
pub enum KeyChoice {
    Generate(KeyAlgorithm),
    Csr(String),
}

#[derive(Debug, Clone)]
pub struct IssueOptions {
    /// The name given by the operator; the environment's template turns it into the client_id.
    pub client: String,
    /// Explicit CN; must equal the client_id (the authorizer compares them).
    pub cn: Option<String>,
    pub days: Option<u32>,
    /// None: the environment's default key algorithm.
    pub key: Option<KeyChoice>,
}

#[derive(Clone, Serialize)]
pub struct IssueOutcome {
    pub record: CertRecord,
    pub info: CertInfo,
    pub cert_pem: String,
    #[serde(skip)]
    pub key_pem: Option<Zeroizing<String>>,
    /// Issuer chain, issuer first, up to and including the root.
    pub chain_pem: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BulkReport {
    pub issued: Vec<String>,
    /// Clients that already had an active cert (bulk issue is idempotent).
    pub skipped: Vec<String>,
    pub failed: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct ReissueOptions {
    pub rekey: bool,
    /// Keep the old cert valid this long (through its `expiry`); None revokes it at once.
    pub grace: Option<time::Duration>,
    pub days: Option<u32>,
    pub key_algorithm: Option<KeyAlgorithm>,
}

#[derive(Clone, Serialize)]
pub struct ReissueOutcome {
    pub old: CertRecord,
    pub new: IssueOutcome,
}

/// Which roster rows to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    #[default]
    All,
    Active,
    Expiring,
    Revoked,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClientDetail {
    pub record: CertRecord,
    pub info: Option<CertInfo>,
    pub chain: Option<ChainReport>,
    /// Is the cert's issuer in the published truststore? None when nothing is published.
    pub issuer_in_truststore: Option<bool>,
    /// Every cert of this client, newest first (the current one included).
    pub history: Vec<CertRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportedFiles {
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub allow: bool,
    /// Every reason for DENY (empty on ALLOW).
    pub reasons: Vec<String>,
    pub info: Option<CertInfo>,
    pub record: Option<CertRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BundleView {
    pub pem: String,
    pub certs: Vec<CertInfo>,
    pub problems: Vec<BundleProblem>,
    pub version: Option<TruststoreVersion>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct DoctorCheck {
    pub name: String,
    pub status: CheckStatus,
    pub detail: String,
}

pub use self::api::*;

mod api {
    use super::*;

    pub async fn ca_init(_ctx: &Ctx, _opts: &CaInitOptions) -> Result<CaSummary> {
        todo!()
    }
    pub async fn ca_show(_ctx: &Ctx) -> Result<CaSummary> {
        todo!()
    }
    pub async fn issue(_ctx: &Ctx, _opts: &IssueOptions) -> Result<IssueOutcome> {
        todo!()
    }
    pub async fn issue_bulk(
        _ctx: &Ctx,
        _clients: &[IssueOptions],
        _progress: Option<Progress>,
    ) -> Result<BulkReport> {
        todo!()
    }
    /// Revokes a client's active cert (by client_id) or a cert by serial.
    pub async fn revoke(
        _ctx: &Ctx,
        _target: &str,
        _reason: RevocationReason,
        _note: Option<&str>,
    ) -> Result<CertRecord> {
        todo!()
    }
    pub async fn reissue(_ctx: &Ctx, _client_id: &str, _opts: &ReissueOptions) -> Result<ReissueOutcome> {
        todo!()
    }
    /// One row per client (its newest cert), filtered.
    pub async fn list(_ctx: &Ctx, _filter: StatusFilter) -> Result<Vec<CertRecord>> {
        todo!()
    }
    pub async fn show(_ctx: &Ctx, _client_or_serial: &str) -> Result<ClientDetail> {
        todo!()
    }
    pub async fn export(
        _ctx: &Ctx,
        _client_id: &str,
        _dir: &std::path::Path,
        _p12_passphrase: Option<&str>,
    ) -> Result<ExportedFiles> {
        todo!()
    }
    pub async fn verify(_ctx: &Ctx, _cert_pem: &str) -> Result<Verdict> {
        todo!()
    }
    pub async fn truststore_build(_ctx: &Ctx) -> Result<BundleView> {
        todo!()
    }
    pub async fn truststore_show(_ctx: &Ctx) -> Result<Option<BundleView>> {
        todo!()
    }
    pub async fn truststore_publish(_ctx: &Ctx, _force: bool) -> Result<TruststoreVersion> {
        todo!()
    }
    pub async fn truststore_history(_ctx: &Ctx) -> Result<Vec<TruststoreVersion>> {
        todo!()
    }
    pub async fn truststore_rollback(_ctx: &Ctx, _version_id: &str) -> Result<TruststoreVersion> {
        todo!()
    }
    pub async fn audit(_ctx: &Ctx, _limit: usize) -> Result<Vec<AuditRecord>> {
        todo!()
    }
    pub async fn doctor(_ctx: &Ctx) -> Result<Vec<DoctorCheck>> {
        todo!()
    }
    /// Fills an empty local environment with a CA and about 50 clients in varied states.
    pub async fn demo(_ctx: &Ctx) -> Result<usize> {
        todo!()
    }
}
