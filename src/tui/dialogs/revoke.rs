//! Revoking every cert of a client: a reason and a typed confirmation.

use ratatui::Frame;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use crate::model::{CertRecord, RevocationReason};
use crate::tui::action::{Action, Effect, Op};
use crate::tui::ctx::Ctx;
use crate::tui::input::edit;
use crate::tui::widgets::{Theme, dialog_area, dialog_block, input, kv};

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
    pub fn new(rec: &CertRecord) -> RevokeDialog {
        RevokeDialog {
            client_id: rec.client_id.clone(),
            serial: rec.serial.clone(),
            reason: 0,
            focus: RevokeFocus::Reason,
            typed: String::new(),
            submitting: false,
        }
    }

    pub fn reason(&self) -> RevocationReason {
        RevocationReason::ALL[self.reason]
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
        (RevokeFocus::Reason, Action::Up) => r.reason = (r.reason + n - 1) % n,
        (RevokeFocus::Reason, Action::Down) => r.reason = (r.reason + 1) % n,
        (RevokeFocus::Reason, Action::Submit | Action::NextField) => r.focus = RevokeFocus::Confirm,
        (RevokeFocus::Confirm, Action::PrevField | Action::Up) => r.focus = RevokeFocus::Reason,
        (RevokeFocus::Confirm, Action::Submit) => {
            if r.typed == r.client_id {
                r.submitting = true;
                let fx = ctx.start(Op::Revoke {
                    client_id: r.client_id.clone(),
                    reason: r.reason(),
                });
                return (Some(r), fx);
            }
            ctx.warn(format!(
                "'{}' does not match the client_id '{}'; nothing was revoked",
                r.typed, r.client_id
            ));
        }
        (RevokeFocus::Confirm, ref a) => {
            edit(&mut r.typed, a);
        }
        _ => {}
    }
    (Some(r), vec![])
}

pub fn draw(frame: &mut Frame, t: Theme, r: &RevokeDialog, hints: Line<'static>) {
    let mut lines = vec![
        kv("Serial", r.serial.clone()),
        Line::raw(" Reason (RFC 5280):"),
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
            Span::styled(format!("{} ({})", reason.as_str(), reason.code()), style),
        ]));
    }
    lines.push(Line::raw(""));
    let state = if r.typed.is_empty() {
        Span::raw("")
    } else if r.typed == r.client_id {
        Span::styled("✓ matches", t.ok())
    } else {
        Span::styled("✗ does not match", t.danger())
    };
    lines.push(Line::raw(format!(
        " Type the client_id '{}' to confirm:",
        r.client_id
    )));
    lines.push(Line::from(vec![
        Span::raw("   "),
        input(&r.typed, r.focus == RevokeFocus::Confirm, t),
        Span::raw("  "),
        state,
    ]));
    lines.push(Line::styled(
        " The authorizer denies this client from its next request. This cannot be undone.",
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
