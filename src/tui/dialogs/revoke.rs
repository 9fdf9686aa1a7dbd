//! Revoking every cert of a client: a reason (a digit picks it), an optional note saying why,
//! and a short typed confirmation (the last digits of the serial).

use ratatui::Frame;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use crate::model::{CertRecord, RevocationReason};
use crate::tui::action::{Action, Effect, Op};
use crate::tui::ctx::Ctx;
use crate::tui::input::edit;
use crate::tui::widgets::{Theme, dialog_area, dialog_block, input, kv};

/// How many trailing serial digits the operator types to confirm.
pub const CONFIRM_DIGITS: usize = 4;

/// The reason preselected: the one incidents use most, shown as preselected.
const DEFAULT_REASON: RevocationReason = RevocationReason::KeyCompromise;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeFocus {
    Reason,
    Note,
    Confirm,
}

#[derive(Debug, Clone)]
pub struct RevokeDialog {
    pub client_id: String,
    pub serial: String,
    /// Index into [`RevocationReason::ALL`]; its digit on the keyboard picks it.
    pub reason: usize,
    pub focus: RevokeFocus,
    /// Why, for the audit log and everyone who later looks at the cert (optional).
    pub note: String,
    /// What the operator typed to confirm; must equal [`RevokeDialog::confirm_code`].
    pub typed: String,
    pub submitting: bool,
}

impl RevokeDialog {
    pub fn new(rec: &CertRecord) -> RevokeDialog {
        RevokeDialog {
            client_id: rec.client_id.clone(),
            serial: rec.serial.clone(),
            reason: RevocationReason::ALL
                .iter()
                .position(|r| *r == DEFAULT_REASON)
                .unwrap_or(0),
            focus: RevokeFocus::Reason,
            note: String::new(),
            typed: String::new(),
            submitting: false,
        }
    }

    pub fn reason(&self) -> RevocationReason {
        RevocationReason::ALL[self.reason]
    }

    /// The last [`CONFIRM_DIGITS`] digits of the serial (all of a shorter one).
    pub fn confirm_code(&self) -> &str {
        let at = self.serial.len().saturating_sub(CONFIRM_DIGITS);
        self.serial.get(at..).unwrap_or(&self.serial)
    }

    fn next_focus(&self, back: bool) -> RevokeFocus {
        match (self.focus, back) {
            (RevokeFocus::Reason, false) | (RevokeFocus::Confirm, true) => RevokeFocus::Note,
            (RevokeFocus::Note, false) | (RevokeFocus::Reason, true) => RevokeFocus::Confirm,
            (RevokeFocus::Confirm, false) | (RevokeFocus::Note, true) => RevokeFocus::Reason,
        }
    }
}

pub fn key(
    ctx: &mut Ctx,
    mut r: RevokeDialog,
    action: Action,
) -> (Option<RevokeDialog>, Vec<Effect>) {
    if r.submitting {
        if matches!(action, Action::Back) {
            ctx.warn("revocation continues; press c to cancel it");
        }
        return (Some(r), vec![]);
    }
    let n = RevocationReason::ALL.len();
    match (r.focus, action) {
        (_, Action::Back) => return (None, vec![]),
        (_, Action::NextField) => r.focus = r.next_focus(false),
        (_, Action::PrevField) => r.focus = r.next_focus(true),
        (RevokeFocus::Reason, Action::Up) => r.reason = (r.reason + n - 1) % n,
        (RevokeFocus::Reason, Action::Down) => r.reason = (r.reason + 1) % n,
        // A digit picks its reason and goes on to the confirmation.
        (RevokeFocus::Reason, Action::Input(c)) => match c.to_digit(10) {
            Some(d) if (d as usize) < n => {
                r.reason = d as usize;
                r.focus = RevokeFocus::Confirm;
            }
            _ => ctx.warn(format!(
                "press a digit from 0 to {} to pick a reason",
                n - 1
            )),
        },
        (RevokeFocus::Reason, Action::Submit) => r.focus = RevokeFocus::Confirm,
        (RevokeFocus::Note, Action::Submit) => r.focus = RevokeFocus::Confirm,
        (RevokeFocus::Confirm, Action::Submit) => return submit(ctx, r),
        (RevokeFocus::Note, ref a) => {
            edit(&mut r.note, a);
        }
        (RevokeFocus::Confirm, ref a) => {
            edit(&mut r.typed, a);
        }
        _ => {}
    }
    (Some(r), vec![])
}

fn submit(ctx: &mut Ctx, mut r: RevokeDialog) -> (Option<RevokeDialog>, Vec<Effect>) {
    if r.typed.trim() != r.confirm_code() {
        ctx.warn(format!(
            "'{}' is not the last {} digits of the serial ({}); nothing was revoked",
            r.typed,
            CONFIRM_DIGITS,
            r.confirm_code()
        ));
        return (Some(r), vec![]);
    }
    let note = r.note.trim();
    if let Err(e) = crate::ops::validate_note(note) {
        ctx.warn(e.to_string());
        r.focus = RevokeFocus::Note;
        return (Some(r), vec![]);
    }
    r.submitting = true;
    let fx = ctx.start(Op::Revoke {
        client_id: r.client_id.clone(),
        reason: r.reason(),
        note: (!note.is_empty()).then(|| note.to_string()),
    });
    (Some(r), fx)
}

pub fn draw(frame: &mut Frame, t: Theme, r: &RevokeDialog, hints: Line<'static>) {
    let mut lines = vec![
        kv("Serial", r.serial.clone()),
        Line::raw(format!(
            " Reason (RFC 5280; a digit picks it; {} is preselected):",
            DEFAULT_REASON.as_str()
        )),
    ];
    for (k, reason) in RevocationReason::ALL.iter().enumerate() {
        let chosen = k == r.reason;
        let style = if chosen && r.focus == RevokeFocus::Reason {
            t.selected()
        } else if chosen {
            t.bold()
        } else {
            Style::new()
        };
        lines.push(Line::from(vec![
            Span::raw(if chosen { "  ● " } else { "  ○ " }),
            Span::styled(format!("{k}"), t.key()),
            Span::raw(" "),
            Span::styled(
                format!("{} (code {})", reason.as_str(), reason.code()),
                style,
            ),
        ]));
    }
    lines.push(Line::from(vec![
        Span::raw(" Note (why; optional) "),
        input(&r.note, r.focus == RevokeFocus::Note, t),
    ]));
    lines.push(Line::raw(""));
    let state = if r.typed.is_empty() {
        Span::raw("")
    } else if r.typed.trim() == r.confirm_code() {
        Span::styled("✓ matches", t.ok())
    } else {
        Span::styled("✗ does not match", t.danger())
    };
    lines.push(Line::raw(format!(
        " Type the last {CONFIRM_DIGITS} digits of the serial (…{}) to revoke {}:",
        r.confirm_code(),
        r.client_id
    )));
    lines.push(Line::from(vec![
        Span::raw("   "),
        input(&r.typed, r.focus == RevokeFocus::Confirm, t),
        Span::raw("  "),
        state,
    ]));
    lines.push(Line::styled(
        " Every cert of this client is revoked, grace-period ones too. This cannot be undone.",
        t.warn(),
    ));
    if r.submitting {
        lines.push(Line::styled("  revoking… (c cancels)", t.dim()));
    }
    lines.push(hints);
    let area = dialog_area(frame, &lines, 86);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(dialog_block(format!("Revoke {}", r.client_id), t).border_style(t.danger())),
        area,
    );
}
