//! `update(&mut App, Action) -> Vec<Effect>`: the only mutator of the state. Pure: no I/O,
//! no clock. Work to do comes out as effects, which the runtime runs on tokio; their results
//! come back as [`Action::Done`].

use std::path::PathBuf;

use zeroize::Zeroizing;

use super::action::{Action, Outcome, TaskId};
use super::roster::{next_status_filter, status_filter_label};
use super::state::{
    AUDIT_LIMIT, App, Confirm, DetailView, Dialog, EnvPicker, ExportDialog, ExportFocus,
    GRACE_HOURS, IssueField, IssueForm, IssueStep, Load, ReissueDialog, ReissueFocus, RevokeDialog,
    RevokeFocus, Status, StatusKind, Task, View,
};
use crate::model::{CertStatus, RevocationReason};
use crate::ops::RotationKind;
use crate::pki::KeyAlgorithm;

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
    fn same_load(&self, other: &Op) -> bool {
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
}

pub fn update(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Start => {
            let mut fx = start(app, Op::LoadRoster);
            fx.extend(start(app, Op::Overview));
            fx
        }
        Action::Resize { width, height } => {
            app.width = width;
            app.height = height;
            clamp_roster(app);
            clamp_audit(app);
            vec![]
        }
        Action::Tick => {
            app.tick = app.tick.wrapping_add(1);
            vec![]
        }
        Action::Done { task, result } => done(app, task, result),
        Action::Progress { task, done, total } => {
            if let Some(t) = app.tasks.iter_mut().find(|t| t.id == task) {
                t.progress = Some((done, total));
            }
            vec![]
        }
        Action::Quit => {
            app.quit = true;
            vec![]
        }
        Action::Cancel => cancel(app),
        other => {
            if app.error.is_some() {
                if matches!(other, Action::Back | Action::Submit) {
                    app.error = None;
                }
                return vec![];
            }
            if app.help {
                if matches!(other, Action::Back | Action::ToggleHelp) {
                    app.help = false;
                }
                return vec![];
            }
            if app.dialog.is_some() {
                return dialog(app, other);
            }
            if app.filtering {
                return filter_input(app, other);
            }
            view(app, other)
        }
    }
}

/// Registers a task and asks the runtime to run it.
fn start(app: &mut App, op: Op) -> Vec<Effect> {
    let mut fx = Vec::new();
    app.tasks.retain(|t| {
        if t.op.same_load(&op) {
            fx.push(Effect::Abort(t.id));
            false
        } else {
            true
        }
    });
    let task = app.next_task;
    app.next_task += 1;
    app.tasks.push(Task {
        id: task,
        op: op.clone(),
        started: app.tick,
        progress: None,
    });
    match &op {
        Op::LoadRoster if !matches!(app.roster.load, Load::Ready(())) => {
            app.roster.load = Load::Loading;
        }
        Op::TruststoreHistory => app.truststore.history = Load::Loading,
        Op::Audit(_) => app.audit.load = Load::Loading,
        Op::RotationOverview if !matches!(app.rotation.load, Load::Ready(_)) => {
            app.rotation.load = Load::Loading;
        }
        _ => {}
    }
    fx.push(Effect::Run { task, op });
    fx
}

fn info(app: &mut App, text: impl Into<String>) {
    app.status = Some(Status {
        kind: StatusKind::Info,
        text: text.into(),
    });
}

fn warn(app: &mut App, text: impl Into<String>) {
    app.status = Some(Status {
        kind: StatusKind::Warn,
        text: text.into(),
    });
}

fn fail(app: &mut App, text: impl Into<String>) {
    let text = text.into();
    app.status = Some(Status {
        kind: StatusKind::Error,
        text: text.clone(),
    });
    app.error = Some(text);
}

/// Refuses a change in read-only mode; true when refused.
fn refuse_read_only(app: &mut App, what: &str) -> bool {
    if app.read_only {
        let why = if app.read_only_flag {
            "started with --read-only"
        } else {
            "the environment is configured read_only"
        };
        warn(app, format!("read-only: {what} is disabled ({why})"));
    }
    app.read_only
}

fn cancel(app: &mut App) -> Vec<Effect> {
    if app.tasks.is_empty() {
        return vec![];
    }
    let tasks = std::mem::take(&mut app.tasks);
    let labels: Vec<String> = tasks.iter().map(|t| t.op.label()).collect();
    let mutated = tasks.iter().any(|t| t.op.mutates());
    if matches!(app.roster.load, Load::Loading) {
        app.roster.load = Load::Idle;
    }
    if let Some(d) = &mut app.dialog {
        match d {
            Dialog::Issue(f) if f.step == IssueStep::Submitting => f.step = IssueStep::Preview,
            Dialog::Revoke(r) => r.submitting = false,
            Dialog::Reissue(r) => r.submitting = false,
            Dialog::Export(e) => e.submitting = false,
            _ => {}
        }
    }
    let mut text = format!("cancelled: {}", labels.join(", "));
    if mutated {
        text.push_str(" (the change may already have been applied; press R to refresh)");
    }
    warn(app, text);
    tasks.into_iter().map(|t| Effect::Abort(t.id)).collect()
}

fn done(app: &mut App, task: TaskId, result: Result<Outcome, String>) -> Vec<Effect> {
    let Some(pos) = app.tasks.iter().position(|t| t.id == task) else {
        // Cancelled or replaced: its result no longer matters.
        return vec![];
    };
    let op = app.tasks.remove(pos).op;
    match result {
        Ok(outcome) => succeeded(app, outcome),
        Err(e) => {
            failed(app, &op, &e);
            vec![]
        }
    }
}

fn failed(app: &mut App, op: &Op, e: &str) {
    match op {
        Op::LoadRoster => app.roster.load = Load::Failed(e.to_string()),
        Op::Detail(_) => {
            if let Some(d) = &mut app.detail {
                d.load = Load::Failed(e.to_string());
            }
        }
        Op::TruststoreHistory => app.truststore.history = Load::Failed(e.to_string()),
        Op::Audit(_) => app.audit.load = Load::Failed(e.to_string()),
        Op::RotationOverview => app.rotation.load = Load::Failed(e.to_string()),
        _ => {}
    }
    match &mut app.dialog {
        Some(Dialog::Issue(f)) => f.step = IssueStep::Edit,
        Some(Dialog::Revoke(r)) => r.submitting = false,
        Some(Dialog::Reissue(r)) => {
            r.submitting = false;
            r.confirming = false;
        }
        Some(Dialog::Export(x)) => x.submitting = false,
        _ => {}
    }
    fail(app, format!("{} failed: {e}", op.label()));
}

fn succeeded(app: &mut App, outcome: Outcome) -> Vec<Effect> {
    match outcome {
        Outcome::Roster { records, now } => {
            let keep = app.selected_record().map(|r| r.client_id.clone());
            app.set_roster(records, now);
            app.roster.selected = keep
                .and_then(|id| app.roster.data.position_of(&id))
                .unwrap_or(0);
            clamp_roster(app);
            vec![]
        }
        Outcome::Overview(o) => {
            app.header.apply(*o);
            vec![]
        }
        Outcome::Detail(d) => {
            if let Some(view) = &mut app.detail
                && view.client_id == d.record.client_id
            {
                view.load = Load::Ready(d);
            }
            vec![]
        }
        Outcome::Issued { record, info: cert } => {
            let client_id = record.client_id.clone();
            let key_held = record.key_held;
            app.roster.data.upsert(*record);
            select_client(app, &client_id);
            info(
                app,
                format!(
                    "issued {client_id}: serial {} valid until {}",
                    cert.serial_decimal,
                    crate::timefmt::format(cert.not_after)
                ),
            );
            let intro = if key_held {
                "Export certificate, chain, key and PKCS#12 now?"
            } else {
                "Export certificate and chain now? (the key stays with the CSR's owner)"
            };
            app.dialog = Some(Dialog::Export(ExportDialog {
                intro: Some(format!(
                    "Issued {client_id}, serial {}. {intro}",
                    cert.serial_decimal
                )),
                ..export_dialog(&client_id)
            }));
            vec![]
        }
        Outcome::Revoked(record) => {
            let text = format!(
                "revoked {} (serial {}, {}); the authorizer denies it from the next request",
                record.client_id,
                record.serial,
                record
                    .revocation_reason
                    .map_or("unspecified", RevocationReason::as_str)
            );
            close_dialog_for(app, |d| matches!(d, Dialog::Revoke(_)));
            after_change(app, *record, text)
        }
        Outcome::Reissued { old, new } => {
            let text = format!(
                "re-issued {}: new serial {}, old serial {} valid until {}",
                new.client_id,
                new.serial,
                old.serial,
                crate::timefmt::format(old.expiry)
            );
            close_dialog_for(app, |d| matches!(d, Dialog::Reissue(_)));
            after_change(app, *new, text)
        }
        Outcome::Exported(files) => {
            close_dialog_for(app, |d| matches!(d, Dialog::Export(_)));
            let names: Vec<String> = files
                .files
                .iter()
                .map(|f| {
                    f.file_name().map_or_else(
                        || f.display().to_string(),
                        |n| n.to_string_lossy().into_owned(),
                    )
                })
                .collect();
            info(
                app,
                format!("exported {} to {}", names.join(", "), files.dir.display()),
            );
            vec![]
        }
        Outcome::TruststoreHistory(h) => {
            app.truststore.selected = app.truststore.selected.min(h.len().saturating_sub(1));
            app.truststore.history = Load::Ready(h);
            vec![]
        }
        Outcome::Published(v) => {
            info(
                app,
                format!("published truststore version {}", v.version_id),
            );
            let mut fx = start(app, Op::Overview);
            fx.extend(start(app, Op::TruststoreHistory));
            fx
        }
        Outcome::RolledBack(v) => {
            info(
                app,
                format!(
                    "truststore rolled back: version {} is current",
                    v.version_id
                ),
            );
            let mut fx = start(app, Op::Overview);
            fx.extend(start(app, Op::TruststoreHistory));
            fx
        }
        Outcome::Rotation(overview) => {
            app.rotation.load = Load::Ready(overview);
            vec![]
        }
        Outcome::RotationRan(report) => {
            let mut text: Vec<String> = report
                .steps
                .iter()
                .map(|s| format!("{}: {}", s.phase.as_str(), s.detail))
                .collect();
            if let Some(until) = report.waiting_until {
                text.push(format!(
                    "grace period until {}; press n after it",
                    crate::timefmt::format(until)
                ));
            }
            if text.is_empty() {
                text.push(format!(
                    "rotation {} is in phase {}",
                    report.journal.id,
                    report.journal.phase.as_str()
                ));
            }
            if report.failed.is_empty() {
                info(app, text.join(" | "));
            } else {
                warn(
                    app,
                    format!(
                        "{} client(s) not moved ({}); press n to retry",
                        report.failed.len(),
                        report
                            .failed
                            .iter()
                            .take(3)
                            .map(|(id, why)| format!("{id}: {why}"))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                );
            }
            let mut fx = start(app, Op::RotationOverview);
            fx.extend(start(app, Op::Overview));
            fx.extend(start(app, Op::LoadRoster));
            fx
        }
        Outcome::Audit(records) => {
            app.audit.load = Load::Ready(records);
            refilter_audit(app);
            vec![]
        }
        Outcome::CaCreated(ca) => {
            info(
                app,
                format!(
                    "CA created: {}{}",
                    ca.root.subject,
                    ca.intermediate
                        .as_ref()
                        .map(|i| format!(", intermediate {}", i.subject))
                        .unwrap_or_default()
                ),
            );
            let mut fx = start(app, Op::Overview);
            fx.extend(start(app, Op::LoadRoster));
            fx
        }
        Outcome::Demo(n) => {
            info(app, format!("demo data loaded: {n} clients"));
            let mut fx = start(app, Op::Overview);
            fx.extend(start(app, Op::LoadRoster));
            fx
        }
        Outcome::EnvSwitched(sw) => {
            let fx: Vec<Effect> = app.tasks.drain(..).map(|t| Effect::Abort(t.id)).collect();
            let name = sw.env.name.clone();
            let mut fresh = App::new(super::state::AppInit {
                env: sw.env,
                env_names: std::mem::take(&mut app.env_names),
                backend: sw.description,
                operator: sw.operator,
                now: sw.now,
                read_only: app.read_only_flag,
            });
            fresh.width = app.width;
            fresh.height = app.height;
            fresh.next_task = app.next_task;
            *app = fresh;
            info(app, format!("switched to environment {name}"));
            let mut fx = fx;
            fx.extend(update(app, Action::Start));
            fx
        }
    }
}

fn close_dialog_for(app: &mut App, f: impl Fn(&Dialog) -> bool) {
    if app.dialog.as_ref().is_some_and(f) {
        app.dialog = None;
    }
}

/// A revoke or re-issue went through: the row changes at once, the details reload.
fn after_change(app: &mut App, record: crate::model::CertRecord, text: String) -> Vec<Effect> {
    let client_id = record.client_id.clone();
    app.roster.data.upsert(record);
    select_client(app, &client_id);
    info(app, text);
    let mut fx = start(app, Op::Overview);
    if let Some(d) = &app.detail
        && d.client_id == client_id
    {
        fx.extend(start(app, Op::Detail(client_id)));
    }
    fx
}

fn select_client(app: &mut App, client_id: &str) {
    if let Some(pos) = app.roster.data.position_of(client_id) {
        app.roster.selected = pos;
    }
    clamp_roster(app);
}

fn export_dialog(client_id: &str) -> ExportDialog {
    ExportDialog {
        client_id: client_id.to_string(),
        intro: None,
        dir: format!("./{client_id}"),
        passphrase: Zeroizing::new(String::new()),
        focus: ExportFocus::Dir,
        submitting: false,
    }
}

// ---------------------------------------------------------------- views

fn view(app: &mut App, action: Action) -> Vec<Effect> {
    if app.onboarding() {
        match action {
            Action::Bootstrap => {
                if !refuse_read_only(app, "creating a CA") {
                    app.dialog = Some(Dialog::Confirm(Confirm::Bootstrap));
                }
                return vec![];
            }
            Action::LoadDemo => {
                if !refuse_read_only(app, "loading demo data") {
                    app.dialog = Some(Dialog::Confirm(Confirm::Demo));
                }
                return vec![];
            }
            _ => {}
        }
    }
    match action {
        Action::Back => {
            back(app);
            vec![]
        }
        Action::Refresh => refresh(app),
        Action::ToggleHelp => {
            app.help = true;
            vec![]
        }
        Action::OpenTruststore => {
            app.view = View::Truststore;
            let mut fx = start(app, Op::Overview);
            fx.extend(start(app, Op::TruststoreHistory));
            fx
        }
        Action::OpenAudit => {
            app.view = View::Audit;
            start(app, Op::Audit(AUDIT_LIMIT))
        }
        Action::OpenRotation => {
            app.view = View::Rotation;
            start(app, Op::RotationOverview)
        }
        Action::OpenEnvPicker => {
            let selected = app
                .env_names
                .iter()
                .position(|n| *n == app.env.name)
                .unwrap_or(0);
            app.dialog = Some(Dialog::EnvPicker(EnvPicker {
                names: app.env_names.clone(),
                selected,
            }));
            vec![]
        }
        Action::OpenIssue => {
            if !refuse_read_only(app, "issuing") {
                app.dialog = Some(Dialog::Issue(IssueForm {
                    step: IssueStep::Edit,
                    focus: IssueField::Name,
                    name: String::new(),
                    cn: app.env.render_client_id(""),
                    cn_edited: false,
                    days: app.env.client_validity_days.to_string(),
                    key: KeyAlgorithm::ALL
                        .iter()
                        .position(|k| *k == app.env.client_key_algorithm)
                        .unwrap_or(0),
                    csr_path: String::new(),
                }));
            }
            vec![]
        }
        Action::OpenRevoke | Action::OpenReissue | Action::OpenExport => {
            client_dialog(app, action);
            vec![]
        }
        other => match app.view {
            View::Roster => roster_key(app, other),
            View::Detail => detail_key(app, other),
            View::Truststore => truststore_key(app, other),
            View::Audit => audit_key(app, other),
            View::Rotation => rotation_key(app, other),
        },
    }
}

/// The rotation in progress, if the journal is loaded and shows one.
fn rotation_in_progress(app: &App) -> Option<RotationKind> {
    app.rotation
        .load
        .ready()
        .and_then(|o| o.journal.as_ref())
        .filter(|j| !j.phase.is_terminal())
        .map(|j| j.kind)
}

fn rotation_key(app: &mut App, action: Action) -> Vec<Effect> {
    let loaded = matches!(app.rotation.load, Load::Ready(_));
    let confirm = match action {
        Action::RotationNext => match rotation_in_progress(app) {
            Some(kind) => Confirm::RotationNext(kind),
            None => Confirm::RotationStart(RotationKind::Intermediate),
        },
        Action::RotationRoot | Action::RotationRenewDue => {
            if let Some(kind) = rotation_in_progress(app) {
                warn(
                    app,
                    format!(
                        "a {} rotation is in progress: n runs its next phase, X aborts it",
                        kind.as_str()
                    ),
                );
                return vec![];
            }
            if matches!(action, Action::RotationRoot) {
                Confirm::RotationStart(RotationKind::Root)
            } else {
                Confirm::RotationStart(RotationKind::Clients)
            }
        }
        Action::RotationAbort => {
            if rotation_in_progress(app).is_none() {
                warn(app, "no rotation is in progress");
                return vec![];
            }
            Confirm::RotationAbort
        }
        _ => return vec![],
    };
    if !loaded {
        warn(app, "the rotation journal is still loading");
        return vec![];
    }
    if !refuse_read_only(app, "rotating") {
        app.dialog = Some(Dialog::Confirm(confirm));
    }
    vec![]
}

fn back(app: &mut App) {
    match app.view {
        View::Roster => {
            if !app.roster.filter.is_empty() {
                app.roster.filter.clear();
                app.roster.data.set_filter("");
                clamp_roster(app);
            }
        }
        View::Audit if !app.audit.filter.is_empty() => {
            app.audit.filter.clear();
            refilter_audit(app);
        }
        _ => {
            app.view = View::Roster;
            app.detail = None;
        }
    }
}

fn refresh(app: &mut App) -> Vec<Effect> {
    let mut fx = start(app, Op::LoadRoster);
    fx.extend(start(app, Op::Overview));
    match app.view {
        View::Detail => {
            if let Some(id) = app.detail.as_ref().map(|d| d.client_id.clone()) {
                fx.extend(start(app, Op::Detail(id)));
            }
        }
        View::Truststore => fx.extend(start(app, Op::TruststoreHistory)),
        View::Audit => fx.extend(start(app, Op::Audit(AUDIT_LIMIT))),
        View::Rotation => fx.extend(start(app, Op::RotationOverview)),
        View::Roster => {}
    }
    fx
}

/// r / x / e: dialogs about one client.
fn client_dialog(app: &mut App, action: Action) {
    let what = match action {
        Action::OpenRevoke => "revoking",
        Action::OpenReissue => "re-issuing",
        _ => "exporting",
    };
    if refuse_read_only(app, what) {
        return;
    }
    let Some(rec) = app.target_record().cloned() else {
        warn(app, format!("no client selected for {what}"));
        return;
    };
    app.dialog = Some(match action {
        Action::OpenRevoke => {
            if rec.status == CertStatus::Revoked {
                warn(app, format!("{} is already revoked", rec.client_id));
                return;
            }
            Dialog::Revoke(RevokeDialog {
                client_id: rec.client_id,
                serial: rec.serial,
                reason: 0,
                focus: RevokeFocus::Reason,
                typed: String::new(),
                submitting: false,
            })
        }
        Action::OpenReissue => Dialog::Reissue(ReissueDialog {
            client_id: rec.client_id,
            serial: rec.serial,
            rekey: rec.key_held,
            grace: GRACE_HOURS.iter().position(|h| *h == 24).unwrap_or(0),
            focus: ReissueFocus::Rekey,
            confirming: false,
            submitting: false,
        }),
        _ => Dialog::Export(export_dialog(&rec.client_id)),
    });
}

fn roster_key(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Up
        | Action::Down
        | Action::Top
        | Action::Bottom
        | Action::PageUp
        | Action::PageDown => {
            let len = app.roster.data.visible().len();
            let page = app.roster_viewport();
            app.roster.selected = moved(app.roster.selected, len, page, &action);
            clamp_roster(app);
            vec![]
        }
        Action::StartFilter => {
            app.filtering = true;
            vec![]
        }
        Action::CycleSort => {
            let keep = app.selected_record().map(|r| r.client_id.clone());
            let next = app.roster.data.sort_key().next();
            app.roster.data.set_sort(next);
            app.roster.selected = keep
                .and_then(|id| app.roster.data.position_of(&id))
                .unwrap_or(0);
            clamp_roster(app);
            info(app, format!("sorted by {}", next.label()));
            vec![]
        }
        Action::CycleStatus => {
            let next = next_status_filter(app.roster.data.status_filter());
            app.roster.data.set_status_filter(next);
            app.roster.selected = 0;
            app.roster.offset = 0;
            info(app, format!("showing {}", status_filter_label(next)));
            vec![]
        }
        Action::OpenDetail => {
            let Some(rec) = app.selected_record() else {
                return vec![];
            };
            let id = rec.client_id.clone();
            app.view = View::Detail;
            app.detail = Some(DetailView {
                client_id: id.clone(),
                load: Load::Loading,
                scroll: 0,
            });
            start(app, Op::Detail(id))
        }
        _ => vec![],
    }
}

fn detail_key(app: &mut App, action: Action) -> Vec<Effect> {
    let Some(d) = &mut app.detail else {
        app.view = View::Roster;
        return vec![];
    };
    match action {
        Action::Down => d.scroll = d.scroll.saturating_add(1),
        Action::Up => d.scroll = d.scroll.saturating_sub(1),
        Action::PageDown => d.scroll = d.scroll.saturating_add(10),
        Action::PageUp => d.scroll = d.scroll.saturating_sub(10),
        Action::Top => d.scroll = 0,
        Action::OpenDetail => {
            app.view = View::Roster;
            app.detail = None;
        }
        _ => {}
    }
    vec![]
}

fn truststore_key(app: &mut App, action: Action) -> Vec<Effect> {
    let len = app.truststore.history.ready().map_or(0, Vec::len);
    match action {
        Action::Up
        | Action::Down
        | Action::Top
        | Action::Bottom
        | Action::PageUp
        | Action::PageDown => {
            app.truststore.selected = moved(app.truststore.selected, len, 5, &action);
        }
        Action::Publish => {
            if refuse_read_only(app, "publishing the truststore") {
                return vec![];
            }
            app.dialog = Some(Dialog::Confirm(Confirm::Publish));
        }
        Action::Rollback => {
            if refuse_read_only(app, "rolling back the truststore") {
                return vec![];
            }
            match app
                .truststore
                .history
                .ready()
                .and_then(|h| h.get(app.truststore.selected))
            {
                Some(v) if v.is_latest => warn(
                    app,
                    "the selected version is already current; select an older one (j/k)",
                ),
                Some(v) => {
                    let id = v.version_id.clone();
                    app.dialog = Some(Dialog::Confirm(Confirm::Rollback(id)));
                }
                None => warn(app, "no truststore version selected"),
            }
        }
        _ => {}
    }
    vec![]
}

fn audit_key(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Up
        | Action::Down
        | Action::Top
        | Action::Bottom
        | Action::PageUp
        | Action::PageDown => {
            let len = app.audit.visible.len();
            let page = app.audit_viewport();
            app.audit.selected = moved(app.audit.selected, len, page, &action);
            clamp_audit(app);
        }
        Action::StartFilter => app.filtering = true,
        _ => {}
    }
    vec![]
}

/// A new cursor position after a movement key, within `len` rows.
fn moved(pos: usize, len: usize, page: usize, action: &Action) -> usize {
    if len == 0 {
        return 0;
    }
    let last = len - 1;
    match action {
        Action::Up => pos.saturating_sub(1),
        Action::Down => (pos + 1).min(last),
        Action::Top => 0,
        Action::Bottom => last,
        Action::PageUp => pos.saturating_sub(page),
        Action::PageDown => (pos + page).min(last),
        _ => pos,
    }
    .min(last)
}

/// Keeps the selection inside the rows and on screen.
fn clamp_roster(app: &mut App) {
    let len = app.roster.data.visible().len();
    let vp = app.roster_viewport();
    let r = &mut app.roster;
    r.selected = r.selected.min(len.saturating_sub(1));
    r.offset = scrolled(r.offset, r.selected, len, vp);
}

fn clamp_audit(app: &mut App) {
    let len = app.audit.visible.len();
    let vp = app.audit_viewport();
    let a = &mut app.audit;
    a.selected = a.selected.min(len.saturating_sub(1));
    a.offset = scrolled(a.offset, a.selected, len, vp);
}

fn scrolled(offset: usize, selected: usize, len: usize, viewport: usize) -> usize {
    let offset = if selected < offset {
        selected
    } else if selected >= offset + viewport {
        selected + 1 - viewport
    } else {
        offset
    };
    offset.min(len.saturating_sub(viewport))
}

fn filter_input(app: &mut App, action: Action) -> Vec<Effect> {
    let audit = app.view == View::Audit;
    match action {
        Action::Input(c) => {
            if audit {
                app.audit.filter.push(c);
            } else {
                app.roster.filter.push(c);
            }
        }
        Action::Backspace => {
            if audit {
                app.audit.filter.pop();
            } else {
                app.roster.filter.pop();
            }
        }
        Action::Back => {
            app.filtering = false;
            if audit {
                app.audit.filter.clear();
            } else {
                app.roster.filter.clear();
            }
        }
        Action::Submit => {
            app.filtering = false;
            return vec![];
        }
        Action::Up | Action::Down | Action::PageUp | Action::PageDown => {
            return if audit {
                audit_key(app, action)
            } else {
                roster_key(app, action)
            };
        }
        _ => return vec![],
    }
    if audit {
        refilter_audit(app);
    } else {
        app.roster.data.set_filter(&app.roster.filter);
        app.roster.selected = 0;
        app.roster.offset = 0;
    }
    vec![]
}

fn refilter_audit(app: &mut App) {
    let needle = app.audit.filter.to_lowercase();
    let visible: Vec<u32> = app
        .audit
        .records()
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            needle.is_empty()
                || [
                    r.operator.as_str(),
                    r.action.as_str(),
                    r.target.as_str(),
                    r.outcome.as_str(),
                    r.detail.as_str(),
                ]
                .iter()
                .any(|f| f.to_lowercase().contains(&needle))
        })
        .map(|(i, _)| i as u32)
        .collect();
    app.audit.visible = visible;
    app.audit.selected = 0;
    app.audit.offset = 0;
}

// ---------------------------------------------------------------- dialogs

fn dialog(app: &mut App, action: Action) -> Vec<Effect> {
    if matches!(action, Action::ToggleHelp) {
        app.help = true;
        return vec![];
    }
    let Some(d) = app.dialog.take() else {
        return vec![];
    };
    let (keep, fx) = match d {
        Dialog::Issue(f) => issue_dialog(app, f, action),
        Dialog::Revoke(r) => revoke_dialog(app, r, action),
        Dialog::Reissue(r) => reissue_dialog(app, r, action),
        Dialog::Export(x) => export_key(app, x, action),
        Dialog::Confirm(c) => confirm_dialog(app, c, action),
        Dialog::EnvPicker(p) => env_picker(app, p, action),
    };
    // A result handler may have opened another dialog meanwhile; keep the newer one.
    if app.dialog.is_none() {
        app.dialog = keep;
    }
    fx
}

/// Applies typing to a text field.
fn edit(field: &mut String, action: &Action) -> bool {
    match action {
        Action::Input(c) => {
            field.push(*c);
            true
        }
        Action::Backspace => {
            field.pop();
            true
        }
        _ => false,
    }
}

/// The client_id the form's name renders to.
pub fn issue_client_id(app: &App, f: &IssueForm) -> String {
    app.env.render_client_id(f.name.trim())
}

/// The first problem with the issue form's field, if any.
pub fn issue_field_error(app: &App, f: &IssueForm, field: IssueField) -> Option<String> {
    match field {
        IssueField::Name => crate::ops::validate_client_id(&issue_client_id(app, f))
            .err()
            .map(|e| e.to_string()),
        IssueField::Cn => (f.cn != issue_client_id(app, f))
            .then(|| "CN must equal the client_id: the authorizer compares them".to_string()),
        IssueField::Days => match f.days.trim().parse::<u32>() {
            Ok(d) if (1..=3650).contains(&d) => None,
            _ => Some("validity must be a whole number of days from 1 to 3650".into()),
        },
        IssueField::Key => None,
        IssueField::CsrPath => (f.uses_csr() && f.csr_path.trim().is_empty())
            .then(|| "give the path of a PEM CSR file".to_string()),
    }
}

fn issue_dialog(app: &mut App, mut f: IssueForm, action: Action) -> (Option<Dialog>, Vec<Effect>) {
    match f.step {
        IssueStep::Submitting => {
            if matches!(action, Action::Back) {
                warn(app, "issuing continues; press c to cancel it");
            }
            (Some(Dialog::Issue(f)), vec![])
        }
        IssueStep::Preview => match action {
            Action::Back => {
                f.step = IssueStep::Edit;
                (Some(Dialog::Issue(f)), vec![])
            }
            Action::Submit => {
                let key = match f.key_algorithm() {
                    Some(k) => KeyRequest::Generate(k),
                    None => KeyRequest::CsrFile(PathBuf::from(f.csr_path.trim())),
                };
                let req = IssueRequest {
                    name: f.name.trim().to_string(),
                    cn: f.cn_edited.then(|| f.cn.clone()),
                    days: f
                        .days
                        .trim()
                        .parse()
                        .unwrap_or(app.env.client_validity_days),
                    key,
                };
                f.step = IssueStep::Submitting;
                let fx = start(app, Op::Issue(req));
                (Some(Dialog::Issue(f)), fx)
            }
            _ => (Some(Dialog::Issue(f)), vec![]),
        },
        IssueStep::Edit => {
            let fields = f.fields();
            let at = fields.iter().position(|x| *x == f.focus).unwrap_or(0);
            match action {
                Action::Back => return (None, vec![]),
                Action::NextField | Action::Down => f.focus = fields[(at + 1) % fields.len()],
                Action::PrevField | Action::Up => {
                    f.focus = fields[(at + fields.len() - 1) % fields.len()]
                }
                Action::Left | Action::Right if f.focus == IssueField::Key => {
                    let n = KeyAlgorithm::ALL.len() + 1;
                    f.key = if matches!(action, Action::Right) {
                        (f.key + 1) % n
                    } else {
                        (f.key + n - 1) % n
                    };
                }
                Action::Submit => {
                    if f.focus != *fields.last().unwrap_or(&IssueField::Name) {
                        f.focus = fields[at + 1];
                    } else if let Some((field, err)) = fields
                        .iter()
                        .find_map(|x| issue_field_error(app, &f, *x).map(|e| (*x, e)))
                    {
                        f.focus = field;
                        warn(app, err);
                    } else {
                        f.step = IssueStep::Preview;
                    }
                }
                ref a => {
                    let name_before = issue_client_id(app, &f);
                    let changed = match f.focus {
                        IssueField::Name => edit(&mut f.name, a),
                        IssueField::Cn => {
                            let c = edit(&mut f.cn, a);
                            f.cn_edited |= c;
                            c
                        }
                        IssueField::Days => match a {
                            Action::Input(c) if !c.is_ascii_digit() => false,
                            _ => edit(&mut f.days, a),
                        },
                        IssueField::CsrPath => edit(&mut f.csr_path, a),
                        IssueField::Key => false,
                    };
                    if changed
                        && f.focus == IssueField::Name
                        && (!f.cn_edited || f.cn == name_before)
                    {
                        f.cn = issue_client_id(app, &f);
                        f.cn_edited = false;
                    }
                }
            }
            (Some(Dialog::Issue(f)), vec![])
        }
    }
}

fn revoke_dialog(
    app: &mut App,
    mut r: RevokeDialog,
    action: Action,
) -> (Option<Dialog>, Vec<Effect>) {
    if r.submitting {
        if matches!(action, Action::Back) {
            warn(app, "revocation continues; press c to cancel it");
        }
        return (Some(Dialog::Revoke(r)), vec![]);
    }
    let n = RevocationReason::ALL.len();
    match (r.focus, action) {
        (_, Action::Back) => return (None, vec![]),
        (RevokeFocus::Reason, Action::Up) => r.reason = (r.reason + n - 1) % n,
        (RevokeFocus::Reason, Action::Down) => r.reason = (r.reason + 1) % n,
        (RevokeFocus::Reason, Action::Submit | Action::NextField) => r.focus = RevokeFocus::Confirm,
        (RevokeFocus::Confirm, Action::PrevField | Action::Up) => r.focus = RevokeFocus::Reason,
        (RevokeFocus::Confirm, Action::Submit) => {
            if r.typed == r.client_id {
                r.submitting = true;
                let fx = start(
                    app,
                    Op::Revoke {
                        client_id: r.client_id.clone(),
                        reason: r.reason(),
                    },
                );
                return (Some(Dialog::Revoke(r)), fx);
            }
            warn(
                app,
                format!(
                    "'{}' does not match the client_id '{}'; nothing was revoked",
                    r.typed, r.client_id
                ),
            );
        }
        (RevokeFocus::Confirm, ref a) => {
            edit(&mut r.typed, a);
        }
        _ => {}
    }
    (Some(Dialog::Revoke(r)), vec![])
}

fn reissue_dialog(
    app: &mut App,
    mut r: ReissueDialog,
    action: Action,
) -> (Option<Dialog>, Vec<Effect>) {
    if r.submitting {
        if matches!(action, Action::Back) {
            warn(app, "re-issue continues; press c to cancel it");
        }
        return (Some(Dialog::Reissue(r)), vec![]);
    }
    if r.confirming {
        match action {
            Action::Back => r.confirming = false,
            Action::Submit => {
                r.submitting = true;
                let hours = GRACE_HOURS[r.grace];
                let fx = start(
                    app,
                    Op::Reissue {
                        client_id: r.client_id.clone(),
                        rekey: r.rekey,
                        grace: (hours > 0).then(|| time::Duration::hours(i64::from(hours))),
                    },
                );
                return (Some(Dialog::Reissue(r)), fx);
            }
            _ => {}
        }
        return (Some(Dialog::Reissue(r)), vec![]);
    }
    let n = GRACE_HOURS.len();
    match (r.focus, action) {
        (_, Action::Back) => return (None, vec![]),
        (_, Action::Submit) => r.confirming = true,
        (_, Action::Up | Action::Down | Action::NextField | Action::PrevField) => {
            r.focus = match r.focus {
                ReissueFocus::Rekey => ReissueFocus::Grace,
                ReissueFocus::Grace => ReissueFocus::Rekey,
            }
        }
        (ReissueFocus::Rekey, Action::Left | Action::Right | Action::Input(' ')) => {
            r.rekey = !r.rekey
        }
        (ReissueFocus::Grace, Action::Left) => r.grace = (r.grace + n - 1) % n,
        (ReissueFocus::Grace, Action::Right | Action::Input(' ')) => r.grace = (r.grace + 1) % n,
        _ => {}
    }
    (Some(Dialog::Reissue(r)), vec![])
}

fn export_key(app: &mut App, mut x: ExportDialog, action: Action) -> (Option<Dialog>, Vec<Effect>) {
    if x.submitting {
        if matches!(action, Action::Back) {
            warn(app, "export continues; press c to cancel it");
        }
        return (Some(Dialog::Export(x)), vec![]);
    }
    match action {
        Action::Back => return (None, vec![]),
        Action::NextField | Action::PrevField | Action::Up | Action::Down => {
            x.focus = match x.focus {
                ExportFocus::Dir => ExportFocus::Passphrase,
                ExportFocus::Passphrase => ExportFocus::Dir,
            }
        }
        Action::Submit => {
            let weak = (!x.passphrase.is_empty())
                .then(|| crate::ops::limits::p12_passphrase(&x.passphrase).err())
                .flatten();
            if x.dir.trim().is_empty() {
                warn(app, "give a directory to export to");
            } else if let Some(e) = weak {
                warn(app, e.to_string());
            } else {
                x.submitting = true;
                let passphrase = (!x.passphrase.is_empty()).then(|| x.passphrase.clone());
                let fx = start(
                    app,
                    Op::Export {
                        client_id: x.client_id.clone(),
                        dir: PathBuf::from(x.dir.trim()),
                        passphrase,
                    },
                );
                return (Some(Dialog::Export(x)), fx);
            }
        }
        ref a => match x.focus {
            ExportFocus::Dir => {
                edit(&mut x.dir, a);
            }
            ExportFocus::Passphrase => {
                edit(&mut x.passphrase, a);
            }
        },
    }
    (Some(Dialog::Export(x)), vec![])
}

fn confirm_dialog(app: &mut App, c: Confirm, action: Action) -> (Option<Dialog>, Vec<Effect>) {
    match action {
        Action::Back | Action::Input('n') => (None, vec![]),
        Action::Submit | Action::Input('y') => {
            let op = match c {
                Confirm::Publish => Op::Publish,
                Confirm::Rollback(v) => Op::Rollback(v),
                Confirm::Bootstrap => Op::BootstrapCa,
                Confirm::Demo => Op::Demo,
                Confirm::RotationStart(kind) => Op::RotationStep { kind, start: true },
                Confirm::RotationNext(kind) => Op::RotationStep { kind, start: false },
                Confirm::RotationAbort => Op::RotationAbort,
            };
            (None, start(app, op))
        }
        _ => (Some(Dialog::Confirm(c)), vec![]),
    }
}

fn env_picker(app: &mut App, mut p: EnvPicker, action: Action) -> (Option<Dialog>, Vec<Effect>) {
    let len = p.names.len();
    match action {
        Action::Back => (None, vec![]),
        Action::Up | Action::Down | Action::Top | Action::Bottom => {
            p.selected = moved(p.selected, len, len, &action);
            (Some(Dialog::EnvPicker(p)), vec![])
        }
        Action::Submit => match p.names.get(p.selected) {
            Some(name) if *name == app.env.name => (None, vec![]),
            Some(name) => {
                let name = name.clone();
                (None, start(app, Op::SwitchEnv(name)))
            }
            None => (None, vec![]),
        },
        _ => (Some(Dialog::EnvPicker(p)), vec![]),
    }
}
