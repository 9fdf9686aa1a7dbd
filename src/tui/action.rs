//! Actions: the only things that change the console's state. Keys become actions through the
//! keymap; the results of operations running on tokio come back as actions.

use time::OffsetDateTime;

use crate::config::EnvConfig;
use crate::model::{AuditRecord, CertRecord};
use crate::ops::{
    BundleView, CaSummary, ClientDetail, ExportedFiles, RotationJournal, RotationPlan,
    RotationReport,
};
use crate::pki::CertInfo;
use crate::store::TruststoreVersion;

/// Identifies one operation started by an [`Effect`](super::update::Effect).
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
    Revoked(Box<CertRecord>),
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
