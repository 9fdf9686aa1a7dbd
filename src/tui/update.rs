//! `update(&mut App, Action) -> Vec<Effect>`: the only mutator of the state. Pure: no I/O,
//! no clock. It routes each action to the dialog, filter or view it is meant for, moves between
//! views, and applies the results of operations; the work to do comes out as effects, which
//! the runtime runs on tokio, and their results come back as [`Action::Done`].

use super::action::{Action, Effect, Op, Outcome, TaskId};

use super::ctx::Load;

use super::dialogs::Dialog;

use super::dialogs::confirm::Confirm;

use super::dialogs::env_picker::EnvPicker;

use super::client_actions::{client_dialog, export_kind, yank};
use super::dialogs::export::ExportDialog;

use super::dialogs::issue::IssueForm;

use super::state::{App, AppInit};

use super::views::View;

use super::views::audit::AUDIT_LIMIT;

use super::views::detail::DetailView;

use crate::model::{CertRecord, RevocationReason};

pub fn update(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Start => {
            let mut fx = start(app, Op::LoadRoster);
            fx.extend(start(app, Op::Overview));
            fx
        }
        Action::Resize { width, height } => {
            app.ctx.width = width;
            app.ctx.height = height;
            app.roster.clamp(&app.ctx);
            app.audit.clamp(&app.ctx);
            vec![]
        }
        Action::Tick => {
            app.ctx.tick = app.ctx.tick.wrapping_add(1);
            vec![]
        }
        Action::Done { task, result } => done(app, task, result),
        Action::Progress { task, done, total } => {
            if let Some(t) = app.ctx.tasks.iter_mut().find(|t| t.id == task) {
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
            if app.ctx.error.is_some() {
                if matches!(other, Action::Back | Action::Submit) {
                    app.ctx.error = None;
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
            if app.ctx.filtering {
                if app.view == View::Audit {
                    app.audit.filter_key(&mut app.ctx, other);
                } else {
                    app.roster.filter_key(&mut app.ctx, other);
                }
                return vec![];
            }
            view(app, other)
        }
    }
}

fn cancel(app: &mut App) -> Vec<Effect> {
    if app.ctx.tasks.is_empty() {
        return vec![];
    }
    let tasks = std::mem::take(&mut app.ctx.tasks);
    let labels: Vec<String> = tasks.iter().map(|t| t.op.label()).collect();
    let mutated = tasks.iter().any(|t| t.op.mutates());
    if matches!(app.roster.load, Load::Loading) {
        app.roster.load = Load::Idle;
    }
    if let Some(d) = &mut app.dialog {
        d.cancelled();
    }
    let mut text = format!("cancelled: {}", labels.join(", "));
    if mutated {
        text.push_str(" (the change may already have been applied; press R to refresh)");
    }
    app.ctx.warn(text);
    tasks.into_iter().map(|t| Effect::Abort(t.id)).collect()
}

fn done(app: &mut App, task: TaskId, result: Result<Outcome, String>) -> Vec<Effect> {
    let Some(pos) = app.ctx.tasks.iter().position(|t| t.id == task) else {
        // Cancelled or replaced: its result no longer matters.
        return vec![];
    };
    let op = app.ctx.tasks.remove(pos).op;
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
    if let Some(d) = &mut app.dialog {
        d.failed();
    }
    app.ctx.fail(format!("{} failed: {e}", op.label()));
}

fn succeeded(app: &mut App, outcome: Outcome) -> Vec<Effect> {
    match outcome {
        Outcome::Roster { records, now } => {
            app.set_roster(records, now);
            vec![]
        }
        Outcome::Overview(o) => {
            app.ctx.header.apply(*o);
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
            app.roster.select(&app.ctx, &client_id);
            app.ctx.info(format!(
                "issued {client_id}: serial {} valid until {}",
                cert.serial_decimal,
                crate::timefmt::format(cert.not_after)
            ));
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
                ..ExportDialog::new(&client_id, export_kind(app, key_held))
            }));
            vec![]
        }
        Outcome::Revoked {
            record,
            takes_effect,
        } => {
            let text = format!(
                "revoked {} (serial {}, {}); the gateway denies it {takes_effect}",
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
            let rekeyed = matches!(&app.dialog, Some(Dialog::Reissue(r)) if r.rekey);
            close_dialog_for(app, |d| matches!(d, Dialog::Reissue(_)));
            let client_id = new.client_id.clone();
            let serial = new.serial.clone();
            let key_held = new.key_held;
            let fx = after_change(app, *new, text);
            // A new key is only useful once the partner has it: offer the export at once.
            if rekeyed && key_held {
                app.dialog = Some(Dialog::Export(ExportDialog {
                    intro: Some(format!(
                        "Re-issued {client_id} with a new key, serial {serial}. Export the new \
                         key, cert and chain now?"
                    )),
                    ..ExportDialog::new(&client_id, export_kind(app, key_held))
                }));
            }
            fx
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
            app.ctx.info(format!(
                "exported {} to {}",
                names.join(", "),
                files.dir.display()
            ));
            vec![]
        }
        Outcome::TruststoreHistory(h) => {
            app.truststore.selected = app.truststore.selected.min(h.len().saturating_sub(1));
            app.truststore.history = Load::Ready(h);
            vec![]
        }
        Outcome::Published(v) => {
            app.ctx
                .info(format!("published truststore version {}", v.version_id));
            let mut fx = start(app, Op::Overview);
            fx.extend(start(app, Op::TruststoreHistory));
            fx
        }
        Outcome::RolledBack(v) => {
            app.ctx.info(format!(
                "truststore rolled back: version {} is current",
                v.version_id
            ));
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
                app.ctx.info(text.join(" | "));
            } else {
                app.ctx.warn(format!(
                    "{} client(s) not moved ({}); press n to retry",
                    report.failed.len(),
                    report
                        .failed
                        .iter()
                        .take(3)
                        .map(|(id, why)| format!("{id}: {why}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
            let mut fx = start(app, Op::RotationOverview);
            fx.extend(start(app, Op::Overview));
            fx.extend(start(app, Op::LoadRoster));
            fx
        }
        Outcome::Audit(records) => {
            app.audit.set_records(records);
            vec![]
        }
        Outcome::CaCreated(ca) => {
            app.ctx.info(format!(
                "CA created: {}{}",
                ca.root.subject,
                ca.intermediate
                    .as_ref()
                    .map(|i| format!(", intermediate {}", i.subject))
                    .unwrap_or_default()
            ));
            let mut fx = start(app, Op::Overview);
            fx.extend(start(app, Op::LoadRoster));
            fx
        }
        Outcome::Demo(n) => {
            app.ctx.info(format!("demo data loaded: {n} clients"));
            let mut fx = start(app, Op::Overview);
            fx.extend(start(app, Op::LoadRoster));
            fx
        }
        Outcome::EnvSwitched(sw) => {
            let fx: Vec<Effect> = app
                .ctx
                .tasks
                .drain(..)
                .map(|t| Effect::Abort(t.id))
                .collect();
            let name = sw.env.name.clone();
            let mut fresh = App::new(AppInit {
                env: sw.env,
                env_names: std::mem::take(&mut app.ctx.env_names),
                backend: sw.description,
                operator: sw.operator,
                now: sw.now,
                read_only: app.ctx.read_only_flag,
            });
            fresh.ctx.width = app.ctx.width;
            fresh.ctx.height = app.ctx.height;
            fresh.ctx.next_task = app.ctx.next_task;
            *app = fresh;
            app.ctx.info(format!("switched to environment {name}"));
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
fn after_change(app: &mut App, record: CertRecord, text: String) -> Vec<Effect> {
    let client_id = record.client_id.clone();
    app.roster.data.upsert(record);
    app.roster.select(&app.ctx, &client_id);
    app.ctx.info(text);
    let mut fx = start(app, Op::Overview);
    if let Some(d) = &app.detail
        && d.client_id == client_id
    {
        fx.extend(start(app, Op::Detail(client_id)));
    }
    fx
}

fn view(app: &mut App, action: Action) -> Vec<Effect> {
    if app.onboarding() {
        match action {
            Action::Bootstrap => {
                if !app.ctx.refuse_read_only("creating a CA") {
                    app.dialog = Some(Dialog::Confirm(Confirm::Bootstrap));
                }
                return vec![];
            }
            Action::LoadDemo => {
                if !app.ctx.refuse_read_only("loading demo data") {
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
            app.ctx.status = None;
            app.view = View::Truststore;
            let mut fx = start(app, Op::Overview);
            fx.extend(start(app, Op::TruststoreHistory));
            fx
        }
        Action::OpenAudit => {
            app.ctx.status = None;
            app.view = View::Audit;
            start(app, Op::Audit(AUDIT_LIMIT))
        }
        Action::OpenRotation => {
            app.ctx.status = None;
            app.view = View::Rotation;
            start(app, Op::RotationOverview)
        }
        Action::OpenEnvPicker => {
            app.dialog = Some(Dialog::EnvPicker(EnvPicker::new(
                app.ctx.env_names.clone(),
                &app.ctx.env.name,
            )));
            vec![]
        }
        Action::OpenIssue => {
            if !app.ctx.refuse_read_only("issuing") {
                app.dialog = Some(Dialog::Issue(IssueForm::new(&app.ctx.env)));
            }
            vec![]
        }
        Action::OpenRevoke | Action::OpenReissue | Action::OpenExport => {
            client_dialog(app, action);
            vec![]
        }
        Action::YankSerial | Action::YankFingerprint => yank(app, &action),
        other => view_key(app, other),
    }
}

/// A key for the view on screen.
fn view_key(app: &mut App, action: Action) -> Vec<Effect> {
    let confirm = match app.view {
        View::Roster => {
            if matches!(action, Action::OpenDetail) {
                return open_detail(app);
            }
            app.roster.key(&mut app.ctx, action);
            None
        }
        View::Detail => {
            let close = match &mut app.detail {
                Some(d) => d.key(action),
                None => true,
            };
            if close {
                app.view = View::Roster;
                app.detail = None;
            }
            None
        }
        View::Truststore => app.truststore.key(&mut app.ctx, action),
        View::Audit => {
            app.audit.key(&mut app.ctx, action);
            None
        }
        View::Rotation => app.rotation.key(&mut app.ctx, action),
    };
    if let Some(c) = confirm {
        app.dialog = Some(Dialog::Confirm(c));
    }
    vec![]
}

/// Enter on a roster row: the client's details.
fn open_detail(app: &mut App) -> Vec<Effect> {
    let Some(rec) = app.selected_record() else {
        return vec![];
    };
    let id = rec.client_id.clone();
    app.view = View::Detail;
    app.detail = Some(DetailView::new(id.clone()));
    start(app, Op::Detail(id))
}

fn back(app: &mut App) {
    match app.view {
        View::Roster => app.roster.clear_filter(&app.ctx),
        View::Audit if app.audit.close() || app.audit.clear_filter() => {}
        _ => {
            // What was said about the view left behind is not about the roster.
            app.ctx.status = None;
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

/// Starts an operation; a load marks what it loads as loading.
fn start(app: &mut App, op: Op) -> Vec<Effect> {
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
    app.ctx.start(op)
}

/// A key for the open dialog.
fn dialog(app: &mut App, action: Action) -> Vec<Effect> {
    if matches!(action, Action::ToggleHelp) {
        app.help = true;
        return vec![];
    }
    let Some(d) = app.dialog.take() else {
        return vec![];
    };
    let (keep, fx) = d.key(&mut app.ctx, action);
    app.dialog = keep;
    fx
}
