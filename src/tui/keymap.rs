//! Keys to actions. One table per context (view, dialog, overlay); the same tables feed the
//! footer hint bar and the help overlay, so what is shown is what works.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::action::Action;
use super::dialogs::Dialog;
use super::dialogs::issue::IssueStep;
use super::dialogs::revoke::RevokeFocus;
use super::state::App;
use super::views::View;

/// One key binding of a context.
#[derive(Debug)]
pub struct Binding {
    pub keys: &'static [KeyCode],
    /// How the keys are written in the hint bar and help.
    pub label: &'static str,
    pub desc: &'static str,
    pub action: Action,
    /// A word or two for the footer hint bar; empty when only the help overlay lists it.
    pub hint: &'static str,
    /// Changes something: refused in read-only mode.
    pub mutating: bool,
}

const fn b(
    keys: &'static [KeyCode],
    label: &'static str,
    hint: &'static str,
    desc: &'static str,
    action: Action,
) -> Binding {
    Binding {
        keys,
        label,
        desc,
        action,
        hint,
        mutating: false,
    }
}

const fn m(
    keys: &'static [KeyCode],
    label: &'static str,
    hint: &'static str,
    desc: &'static str,
    action: Action,
) -> Binding {
    Binding {
        keys,
        label,
        desc,
        action,
        hint,
        mutating: true,
    }
}

use KeyCode::{
    BackTab, Backspace, Down, End, Enter, Esc, Home, Left, PageDown, PageUp, Right, Tab, Up,
};

const fn c(ch: char) -> KeyCode {
    KeyCode::Char(ch)
}

#[rustfmt::skip]
static ROSTER: &[Binding] = &[
    b(&[c('j'), Down], "j/↓", "", "move down", Action::Down),
    b(&[c('k'), Up], "k/↑", "", "move up", Action::Up),
    b(&[c('g'), Home], "g", "", "first row", Action::Top),
    b(&[c('G'), End], "G", "", "last row", Action::Bottom),
    b(&[PageUp], "PgUp", "", "page up", Action::PageUp),
    b(&[PageDown], "PgDn", "", "page down", Action::PageDown),
    b(&[c('/')], "/", "filter", "filter by client_id, CN or serial", Action::StartFilter),
    b(&[Esc], "Esc", "", "clear the filter", Action::Back),
    b(&[c('f')], "f", "status", "cycle status: all/active/expiring/expired/revoked", Action::CycleStatus),
    b(&[c('s')], "s", "sort", "cycle sort: client_id/expiry/issued/status", Action::CycleSort),
    b(&[c('S')], "S", "", "reverse the sort", Action::ReverseSort),
    b(&[c('y')], "y", "", "copy the serial to the clipboard (OSC 52)", Action::YankSerial),
    b(&[c('Y')], "Y", "", "copy the SHA-256 fingerprint to the clipboard", Action::YankFingerprint),
    b(&[Enter], "⏎", "details", "details of the selected client", Action::OpenDetail),
    m(&[c('i')], "i", "issue", "issue a certificate", Action::OpenIssue),
    m(&[c('x')], "x", "revoke", "revoke the selected client", Action::OpenRevoke),
    m(&[c('r')], "r", "re-issue", "re-issue the selected client", Action::OpenReissue),
    m(&[c('e')], "e", "export", "export the selected client's files", Action::OpenExport),
    b(&[c('t')], "t", "truststore", "truststore", Action::OpenTruststore),
    b(&[c('a')], "a", "audit", "audit log", Action::OpenAudit),
    b(&[c('o')], "o", "rotation", "rotations: intermediate, root, clients", Action::OpenRotation),
    b(&[c('E')], "E", "", "switch environment", Action::OpenEnvPicker),
    b(&[c('R')], "R", "", "refresh", Action::Refresh),
    b(&[c('c')], "c", "", "cancel work in flight", Action::Cancel),
    b(&[c('?')], "?", "help", "help", Action::ToggleHelp),
    b(&[c('q')], "q", "quit", "quit", Action::Quit),
];

#[rustfmt::skip]
static ONBOARDING: &[Binding] = &[
    m(&[c('b')], "b", "bootstrap CA", "bootstrap a CA (root + intermediate)", Action::Bootstrap),
    m(&[c('d')], "d", "demo data", "load demo data", Action::LoadDemo),
    b(&[c('t')], "t", "", "truststore", Action::OpenTruststore),
    b(&[c('a')], "a", "", "audit log", Action::OpenAudit),
    b(&[c('E')], "E", "env", "switch environment", Action::OpenEnvPicker),
    b(&[c('R')], "R", "refresh", "refresh", Action::Refresh),
    b(&[c('c')], "c", "", "cancel work in flight", Action::Cancel),
    b(&[c('?')], "?", "help", "help", Action::ToggleHelp),
    b(&[c('q')], "q", "quit", "quit", Action::Quit),
];

#[rustfmt::skip]
static DETAIL: &[Binding] = &[
    b(&[c('j'), Down], "j/↓", "scroll", "scroll", Action::Down),
    b(&[c('k'), Up], "k/↑", "", "scroll up", Action::Up),
    b(&[PageUp], "PgUp", "", "page up", Action::PageUp),
    b(&[PageDown], "PgDn", "", "page down", Action::PageDown),
    b(&[c('g'), Home], "g", "", "top", Action::Top),
    b(&[Esc], "Esc", "back", "back to the roster", Action::Back),
    b(&[Enter], "⏎", "", "back to the roster", Action::OpenDetail),
    m(&[c('x')], "x", "revoke", "revoke this client", Action::OpenRevoke),
    m(&[c('r')], "r", "re-issue", "re-issue this client", Action::OpenReissue),
    m(&[c('e')], "e", "export", "export this client's files", Action::OpenExport),
    b(&[c('t')], "t", "", "truststore", Action::OpenTruststore),
    b(&[c('a')], "a", "", "audit log", Action::OpenAudit),
    b(&[c('R')], "R", "refresh", "refresh", Action::Refresh),
    b(&[c('c')], "c", "", "cancel work in flight", Action::Cancel),
    b(&[c('?')], "?", "help", "help", Action::ToggleHelp),
    b(&[c('q')], "q", "quit", "quit", Action::Quit),
];

#[rustfmt::skip]
static TRUSTSTORE: &[Binding] = &[
    b(&[c('j'), Down], "j/↓", "version", "select a version", Action::Down),
    b(&[c('k'), Up], "k/↑", "", "select the previous version", Action::Up),
    m(&[c('p')], "p", "publish", "publish the bundle the CA implies", Action::Publish),
    m(&[c('b')], "b", "rollback", "roll back to the selected version", Action::Rollback),
    b(&[Esc], "Esc", "back", "back to the roster", Action::Back),
    b(&[c('a')], "a", "", "audit log", Action::OpenAudit),
    b(&[c('o')], "o", "", "rotations", Action::OpenRotation),
    b(&[c('R')], "R", "refresh", "refresh", Action::Refresh),
    b(&[c('c')], "c", "", "cancel work in flight", Action::Cancel),
    b(&[c('?')], "?", "help", "help", Action::ToggleHelp),
    b(&[c('q')], "q", "quit", "quit", Action::Quit),
];

#[rustfmt::skip]
static ROTATION: &[Binding] = &[
    m(&[c('n')], "n", "next phase", "start an intermediate rotation, or run the next phase", Action::RotationNext),
    m(&[c('O')], "O", "root", "start a root rotation", Action::RotationRoot),
    m(&[c('u')], "u", "renew due", "renew the clients due within the expiring window", Action::RotationRenewDue),
    m(&[c('X')], "X", "abort", "abort the rotation (moves clients back if some moved)", Action::RotationAbort),
    b(&[Esc], "Esc", "back", "back to the roster", Action::Back),
    b(&[c('t')], "t", "", "truststore", Action::OpenTruststore),
    b(&[c('a')], "a", "", "audit log", Action::OpenAudit),
    b(&[c('R')], "R", "refresh", "refresh", Action::Refresh),
    b(&[c('c')], "c", "", "cancel work in flight", Action::Cancel),
    b(&[c('?')], "?", "help", "help", Action::ToggleHelp),
    b(&[c('q')], "q", "quit", "quit", Action::Quit),
];

#[rustfmt::skip]
static AUDIT: &[Binding] = &[
    b(&[c('j'), Down], "j/↓", "move", "move", Action::Down),
    b(&[c('k'), Up], "k/↑", "", "move up", Action::Up),
    b(&[c('g'), Home], "g", "", "first record", Action::Top),
    b(&[c('G'), End], "G", "", "last record", Action::Bottom),
    b(&[PageUp], "PgUp", "", "page up", Action::PageUp),
    b(&[PageDown], "PgDn", "", "page down", Action::PageDown),
    b(&[Enter], "⏎", "open", "show the record in full", Action::OpenDetail),
    b(&[c('/')], "/", "filter", "filter: words, or client: action: operator: date: outcome:", Action::StartFilter),
    b(&[Esc], "Esc", "back", "close the record, clear the filter, then back", Action::Back),
    b(&[c('t')], "t", "", "truststore", Action::OpenTruststore),
    b(&[c('R')], "R", "refresh", "refresh", Action::Refresh),
    b(&[c('c')], "c", "", "cancel work in flight", Action::Cancel),
    b(&[c('?')], "?", "help", "help", Action::ToggleHelp),
    b(&[c('q')], "q", "quit", "quit", Action::Quit),
];

#[rustfmt::skip]
static FILTERING: &[Binding] = &[
    b(&[Enter], "⏎", "keep", "keep the filter", Action::Submit),
    b(&[Esc], "Esc", "clear", "clear the filter", Action::Back),
    b(&[Backspace], "⌫", "", "delete a character", Action::Backspace),
    b(&[Down], "↓", "move", "move down", Action::Down),
    b(&[Up], "↑", "", "move up", Action::Up),
    b(&[PageUp], "PgUp", "", "page up", Action::PageUp),
    b(&[PageDown], "PgDn", "", "page down", Action::PageDown),
];

#[rustfmt::skip]
static ISSUE_EDIT: &[Binding] = &[
    b(&[Tab, Down], "Tab/↓", "next", "next field", Action::NextField),
    b(&[BackTab, Up], "S-Tab/↑", "", "previous field", Action::PrevField),
    b(&[Left], "←/→", "key", "key algorithm or CSR", Action::Left),
    b(&[Right], "→", "", "next key algorithm", Action::Right),
    b(&[Backspace], "⌫", "", "delete a character", Action::Backspace),
    b(&[Enter], "⏎", "preview", "next field, then preview", Action::Submit),
    b(&[Esc], "Esc", "cancel", "cancel", Action::Back),
];

#[rustfmt::skip]
static ISSUE_PREVIEW: &[Binding] = &[
    b(&[Enter], "⏎", "issue", "issue", Action::Submit),
    b(&[Esc], "Esc", "back", "back to the form", Action::Back),
];

#[rustfmt::skip]
static REVOKE_REASON: &[Binding] = &[
    b(&[], "0-8", "reason", "pick that reason and go on to the confirmation", Action::Submit),
    b(&[c('j'), Down], "j/↓", "", "next reason", Action::Down),
    b(&[c('k'), Up], "k/↑", "", "previous reason", Action::Up),
    b(&[Enter], "⏎", "confirm", "keep the reason, go on to the confirmation", Action::Submit),
    b(&[Tab], "Tab", "note", "write a note", Action::NextField),
    b(&[Esc], "Esc", "cancel", "cancel", Action::Back),
];

#[rustfmt::skip]
static REVOKE_NOTE: &[Binding] = &[
    b(&[Enter, Tab], "⏎", "confirm", "go on to the confirmation", Action::NextField),
    b(&[BackTab, Up], "S-Tab", "reason", "back to the reason", Action::PrevField),
    b(&[Backspace], "⌫", "", "delete a character", Action::Backspace),
    b(&[Esc], "Esc", "cancel", "cancel", Action::Back),
];

#[rustfmt::skip]
static REVOKE_CONFIRM: &[Binding] = &[
    b(&[Enter], "⏎", "revoke", "revoke (the typed digits must match the serial's last 4)", Action::Submit),
    b(&[BackTab, Up], "S-Tab", "note", "back to the note", Action::PrevField),
    b(&[Tab], "Tab", "", "back to the reason", Action::NextField),
    b(&[Backspace], "⌫", "", "delete a character", Action::Backspace),
    b(&[Esc], "Esc", "cancel", "cancel", Action::Back),
];

#[rustfmt::skip]
static REISSUE: &[Binding] = &[
    b(&[c('j'), Down, Tab], "j/↓", "option", "choose the option", Action::Down),
    b(&[c('k'), Up, BackTab], "k/↑", "", "choose the option", Action::Up),
    b(&[Left, c('h')], "←/→", "change", "change it", Action::Left),
    b(&[Right, c('l'), c(' ')], "→", "", "change it", Action::Right),
    b(&[Enter], "⏎", "continue", "continue", Action::Submit),
    b(&[Esc], "Esc", "cancel", "cancel", Action::Back),
];

#[rustfmt::skip]
static REISSUE_CONFIRM: &[Binding] = &[
    b(&[Enter], "⏎", "re-issue", "re-issue", Action::Submit),
    b(&[Esc], "Esc", "back", "back", Action::Back),
];

#[rustfmt::skip]
static EXPORT: &[Binding] = &[
    b(&[Tab, BackTab, Down, Up], "Tab", "field", "directory / passphrase", Action::NextField),
    b(&[Backspace], "⌫", "", "delete a character", Action::Backspace),
    b(&[Enter], "⏎", "export", "export", Action::Submit),
    b(&[Esc], "Esc", "skip", "skip", Action::Back),
];

#[rustfmt::skip]
static CONFIRM: &[Binding] = &[
    b(&[c('y'), Enter], "y/⏎", "yes", "yes", Action::Submit),
    b(&[c('n'), Esc, c('q')], "n/Esc", "no", "no", Action::Back),
];

#[rustfmt::skip]
static ENV_PICKER: &[Binding] = &[
    b(&[c('j'), Down], "j/↓", "choose", "choose", Action::Down),
    b(&[c('k'), Up], "k/↑", "", "choose", Action::Up),
    b(&[Enter], "⏎", "open", "open", Action::Submit),
    b(&[Esc, c('q')], "Esc", "cancel", "cancel", Action::Back),
];

#[rustfmt::skip]
static SUBMITTING: &[Binding] = &[
    b(&[c('c')], "c", "cancel", "cancel", Action::Cancel),
    b(&[Esc], "Esc", "", "(waits for the result)", Action::Back),
];

#[rustfmt::skip]
static ERROR: &[Binding] = &[b(&[Esc, Enter, c('q')], "Esc/⏎", "dismiss", "dismiss", Action::Back)];

#[rustfmt::skip]
static HELP: &[Binding] = &[b(
    &[Esc, c('?'), c('q')],
    "Esc/?",
    "close",
    "close help",
    Action::ToggleHelp,
)];

/// The bindings in effect, ignoring the help overlay and error popup when `below_overlays`.
pub fn bindings(app: &App, below_overlays: bool) -> &'static [Binding] {
    if !below_overlays {
        if app.ctx.error.is_some() {
            return ERROR;
        }
        if app.help {
            return HELP;
        }
    }
    if let Some(d) = &app.dialog {
        return match d {
            Dialog::Issue(f) => match f.step {
                IssueStep::Edit => ISSUE_EDIT,
                IssueStep::Preview => ISSUE_PREVIEW,
                IssueStep::Submitting => SUBMITTING,
            },
            Dialog::Revoke(r) if r.submitting => SUBMITTING,
            Dialog::Revoke(r) => match r.focus {
                RevokeFocus::Reason => REVOKE_REASON,
                RevokeFocus::Note => REVOKE_NOTE,
                RevokeFocus::Confirm => REVOKE_CONFIRM,
            },
            Dialog::Reissue(r) if r.submitting => SUBMITTING,
            Dialog::Reissue(r) if r.confirming => REISSUE_CONFIRM,
            Dialog::Reissue(_) => REISSUE,
            Dialog::Export(x) if x.submitting => SUBMITTING,
            Dialog::Export(_) => EXPORT,
            Dialog::Confirm(_) => CONFIRM,
            Dialog::EnvPicker(_) => ENV_PICKER,
        };
    }
    if app.ctx.filtering {
        return FILTERING;
    }
    if app.onboarding() {
        return ONBOARDING;
    }
    match app.view {
        View::Roster => ROSTER,
        View::Detail => DETAIL,
        View::Truststore => TRUSTSTORE,
        View::Audit => AUDIT,
        View::Rotation => ROTATION,
    }
}

/// Does the current context take typed characters?
fn takes_text(app: &App) -> bool {
    if app.ctx.error.is_some() || app.help {
        return false;
    }
    match &app.dialog {
        Some(Dialog::Issue(f)) => f.step == IssueStep::Edit,
        // Digits pick a reason; the note and the confirmation take text.
        Some(Dialog::Revoke(r)) => !r.submitting,
        Some(Dialog::Export(x)) => !x.submitting,
        Some(_) => false,
        None => app.ctx.filtering,
    }
}

/// The action a key press means in the current context, if any.
pub fn action_for(app: &App, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return match key.code {
            KeyCode::Char('c') => Some(Action::Quit),
            _ => None,
        };
    }
    let text = takes_text(app);
    if let Some(binding) = bindings(app, false)
        .iter()
        .find(|b| b.keys.contains(&key.code))
    {
        return Some(binding.action.clone());
    }
    match key.code {
        KeyCode::Char(ch) if text && !key.modifiers.contains(KeyModifiers::ALT) => {
            Some(Action::Input(ch))
        }
        _ => None,
    }
}
