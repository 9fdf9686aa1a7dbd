//! The use cases: the only layer that combines `pki` and `store`. The CLI and the TUI call
//! these; neither talks to a store directly.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::config::{BackendKind, EnvConfig};
use crate::error::{Error, Result};
use crate::model::{AuditOutcome, AuditRecord, CertRecord};
use crate::pki::{BundleProblem, CertInfo, ChainReport, KeyAlgorithm, Subject};
use crate::store::{Backend, DomainTruststore, TruststoreVersion};

/// What every operation runs with: the environment, its backend and the clock.
#[derive(Clone)]
pub struct Ctx {
    pub env: EnvConfig,
    pub backend: Backend,
    /// Fixed time for tests and demos; None means the system clock.
    pub clock: Option<OffsetDateTime>,
}

impl Ctx {
    /// Opens the environment's backend (embedded database or AWS clients).
    pub async fn open(env: EnvConfig) -> Result<Ctx> {
        let backend = match env.backend {
            BackendKind::Local => crate::store::local::open(&env)?,
            BackendKind::Aws => crate::store::aws::connect(&env).await?,
        };
        Ok(Ctx {
            env,
            backend,
            clock: None,
        })
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.unwrap_or_else(OffsetDateTime::now_utc)
    }

    /// Refuses a change in a read-only environment.
    pub(crate) fn require_writable(&self, what: &str) -> Result<()> {
        if self.env.read_only {
            return Err(Error::Invalid(format!(
                "environment '{}' is read-only: {what} refused (drop --read-only or set read_only = false)",
                self.env.name
            )));
        }
        Ok(())
    }

    /// Appends an audit record. Details must never hold key material.
    pub(crate) async fn audit(
        &self,
        action: &str,
        target: &str,
        outcome: AuditOutcome,
        detail: impl Into<String>,
    ) -> Result<()> {
        let record = self.audit_record(action, target, outcome, detail);
        self.backend.audit.append(&record).await?;
        Ok(())
    }

    /// A new audit record at the context's time, by the backend's operator.
    pub(crate) fn audit_record(
        &self,
        action: &str,
        target: &str,
        outcome: AuditOutcome,
        detail: impl Into<String>,
    ) -> AuditRecord {
        let now = self.now();
        AuditRecord {
            id: format!(
                "{:013}-{:08x}",
                (now.unix_timestamp_nanos() / 1_000_000).max(0),
                rand::random::<u32>()
            ),
            at: now,
            operator: self.backend.operator.clone(),
            action: action.to_string(),
            target: target.to_string(),
            outcome,
            detail: detail.into(),
        }
    }

    /// Runs a change and records it in the audit log whatever the outcome: `ok`, `conflict`
    /// (a lost race) or `failed`. `describe` turns the result into the audit detail.
    pub(crate) async fn audited<T, F>(
        &self,
        action: &str,
        target: &str,
        change: F,
        describe: impl FnOnce(&T) -> String,
    ) -> Result<T>
    where
        F: std::future::Future<Output = Result<T>>,
    {
        match change.await {
            Ok(value) => {
                self.audit(action, target, AuditOutcome::Ok, describe(&value))
                    .await?;
                Ok(value)
            }
            Err(err) => {
                let outcome = if err.exit_code() == 5 {
                    AuditOutcome::Conflict
                } else {
                    AuditOutcome::Failed
                };
                // The original error matters more than a failure to record it.
                let _ = self.audit(action, target, outcome, err.to_string()).await;
                Err(err)
            }
        }
    }
}

/// Longest client_id accepted (SSM names allow 2048 characters; DNs want short CNs).
pub const MAX_CLIENT_ID_LEN: usize = 64;

/// A client_id is the CN and part of SSM names: 1-64 characters of `A-Z a-z 0-9 . _ -`,
/// starting with a letter or digit.
pub fn validate_client_id(id: &str) -> Result<()> {
    let fail = |why: &str| {
        Err(Error::Invalid(format!(
            "invalid client_id '{id}': {why}; use 1-{MAX_CLIENT_ID_LEN} characters of A-Z, a-z, 0-9, '.', '_' or '-', starting with a letter or digit"
        )))
    };
    if id.is_empty() {
        return fail("it is empty");
    }
    if id.chars().count() > MAX_CLIENT_ID_LEN {
        return fail(&format!("it is {} characters long", id.chars().count()));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        let shown = match bad {
            ' ' => "a space".to_string(),
            ',' => "a comma (the authorizer splits the DN on commas)".to_string(),
            '/' => "a slash (it would change the SSM parameter path)".to_string(),
            c if c.is_control() => format!("the control character U+{:04X}", c as u32),
            c => format!("'{c}'"),
        };
        return fail(&format!("it contains {shown}"));
    }
    if !id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return fail("it starts with a punctuation character");
    }
    Ok(())
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

/// A truststore version published (or found already published) and where the domain stands.
#[derive(Debug, Clone, Serialize)]
pub struct Published {
    #[serde(flatten)]
    pub version: TruststoreVersion,
    /// False when the bundle already was the newest version (nothing written to S3).
    pub changed: bool,
    /// The gateway domain after pointing it, when the environment names one.
    pub domain: Option<DomainTruststore>,
}

/// `truststore check`: the newest S3 version, what the domain serves, and every finding.
#[derive(Debug, Clone, Serialize)]
pub struct TruststoreCheck {
    pub location: String,
    pub newest: Option<TruststoreVersion>,
    /// The version the gateway serves (the newest when no domain is configured).
    pub served_version: Option<String>,
    pub domain: Option<DomainTruststore>,
    pub checks: Vec<DoctorCheck>,
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

mod ca;
mod demo;
mod doctor;
mod export;
mod lifecycle;
mod query;
mod rotation;
mod truststore;

pub use ca::{Issuer, ca_init, ca_show, load_issuer};
pub use demo::{demo, demo_client_ids};
pub use doctor::doctor;
pub use export::{export, export_issued};
pub use lifecycle::{issue, issue_bulk, parse_bulk_file, reissue, revoke};
pub use query::{audit, authorizer_cn, latest_per_client, list, show, verify};
pub use rotation::{
    ClientSelection, RevokeByCaReport, RotationJournal, RotationKind, RotationOptions,
    RotationPhase, RotationPlan, RotationReport, RotationStep, due_for_renewal, revoke_issued_by,
    rotation_abort, rotation_plan, rotation_run, rotation_status,
};
pub use truststore::{
    truststore_build, truststore_check, truststore_history, truststore_publish,
    truststore_rollback, truststore_show,
};
