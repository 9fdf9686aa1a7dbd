//! The use cases: the only layer that combines `pki` and `store`. The CLI and the TUI call
//! these; neither talks to a store directly.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::config::{BackendKind, EnvConfig};
use crate::error::{Error, Result};
use crate::model::{AuditOutcome, AuditRecord, CertRecord};
use crate::pki::{BundleProblem, CertInfo, ChainReport, KeyAlgorithm, Subject};
use crate::store::{Backend, DomainTruststore, Fence, TruststoreVersion};

/// What every operation runs with: the environment, its backend and the clock.
#[derive(Clone)]
pub struct Ctx {
    pub env: EnvConfig,
    pub backend: Backend,
    /// Fixed time for tests and demos; None means the system clock.
    pub clock: Option<OffsetDateTime>,
    /// Set while the context runs under a lease: every commit and journal save carries it.
    pub(crate) fence: Option<Fence>,
    /// Set with the fence: raised when the lease's heartbeat found it taken over.
    pub(crate) lease_lost: Option<Arc<AtomicBool>>,
    /// Issue from a CA marked compromised all the same (`--allow-compromised-ca`).
    pub allow_compromised_ca: bool,
    /// What operations want the operator to know besides their result (roster items they
    /// skipped, ...): the CLI prints them on stderr, the TUI in its status line.
    pub warnings: Arc<Mutex<Vec<String>>>,
}

impl Ctx {
    /// A context on `backend` with the system clock.
    pub fn new(env: EnvConfig, backend: Backend) -> Ctx {
        Ctx {
            env,
            backend,
            clock: None,
            fence: None,
            lease_lost: None,
            allow_compromised_ca: false,
            warnings: Arc::default(),
        }
    }

    /// Opens the environment's backend (embedded database or AWS clients).
    pub async fn open(env: EnvConfig) -> Result<Ctx> {
        let backend = match env.backend {
            BackendKind::Local => crate::store::local::open(&env)?,
            BackendKind::Aws => crate::store::aws::connect(&env).await?,
        };
        Ok(Ctx::new(env, backend))
    }

    /// This context with a fixed clock.
    pub fn with_clock(&self, now: OffsetDateTime) -> Ctx {
        Ctx {
            clock: Some(now),
            ..self.clone()
        }
    }

    /// This context on the same backend with other environment settings (pinned CAs, ...).
    pub fn with_env(&self, env: EnvConfig) -> Ctx {
        Ctx {
            env,
            ..self.clone()
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.unwrap_or_else(OffsetDateTime::now_utc)
    }

    /// Records a warning for the operator (and the log).
    pub(crate) fn warn(&self, warning: impl Into<String>) {
        let warning = warning.into();
        tracing::warn!(%warning, "operation warning");
        let mut all = self.warnings.lock().unwrap_or_else(PoisonError::into_inner);
        if !all.contains(&warning) {
            all.push(warning);
        }
    }

    /// Takes the warnings recorded so far.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Fails when the context's lease was taken over by another run (see [`lease`]).
    pub(crate) fn check_lease(&self) -> Result<()> {
        if self
            .lease_lost
            .as_ref()
            .is_some_and(|lost| lost.load(std::sync::atomic::Ordering::SeqCst))
        {
            let name = self
                .fence
                .as_ref()
                .map(|f| f.lease.clone())
                .unwrap_or_default();
            return Err(Error::conflict(
                crate::store::Contended::Lease(name.clone()),
                format!(
                    "this run lost the {name} lease (another run took it over after its heartbeat \
                     failed); it stopped before changing anything more"
                ),
            ));
        }
        Ok(())
    }

    /// Every roster item (without PEMs unless `with_pem`); items the console cannot read are
    /// skipped with a warning naming each.
    pub(crate) async fn roster(&self, with_pem: bool) -> Result<Vec<CertRecord>> {
        let listing = self.backend.roster.scan(with_pem).await?;
        self.warn_skipped(&listing.skipped);
        Ok(listing.records)
    }

    /// Every item of one client, with PEMs; unreadable ones skipped with a warning.
    pub(crate) async fn client_certs(&self, client_id: &str) -> Result<Vec<CertRecord>> {
        let listing = self.backend.roster.client_items(client_id).await?;
        self.warn_skipped(&listing.skipped);
        Ok(listing.records)
    }

    fn warn_skipped(&self, skipped: &[crate::store::Skipped]) {
        if skipped.is_empty() {
            return;
        }
        let shown: Vec<String> = skipped
            .iter()
            .take(5)
            .map(|s| format!("{}: {}", s.serial, s.why))
            .collect();
        self.warn(format!(
            "{} roster item(s) skipped, written by other tooling in a form the console does not \
             read (the authorizer denies them): {}{}",
            skipped.len(),
            shown.join("; "),
            if skipped.len() > shown.len() {
                "; ..."
            } else {
                ""
            }
        ));
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

    /// The audit record of a change that did not happen: `conflict` for a lost race,
    /// `failed` otherwise.
    pub(crate) fn failure_record(&self, action: &str, target: &str, err: &Error) -> AuditRecord {
        let outcome = if err.contended().is_some() {
            AuditOutcome::Conflict
        } else {
            AuditOutcome::Failed
        };
        self.audit_record(action, target, outcome, err.to_string())
    }

    /// Records a change that did not happen; the original error matters more than a failure
    /// to record it.
    pub(crate) async fn audit_failure(&self, action: &str, target: &str, err: &Error) {
        let record = self.failure_record(action, target, err);
        if let Err(e) = self.backend.audit.append(&record).await {
            tracing::warn!(error = %e, "could not audit a failed change");
        }
    }

    /// Runs a change that cannot be one transaction with its audit record (vault or S3
    /// writes): a `started` record first, then `ok` (with `describe`'s detail), `conflict` or
    /// `failed`, so the log shows the change even when the run dies half way.
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
        self.audit(action, target, AuditOutcome::Started, "")
            .await?;
        match change.await {
            Ok(value) => {
                self.audit(action, target, AuditOutcome::Ok, describe(&value))
                    .await?;
                Ok(value)
            }
            Err(err) => {
                self.audit_failure(action, target, &err).await;
                Err(err)
            }
        }
    }

    /// This context running under `lease`.
    pub(crate) fn under(&self, lease: &lease::LeaseGuard) -> Ctx {
        Ctx {
            fence: Some(lease.fence()),
            lease_lost: Some(lease.lost_flag()),
            ..self.clone()
        }
    }
}

/// A random token for leases and claims.
pub(crate) fn random_token() -> String {
    let mut buf = [0u8; 16];
    rand::fill(&mut buf[..]);
    hex::encode(buf)
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

/// Longest revocation note accepted.
pub const MAX_NOTE_LEN: usize = 1024;

/// A note (`revoke --note`) is free text for people: refused when it holds control
/// characters (they would rewrite the reader's terminal) or is over [`MAX_NOTE_LEN`].
pub fn validate_note(note: &str) -> Result<()> {
    if let Some(c) = note.chars().find(|c| c.is_control()) {
        return Err(Error::Invalid(format!(
            "the note contains the control character U+{:04X}; write it as plain text on one line",
            c as u32
        )));
    }
    if note.chars().count() > MAX_NOTE_LEN {
        return Err(Error::Invalid(format!(
            "the note is {} characters long; keep it under {MAX_NOTE_LEN}",
            note.chars().count()
        )));
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

impl CaInitOptions {
    /// The reference deployment's CA: RSA-4096, root 10 years, intermediate 5 years.
    pub const DEFAULT_KEY_ALGORITHM: KeyAlgorithm = KeyAlgorithm::Rsa4096;
    pub const DEFAULT_ROOT_DAYS: u32 = 3650;
    pub const DEFAULT_INTERMEDIATE_DAYS: u32 = 1825;

    /// A three-tier CA with the defaults above and the given subject.
    pub fn with_defaults(subject: Subject) -> CaInitOptions {
        CaInitOptions {
            root_only: false,
            key_algorithm: Self::DEFAULT_KEY_ALGORITHM,
            subject,
            root_days: Self::DEFAULT_ROOT_DAYS,
            intermediate_days: Self::DEFAULT_INTERMEDIATE_DAYS,
        }
    }

    /// `RSA-4096, root 10 years, intermediate 5 years`: the defaults in words.
    pub fn defaults_described() -> String {
        format!(
            "{}, root {} years, intermediate {} years",
            Self::DEFAULT_KEY_ALGORITHM.as_str().to_uppercase(),
            Self::DEFAULT_ROOT_DAYS / 365,
            Self::DEFAULT_INTERMEDIATE_DAYS / 365
        )
    }
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

/// What a revoke changed.
#[derive(Debug, Clone, Serialize)]
pub struct RevokeOutcome {
    pub client_id: String,
    /// Every cert revoked, as stored afterwards.
    pub revoked: Vec<CertRecord>,
    /// Certs of the client the authorizer still accepts (only with `RevokeScope::KeepGrace`,
    /// or when a single serial was revoked).
    pub kept: Vec<CertRecord>,
    /// When the revoke bites: API Gateway may answer from the authorizer's result cache
    /// until its TTL has passed.
    pub takes_effect: RevocationEffect,
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
    /// Past its expiry and not revoked.
    Expired,
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
    /// Why no `client.key` was written, when none was.
    pub key_withheld: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub allow: bool,
    /// Every reason for DENY (empty on ALLOW).
    pub reasons: Vec<String>,
    pub info: Option<CertInfo>,
    pub record: Option<CertRecord>,
    /// When a revoke of this cert takes effect: from its revocation when it is revoked,
    /// else for a revoke made now.
    pub revocation: RevocationEffect,
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

pub mod authorizer;
mod ca;
mod claim;
mod demo;
mod doctor;
mod export;
mod gateway;
mod journal;
pub mod lease;
mod lifecycle;
pub mod limits;
mod query;
mod repair;
mod report;
mod rotation;
mod truststore;

pub use ca::{CompromisedCa, compromised_cas};
pub use ca::{Issuer, ca_init, ca_show, load_issuer};
pub use demo::{demo, demo_client_ids};
pub use doctor::doctor;
pub use export::{check_out_dir, export, export_issued, write_private_file, write_public_file};
pub use gateway::{
    AuthorizerCache, DEFAULT_AUTHORIZER_TTL, MtlsChange, MtlsOffRecord, MtlsState,
    RevocationEffect, RevocationLatency, TakesEffect, gateway_mtls_off, gateway_mtls_on,
    gateway_mtls_state, revocation_latency,
};
pub use journal::{ClientSelection, RotationJournal, RotationKind, RotationPhase};
pub use lifecycle::{
    RevokeScope, issue, issue_bulk, parse_bulk_file, reissue, revoke, revoke_target,
};
pub use query::{audit, authorizer_cn, latest_per_client, list, show, verify};
pub use repair::{RepairFinding, RepairReport, repair};
pub use report::{
    Expiring, Report, ReportAuthority, ReportCounts, ReportRow, expiring_within, report,
};
pub use rotation::{
    RevokeByCaReport, RotationOptions, RotationPlan, RotationReport, RotationStep, due_for_renewal,
    revoke_issued_by, rotation_abort, rotation_plan, rotation_run, rotation_status,
};
pub use truststore::{
    truststore_build, truststore_check, truststore_history, truststore_publish,
    truststore_rollback, truststore_show,
};
