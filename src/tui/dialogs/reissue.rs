//! Re-issuing a client's cert: keep or replace the key, and how long the old cert stays valid.

use ratatui::Frame;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use crate::model::CertRecord;
use crate::tui::action::{Action, Effect, Op};
use crate::tui::ctx::Ctx;
use crate::tui::widgets::{Theme, dialog_area, dialog_block, kv, label};

/// Grace periods offered when re-issuing, in hours (0: revoke the old cert at once).
pub const GRACE_HOURS: [u32; 5] = [0, 1, 24, 168, 720];

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

impl ReissueDialog {
    /// Keeping the key (as `reissue` does without `--rekey`), and a 24-hour grace.
    pub fn new(rec: &CertRecord) -> ReissueDialog {
        ReissueDialog {
            client_id: rec.client_id.clone(),
            serial: rec.serial.clone(),
            rekey: false,
            grace: GRACE_HOURS.iter().position(|h| *h == 24).unwrap_or(0),
            focus: ReissueFocus::Rekey,
            confirming: false,
            submitting: false,
        }
    }
}

pub fn key(
    ctx: &mut Ctx,
    mut r: ReissueDialog,
    action: Action,
) -> (Option<ReissueDialog>, Vec<Effect>) {
    if r.submitting {
        if matches!(action, Action::Back) {
            ctx.warn("re-issue continues; press c to cancel it");
        }
        return (Some(r), vec![]);
    }
    if r.confirming {
        match action {
            Action::Back => r.confirming = false,
            Action::Submit => {
                r.submitting = true;
                let hours = GRACE_HOURS[r.grace];
                let fx = ctx.start(Op::Reissue {
                    client_id: r.client_id.clone(),
                    rekey: r.rekey,
                    grace: (hours > 0).then(|| time::Duration::hours(i64::from(hours))),
                });
                return (Some(r), fx);
            }
            _ => {}
        }
        return (Some(r), vec![]);
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
    (Some(r), vec![])
}

fn grace_label(hours: u32) -> &'static str {
    match hours {
        0 => "none: revoke the old cert now",
        1 => "1 hour",
        24 => "24 hours",
        168 => "7 days",
        720 => "30 days",
        _ => "custom",
    }
}

pub fn draw(frame: &mut Frame, t: Theme, r: &ReissueDialog, hints: Line<'static>) {
    let hours = GRACE_HOURS[r.grace];
    let old_until = if hours == 0 {
        "the old cert is revoked (superseded) at once".to_string()
    } else {
        format!(
            "the old cert stays valid {} more, then the authorizer refuses it",
            grace_label(hours)
        )
    };
    let mut lines = vec![kv("Serial", r.serial.clone()), Line::raw("")];
    if r.confirming || r.submitting {
        lines.push(Line::styled(
            format!(
                " Re-issue {} {}.",
                r.client_id,
                if r.rekey {
                    "with a new key pair"
                } else {
                    "keeping its current public key"
                }
            ),
            t.bold(),
        ));
        lines.push(Line::raw(format!(
            " Grace: {}; {old_until}.",
            grace_label(hours)
        )));
        lines.push(Line::raw(""));
        lines.push(if r.submitting {
            Line::styled("  re-issuing… (c cancels)", t.dim())
        } else {
            Line::styled("  Press ⏎ to re-issue, Esc to go back.", t.bold())
        });
    } else {
        let focus = |f| if r.focus == f { "▶ " } else { "  " };
        let toggle = |on: bool, text: &'static str, f| {
            let style = if on && r.focus == f {
                t.selected()
            } else if on {
                t.bold()
            } else {
                t.dim()
            };
            Span::styled(text, style)
        };
        lines.push(Line::from(vec![
            Span::styled(focus(ReissueFocus::Rekey), t.key()),
            label("Key"),
            toggle(r.rekey, "new key pair (rekey)", ReissueFocus::Rekey),
            Span::raw("  "),
            toggle(!r.rekey, "keep the public key", ReissueFocus::Rekey),
        ]));
        let grace_style = if r.focus == ReissueFocus::Grace {
            t.selected()
        } else {
            t.bold()
        };
        lines.push(Line::from(vec![
            Span::styled(focus(ReissueFocus::Grace), t.key()),
            label("Grace"),
            Span::styled(format!("‹ {} ›", grace_label(hours)), grace_style),
        ]));
        lines.push(Line::styled(format!("   {old_until}"), t.dim()));
    }
    lines.push(Line::raw(""));
    lines.push(hints);
    let area = dialog_area(frame, &lines, 86);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(dialog_block(format!("Re-issue {}", r.client_id), t)),
        area,
    );
}
