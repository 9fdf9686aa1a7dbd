//! Keys that act on one client (the selected row, or the client in the detail view): the
//! revoke, re-issue and export dialogs, and copying its serial or fingerprint.

use super::action::{Action, Effect};
use super::dialogs::Dialog;
use super::dialogs::export::{ExportDialog, ExportKind};
use super::dialogs::reissue::ReissueDialog;
use super::dialogs::revoke::RevokeDialog;
use super::state::App;
use crate::model::CertStatus;

/// What an export of a client whose vault does (or does not) hold the key can write here.
pub fn export_kind(app: &App, key_held: bool) -> ExportKind {
    if app.ctx.read_only {
        ExportKind::ReadOnly
    } else if key_held {
        ExportKind::WithKey
    } else {
        ExportKind::NoKeyHeld
    }
}

/// y / Y: the target client's serial or fingerprint to the clipboard.
pub fn yank(app: &mut App, action: &Action) -> Vec<Effect> {
    let Some(rec) = app.target_record() else {
        app.ctx.warn("no client selected to copy from");
        return vec![];
    };
    let (what, value) = if matches!(action, Action::YankSerial) {
        ("serial", Some(rec.serial.clone()))
    } else {
        ("SHA-256 fingerprint", rec.fingerprint.clone())
    };
    let client_id = rec.client_id.clone();
    match value {
        Some(v) => {
            app.ctx
                .info(format!("copied the {what} of {client_id} to the clipboard"));
            vec![Effect::Copy(v)]
        }
        None => {
            app.ctx
                .warn(format!("the roster holds no {what} for {client_id}"));
            vec![]
        }
    }
}

/// r / x / e: dialogs about one client.
pub fn client_dialog(app: &mut App, action: Action) {
    let what = match action {
        Action::OpenRevoke => "revoking",
        Action::OpenReissue => "re-issuing",
        _ => "exporting",
    };
    // Exporting the public cert and chain changes nothing: allowed read-only, without the key.
    if !matches!(action, Action::OpenExport) && app.ctx.refuse_read_only(what) {
        return;
    }
    let Some(rec) = app.target_record().cloned() else {
        app.ctx.warn(format!("no client selected for {what}"));
        return;
    };
    app.dialog = Some(match action {
        Action::OpenRevoke => {
            if rec.status == CertStatus::Revoked {
                app.ctx
                    .warn(format!("{} is already revoked", rec.client_id));
                return;
            }
            Dialog::Revoke(RevokeDialog::new(&rec))
        }
        Action::OpenReissue => Dialog::Reissue(ReissueDialog::new(&rec)),
        _ => Dialog::Export(ExportDialog::new(
            &rec.client_id,
            export_kind(app, rec.key_held),
        )),
    });
}
