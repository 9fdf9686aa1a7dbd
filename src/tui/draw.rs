//! Drawing: reads the state, changes nothing. Only the visible window of the roster is turned
//! into widgets. Without colours (NO_COLOR) every distinction is made with modifiers.

use std::collections::HashSet;

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};
use time::OffsetDateTime;

use super::keymap::{Binding, bindings};
use super::roster::{SortKey, status_filter_label};
use super::state::{
    App, Confirm, Dialog, EnvPicker, ExportDialog, ExportFocus, GRACE_HOURS, IssueField, IssueForm,
    IssueStep, Load, ReissueDialog, ReissueFocus, RevokeDialog, RevokeFocus, StatusKind, View,
};
use super::update::{issue_client_id, issue_field_error};
use crate::model::{CertRecord, CertStatus, ClientState, RevocationReason};
use crate::ops::{BundleView, RotationKind, RotationPhase, StatusFilter};
use crate::pki::{CertInfo, KeyAlgorithm};

/// Below this size the screen only asks for a bigger terminal.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// Styles, with or without colours.
#[derive(Clone, Copy)]
struct Theme {
    colors: bool,
}

impl Theme {
    fn pick(self, color: Style, plain: Style) -> Style {
        if self.colors { color } else { plain }
    }
    /// Expired, within 7 days, failures.
    fn danger(self) -> Style {
        self.pick(
            Style::new().fg(Color::Red),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }
    /// Expiring within the environment's window, warnings.
    fn warn(self) -> Style {
        self.pick(
            Style::new().fg(Color::Yellow),
            Style::new().add_modifier(Modifier::ITALIC),
        )
    }
    fn ok(self) -> Style {
        self.pick(Style::new().fg(Color::Green), Style::new())
    }
    fn dim(self) -> Style {
        Style::new().add_modifier(Modifier::DIM)
    }
    fn bold(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }
    fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
    fn bar(self) -> Style {
        self.pick(
            Style::new().fg(Color::White).bg(Color::Blue),
            Style::new().add_modifier(Modifier::REVERSED),
        )
    }
    fn badge(self) -> Style {
        self.pick(
            Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
        )
    }
    fn key(self) -> Style {
        self.pick(
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }
    fn days(self, days: i64, warn_within: i64) -> Style {
        if days < 0 || days <= 7 {
            self.danger()
        } else if days <= warn_within {
            self.warn()
        } else {
            Style::new()
        }
    }
}

/// Draws the whole screen from the state. `colors` false draws with modifiers only.
pub fn draw(frame: &mut Frame, app: &App, colors: bool) {
    let t = Theme { colors };
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "terminal too small: {}x{}; mtls-console needs at least {MIN_WIDTH}x{MIN_HEIGHT} (80x24 recommended)",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    let [header, body, status, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(frame, app, t, header);
    if app.onboarding() {
        draw_onboarding(frame, app, t, body);
    } else {
        match app.view {
            View::Roster => draw_roster(frame, app, t, body),
            View::Detail => draw_detail(frame, app, t, body),
            View::Truststore => draw_truststore(frame, app, t, body),
            View::Audit => draw_audit(frame, app, t, body),
            View::Rotation => draw_rotation(frame, app, t, body),
        }
    }
    draw_status(frame, app, t, status);
    draw_footer(frame, app, t, footer);
    if let Some(d) = &app.dialog {
        match d {
            Dialog::Issue(f) => draw_issue(frame, app, t, f),
            Dialog::Revoke(r) => draw_revoke(frame, app, t, r),
            Dialog::Reissue(r) => draw_reissue(frame, app, t, r),
            Dialog::Export(x) => draw_export(frame, t, x),
            Dialog::Confirm(c) => draw_confirm(frame, app, t, c),
            Dialog::EnvPicker(p) => draw_env_picker(frame, app, t, p),
        }
    }
    if app.help {
        draw_help(frame, app, t);
    }
    if let Some(e) = &app.error {
        draw_error(frame, t, e);
    }
}

// ---------------------------------------------------------------- helpers

fn date(t: OffsetDateTime) -> String {
    let d = t.date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
        out.push('…');
        out
    } else {
        s.to_string()
    }
}

/// Rows `lines` take when wrapped into a bordered box `width` wide.
fn wrapped_rows(lines: &[Line], width: u16) -> u16 {
    let inner = usize::from(width.saturating_sub(2)).max(1);
    let rows: usize = lines.iter().map(|l| l.width().div_ceil(inner).max(1)).sum();
    u16::try_from(rows).unwrap_or(u16::MAX)
}

/// A bordered dialog of at most `w` columns, as tall as its wrapped lines, centred.
fn dialog_area(frame: &Frame, lines: &[Line], w: u16) -> Rect {
    let w = w.min(frame.area().width.saturating_sub(2));
    popup(frame.area(), w, wrapped_rows(lines, w).saturating_add(2))
}

/// A rectangle of at most `w` x `h` centred in `area`.
fn popup(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width.saturating_sub(2));
    let h = h.min(area.height.saturating_sub(2));
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn dialog_block(title: String, t: Theme) -> Block<'static> {
    Block::new()
        .borders(Borders::ALL)
        .title(Span::styled(format!(" {title} "), t.bold()))
}

fn label(text: &str) -> Span<'static> {
    Span::raw(format!("{text:<13}"))
}

fn input<'a>(value: &str, focused: bool, t: Theme) -> Span<'a> {
    if focused {
        Span::styled(format!("{value}▏"), t.selected())
    } else {
        Span::styled(
            value.to_string(),
            Style::new().add_modifier(Modifier::UNDERLINED),
        )
    }
}

fn hint_line(app: &App, t: Theme) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    for b in bindings(app, true).iter().filter(|b| !b.hint.is_empty()) {
        spans.push(Span::styled(b.label.to_string(), t.key()));
        spans.push(Span::raw(format!(" {}  ", b.hint)));
    }
    Line::from(spans)
}

/// The caption of a validity, `until 2030-01-01 (1826d)`, styled by urgency. Compact form:
/// the date, with the days only when within `warn_within`.
fn until(
    t: Theme,
    not_after: OffsetDateTime,
    now: OffsetDateTime,
    warn_within: i64,
    compact: bool,
) -> Span<'static> {
    let days = (not_after - now).whole_days();
    let text = if not_after < now {
        format!("EXPIRED {}", date(not_after))
    } else if !compact {
        format!("until {} ({days}d)", date(not_after))
    } else if days <= warn_within {
        format!("{} ({days}d)", date(not_after))
    } else {
        date(not_after)
    };
    Span::styled(text, t.days(days, warn_within))
}

// ---------------------------------------------------------------- header

fn draw_header(frame: &mut Frame, app: &App, t: Theme, area: Rect) {
    let [line1, line2] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let mut left = vec![
        Span::styled(" mtls-console ", t.bold()),
        Span::raw("│ env "),
        Span::styled(app.env.name.clone(), t.bold()),
        Span::raw(format!(" │ {} │ operator {} ", app.backend, app.operator)),
    ];
    let badge = if app.read_only { " READ-ONLY " } else { "" };
    let room = usize::from(line1.width).saturating_sub(badge.len());
    let used: usize = left.iter().map(|s| s.content.chars().count()).sum();
    if used > room {
        let last = left
            .pop()
            .map(|s| s.content.to_string())
            .unwrap_or_default();
        let keep = room.saturating_sub(used - last.chars().count());
        left.push(Span::raw(short(&last, keep)));
    }
    frame.render_widget(Paragraph::new(Line::from(left)).style(t.bar()), line1);
    if app.read_only {
        frame.render_widget(
            Paragraph::new(Span::styled(badge, t.badge())).alignment(Alignment::Right),
            line1,
        );
    }

    let compact = area.width < 110;
    let mut spans = vec![Span::raw(" CA ")];
    match &app.header.ca {
        Load::Idle | Load::Loading => spans.push(Span::styled("checking…", t.dim())),
        Load::Failed(e) => spans.push(Span::styled(format!("cannot read: {e}"), t.danger())),
        Load::Ready(None) => spans.push(Span::styled("none yet", t.warn())),
        Load::Ready(Some(ca)) => {
            spans.push(Span::raw("root "));
            spans.push(until(t, ca.root.not_after, app.now, 90, compact));
            match &ca.intermediate {
                Some(i) => {
                    spans.push(Span::raw(if compact {
                        " · int. "
                    } else {
                        " · intermediate "
                    }));
                    spans.push(until(t, i.not_after, app.now, 90, compact));
                }
                None => spans.push(Span::raw(" (root-only)")),
            }
        }
    }
    spans.push(Span::raw(" │ truststore "));
    match &app.header.published {
        Load::Idle | Load::Loading => spans.push(Span::styled("checking…", t.dim())),
        Load::Failed(e) => spans.push(Span::styled(format!("cannot read: {e}"), t.danger())),
        Load::Ready(None) => spans.push(Span::styled("not published", t.warn())),
        Load::Ready(Some(b)) => {
            if let Some(v) = &b.version {
                let n = if compact { 7 } else { 10 };
                spans.push(Span::raw(format!("{} ", short(&v.version_id, n))));
            }
            match app.header.truststore_matches() {
                Some(m) if m.matches() => spans.push(Span::styled("matches CA", t.ok())),
                Some(m) => spans.push(Span::styled(
                    format!("differs from CA (+{} -{}; t shows)", m.missing, m.extra),
                    t.danger(),
                )),
                None => spans.push(Span::styled("published", t.dim())),
            }
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), line2);
}

// ---------------------------------------------------------------- roster

fn row_style(t: Theme, state: ClientState, days: i64, warn_within: i64) -> Style {
    match state {
        ClientState::Revoked => t.dim(),
        ClientState::Expired => t.danger(),
        _ => t.days(days, warn_within),
    }
}

fn serial_short(serial: &str) -> String {
    short(serial, 11)
}

fn draw_roster(frame: &mut Frame, app: &App, t: Theme, area: Rect) {
    let [summary, table] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let data = &app.roster.data;
    let c = data.counts();
    let mut spans = vec![
        Span::styled(format!(" {} clients", c.total()), t.bold()),
        Span::raw(format!(": {} active · ", c.active)),
        Span::styled(format!("{} expiring", c.expiring), t.warn()),
        Span::raw(" · "),
        Span::styled(format!("{} expired", c.expired), t.danger()),
        Span::raw(" · "),
        Span::styled(format!("{} revoked", c.revoked), t.dim()),
    ];
    if data.status_filter() != StatusFilter::All {
        spans.push(Span::raw(" │ showing "));
        spans.push(Span::styled(
            status_filter_label(data.status_filter()),
            t.bold(),
        ));
    }
    if app.filtering || !app.roster.filter.is_empty() {
        spans.push(Span::raw(" │ "));
        let caret = if app.filtering && app.view == View::Roster {
            "▏"
        } else {
            ""
        };
        spans.push(Span::styled(
            format!("/{}{caret}", app.roster.filter),
            t.selected(),
        ));
    }
    if data.visible().len() != c.total() {
        spans.push(Span::raw(format!(" │ {} shown", data.visible().len())));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), summary);

    match &app.roster.load {
        Load::Idle | Load::Loading if data.is_empty() => {
            frame.render_widget(Paragraph::new(" loading roster…").style(t.dim()), table);
            return;
        }
        Load::Failed(e) if data.is_empty() => {
            let text = Text::from(vec![
                Line::styled(" cannot load the roster:", t.danger()),
                Line::raw(format!(" {e}")),
                Line::raw(" press R to retry, E to switch environment"),
            ]);
            frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), table);
            return;
        }
        _ => {}
    }

    let wide = table.width >= 100;
    let arrow = |k: SortKey, name: &str| {
        if data.sort_key() == k {
            let dir = if k == SortKey::Issued { "▼" } else { "▲" };
            format!("{name} {dir}")
        } else {
            name.to_string()
        }
    };
    let mut head = vec![arrow(SortKey::ClientId, "CLIENT ID")];
    if wide {
        head.push("CN".into());
    }
    head.extend([
        arrow(SortKey::Status, "STATUS"),
        "SERIAL".into(),
        arrow(SortKey::Issued, "ISSUED"),
        arrow(SortKey::Expiry, "EXPIRES"),
        "DAYS".into(),
    ]);
    let mut widths = vec![Constraint::Fill(2)];
    if wide {
        widths.push(Constraint::Fill(1));
    }
    widths.extend([
        Constraint::Length(9),
        Constraint::Length(11),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(5),
    ]);

    let vp = usize::from(table.height.saturating_sub(1));
    let len = data.visible().len();
    let sel = app.roster.selected;
    // Normally `update` keeps the offset right; recompute if the frame disagrees.
    let mut offset = app.roster.offset;
    if sel < offset || sel >= offset + vp {
        offset = sel.saturating_sub(vp.saturating_sub(1));
    }
    let warn_within = i64::from(app.env.expiring_days);
    let rows: Vec<Row> = (offset..len.min(offset + vp))
        .filter_map(|pos| data.row(pos).map(|(r, s)| (pos, r, s)))
        .map(|(pos, r, state)| {
            let days = r.days_left(app.now);
            let mut style = row_style(t, state, days, warn_within);
            if pos == sel {
                style = style.patch(t.selected());
            }
            let mut cells = vec![Cell::from(r.client_id.as_str())];
            if wide {
                cells.push(Cell::from(r.client_name.as_str()));
            }
            cells.extend([
                Cell::from(state.as_str()),
                Cell::from(serial_short(&r.serial)),
                Cell::from(date(r.issued_at)),
                Cell::from(date(r.expiry)),
                Cell::from(Line::from(days.to_string()).alignment(Alignment::Right)),
            ]);
            Row::new(cells).style(style)
        })
        .collect();
    let empty = rows.is_empty();
    frame.render_widget(
        Table::new(rows, widths)
            .header(Row::new(head).style(t.bold().add_modifier(Modifier::UNDERLINED)))
            .column_spacing(1),
        table,
    );
    if empty {
        let msg = if data.is_empty() {
            " no clients yet: press i to issue the first certificate"
        } else {
            " no client matches the filter (Esc clears it, f changes the status filter)"
        };
        let below = Rect {
            y: table.y + 1,
            height: 1,
            ..table
        };
        frame.render_widget(Paragraph::new(msg).style(t.dim()), below);
    }
}

fn draw_onboarding(frame: &mut Frame, app: &App, t: Theme, area: Rect) {
    let mut lines = vec![
        Line::raw(""),
        Line::styled(
            format!(
                "  Environment '{}' is empty: no CA and no clients.",
                app.env.name
            ),
            t.bold(),
        ),
        Line::raw(""),
    ];
    if app.read_only {
        lines.push(Line::styled(
            "  Read-only: nothing can be created here. E switches environment, q quits.",
            t.warn(),
        ));
    } else {
        lines.push(Line::from(vec![
            Span::styled("  b", t.key()),
            Span::raw("  bootstrap a CA: root (RSA-4096, 10 years) + intermediate (5 years)"),
        ]));
        lines.push(Line::from(vec![
            Span::styled("  d", t.key()),
            Span::raw("  load demo data: a CA and about 50 clients in varied states"),
        ]));
    }
    lines.push(Line::from(vec![
        Span::styled("  E", t.key()),
        Span::raw("  switch to another environment"),
    ]));
    lines.push(Line::from(vec![
        Span::styled("  q", t.key()),
        Span::raw("  quit"),
    ]));
    let area = popup(area, 78, 10);
    frame.render_widget(
        Paragraph::new(lines).block(dialog_block("Welcome".into(), t)),
        area,
    );
}

// ---------------------------------------------------------------- detail

fn kv(key: &str, value: impl Into<String>) -> Line<'static> {
    Line::from(vec![
        Span::raw(format!(" {key:<12}")),
        Span::raw(value.into()),
    ])
}

fn kv_styled(key: &str, value: impl Into<String>, style: Style) -> Line<'static> {
    Line::from(vec![
        Span::raw(format!(" {key:<12}")),
        Span::styled(value.into(), style),
    ])
}

/// `0A:1B:...` from a decimal serial, when the certificate itself is not at hand.
fn serial_hex(decimal: &str) -> Option<String> {
    let n = num_bigint::BigUint::parse_bytes(decimal.as_bytes(), 10)?;
    let bytes = n.to_bytes_be();
    Some(
        bytes
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

fn status_line(t: Theme, r: &CertRecord, now: OffsetDateTime, warn_within: i64) -> Line<'static> {
    let state = r.state(now, warn_within);
    let days = r.days_left(now);
    match state {
        ClientState::Revoked => kv_styled(
            "Status",
            format!(
                "revoked{}{}{}",
                r.revoked_at
                    .map(|at| format!(" {}", crate::timefmt::format(at)))
                    .unwrap_or_default(),
                r.revoked_by
                    .as_ref()
                    .map(|by| format!(" by {by}"))
                    .unwrap_or_default(),
                format_args!(
                    ": {}",
                    r.revocation_reason
                        .map_or("reason not recorded", RevocationReason::as_str)
                )
            ),
            t.danger(),
        ),
        ClientState::Expired => {
            kv_styled("Status", format!("expired {} days ago", -days), t.danger())
        }
        s => kv_styled(
            "Status",
            format!("{} ({days} days left)", s.as_str()),
            t.days(days, warn_within),
        ),
    }
}

fn detail_lines(app: &App, t: Theme, r: &CertRecord) -> Vec<Line<'static>> {
    let warn_within = i64::from(app.env.expiring_days);
    let now = app.now;
    let detail = app.detail.as_ref().and_then(|d| d.load.ready());
    let info: Option<&CertInfo> = detail.and_then(|d| d.info.as_ref());
    let mut lines = vec![
        kv_styled("Client", r.client_id.clone(), t.bold()),
        kv("CN", r.client_name.clone()),
        status_line(t, r, now, warn_within),
        kv("Serial", format!("{} (decimal)", r.serial)),
    ];
    if let Some(hex) = info
        .map(|i| i.serial_hex.clone())
        .or_else(|| serial_hex(&r.serial))
    {
        lines.push(kv("", format!("{hex} (hex)")));
    }
    match info {
        Some(i) => {
            lines.push(kv("Subject", i.subject.clone()));
            lines.push(kv("Issuer", i.issuer.clone()));
            lines.push(Line::from(vec![
                Span::raw(format!(" {:<12}", "Validity")),
                Span::raw(format!(
                    "{} → {} ",
                    crate::timefmt::format(i.not_before),
                    crate::timefmt::format(i.not_after)
                )),
            ]));
            if r.expiry != i.not_after {
                lines.push(kv_styled(
                    "",
                    format!(
                        "the authorizer accepts it until {} (grace period)",
                        crate::timefmt::format(r.expiry)
                    ),
                    t.warn(),
                ));
            }
            lines.push(kv(
                "Key",
                format!(
                    "{} ({} bits), signature {}",
                    i.key_algorithm, i.key_bits, i.signature_algorithm
                ),
            ));
            lines.push(kv("SHA-256", i.fingerprint_sha256.clone()));
            let eku = if i.extended_key_usage.is_empty() {
                "none (legacy cert; new ones carry clientAuth)".to_string()
            } else {
                i.extended_key_usage.join(", ")
            };
            lines.push(kv("EKU", eku));
            lines.push(kv("Key usage", i.key_usage.join(", ")));
        }
        None => {
            lines.push(kv("Issuer", r.issuer.clone().unwrap_or_else(|| "-".into())));
            lines.push(kv(
                "Validity",
                format!(
                    "{} → {}",
                    r.not_before
                        .map(crate::timefmt::format)
                        .unwrap_or_else(|| "?".into()),
                    crate::timefmt::format(r.expiry)
                ),
            ));
            lines.push(kv(
                "Key",
                r.key_algorithm.clone().unwrap_or_else(|| "-".into()),
            ));
            if let Some(fp) = &r.fingerprint {
                lines.push(kv("SHA-256", fp.clone()));
            }
        }
    }
    lines.push(kv(
        "Private key",
        if r.key_held {
            "held in the vault (generated here)"
        } else {
            "not held here (CSR or legacy)"
        },
    ));
    if let Some(s) = &r.replaces {
        lines.push(kv("Replaces", s.clone()));
    }
    if let Some(s) = &r.replaced_by {
        lines.push(kv("Replaced by", s.clone()));
    }
    lines.push(Line::raw(""));
    let Some(load) = app.detail.as_ref().map(|d| &d.load) else {
        return lines;
    };
    let detail = match load {
        Load::Ready(d) => d,
        Load::Failed(e) => {
            lines.push(kv_styled("Chain", format!("cannot load: {e}"), t.danger()));
            return lines;
        }
        Load::Idle | Load::Loading => {
            lines.push(kv_styled("Chain", "checking…", t.dim()));
            return lines;
        }
    };
    match &detail.chain {
        Some(chain) => {
            for (k, link) in chain.links.iter().enumerate() {
                let key = if k == 0 { "Chain" } else { "" };
                let arrow = if k == 0 { "" } else { "↳ " };
                if link.problems.is_empty() {
                    lines.push(Line::from(vec![
                        Span::raw(format!(" {key:<12}{arrow}")),
                        Span::styled("ok ", t.ok()),
                        Span::raw(link.subject.clone()),
                    ]));
                } else {
                    lines.push(Line::from(vec![
                        Span::raw(format!(" {key:<12}{arrow}")),
                        Span::styled("FAIL ", t.danger()),
                        Span::raw(format!("{}: ", link.subject)),
                        Span::styled(link.problems.join("; "), t.danger()),
                    ]));
                }
            }
            if chain.ok {
                lines.push(kv_styled("", "chain verified to a trusted root", t.ok()));
            } else {
                lines.push(kv_styled("", "chain does NOT verify", t.danger()));
            }
        }
        None => lines.push(kv_styled(
            "Chain",
            "not checked (no certificate PEM)",
            t.warn(),
        )),
    }
    lines.push(match detail.issuer_in_truststore {
        Some(true) => kv_styled(
            "Truststore",
            "issuer is in the published truststore",
            t.ok(),
        ),
        Some(false) => kv_styled(
            "Truststore",
            "issuer is NOT in the published truststore: the gateway rejects this cert",
            t.danger(),
        ),
        None => kv_styled("Truststore", "nothing published yet", t.warn()),
    });
    lines.push(Line::raw(""));
    let earlier: Vec<&CertRecord> = detail
        .history
        .iter()
        .filter(|h| h.serial != r.serial)
        .collect();
    if earlier.is_empty() {
        lines.push(kv("History", "no earlier certificates"));
    } else {
        lines.push(kv(
            "History",
            format!("{} earlier certificate(s):", earlier.len()),
        ));
        for h in earlier {
            let state = h.state(now, warn_within);
            let what = match h.status {
                CertStatus::Revoked => format!(
                    "revoked ({})",
                    h.revocation_reason
                        .map_or("unspecified", RevocationReason::as_str)
                ),
                CertStatus::Active => state.as_str().to_string(),
            };
            lines.push(Line::from(vec![
                Span::raw(format!(" {:<12}", "")),
                Span::styled(
                    format!(
                        "{}  issued {}  expiry {}  {what}",
                        serial_short(&h.serial),
                        date(h.issued_at),
                        date(h.expiry)
                    ),
                    t.dim(),
                ),
            ]));
        }
    }
    lines
}

fn draw_detail(frame: &mut Frame, app: &App, t: Theme, area: Rect) {
    let Some(d) = &app.detail else {
        return;
    };
    let record = app
        .roster
        .data
        .records()
        .iter()
        .find(|r| r.client_id == d.client_id)
        .or_else(|| d.load.ready().map(|x| &x.record));
    let lines = match record {
        Some(r) => detail_lines(app, t, r),
        None => vec![Line::raw(format!(" {} is not in the roster", d.client_id))],
    };
    frame.render_widget(
        Paragraph::new(lines)
            .block(dialog_block(format!("{} — details", d.client_id), t))
            .wrap(Wrap { trim: false })
            .scroll((d.scroll, 0)),
        area,
    );
}

// ---------------------------------------------------------------- truststore

fn bundle_rows(t: Theme, b: &BundleView, now: OffsetDateTime) -> Vec<Row<'static>> {
    b.certs
        .iter()
        .map(|c| {
            let days = c.days_left(now);
            let warnings: Vec<&str> = b
                .problems
                .iter()
                .filter(|p| p.subject.as_deref() == Some(c.subject.as_str()))
                .map(|p| p.message.as_str())
                .collect();
            let kind = if c.self_signed { "root" } else { "CA" };
            Row::new(vec![
                Cell::from(c.subject.clone()),
                Cell::from(kind),
                Cell::from(date(c.not_after)),
                Cell::from(Line::from(days.to_string()).alignment(Alignment::Right)),
                Cell::from(warnings.join("; ")),
            ])
            .style(t.days(days, 90))
        })
        .collect()
}

fn draw_truststore(frame: &mut Frame, app: &App, t: Theme, area: Rect) {
    let published = app.header.published.ready().and_then(Option::as_ref);
    let built = app.header.built.ready();
    let certs = published.map_or(1, |b| b.certs.len().max(1));
    let [top, mid, bottom] = Layout::vertical([
        Constraint::Length(certs as u16 + 3),
        Constraint::Length(6),
        Constraint::Min(4),
    ])
    .areas(area);

    let title = match published.and_then(|b| b.version.as_ref()) {
        Some(v) => format!(
            "Published truststore — version {} ({}, {} bytes)",
            v.version_id,
            crate::timefmt::format(v.last_modified),
            v.size
        ),
        None => "Published truststore".to_string(),
    };
    let widths = [
        Constraint::Fill(2),
        Constraint::Length(4),
        Constraint::Length(10),
        Constraint::Length(5),
        Constraint::Fill(1),
    ];
    let block = dialog_block(title, t);
    match &app.header.published {
        Load::Ready(Some(b)) => frame.render_widget(
            Table::new(bundle_rows(t, b, app.now), widths)
                .header(
                    Row::new(["SUBJECT", "KIND", "EXPIRES", "DAYS", "WARNINGS"]).style(t.bold()),
                )
                .block(block),
            top,
        ),
        Load::Ready(None) => frame.render_widget(
            Paragraph::new(" nothing published yet: press p to publish the bundle the CA implies")
                .style(t.warn())
                .block(block),
            top,
        ),
        Load::Failed(e) => frame.render_widget(
            Paragraph::new(format!(" cannot read the truststore: {e}"))
                .style(t.danger())
                .wrap(Wrap { trim: false })
                .block(block),
            top,
        ),
        Load::Idle | Load::Loading => {
            frame.render_widget(Paragraph::new(" loading…").style(t.dim()).block(block), top)
        }
    }

    let mut diff: Vec<Line> = Vec::new();
    match (&app.header.built, built) {
        (Load::Failed(e), _) => diff.push(Line::styled(
            format!(" cannot build the bundle the CA implies: {e}"),
            t.danger(),
        )),
        (_, Some(built)) => {
            let have: HashSet<&str> = published
                .map(|p| {
                    p.certs
                        .iter()
                        .map(|c| c.fingerprint_sha256.as_str())
                        .collect()
                })
                .unwrap_or_default();
            let want: HashSet<&str> = built
                .certs
                .iter()
                .map(|c| c.fingerprint_sha256.as_str())
                .collect();
            for c in &built.certs {
                if have.contains(c.fingerprint_sha256.as_str()) {
                    diff.push(Line::raw(format!("   {}", c.subject)));
                } else {
                    diff.push(Line::styled(
                        format!(" + {}  (the CA implies it; not published)", c.subject),
                        t.warn(),
                    ));
                }
            }
            for c in published.map(|p| p.certs.as_slice()).unwrap_or(&[]) {
                if !want.contains(c.fingerprint_sha256.as_str()) {
                    diff.push(Line::styled(
                        format!(" - {}  (published; the CA does not imply it)", c.subject),
                        t.danger(),
                    ));
                }
            }
            for p in built.problems.iter().filter(|p| p.fatal) {
                diff.push(Line::styled(
                    format!(" publish would be refused: {}", p.message),
                    t.danger(),
                ));
            }
        }
        _ => diff.push(Line::styled(" checking…", t.dim())),
    }
    let diff_title = match app.header.truststore_matches() {
        Some(m) if m.matches() => "Compared with the CA: identical".to_string(),
        Some(m) => format!(
            "Compared with the CA: {} to add, {} to remove (p publishes)",
            m.missing, m.extra
        ),
        None => "Compared with the CA".to_string(),
    };
    frame.render_widget(Paragraph::new(diff).block(dialog_block(diff_title, t)), mid);

    let block = dialog_block(
        "Version history (b rolls back to the selected one)".into(),
        t,
    );
    match &app.truststore.history {
        Load::Ready(h) => {
            let rows: Vec<Row> = h
                .iter()
                .enumerate()
                .map(|(k, v)| {
                    let row = Row::new(vec![
                        Cell::from(v.version_id.clone()),
                        Cell::from(crate::timefmt::format(v.last_modified)),
                        Cell::from(format!("{} B", v.size)),
                        Cell::from(if v.is_latest { "current" } else { "" }),
                    ]);
                    if k == app.truststore.selected {
                        row.style(t.selected())
                    } else {
                        row
                    }
                })
                .collect();
            let vp = usize::from(bottom.height.saturating_sub(3));
            let skip = app.truststore.selected.saturating_sub(vp.saturating_sub(1));
            frame.render_widget(
                Table::new(
                    rows.into_iter().skip(skip),
                    [
                        Constraint::Fill(1),
                        Constraint::Length(20),
                        Constraint::Length(10),
                        Constraint::Length(7),
                    ],
                )
                .header(Row::new(["VERSION", "LAST MODIFIED", "SIZE", ""]).style(t.bold()))
                .block(block),
                bottom,
            );
        }
        Load::Failed(e) => frame.render_widget(
            Paragraph::new(format!(" cannot read the history: {e}"))
                .style(t.danger())
                .wrap(Wrap { trim: false })
                .block(block),
            bottom,
        ),
        Load::Idle | Load::Loading => frame.render_widget(
            Paragraph::new(" loading…").style(t.dim()).block(block),
            bottom,
        ),
    }
}

// ---------------------------------------------------------------- audit

fn draw_audit(frame: &mut Frame, app: &App, t: Theme, area: Rect) {
    let [summary, table, detail] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(1),
        Constraint::Length(2),
    ])
    .areas(area);
    let a = &app.audit;
    let mut spans = vec![Span::styled(" Audit log", t.bold())];
    match &a.load {
        Load::Ready(r) => spans.push(Span::raw(format!(
            ": {} recent records, {} shown",
            r.len(),
            a.visible.len()
        ))),
        Load::Failed(e) => spans.push(Span::styled(format!(": cannot load: {e}"), t.danger())),
        Load::Idle | Load::Loading => spans.push(Span::styled(": loading…", t.dim())),
    }
    let filter = if app.filtering || !a.filter.is_empty() {
        let caret = if app.filtering { "▏" } else { "" };
        Line::from(vec![
            Span::raw(" filter "),
            Span::styled(format!("/{}{caret}", a.filter), t.selected()),
        ])
    } else {
        Line::styled(
            " / filters by operator, action, target, outcome or detail",
            t.dim(),
        )
    };
    frame.render_widget(Paragraph::new(vec![Line::from(spans), filter]), summary);

    let records = a.records();
    let vp = usize::from(table.height.saturating_sub(1));
    let mut offset = a.offset;
    if a.selected < offset || a.selected >= offset + vp {
        offset = a.selected.saturating_sub(vp.saturating_sub(1));
    }
    let rows: Vec<Row> = a
        .visible
        .iter()
        .enumerate()
        .skip(offset)
        .take(vp)
        .map(|(pos, &i)| {
            let r = &records[i as usize];
            let mut style = match r.outcome {
                crate::model::AuditOutcome::Ok | crate::model::AuditOutcome::Started => {
                    Style::new()
                }
                crate::model::AuditOutcome::Conflict => t.warn(),
                crate::model::AuditOutcome::Failed => t.danger(),
            };
            if pos == a.selected {
                style = style.patch(t.selected());
            }
            Row::new(vec![
                Cell::from(crate::timefmt::format(r.at)),
                Cell::from(r.operator.clone()),
                Cell::from(r.action.clone()),
                Cell::from(r.target.clone()),
                Cell::from(r.outcome.as_str()),
                Cell::from(r.detail.clone()),
            ])
            .style(style)
        })
        .collect();
    frame.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(20),
                Constraint::Length(10),
                Constraint::Length(18),
                Constraint::Length(14),
                Constraint::Length(8),
                Constraint::Fill(1),
            ],
        )
        .header(
            Row::new(["AT", "OPERATOR", "ACTION", "TARGET", "OUTCOME", "DETAIL"])
                .style(t.bold().add_modifier(Modifier::UNDERLINED)),
        )
        .column_spacing(1),
        table,
    );
    let selected = a
        .visible
        .get(a.selected)
        .and_then(|&i| records.get(i as usize));
    if let Some(r) = selected {
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(format!(" {} {}: ", r.action, r.target), t.bold()),
                Span::raw(format!("{} (by {})", r.detail, r.operator)),
            ]))
            .wrap(Wrap { trim: false }),
            detail,
        );
    }
}

// ---------------------------------------------------------------- rotation

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

fn draw_rotation(frame: &mut Frame, app: &App, t: Theme, area: Rect) {
    let overview = match &app.rotation.load {
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
    let [top, bottom] = Layout::vertical([Constraint::Length(10), Constraint::Min(4)]).areas(area);
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
                let left = until - app.now;
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
                app.env.expiring_days
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

// ---------------------------------------------------------------- status + footer

fn draw_status(frame: &mut Frame, app: &App, t: Theme, area: Rect) {
    if let Some(first) = app.tasks.first() {
        let spin = SPINNER[(app.tick % SPINNER.len() as u64) as usize];
        let mut labels: Vec<String> = app.tasks.iter().map(|t| t.op.label()).collect();
        labels.dedup();
        let secs = app.tick.saturating_sub(first.started) / 10;
        let elapsed = if secs > 0 {
            format!(" {secs}s")
        } else {
            String::new()
        };
        let [left, right] =
            Layout::horizontal([Constraint::Fill(1), Constraint::Length(24)]).areas(area);
        // A ratio when the operation reports one (re-issues in a rotation), else activity.
        let width = usize::from(right.width.saturating_sub(12)).max(1);
        let bar: String = match app.tasks.iter().find_map(|t| t.progress) {
            Some((done, total)) if total > 0 => {
                let filled = (done * width / total).min(width);
                (0..width)
                    .map(|i| if i < filled { '━' } else { '─' })
                    .collect()
            }
            _ => {
                let pos = (app.tick as usize) % width;
                (0..width)
                    .map(|i| if i.abs_diff(pos) <= 1 { '━' } else { '─' })
                    .collect()
            }
        };
        let labels: Vec<String> = match app.tasks.iter().find_map(|t| t.progress) {
            Some((done, total)) => labels
                .into_iter()
                .map(|l| format!("{l} {done}/{total}"))
                .collect(),
            None => labels,
        };
        frame.render_widget(
            Paragraph::new(format!(" {spin} {}…{elapsed}", labels.join(", "))),
            left,
        );
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(bar, t.dim()),
                Span::styled(" c", t.key()),
                Span::raw(" cancels"),
            ])),
            right,
        );
        return;
    }
    if let Some(s) = &app.status {
        let style = match s.kind {
            StatusKind::Info => Style::new(),
            StatusKind::Warn => t.warn(),
            StatusKind::Error => t.danger().add_modifier(Modifier::BOLD),
        };
        frame.render_widget(Paragraph::new(format!(" {}", s.text)).style(style), area);
    }
}

fn draw_footer(frame: &mut Frame, app: &App, t: Theme, area: Rect) {
    use super::action::Action;
    let shown: Vec<&Binding> = bindings(app, false)
        .iter()
        .filter(|b| !(b.hint.is_empty() || app.read_only && b.mutating))
        .collect();
    // Help and quit always fit; the other hints fill the room left, in order.
    let pinned = |b: &Binding| matches!(b.action, Action::ToggleHelp | Action::Quit);
    let width = |b: &Binding| b.label.chars().count() + b.hint.chars().count() + 3;
    let mut room = usize::from(area.width)
        .saturating_sub(1)
        .saturating_sub(shown.iter().filter(|b| pinned(b)).map(|b| width(b)).sum());
    let mut spans = vec![Span::raw(" ")];
    let mut push = |b: &Binding| {
        spans.push(Span::styled(b.label, t.key()));
        spans.push(Span::raw(format!(" {}  ", b.hint)));
    };
    for b in shown.iter().filter(|b| !pinned(b)) {
        if width(b) > room {
            break;
        }
        room -= width(b);
        push(b);
    }
    for b in shown.iter().filter(|b| pinned(b)) {
        push(b);
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).style(t.dim()), area);
}

// ---------------------------------------------------------------- dialogs

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

fn field_line(
    t: Theme,
    name: &str,
    value: &str,
    focused: bool,
    note: Option<Span<'static>>,
) -> Line<'static> {
    let marker = if focused { "▶ " } else { "  " };
    let mut spans = vec![
        Span::styled(marker, t.key()),
        label(name),
        input(value, focused, t),
    ];
    if let Some(n) = note {
        spans.push(Span::raw("  "));
        spans.push(n);
    }
    Line::from(spans)
}

fn draw_issue(frame: &mut Frame, app: &App, t: Theme, f: &IssueForm) {
    let client_id = issue_client_id(app, f);
    let days: Option<u32> = f.days.trim().parse().ok();
    let mut lines: Vec<Line> = Vec::new();
    let title = match f.step {
        IssueStep::Edit => "Issue a certificate",
        IssueStep::Preview => "Issue a certificate — preview",
        IssueStep::Submitting => "Issue a certificate — issuing…",
    };
    match f.step {
        IssueStep::Edit => {
            let err = |field| issue_field_error(app, f, field);
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
                Span::styled(format!("  (template {})", app.env.cn_template), t.dim()),
            ]));
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
                        date(app.now + time::Duration::days(i64::from(d)))
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
            lines.push(kv("CN", f.cn.clone()));
            let issuer = app
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
                        date(app.now),
                        date(app.now + time::Duration::days(i64::from(d)))
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
            lines.push(kv("Environment", app.env.name.clone()));
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
    lines.push(hint_line(app, t));
    let area = dialog_area(frame, &lines, 78);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(dialog_block(title.into(), t)),
        area,
    );
}

fn draw_revoke(frame: &mut Frame, app: &App, t: Theme, r: &RevokeDialog) {
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
    lines.push(hint_line(app, t));
    let area = dialog_area(frame, &lines, 86);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(dialog_block(format!("Revoke {}", r.client_id), t).border_style(t.danger())),
        area,
    );
}

fn draw_reissue(frame: &mut Frame, app: &App, t: Theme, r: &ReissueDialog) {
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
    lines.push(hint_line(app, t));
    let area = dialog_area(frame, &lines, 86);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(dialog_block(format!("Re-issue {}", r.client_id), t)),
        area,
    );
}

fn draw_export(frame: &mut Frame, t: Theme, x: &ExportDialog) {
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

fn draw_confirm(frame: &mut Frame, app: &App, t: Theme, c: &Confirm) {
    let env = &app.env.name;
    let (title, body): (&str, Vec<String>) = match c {
        Confirm::Publish => {
            let change = match app.header.truststore_matches() {
                Some(m) => format!("{} CA cert(s) to add, {} to remove.", m.missing, m.extra),
                None if matches!(app.header.published, Load::Ready(None)) => {
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
                    "Create a root CA (RSA-4096, 10 years) and an intermediate (5 years) in '{env}'?"
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
                        app.env.expiring_days
                    ),
                    _ => "First phase: create the new CA in the vault (nothing is published yet)."
                        .into(),
                },
                "Each later phase runs when you press n and confirm.".into(),
            ],
        ),
        Confirm::RotationNext(kind) => {
            let next = app
                .rotation
                .load
                .ready()
                .and_then(|o| o.plan.as_ref().ok())
                .and_then(|p| p.steps.first())
                .map(|s| format!("{}: {}", s.phase.as_str(), s.detail))
                .unwrap_or_else(|| "the next phase".into());
            (
                "Run the next phase",
                vec![
                    format!(
                        "Run the next phase of the {} rotation in '{env}'?",
                        kind.as_str()
                    ),
                    next,
                ],
            )
        }
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
    lines.push(hint_line(app, t));
    let area = dialog_area(frame, &lines, 80);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(dialog_block(title.into(), t)),
        area,
    );
}

fn draw_env_picker(frame: &mut Frame, app: &App, t: Theme, p: &EnvPicker) {
    let mut lines: Vec<Line> = p
        .names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let current = if *name == app.env.name {
                "  (current)"
            } else {
                ""
            };
            let style = if k == p.selected {
                t.selected()
            } else {
                Style::new()
            };
            Line::styled(format!(" {name}{current} "), style)
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(hint_line(app, t));
    let area = dialog_area(frame, &lines, 50);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(dialog_block("Switch environment".into(), t)),
        area,
    );
}

fn draw_help(frame: &mut Frame, app: &App, t: Theme) {
    let context = match &app.dialog {
        Some(Dialog::Issue(_)) => "issue form",
        Some(Dialog::Revoke(_)) => "revoke",
        Some(Dialog::Reissue(_)) => "re-issue",
        Some(Dialog::Export(_)) => "export",
        Some(Dialog::Confirm(_)) => "confirmation",
        Some(Dialog::EnvPicker(_)) => "environments",
        None if app.filtering => "filter",
        None if app.onboarding() => "welcome",
        None => match app.view {
            View::Roster => "roster",
            View::Detail => "details",
            View::Truststore => "truststore",
            View::Audit => "audit log",
            View::Rotation => "rotation",
        },
    };
    let mut lines: Vec<Line> = bindings(app, true)
        .iter()
        .map(|b| {
            let mut spans = vec![
                Span::styled(format!(" {:<8}", b.label), t.key()),
                Span::raw(b.desc),
            ];
            if b.mutating && app.read_only {
                spans.push(Span::styled("  (disabled: read-only)", t.dim()));
            }
            Line::from(spans)
        })
        .collect();
    lines.push(Line::styled(" Ctrl-C  quit at once", t.dim()));
    let area = dialog_area(frame, &lines, 72);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(dialog_block(format!("Keys — {context} (Esc closes)"), t)),
        area,
    );
}

fn draw_error(frame: &mut Frame, t: Theme, e: &str) {
    let mut lines: Vec<Line> = e.lines().map(|l| Line::raw(l.to_string())).collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled("Esc/⏎ dismiss", t.dim()));
    let area = dialog_area(frame, &lines, 76);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(dialog_block("Error".into(), t).border_style(t.danger())),
        area,
    );
}
