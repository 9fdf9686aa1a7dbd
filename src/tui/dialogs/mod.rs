//! Dialogs: each module holds one dialog's state, its key handling and its drawing. A dialog
//! sees the shared [`Ctx`] and its own state, nothing of the views beneath it.

pub mod confirm;
pub mod env_picker;
pub mod export;
pub mod issue;
pub mod reissue;
pub mod revoke;

use ratatui::Frame;
use ratatui::text::Line;

use self::confirm::Confirm;
use self::env_picker::EnvPicker;
use self::export::ExportDialog;
use self::issue::{IssueForm, IssueStep};
use self::reissue::ReissueDialog;
use self::revoke::RevokeDialog;
use super::action::{Action, Effect};
use super::ctx::Ctx;
use super::roster_table::RosterTable;
use super::widgets::Theme;

#[derive(Debug, Clone)]
pub enum Dialog {
    Issue(IssueForm),
    Revoke(RevokeDialog),
    Reissue(ReissueDialog),
    Export(ExportDialog),
    Confirm(Confirm),
    EnvPicker(EnvPicker),
}

impl Dialog {
    /// A key for the dialog: the dialog as it is now (None: closed) and the work to run.
    pub fn key(self, ctx: &mut Ctx, action: Action) -> (Option<Dialog>, Vec<Effect>) {
        match self {
            Dialog::Issue(f) => wrap(issue::key(ctx, f, action), Dialog::Issue),
            Dialog::Revoke(r) => wrap(revoke::key(ctx, r, action), Dialog::Revoke),
            Dialog::Reissue(r) => wrap(reissue::key(ctx, r, action), Dialog::Reissue),
            Dialog::Export(x) => wrap(export::key(ctx, x, action), Dialog::Export),
            Dialog::Confirm(c) => wrap(confirm::key(ctx, c, action), Dialog::Confirm),
            Dialog::EnvPicker(p) => wrap(env_picker::key(ctx, p, action), Dialog::EnvPicker),
        }
    }

    /// The operation it started was cancelled: back to where the operator can act again.
    pub fn cancelled(&mut self) {
        match self {
            Dialog::Issue(f) if f.step == IssueStep::Submitting => f.step = IssueStep::Preview,
            Dialog::Revoke(r) => r.submitting = false,
            Dialog::Reissue(r) => r.submitting = false,
            Dialog::Export(e) => e.submitting = false,
            _ => {}
        }
    }

    /// The operation it started failed: back to editing.
    pub fn failed(&mut self) {
        match self {
            Dialog::Issue(f) => f.step = IssueStep::Edit,
            Dialog::Revoke(r) => r.submitting = false,
            Dialog::Reissue(r) => {
                r.submitting = false;
                r.confirming = false;
            }
            Dialog::Export(x) => x.submitting = false,
            _ => {}
        }
    }

    /// What the help overlay calls it.
    pub fn name(&self) -> &'static str {
        match self {
            Dialog::Issue(_) => "issue form",
            Dialog::Revoke(_) => "revoke",
            Dialog::Reissue(_) => "re-issue",
            Dialog::Export(_) => "export",
            Dialog::Confirm(_) => "confirmation",
            Dialog::EnvPicker(_) => "environments",
        }
    }

    /// Draws it over the screen; `hints` is the line of keys that work in it, `roster` the
    /// roster beneath (the issue form warns about a client that already has a cert).
    pub fn draw(
        &self,
        frame: &mut Frame,
        ctx: &Ctx,
        t: Theme,
        roster: &RosterTable,
        hints: Line<'static>,
    ) {
        match self {
            Dialog::Issue(f) => {
                let id = issue::issue_client_id(ctx, f);
                let current = roster.records().iter().find(|r| r.client_id == id);
                issue::draw(frame, ctx, t, f, current, hints)
            }
            Dialog::Revoke(r) => revoke::draw(frame, t, r, hints),
            Dialog::Reissue(r) => reissue::draw(frame, t, r, hints),
            Dialog::Export(x) => export::draw(frame, t, x),
            Dialog::Confirm(c) => confirm::draw(frame, ctx, t, c, hints),
            Dialog::EnvPicker(p) => env_picker::draw(frame, ctx, t, p, hints),
        }
    }
}

fn wrap<T>(
    (dialog, fx): (Option<T>, Vec<Effect>),
    into: fn(T) -> Dialog,
) -> (Option<Dialog>, Vec<Effect>) {
    (dialog.map(into), fx)
}
