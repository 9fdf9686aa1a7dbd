//! Everything the console shows, and nothing else: no I/O handles, no clock. `update` is the
//! only mutator and `draw` only reads it.

use std::collections::HashSet;

use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::action::{Overview, RotationOverview, TaskId};
use super::roster::Roster;
use super::update::Op;
use crate::config::EnvConfig;
use crate::model::{AuditRecord, CertRecord, RevocationReason};
use crate::ops::{BundleView, CaSummary, ClientDetail, RotationKind};
use crate::pki::KeyAlgorithm;
use crate::store::TruststoreVersion;

/// Rows of the screen that are not roster rows: header (2), summary (1), table header (1),
/// status line (1), footer (1).
pub const ROSTER_CHROME_ROWS: u16 = 6;
/// Rows of the audit view that are not audit rows: header (2), summary and filter (2), table
/// header (1), the selected record's detail (2), status line (1), footer (1).
pub const AUDIT_CHROME_ROWS: u16 = 9;
/// How many audit records the audit view loads.
pub const AUDIT_LIMIT: usize = 500;
/// Grace periods offered when re-issuing, in hours (0: revoke the old cert at once).
pub const GRACE_HOURS: [u32; 5] = [0, 1, 24, 168, 720];

/// Something loaded by an operation.
#[derive(Debug, Clone, Default)]
pub enum Load<T> {
    #[default]
    Idle,
    Loading,
    Ready(T),
    Failed(String),
}

impl<T> Load<T> {
    pub fn ready(&self) -> Option<&T> {
        match self {
            Load::Ready(t) => Some(t),
            _ => None,
        }
    }
}

/// The main area of the screen (dialogs and overlays come on top).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    #[default]
    Roster,
    Detail,
    Truststore,
    Audit,
    Rotation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    Info,
    Warn,
    Error,
}

/// The status line: the outcome of the last thing done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub kind: StatusKind,
    pub text: String,
}

/// An operation in flight.
#[derive(Debug, Clone)]
pub struct Task {
    pub id: TaskId,
    pub op: Op,
    /// [`App::tick`] when it started.
    pub started: u64,
    /// (done, total) when the operation reports it.
    pub progress: Option<(usize, usize)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueField {
    Name,
    Cn,
    Days,
    Key,
    CsrPath,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueStep {
    Edit,
    Preview,
    Submitting,
}

#[derive(Debug, Clone)]
pub struct IssueForm {
    pub step: IssueStep,
    pub focus: IssueField,
    /// The name as typed; the environment's template turns it into the client_id.
    pub name: String,
    /// Follows the rendered client_id until edited.
    pub cn: String,
    pub cn_edited: bool,
    pub days: String,
    /// Index into [`KeyAlgorithm::ALL`], or `KeyAlgorithm::ALL.len()` for "sign a CSR file".
    pub key: usize,
    pub csr_path: String,
}

impl IssueForm {
    pub fn uses_csr(&self) -> bool {
        self.key >= KeyAlgorithm::ALL.len()
    }

    pub fn key_algorithm(&self) -> Option<KeyAlgorithm> {
        KeyAlgorithm::ALL.get(self.key).copied()
    }

    /// The fields in tab order.
    pub fn fields(&self) -> &'static [IssueField] {
        if self.uses_csr() {
            &[
                IssueField::Name,
                IssueField::Cn,
                IssueField::Days,
                IssueField::Key,
                IssueField::CsrPath,
            ]
        } else {
            &[
                IssueField::Name,
                IssueField::Cn,
                IssueField::Days,
                IssueField::Key,
            ]
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeFocus {
    Reason,
    Confirm,
}

#[derive(Debug, Clone)]
pub struct RevokeDialog {
    pub client_id: String,
    pub serial: String,
    /// Index into [`RevocationReason::ALL`].
    pub reason: usize,
    pub focus: RevokeFocus,
    /// What the operator typed to confirm; must equal `client_id`.
    pub typed: String,
    pub submitting: bool,
}

impl RevokeDialog {
    pub fn reason(&self) -> RevocationReason {
        RevocationReason::ALL[self.reason]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReissueFocus {
    Rekey,
    Grace,
}

#[derive(Debug, Clone)]
pub struct ReissueDialog {
    pub client_id: String,
    pub serial: String,
    pub rekey: bool,
    /// Index into [`GRACE_HOURS`].
    pub grace: usize,
    pub focus: ReissueFocus,
    /// Showing the summary, waiting for the final Enter.
    pub confirming: bool,
    pub submitting: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFocus {
    Dir,
    Passphrase,
}

#[derive(Debug, Clone)]
pub struct ExportDialog {
    pub client_id: String,
    /// Shown above the fields (e.g. what was just issued).
    pub intro: Option<String>,
    pub dir: String,
    /// Optional PKCS#12 passphrase; never drawn, only its length as `*`.
    pub passphrase: Zeroizing<String>,
    pub focus: ExportFocus,
    pub submitting: bool,
}

/// What a yes/no confirmation is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    Publish,
    Rollback(String),
    Bootstrap,
    Demo,
    /// Start a rotation of this kind (its first phase).
    RotationStart(RotationKind),
    /// Run the next phase of the rotation in progress.
    RotationNext(RotationKind),
    RotationAbort,
}

#[derive(Debug, Clone)]
pub struct EnvPicker {
    pub names: Vec<String>,
    pub selected: usize,
}

#[derive(Debug, Clone)]
pub enum Dialog {
    Issue(IssueForm),
    Revoke(RevokeDialog),
    Reissue(ReissueDialog),
    Export(ExportDialog),
    Confirm(Confirm),
    EnvPicker(EnvPicker),
}

/// The roster as shown: the data plus selection, scroll and the filter being typed.
#[derive(Debug, Clone, Default)]
pub struct RosterView {
    pub load: Load<()>,
    pub data: Roster,
    pub filter: String,
    pub selected: usize,
    pub offset: usize,
}

#[derive(Debug, Clone)]
pub struct DetailView {
    pub client_id: String,
    pub load: Load<Box<ClientDetail>>,
    pub scroll: u16,
}

#[derive(Debug, Clone, Default)]
pub struct TruststoreView {
    pub history: Load<Vec<TruststoreVersion>>,
    /// Selected history row.
    pub selected: usize,
}

#[derive(Debug, Clone, Default)]
pub struct RotationView {
    pub load: Load<Box<RotationOverview>>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditView {
    pub load: Load<Vec<AuditRecord>>,
    pub filter: String,
    /// Records matching the filter, indexes into the loaded records.
    pub visible: Vec<u32>,
    pub selected: usize,
    pub offset: usize,
}

impl AuditView {
    pub fn records(&self) -> &[AuditRecord] {
        self.load.ready().map(Vec::as_slice).unwrap_or(&[])
    }
}

/// How the header describes the CA and the truststore.
#[derive(Debug, Clone, Default)]
pub struct Header {
    pub ca: Load<Option<CaSummary>>,
    pub published: Load<Option<BundleView>>,
    pub built: Load<BundleView>,
}

impl Header {
    pub fn apply(&mut self, o: Overview) {
        self.ca = o.ca.map_or_else(Load::Failed, Load::Ready);
        self.published = o.published.map_or_else(Load::Failed, Load::Ready);
        self.built = o.built.map_or_else(Load::Failed, Load::Ready);
    }

    /// Does the published truststore hold exactly the CA certificates the CA implies?
    /// None until both are known or when nothing is published.
    pub fn truststore_matches(&self) -> Option<TruststoreMatch> {
        let published = self.published.ready()?.as_ref()?;
        let built = self.built.ready()?;
        let have: HashSet<&str> = published
            .certs
            .iter()
            .map(|c| c.fingerprint_sha256.as_str())
            .collect();
        let want: HashSet<&str> = built
            .certs
            .iter()
            .map(|c| c.fingerprint_sha256.as_str())
            .collect();
        Some(TruststoreMatch {
            missing: want.difference(&have).count(),
            extra: have.difference(&want).count(),
        })
    }
}

/// How the published truststore differs from the one the CA implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TruststoreMatch {
    /// CA certs that a publish would add.
    pub missing: usize,
    /// Published certs that the CA does not imply.
    pub extra: usize,
}

impl TruststoreMatch {
    pub fn matches(&self) -> bool {
        self.missing == 0 && self.extra == 0
    }
}

/// What `App::new` needs to know about the environment and the session.
#[derive(Debug, Clone)]
pub struct AppInit {
    pub env: EnvConfig,
    pub env_names: Vec<String>,
    pub backend: String,
    pub operator: String,
    pub now: OffsetDateTime,
    /// From the command line; the environment's own `read_only` is added to it.
    pub read_only: bool,
}

#[derive(Debug, Clone)]
pub struct App {
    pub env: EnvConfig,
    pub env_names: Vec<String>,
    pub backend: String,
    pub operator: String,
    pub now: OffsetDateTime,
    /// Set on the command line; survives switching environments.
    pub read_only_flag: bool,
    pub read_only: bool,
    pub width: u16,
    pub height: u16,
    pub view: View,
    pub header: Header,
    pub roster: RosterView,
    pub detail: Option<DetailView>,
    pub truststore: TruststoreView,
    pub audit: AuditView,
    pub rotation: RotationView,
    pub dialog: Option<Dialog>,
    /// Typing into the current view's filter.
    pub filtering: bool,
    pub help: bool,
    /// A failure to show in full until dismissed.
    pub error: Option<String>,
    pub status: Option<Status>,
    pub tasks: Vec<Task>,
    pub next_task: TaskId,
    /// Counts [`Action::Tick`](super::action::Action::Tick)s: tenths of a second of work.
    pub tick: u64,
    pub quit: bool,
}

impl App {
    pub fn new(init: AppInit) -> App {
        let read_only = init.read_only || init.env.read_only;
        App {
            env: init.env,
            env_names: init.env_names,
            backend: init.backend,
            operator: init.operator,
            now: init.now,
            read_only_flag: init.read_only,
            read_only,
            width: 80,
            height: 24,
            view: View::Roster,
            header: Header::default(),
            roster: RosterView::default(),
            detail: None,
            truststore: TruststoreView::default(),
            audit: AuditView::default(),
            rotation: RotationView::default(),
            dialog: None,
            filtering: false,
            help: false,
            error: None,
            status: None,
            tasks: Vec::new(),
            next_task: 1,
            tick: 0,
            quit: false,
        }
    }

    /// Replaces the roster with freshly listed records (keeps filter and sort).
    pub fn set_roster(&mut self, records: Vec<CertRecord>, now: OffsetDateTime) {
        self.now = now;
        let expiring_days = i64::from(self.env.expiring_days);
        self.roster.data.reload(records, now, expiring_days);
        self.roster.load = Load::Ready(());
    }

    /// The record under the cursor.
    pub fn selected_record(&self) -> Option<&CertRecord> {
        self.roster.data.row(self.roster.selected).map(|(r, _)| r)
    }

    /// The client the r/x/e keys act on: the detail's client in the detail view, else the
    /// selected row.
    pub fn target_record(&self) -> Option<&CertRecord> {
        if self.view == View::Detail
            && let Some(d) = &self.detail
        {
            return self
                .roster
                .data
                .records()
                .iter()
                .find(|r| r.client_id == d.client_id);
        }
        self.selected_record()
    }

    /// An empty environment without a CA: offer to bootstrap one or load demo data.
    pub fn onboarding(&self) -> bool {
        self.view == View::Roster
            && matches!(self.roster.load, Load::Ready(()))
            && self.roster.data.is_empty()
            && matches!(self.header.ca, Load::Ready(None))
    }

    /// Roster rows that fit on the screen.
    pub fn roster_viewport(&self) -> usize {
        usize::from(self.height.saturating_sub(ROSTER_CHROME_ROWS)).max(1)
    }

    pub fn audit_viewport(&self) -> usize {
        usize::from(self.height.saturating_sub(AUDIT_CHROME_ROWS)).max(1)
    }

    pub fn busy(&self) -> bool {
        !self.tasks.is_empty()
    }
}
