//! The rotation view: the journal of the rotation in progress (or the last one) and the plan
//! of the next phase.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::ops::{RotationKind, RotationPhase};
use crate::tui::action::{Action, RotationOverview};
use crate::tui::ctx::{Ctx, Load};
use crate::tui::dialogs::confirm::Confirm;
use crate::tui::widgets::{Theme, dialog_block};

#[derive(Debug, Clone, Default)]
pub struct RotationView {
    pub load: Load<Box<RotationOverview>>,
}

impl RotationView {
    /// The rotation in progress, if the journal is loaded and shows one.
    pub fn in_progress(&self) -> Option<RotationKind> {
        self.load
            .ready()
            .and_then(|o| o.journal.as_ref())
            .filter(|j| !j.phase.is_terminal())
            .map(|j| j.kind)
    }

    /// What the next phase does, from the loaded plan.
    fn next_phase(&self) -> String {
        self.load
            .ready()
            .and_then(|o| o.plan.as_ref().ok())
            .and_then(|p| p.steps.first())
            .map(|s| format!("{}: {}", s.phase.as_str(), s.detail))
            .unwrap_or_else(|| "the next phase".into())
    }

    /// n / O / u / X: the confirmation to open, if any (the why goes to the status line).
    pub fn key(&self, ctx: &mut Ctx, action: Action) -> Option<Confirm> {
        let loaded = matches!(self.load, Load::Ready(_));
        let confirm = match action {
            Action::RotationNext => match self.in_progress() {
                Some(kind) => Confirm::RotationNext {
                    kind,
                    next: self.next_phase(),
                },
                None => Confirm::RotationStart(RotationKind::Intermediate),
            },
            Action::RotationRoot | Action::RotationRenewDue => {
                if let Some(kind) = self.in_progress() {
                    ctx.warn(format!(
                        "a {} rotation is in progress: n runs its next phase, X aborts it",
                        kind.as_str()
                    ));
                    return None;
                }
                if matches!(action, Action::RotationRoot) {
                    Confirm::RotationStart(RotationKind::Root)
                } else {
                    Confirm::RotationStart(RotationKind::Clients)
                }
            }
            Action::RotationAbort => {
                if self.in_progress().is_none() {
                    ctx.warn("no rotation is in progress");
                    return None;
                }
                Confirm::RotationAbort
            }
            _ => return None,
        };
        if !loaded {
            ctx.warn("the rotation journal is still loading");
            return None;
        }
        (!ctx.refuse_read_only("rotating")).then_some(confirm)
    }
}

/// `6d 22h`, `5h 40m`, `12m`: how long until a deadline, to the minute.
fn time_left(d: time::Duration) -> String {
    let (days, hours, minutes) = (d.whole_days(), d.whole_hours() % 24, d.whole_minutes() % 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else {
        format!("{minutes}m")
    }
}

const ROTATION_PHASES: [RotationPhase; 5] = [
    RotationPhase::Prepared,
    RotationPhase::Published,
    RotationPhase::Moved,
    RotationPhase::Promoted,
    RotationPhase::Done,
];

impl RotationView {
    pub fn draw(&self, frame: &mut Frame, ctx: &Ctx, t: Theme, area: Rect) {
        let overview = match &self.load {
            Load::Ready(o) => o,
            Load::Failed(e) => {
                frame.render_widget(
                    Paragraph::new(format!(" cannot read the rotation journal: {e}"))
                        .style(t.danger())
                        .wrap(Wrap { trim: false })
                        .block(dialog_block("Rotation".into(), t)),
                    area,
                );
                return;
            }
            Load::Idle | Load::Loading => {
                frame.render_widget(
                    Paragraph::new(" loading…")
                        .style(t.dim())
                        .block(dialog_block("Rotation".into(), t)),
                    area,
                );
                return;
            }
        };
        let [top, bottom] =
            Layout::vertical([Constraint::Length(10), Constraint::Min(4)]).areas(area);
        let mut lines: Vec<Line> = Vec::new();
        let active = overview.journal.as_ref().filter(|j| !j.phase.is_terminal());
        match &overview.journal {
            Some(j) => {
                let state = if j.rolling_back {
                    format!("{} (rolling back)", j.phase.as_str())
                } else {
                    j.phase.as_str().to_string()
                };
                lines.push(Line::from(vec![
                    Span::styled(format!(" {} rotation ", j.kind.as_str()), t.bold()),
                    Span::raw(format!("{}  ", j.id)),
                    Span::styled(state, if active.is_some() { t.warn() } else { t.ok() }),
                ]));
                lines.push(Line::raw(format!(" from {}", j.old_issuer_subject)));
                if let Some(to) = j
                    .new_issuer_subject
                    .as_ref()
                    .filter(|_| j.kind != RotationKind::Clients)
                {
                    lines.push(Line::raw(format!(" to   {to}")));
                }
                lines.push(Line::raw(format!(
                    " started {} by {}; grace {}",
                    crate::timefmt::format(j.started_at),
                    j.started_by,
                    crate::timefmt::duration(j.grace())
                )));
                if let Some(until) = j.grace_until.filter(|_| active.is_some()) {
                    let left = until - ctx.now;
                    lines.push(Line::styled(
                    if left.is_positive() {
                        format!(
                            " grace period until {} ({} left): superseded certs stay valid until then",
                            crate::timefmt::format(until),
                            time_left(left)
                        )
                    } else {
                        format!(" grace period over since {}", crate::timefmt::format(until))
                    },
                    t.dim(),
                ));
                }
                let phases: Vec<Span> = ROTATION_PHASES
                    .iter()
                    .filter(|p| {
                        j.kind != RotationKind::Clients
                            || matches!(p, RotationPhase::Moved | RotationPhase::Done)
                    })
                    .flat_map(|p| {
                        let (mark, style) = if j.phase >= *p && j.phase != RotationPhase::Aborted {
                            ("✓", t.ok())
                        } else if j.next_step() == Some(*p) {
                            ("→", t.warn())
                        } else {
                            ("·", t.dim())
                        };
                        [
                            Span::styled(format!(" {mark} "), style),
                            Span::raw(p.as_str()),
                        ]
                    })
                    .collect();
                lines.push(Line::from(phases));
            }
            None => lines.push(Line::styled(
                " no rotation has run in this environment",
                t.dim(),
            )),
        }
        if active.is_none() {
            lines.push(Line::raw(""));
            lines.push(Line::from(vec![
                Span::styled(" n", t.key()),
                Span::raw(" intermediate rotation   "),
                Span::styled("O", t.key()),
                Span::raw(" root rotation   "),
                Span::styled("u", t.key()),
                Span::raw(format!(
                    " renew clients due within {} days",
                    ctx.env.expiring_days
                )),
            ]));
        }
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(dialog_block("Rotation".into(), t)),
            top,
        );

        let mut plan_lines: Vec<Line> = Vec::new();
        let title = if active.is_some() {
            "Next phases".to_string()
        } else {
            "Plan of an intermediate rotation (n starts it)".to_string()
        };
        match &overview.plan {
            Ok(plan) => {
                plan_lines.push(Line::raw(format!(
                    " {} client(s) to move, {} vault write(s){}",
                    plan.clients_to_move,
                    plan.vault_writes,
                    if plan.skipped.is_empty() {
                        String::new()
                    } else {
                        format!(", {} skipped", plan.skipped.len())
                    }
                )));
                for (i, step) in plan.steps.iter().enumerate() {
                    plan_lines.push(Line::from(vec![
                        Span::styled(
                            format!(
                                " {} {:<10}",
                                if i == 0 { "→" } else { " " },
                                step.phase.as_str()
                            ),
                            if i == 0 { t.bold() } else { t.dim() },
                        ),
                        Span::raw(step.detail.clone()),
                    ]));
                }
                for (id, why) in plan.skipped.iter().take(5) {
                    plan_lines.push(Line::styled(format!(" skipped {id}: {why}"), t.warn()));
                }
            }
            Err(e) => plan_lines.push(Line::styled(format!(" {e}"), t.warn())),
        }
        frame.render_widget(
            Paragraph::new(plan_lines)
                .wrap(Wrap { trim: false })
                .block(dialog_block(title, t)),
            bottom,
        );
    }
}
