//! Exporting a client's cert, chain and (when held and allowed) key, optionally as PKCS#12.

use std::path::PathBuf;

use ratatui::Frame;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use zeroize::Zeroizing;

use crate::tui::action::{Action, Effect, Op};
use crate::tui::ctx::Ctx;
use crate::tui::input::edit;
use crate::tui::widgets::{Theme, dialog_area, dialog_block, field_line};

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

impl ExportDialog {
    /// Exporting into `./CLIENT_ID`, without PKCS#12 until a passphrase is typed.
    pub fn new(client_id: &str) -> ExportDialog {
        ExportDialog {
            client_id: client_id.to_string(),
            intro: None,
            dir: format!("./{client_id}"),
            passphrase: Zeroizing::new(String::new()),
            focus: ExportFocus::Dir,
            submitting: false,
        }
    }
}

pub fn key(
    ctx: &mut Ctx,
    mut x: ExportDialog,
    action: Action,
) -> (Option<ExportDialog>, Vec<Effect>) {
    if x.submitting {
        if matches!(action, Action::Back) {
            ctx.warn("export continues; press c to cancel it");
        }
        return (Some(x), vec![]);
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
                ctx.warn("give a directory to export to");
            } else if let Some(e) = weak {
                ctx.warn(e.to_string());
            } else {
                x.submitting = true;
                let passphrase = (!x.passphrase.is_empty()).then(|| x.passphrase.clone());
                let fx = ctx.start(Op::Export {
                    client_id: x.client_id.clone(),
                    dir: PathBuf::from(x.dir.trim()),
                    passphrase,
                });
                return (Some(x), fx);
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
    (Some(x), vec![])
}

pub fn draw(frame: &mut Frame, t: Theme, x: &ExportDialog) {
    let mut lines = Vec::new();
    if let Some(intro) = &x.intro {
        lines.push(Line::styled(format!(" {intro}"), t.bold()));
        lines.push(Line::raw(""));
    }
    lines.push(field_line(
        t,
        "Directory",
        &x.dir,
        x.focus == ExportFocus::Dir,
        None,
    ));
    let masked = "*".repeat(x.passphrase.chars().count());
    lines.push(field_line(
        t,
        "PKCS#12 pass",
        &masked,
        x.focus == ExportFocus::Passphrase,
        Some(Span::styled("(empty: no .p12)", t.dim())),
    ));
    lines.push(Line::styled(
        "   writes client.pem, chain.pem, client.key (0600, if held) and client.p12",
        t.dim(),
    ));
    lines.push(Line::raw(""));
    if x.submitting {
        lines.push(Line::styled("  exporting… (c cancels)", t.dim()));
    } else {
        lines.push(Line::from(vec![
            Span::styled("  ⏎", t.key()),
            Span::raw(" export  "),
            Span::styled("Tab", t.key()),
            Span::raw(" next field  "),
            Span::styled("Esc", t.key()),
            Span::raw(" skip"),
        ]));
    }
    let area = dialog_area(frame, &lines, 84);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(dialog_block(format!("Export {}", x.client_id), t)),
        area,
    );
}
