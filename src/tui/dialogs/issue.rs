//! The issue form: name, CN, validity and key (generated here, or a CSR file), then a preview.

use std::path::PathBuf;

use ratatui::Frame;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use crate::config::EnvConfig;
use crate::model::{CertRecord, ClientState};
use crate::pki::KeyAlgorithm;
use crate::tui::action::{Action, Effect, IssueRequest, KeyRequest, Op};
use crate::tui::ctx::Ctx;
use crate::tui::input::edit;
use crate::tui::widgets::{
    Theme, date, dialog_area, dialog_block, field_line, kv, kv_styled, label, serial_short,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueField {
    Name,
    Cn,
    Days,
    Key,
    CsrPath,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueStep {
    Edit,
    Preview,
    Submitting,
}

#[derive(Debug, Clone)]
pub struct IssueForm {
    pub step: IssueStep,
    pub focus: IssueField,
    /// The name as typed; the environment's template turns it into the client_id.
    pub name: String,
    /// Follows the rendered client_id until edited.
    pub cn: String,
    pub cn_edited: bool,
    pub days: String,
    /// Index into [`KeyAlgorithm::ALL`], or `KeyAlgorithm::ALL.len()` for "sign a CSR file".
    pub key: usize,
    pub csr_path: String,
}

impl IssueForm {
    /// An empty form with the environment's defaults.
    pub fn new(env: &EnvConfig) -> IssueForm {
        IssueForm {
            step: IssueStep::Edit,
            focus: IssueField::Name,
            name: String::new(),
            cn: env.render_client_id(""),
            cn_edited: false,
            days: env.client_validity_days.to_string(),
            key: KeyAlgorithm::ALL
                .iter()
                .position(|k| *k == env.client_key_algorithm)
                .unwrap_or(0),
            csr_path: String::new(),
        }
    }

    pub fn uses_csr(&self) -> bool {
        self.key >= KeyAlgorithm::ALL.len()
    }

    pub fn key_algorithm(&self) -> Option<KeyAlgorithm> {
        KeyAlgorithm::ALL.get(self.key).copied()
    }

    /// The fields in tab order.
    pub fn fields(&self) -> &'static [IssueField] {
        if self.uses_csr() {
            &[
                IssueField::Name,
                IssueField::Cn,
                IssueField::Days,
                IssueField::Key,
                IssueField::CsrPath,
            ]
        } else {
            &[
                IssueField::Name,
                IssueField::Cn,
                IssueField::Days,
                IssueField::Key,
            ]
        }
    }
}

/// A warning when the client already holds a cert the authorizer accepts.
fn already_active(ctx: &Ctx, t: Theme, current: Option<&CertRecord>) -> Option<Line<'static>> {
    let r = current?;
    let state = r.state(ctx.now, ctx.warn_within());
    if matches!(state, ClientState::Revoked | ClientState::Expired) {
        return None;
    }
    Some(Line::styled(
        format!(
            "  ⚠ {} already has an active cert (serial {}, until {}): issuing adds a second \
             one; Esc and r re-issues it instead",
            r.client_id,
            serial_short(&r.serial),
            date(r.expiry)
        ),
        t.warn(),
    ))
}

/// The client_id the form's name renders to.
pub fn issue_client_id(ctx: &Ctx, f: &IssueForm) -> String {
    ctx.env.render_client_id(f.name.trim())
}

/// The first problem with the issue form's field, if any.
pub fn issue_field_error(ctx: &Ctx, f: &IssueForm, field: IssueField) -> Option<String> {
    match field {
        IssueField::Name => crate::ops::validate_client_id(&issue_client_id(ctx, f))
            .err()
            .map(|e| e.to_string()),
        IssueField::Cn => (f.cn != issue_client_id(ctx, f))
            .then(|| "CN must equal the client_id: the authorizer compares them".to_string()),
        IssueField::Days => match f.days.trim().parse::<u32>() {
            Ok(d) => crate::ops::limits::client_days(d)
                .err()
                .map(|e| e.to_string()),
            Err(_) => Some(format!(
                "validity must be a whole number of days from 1 to {}",
                crate::ops::limits::MAX_CLIENT_DAYS
            )),
        },
        IssueField::Key => None,
        IssueField::CsrPath => (f.uses_csr() && f.csr_path.trim().is_empty())
            .then(|| "give the path of a PEM CSR file".to_string()),
    }
}

pub fn key(ctx: &mut Ctx, mut f: IssueForm, action: Action) -> (Option<IssueForm>, Vec<Effect>) {
    match f.step {
        IssueStep::Submitting => {
            if matches!(action, Action::Back) {
                ctx.warn("issuing continues; press c to cancel it");
            }
            (Some(f), vec![])
        }
        IssueStep::Preview => match action {
            Action::Back => {
                f.step = IssueStep::Edit;
                (Some(f), vec![])
            }
            Action::Submit => {
                let key = match f.key_algorithm() {
                    Some(k) => KeyRequest::Generate(k),
                    None => KeyRequest::CsrFile(PathBuf::from(f.csr_path.trim())),
                };
                let req = IssueRequest {
                    name: f.name.trim().to_string(),
                    cn: f.cn_edited.then(|| f.cn.clone()),
                    days: f
                        .days
                        .trim()
                        .parse()
                        .unwrap_or(ctx.env.client_validity_days),
                    key,
                };
                f.step = IssueStep::Submitting;
                let fx = ctx.start(Op::Issue(req));
                (Some(f), fx)
            }
            _ => (Some(f), vec![]),
        },
        IssueStep::Edit => {
            let fields = f.fields();
            let at = fields.iter().position(|x| *x == f.focus).unwrap_or(0);
            match action {
                Action::Back => return (None, vec![]),
                Action::NextField | Action::Down => f.focus = fields[(at + 1) % fields.len()],
                Action::PrevField | Action::Up => {
                    f.focus = fields[(at + fields.len() - 1) % fields.len()]
                }
                Action::Left | Action::Right if f.focus == IssueField::Key => {
                    let n = KeyAlgorithm::ALL.len() + 1;
                    f.key = if matches!(action, Action::Right) {
                        (f.key + 1) % n
                    } else {
                        (f.key + n - 1) % n
                    };
                }
                Action::Submit => {
                    if f.focus != *fields.last().unwrap_or(&IssueField::Name) {
                        f.focus = fields[at + 1];
                    } else if let Some((field, err)) = fields
                        .iter()
                        .find_map(|x| issue_field_error(ctx, &f, *x).map(|e| (*x, e)))
                    {
                        f.focus = field;
                        ctx.warn(err);
                    } else {
                        f.step = IssueStep::Preview;
                    }
                }
                ref a => {
                    let name_before = issue_client_id(ctx, &f);
                    let changed = match f.focus {
                        IssueField::Name => edit(&mut f.name, a),
                        IssueField::Cn => {
                            let c = edit(&mut f.cn, a);
                            f.cn_edited |= c;
                            c
                        }
                        IssueField::Days => match a {
                            Action::Input(c) if !c.is_ascii_digit() => false,
                            _ => edit(&mut f.days, a),
                        },
                        IssueField::CsrPath => edit(&mut f.csr_path, a),
                        IssueField::Key => false,
                    };
                    if changed
                        && f.focus == IssueField::Name
                        && (!f.cn_edited || f.cn == name_before)
                    {
                        f.cn = issue_client_id(ctx, &f);
                        f.cn_edited = false;
                    }
                }
            }
            (Some(f), vec![])
        }
    }
}

/// Draws the form; `current` is the roster's record of the client_id typed, if any.
pub fn draw(
    frame: &mut Frame,
    ctx: &Ctx,
    t: Theme,
    f: &IssueForm,
    current: Option<&CertRecord>,
    hints: Line<'static>,
) {
    let client_id = issue_client_id(ctx, f);
    let days: Option<u32> = f.days.trim().parse().ok();
    let mut lines: Vec<Line> = Vec::new();
    let title = match f.step {
        IssueStep::Edit => "Issue a certificate",
        IssueStep::Preview => "Issue a certificate — preview",
        IssueStep::Submitting => "Issue a certificate — issuing…",
    };
    match f.step {
        IssueStep::Edit => {
            let err = |field| issue_field_error(ctx, f, field);
            let name_note = match err(IssueField::Name) {
                Some(_) if f.name.is_empty() => None,
                Some(_) => Some(Span::styled("✗ invalid", t.danger())),
                None => Some(Span::styled("✓", t.ok())),
            };
            lines.push(field_line(
                t,
                "Client name",
                &f.name,
                f.focus == IssueField::Name,
                name_note,
            ));
            lines.push(Line::from(vec![
                Span::raw("  "),
                label("  client_id"),
                Span::styled(
                    if client_id.is_empty() {
                        "-".to_string()
                    } else {
                        client_id.clone()
                    },
                    t.bold(),
                ),
                Span::styled(format!("  (template {})", ctx.env.cn_template), t.dim()),
            ]));
            if let Some(line) = already_active(ctx, t, current) {
                lines.push(line);
            }
            lines.push(field_line(
                t,
                "CN",
                &f.cn,
                f.focus == IssueField::Cn,
                err(IssueField::Cn).map(|_| Span::styled("✗ must equal client_id", t.danger())),
            ));
            let until = days.map(|d| {
                Span::styled(
                    format!(
                        "until {}",
                        date(ctx.now + time::Duration::days(i64::from(d)))
                    ),
                    t.dim(),
                )
            });
            lines.push(field_line(
                t,
                "Valid days",
                &f.days,
                f.focus == IssueField::Days,
                until,
            ));
            let marker = if f.focus == IssueField::Key {
                "▶ "
            } else {
                "  "
            };
            let mut spans = vec![Span::styled(marker, t.key()), label("Key")];
            let names = KeyAlgorithm::ALL
                .iter()
                .map(|k| k.as_str())
                .chain(std::iter::once("CSR file"));
            for (k, name) in names.enumerate() {
                let style = if k == f.key {
                    if f.focus == IssueField::Key {
                        t.selected()
                    } else {
                        t.bold().add_modifier(Modifier::UNDERLINED)
                    }
                } else {
                    t.dim()
                };
                spans.push(Span::styled(name, style));
                spans.push(Span::raw(" "));
            }
            lines.push(Line::from(spans));
            if f.uses_csr() {
                lines.push(field_line(
                    t,
                    "CSR file",
                    &f.csr_path,
                    f.focus == IssueField::CsrPath,
                    None,
                ));
            } else {
                lines.push(Line::styled(
                    "                 key generated here and kept in the vault",
                    t.dim(),
                ));
            }
            lines.push(Line::raw(""));
            let first_error = f.fields().iter().find_map(|x| err(*x));
            match first_error {
                Some(e) if !f.name.is_empty() => {
                    lines.push(Line::styled(format!("  {e}"), t.danger()))
                }
                _ => lines.push(Line::raw("")),
            }
        }
        IssueStep::Preview | IssueStep::Submitting => {
            lines.push(kv_styled("client_id", client_id.clone(), t.bold()));
            if let Some(line) = already_active(ctx, t, current) {
                lines.push(line);
            }
            lines.push(kv("CN", f.cn.clone()));
            let issuer = ctx
                .header
                .ca
                .ready()
                .and_then(Option::as_ref)
                .map(|ca| ca.intermediate.as_ref().unwrap_or(&ca.root).subject.clone())
                .unwrap_or_else(|| "the environment's issuing CA".into());
            lines.push(kv("Issuer", issuer));
            if let Some(d) = days {
                lines.push(kv(
                    "Validity",
                    format!(
                        "{} → {} ({d} days)",
                        date(ctx.now),
                        date(ctx.now + time::Duration::days(i64::from(d)))
                    ),
                ));
            }
            lines.push(kv(
                "Key",
                match f.key_algorithm() {
                    Some(k) => format!("{}, generated here, kept in the vault", k.as_str()),
                    None => format!(
                        "from CSR {} (the key stays with its owner)",
                        f.csr_path.trim()
                    ),
                },
            ));
            lines.push(kv("Usage", "digitalSignature, EKU clientAuth"));
            lines.push(kv("Environment", ctx.env.name.clone()));
            lines.push(Line::raw(""));
            if f.step == IssueStep::Submitting {
                lines.push(Line::styled("  issuing… (c cancels)", t.dim()));
            } else {
                lines.push(Line::styled(
                    "  Press ⏎ to issue, Esc to go back.",
                    t.bold(),
                ));
            }
        }
    }
    lines.push(hints);
    let area = dialog_area(frame, &lines, 78);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(dialog_block(title.into(), t)),
        area,
    );
}
