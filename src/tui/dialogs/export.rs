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
    /// The passphrase again: a typo would lock the partner out of their own file.
    Repeat,
}

/// What an export can write for this client here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    /// The vault holds the key and changes are allowed: key and optional PKCS#12 too.
    WithKey,
    /// Issued from a CSR (or legacy): the key stays with its owner.
    NoKeyHeld,
    /// Read-only: the key is never written, though the vault holds it.
    ReadOnly,
}

#[derive(Debug, Clone)]
pub struct ExportDialog {
    pub client_id: String,
    pub kind: ExportKind,
    /// Shown above the fields (e.g. what was just issued).
    pub intro: Option<String>,
    pub dir: String,
    /// Optional PKCS#12 passphrase; never drawn, only its length as `*`.
    pub passphrase: Zeroizing<String>,
    pub repeat: Zeroizing<String>,
    pub focus: ExportFocus,
    pub submitting: bool,
}

impl ExportDialog {
    /// Exporting into `./CLIENT_ID`, without PKCS#12 until a passphrase is typed.
    pub fn new(client_id: &str, kind: ExportKind) -> ExportDialog {
        ExportDialog {
            client_id: client_id.to_string(),
            kind,
            intro: None,
            dir: format!("./{client_id}"),
            passphrase: Zeroizing::new(String::new()),
            repeat: Zeroizing::new(String::new()),
            focus: ExportFocus::Dir,
            submitting: false,
        }
    }

    /// The fields in tab order: a PKCS#12 passphrase only where the key can be written.
    fn fields(&self) -> &'static [ExportFocus] {
        match self.kind {
            ExportKind::WithKey => &[
                ExportFocus::Dir,
                ExportFocus::Passphrase,
                ExportFocus::Repeat,
            ],
            _ => &[ExportFocus::Dir],
        }
    }

    /// Why the form cannot be submitted yet, if it cannot.
    fn problem(&self) -> Option<String> {
        if self.dir.trim().is_empty() {
            return Some("give a directory to export to".into());
        }
        if self.passphrase.is_empty() {
            return None;
        }
        if let Err(e) = crate::ops::limits::p12_passphrase(&self.passphrase) {
            return Some(e.to_string());
        }
        (*self.passphrase != *self.repeat)
            .then(|| "the two passphrases differ; type it again in the second field".into())
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
    let fields = x.fields();
    let at = fields.iter().position(|f| *f == x.focus).unwrap_or(0);
    match action {
        Action::Back => return (None, vec![]),
        Action::NextField | Action::Down => x.focus = fields[(at + 1) % fields.len()],
        Action::PrevField | Action::Up => x.focus = fields[(at + fields.len() - 1) % fields.len()],
        Action::Submit => {
            if let Some(problem) = x.problem() {
                ctx.warn(problem);
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
            ExportFocus::Repeat => {
                edit(&mut x.repeat, a);
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
    match x.kind {
        ExportKind::WithKey => {
            let masked = "*".repeat(x.passphrase.chars().count());
            lines.push(field_line(
                t,
                "PKCS#12 pass",
                &masked,
                x.focus == ExportFocus::Passphrase,
                Some(Span::styled(
                    format!(
                        "(empty: no .p12; else {}+ characters)",
                        crate::ops::limits::MIN_P12_PASSPHRASE
                    ),
                    t.dim(),
                )),
            ));
            let masked = "*".repeat(x.repeat.chars().count());
            let state = match () {
                _ if x.repeat.is_empty() => None,
                _ if *x.repeat == *x.passphrase => Some(Span::styled("✓ same", t.ok())),
                _ => Some(Span::styled("✗ differs", t.danger())),
            };
            lines.push(field_line(
                t,
                "  again",
                &masked,
                x.focus == ExportFocus::Repeat,
                state,
            ));
            lines.push(Line::styled(
                "   writes client.pem, chain.pem, client.key (0600) and client.p12 with a passphrase",
                t.dim(),
            ));
        }
        ExportKind::NoKeyHeld => lines.push(Line::styled(
            "   writes client.pem and chain.pem; the key stays with the CSR's owner (no .p12)",
            t.dim(),
        )),
        ExportKind::ReadOnly => lines.push(Line::styled(
            "   read-only: writes client.pem and chain.pem, never the private key",
            t.dim(),
        )),
    }
    lines.push(Line::raw(""));
    if x.submitting {
        lines.push(Line::styled("  exporting… (c cancels)", t.dim()));
    } else {
        let mut keys = vec![Span::styled("  ⏎", t.key()), Span::raw(" export  ")];
        if x.kind == ExportKind::WithKey {
            keys.extend([Span::styled("Tab", t.key()), Span::raw(" next field  ")]);
        }
        keys.extend([Span::styled("Esc", t.key()), Span::raw(" skip")]);
        lines.push(Line::from(keys));
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
