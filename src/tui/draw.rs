//! Drawing: reads the state, changes nothing. The frame (header, status line, footer, help
//! and error overlays) is drawn here; each view and dialog draws itself. Only the visible
//! window of the roster is turned into widgets. Without colours (NO_COLOR) every distinction
//! is made with modifiers.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::action::Action;
use super::ctx::{Load, StatusKind};
use super::keymap::{Binding, bindings};
use super::state::App;
use super::views::View;
use super::views::roster::draw_onboarding;
use super::widgets::{Theme, dialog_area, dialog_block, principal_name, short, until};

/// Below this size the screen only asks for a bigger terminal.
pub const MIN_WIDTH: u16 = 60;

pub const MIN_HEIGHT: u16 = 16;

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// Draws the whole screen from the state. `colors` false draws with modifiers only.
pub fn draw(frame: &mut Frame, app: &App, colors: bool) {
    let t = Theme::new(colors);
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
    let ctx = &app.ctx;
    if app.onboarding() {
        draw_onboarding(frame, ctx, t, body);
    } else {
        match app.view {
            View::Roster => app.roster.draw(frame, ctx, t, body),
            View::Detail => {
                if let Some(d) = &app.detail {
                    d.draw(frame, ctx, t, body, app.roster.record_of(&d.client_id));
                }
            }
            View::Truststore => app.truststore.draw(frame, ctx, t, body),
            View::Audit => app.audit.draw(frame, ctx, t, body),
            View::Rotation => app.rotation.draw(frame, ctx, t, body),
        }
    }
    draw_status(frame, app, t, status);
    draw_footer(frame, app, t, footer);
    if let Some(d) = &app.dialog {
        d.draw(frame, ctx, t, &app.roster.data, hint_line(app, t));
    }
    if app.help {
        draw_help(frame, app, t);
    }
    if let Some(e) = &app.ctx.error {
        draw_error(frame, t, e);
    }
}

/// The keys that work in the current context, as one line for the bottom of a dialog.
fn hint_line(app: &App, t: Theme) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    for b in bindings(app, true).iter().filter(|b| !b.hint.is_empty()) {
        spans.push(Span::styled(b.label.to_string(), t.key()));
        spans.push(Span::raw(format!(" {}  ", b.hint)));
    }
    Line::from(spans)
}

fn draw_header(frame: &mut Frame, app: &App, t: Theme, area: Rect) {
    let [line1, line2] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let mut left = vec![
        Span::styled(" mtls-console ", t.bold()),
        Span::raw("│ env "),
        Span::styled(app.ctx.env.name.clone(), t.bold()),
        Span::raw(format!(
            " │ {} │ operator {} ",
            app.ctx.backend,
            principal_name(&app.ctx.operator)
        )),
    ];
    let badge = if app.ctx.read_only { " READ-ONLY " } else { "" };
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
    if app.ctx.read_only {
        frame.render_widget(
            Paragraph::new(Span::styled(badge, t.badge())).alignment(Alignment::Right),
            line1,
        );
    }

    let compact = area.width < 110;
    let mut spans = vec![Span::raw(" CA ")];
    match &app.ctx.header.ca {
        Load::Idle | Load::Loading => spans.push(Span::styled("checking…", t.dim())),
        Load::Failed(e) => spans.push(Span::styled(format!("cannot read: {e}"), t.danger())),
        Load::Ready(None) => spans.push(Span::styled("none yet", t.warn())),
        Load::Ready(Some(ca)) => {
            spans.push(Span::raw("root "));
            spans.push(until(t, ca.root.not_after, app.ctx.now, 90, compact));
            match &ca.intermediate {
                Some(i) => {
                    spans.push(Span::raw(if compact {
                        " · int. "
                    } else {
                        " · intermediate "
                    }));
                    spans.push(until(t, i.not_after, app.ctx.now, 90, compact));
                }
                None => spans.push(Span::raw(" (root-only)")),
            }
        }
    }
    spans.push(Span::raw(" │ truststore "));
    match &app.ctx.header.published {
        Load::Idle | Load::Loading => spans.push(Span::styled("checking…", t.dim())),
        Load::Failed(e) => spans.push(Span::styled(format!("cannot read: {e}"), t.danger())),
        Load::Ready(None) => spans.push(Span::styled("not published", t.warn())),
        Load::Ready(Some(b)) => {
            if let Some(v) = &b.version {
                let n = if compact { 7 } else { 10 };
                spans.push(Span::raw(format!("{} ", short(&v.version_id, n))));
            }
            match app.ctx.header.truststore_matches() {
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

fn draw_status(frame: &mut Frame, app: &App, t: Theme, area: Rect) {
    if let Some(first) = app.ctx.tasks.first() {
        let spin = SPINNER[(app.ctx.tick % SPINNER.len() as u64) as usize];
        let mut labels: Vec<String> = app.ctx.tasks.iter().map(|t| t.op.label()).collect();
        labels.dedup();
        let secs = app.ctx.tick.saturating_sub(first.started) / 10;
        let elapsed = if secs > 0 {
            format!(" {secs}s")
        } else {
            String::new()
        };
        let [left, right] =
            Layout::horizontal([Constraint::Fill(1), Constraint::Length(24)]).areas(area);
        // A ratio when the operation reports one (re-issues in a rotation), else activity.
        let width = usize::from(right.width.saturating_sub(12)).max(1);
        let bar: String = match app.ctx.tasks.iter().find_map(|t| t.progress) {
            Some((done, total)) if total > 0 => {
                let filled = (done * width / total).min(width);
                (0..width)
                    .map(|i| if i < filled { '━' } else { '─' })
                    .collect()
            }
            _ => {
                let pos = (app.ctx.tick as usize) % width;
                (0..width)
                    .map(|i| if i.abs_diff(pos) <= 1 { '━' } else { '─' })
                    .collect()
            }
        };
        let labels: Vec<String> = match app.ctx.tasks.iter().find_map(|t| t.progress) {
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
    if let Some(s) = &app.ctx.status {
        let style = match s.kind {
            StatusKind::Info => Style::new(),
            StatusKind::Warn => t.warn(),
            StatusKind::Error => t.danger().add_modifier(Modifier::BOLD),
        };
        frame.render_widget(Paragraph::new(format!(" {}", s.text)).style(style), area);
    }
}

fn draw_footer(frame: &mut Frame, app: &App, t: Theme, area: Rect) {
    let shown: Vec<&Binding> = bindings(app, false)
        .iter()
        .filter(|b| !(b.hint.is_empty() || app.ctx.read_only && b.mutating))
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

fn draw_help(frame: &mut Frame, app: &App, t: Theme) {
    let context = match &app.dialog {
        Some(d) => d.name(),
        None if app.ctx.filtering => "filter",
        None if app.onboarding() => "welcome",
        None => app.view.name(),
    };
    let mut lines: Vec<Line> = bindings(app, true)
        .iter()
        .map(|b| {
            let mut spans = vec![
                Span::styled(format!(" {:<8}", b.label), t.key()),
                Span::raw(b.desc),
            ];
            if b.mutating && app.ctx.read_only {
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
