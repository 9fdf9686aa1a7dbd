//! A yes/no confirmation before an operation that changes the environment.

use ratatui::Frame;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph, Wrap};

use crate::ops::{CaInitOptions, RotationKind};
use crate::tui::action::{Action, Effect, Op};
use crate::tui::ctx::{Ctx, Load};
use crate::tui::widgets::{Theme, dialog_area, dialog_block};

/// What a yes/no confirmation is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    Publish,
    Rollback(String),
    Bootstrap,
    Demo,
    /// Start a rotation of this kind (its first phase).
    RotationStart(RotationKind),
    /// Run the next phase of the rotation in progress, described by `next`.
    RotationNext {
        kind: RotationKind,
        next: String,
    },
    RotationAbort,
}

/// Enter or `y` runs the operation, Esc or `n` closes.
pub fn key(ctx: &mut Ctx, c: Confirm, action: Action) -> (Option<Confirm>, Vec<Effect>) {
    match action {
        Action::Back | Action::Input('n') => (None, vec![]),
        Action::Submit | Action::Input('y') => {
            let op = match c {
                Confirm::Publish => Op::Publish,
                Confirm::Rollback(v) => Op::Rollback(v),
                Confirm::Bootstrap => Op::BootstrapCa,
                Confirm::Demo => Op::Demo,
                Confirm::RotationStart(kind) => Op::RotationStep { kind, start: true },
                Confirm::RotationNext { kind, .. } => Op::RotationStep { kind, start: false },
                Confirm::RotationAbort => Op::RotationAbort,
            };
            (None, ctx.start(op))
        }
        _ => (Some(c), vec![]),
    }
}

pub fn draw(frame: &mut Frame, ctx: &Ctx, t: Theme, c: &Confirm, hints: Line<'static>) {
    let env = &ctx.env.name;
    let (title, body): (&str, Vec<String>) = match c {
        Confirm::Publish => {
            let change = match ctx.header.truststore_matches() {
                Some(m) => format!("{} CA cert(s) to add, {} to remove.", m.missing, m.extra),
                None if matches!(ctx.header.published, Load::Ready(None)) => {
                    "Nothing is published yet.".to_string()
                }
                None => String::new(),
            };
            (
                "Publish truststore",
                vec![
                    format!("Publish the truststore the CA implies as a new version in '{env}'?"),
                    change,
                    "API Gateway serves it once its domain points at the new version.".into(),
                ],
            )
        }
        Confirm::Rollback(v) => (
            "Roll back truststore",
            vec![
                format!("Make truststore version {v} current again in '{env}'?"),
                "Clients whose issuer is missing from that version get 403 at the gateway.".into(),
            ],
        ),
        Confirm::Bootstrap => (
            "Bootstrap a CA",
            vec![
                format!(
                    "Create a root and an intermediate CA ({}) in '{env}'?",
                    CaInitOptions::defaults_described()
                ),
                "The keys go into the environment's vault.".into(),
            ],
        ),
        Confirm::Demo => (
            "Load demo data",
            vec![format!(
                "Fill '{env}' with a demo CA and about 50 clients in varied states?"
            )],
        ),
        Confirm::RotationStart(kind) => (
            "Start a rotation",
            vec![
                format!("Start a {} rotation in '{env}'?", kind.as_str()),
                match kind {
                    RotationKind::Clients => format!(
                        "Clients due within {} days get new certs now; old ones stay valid 7 days.",
                        ctx.env.expiring_days
                    ),
                    _ => "First phase: create the new CA in the vault (nothing is published yet)."
                        .into(),
                },
                "Each later phase runs when you press n and confirm.".into(),
            ],
        ),
        Confirm::RotationNext { kind, next } => (
            "Run the next phase",
            vec![
                format!(
                    "Run the next phase of the {} rotation in '{env}'?",
                    kind.as_str()
                ),
                next.clone(),
            ],
        ),
        Confirm::RotationAbort => (
            "Abort the rotation",
            vec![
                format!("Abort the rotation in '{env}'?"),
                "Before clients moved the new CA is removed; after, n moves them back first."
                    .into(),
            ],
        ),
    };
    let mut lines: Vec<Line> = body
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(|s| Line::raw(format!(" {s}")))
        .collect();
    lines.push(Line::raw(""));
    lines.push(hints);
    let area = dialog_area(frame, &lines, 80);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(dialog_block(title.into(), t)),
        area,
    );
}
