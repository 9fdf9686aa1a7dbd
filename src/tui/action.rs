//! Actions: the only things that change the console's state. Keys become actions through the
//! keymap; the results of operations running on tokio come back as actions.

use std::path::PathBuf;

use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::config::EnvConfig;
use crate::model::{AuditRecord, CertRecord, RevocationReason};
use crate::ops::{
    BundleView, CaSummary, ClientDetail, ExportedFiles, RotationJournal, RotationKind,
    RotationPlan, RotationReport,
};
use crate::pki::{CertInfo, KeyAlgorithm};
use crate::store::TruststoreVersion;

/// Identifies one operation started by an [`Effect`].
pub type TaskId = u64;

#[derive(Debug, Clone)]
pub enum Action {
    // Movement, in lists, tables, pickers and dialogs.
    Up,
    Down,
    Top,
    Bottom,
    PageUp,
    PageDown,
    Left,
    Right,
    // Text entry and dialogs.
    Input(char),
    Backspace,
    NextField,
    PrevField,
    Submit,
    /// Esc: closes the top-most layer (error, help, dialog, filter, sub-view).
    Back,
    // Commands.
    StartFilter,
    CycleSort,
    ReverseSort,
    /// Copies the target client's serial (decimal) to the clipboard.
    YankSerial,
    /// Copies the target client's SHA-256 fingerprint to the clipboard.
    YankFingerprint,
    CycleStatus,
    OpenDetail,
    OpenIssue,
    OpenReissue,
    OpenRevoke,
    OpenExport,
    OpenTruststore,
    OpenAudit,
    OpenRotation,
    OpenEnvPicker,
    Publish,
    Rollback,
    Bootstrap,
    LoadDemo,
    /// Rotation view: start an intermediate rotation, or run the next phase of the one in
    /// progress.
    RotationNext,
    /// Rotation view: start a root rotation.
    RotationRoot,
    /// Rotation view: renew the clients due for renewal.
    RotationRenewDue,
    RotationAbort,
    Refresh,
    ToggleHelp,
    /// Abandons the operations in flight.
    Cancel,
    Quit,
    // From the runtime.
    /// The first action: loads the roster and the header.
    Start,
    Resize {
        width: u16,
        height: u16,
    },
    /// Sent every 100 ms while work is in flight (spinner, elapsed time).
    Tick,
    /// Share of an operation done so far (certificates re-issued of the total).
    Progress {
        task: TaskId,
        done: usize,
        total: usize,
    },
    Done {
        task: TaskId,
        result: Result<Outcome, String>,
    },
}

/// The result of one operation.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Latest cert per client, and the time the list was taken at.
    Roster {
        records: Vec<CertRecord>,
        now: OffsetDateTime,
    },
    Overview(Box<Overview>),
    Detail(Box<ClientDetail>),
    Issued {
        record: Box<CertRecord>,
        info: Box<CertInfo>,
    },
    /// The client's current cert as revoked, and when the gateway stops letting it through
    /// ("on the next request", or within the authorizer cache's TTL).
    Revoked {
        record: Box<CertRecord>,
        takes_effect: String,
    },
    Reissued {
        old: Box<CertRecord>,
        new: Box<CertRecord>,
    },
    Exported(ExportedFiles),
    TruststoreHistory(Vec<TruststoreVersion>),
    Published(TruststoreVersion),
    RolledBack(TruststoreVersion),
    Audit(Vec<AuditRecord>),
    CaCreated(Box<CaSummary>),
    Demo(usize),
    EnvSwitched(Box<EnvSwitch>),
    Rotation(Box<RotationOverview>),
    RotationRan(Box<RotationReport>),
}

/// The rotation journal and the plan of the next run (each fails on its own).
#[derive(Debug, Clone)]
pub struct RotationOverview {
    /// The rotation in progress or the last one; None when none ever ran.
    pub journal: Option<RotationJournal>,
    /// What the next `n` would do: the rotation in progress, else a new intermediate one.
    pub plan: Result<RotationPlan, String>,
}

/// What the header shows about the CA and the truststore; each part fails on its own.
#[derive(Debug, Clone)]
pub struct Overview {
    /// None when the environment has no CA yet.
    pub ca: Result<Option<CaSummary>, String>,
    /// None when nothing was ever published.
    pub published: Result<Option<BundleView>, String>,
    /// The bundle the CA implies (what a publish would write).
    pub built: Result<BundleView, String>,
}

/// A new environment is open; everything else reloads.
#[derive(Debug, Clone)]
pub struct EnvSwitch {
    pub env: EnvConfig,
    pub description: String,
    pub operator: String,
    pub now: OffsetDateTime,
}

/// Where the key of a certificate to issue comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRequest {
    Generate(KeyAlgorithm),
    /// A PKCS#10 CSR file, read by the runtime.
    CsrFile(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRequest {
    /// The name as typed; ops renders it into the client_id.
    pub name: String,
    /// Set only when the operator changed the CN.
    pub cn: Option<String>,
    pub days: u32,
    pub key: KeyRequest,
}

/// An operation the runtime runs with the environment's context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    LoadRoster,
    /// CA, published truststore and the truststore the CA implies.
    Overview,
    Detail(String),
    Issue(IssueRequest),
    Revoke {
        client_id: String,
        reason: RevocationReason,
        /// Why, kept with the revocation.
        note: Option<String>,
    },
    Reissue {
        client_id: String,
        rekey: bool,
        /// None: the old cert is revoked at once.
        grace: Option<time::Duration>,
    },
    Export {
        client_id: String,
        dir: PathBuf,
        /// PKCS#12 passphrase (its Debug output is redacted).
        passphrase: Option<Zeroizing<String>>,
    },
    TruststoreHistory,
    Publish,
    Rollback(String),
    Audit(usize),
    BootstrapCa,
    Demo,
    SwitchEnv(String),
    /// The rotation journal and the plan of the next run.
    RotationOverview,
    /// Start a rotation (`start`) or run the next phase of the one in progress: one phase
    /// per confirmation.
    RotationStep {
        kind: RotationKind,
        start: bool,
    },
    RotationAbort,
}

impl Op {
    /// What the status line says while it runs.
    pub fn label(&self) -> String {
        match self {
            Op::LoadRoster => "loading roster".into(),
            Op::Overview => "checking CA and truststore".into(),
            Op::Detail(id) => format!("loading {id}"),
            Op::Issue(r) => format!("issuing {}", r.name),
            Op::Revoke { client_id, .. } => format!("revoking {client_id}"),
            Op::Reissue { client_id, .. } => format!("re-issuing {client_id}"),
            Op::Export { client_id, .. } => format!("exporting {client_id}"),
            Op::TruststoreHistory => "loading truststore history".into(),
            Op::Publish => "publishing truststore".into(),
            Op::Rollback(v) => format!("rolling truststore back to {v}"),
            Op::Audit(_) => "loading audit log".into(),
            Op::BootstrapCa => "creating CA".into(),
            Op::Demo => "loading demo data".into(),
            Op::SwitchEnv(name) => format!("opening environment {name}"),
            Op::RotationOverview => "reading the rotation journal".into(),
            Op::RotationStep { kind, start: true } => {
                format!("starting {} rotation", kind.as_str())
            }
            Op::RotationStep { kind, .. } => format!("running the {} rotation", kind.as_str()),
            Op::RotationAbort => "aborting the rotation".into(),
        }
    }

    /// Does it change anything? (Cancelling such an operation may leave it applied.)
    pub fn mutates(&self) -> bool {
        !matches!(
            self,
            Op::LoadRoster
                | Op::Overview
                | Op::Detail(_)
                | Op::TruststoreHistory
                | Op::Audit(_)
                | Op::SwitchEnv(_)
                | Op::RotationOverview
        )
    }

    /// Loads of the same kind replace each other: a new one aborts the older.
    pub fn same_load(&self, other: &Op) -> bool {
        !self.mutates() && std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Run {
        task: TaskId,
        op: Op,
    },
    /// Abandon a task (the runtime aborts its tokio task).
    Abort(TaskId),
    /// Put text on the terminal's clipboard (OSC 52; works over SSH and in tmux).
    Copy(String),
}
