//! Pieces every screen draws with: the theme (with or without colours), dates, popups,
//! dialog frames, labelled fields and key/value lines.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders};
use time::OffsetDateTime;

/// Styles, with or without colours.
#[derive(Clone, Copy)]
pub struct Theme {
    colors: bool,
}

impl Theme {
    pub fn new(colors: bool) -> Theme {
        Theme { colors }
    }
    fn pick(self, color: Style, plain: Style) -> Style {
        if self.colors { color } else { plain }
    }
    /// Expired, within 7 days, failures.
    pub fn danger(self) -> Style {
        self.pick(
            Style::new().fg(Color::Red),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }
    /// Expiring within the environment's window, warnings.
    pub fn warn(self) -> Style {
        self.pick(
            Style::new().fg(Color::Yellow),
            Style::new().add_modifier(Modifier::ITALIC),
        )
    }
    pub fn ok(self) -> Style {
        self.pick(Style::new().fg(Color::Green), Style::new())
    }
    pub fn dim(self) -> Style {
        Style::new().add_modifier(Modifier::DIM)
    }
    pub fn bold(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }
    pub fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
    pub fn bar(self) -> Style {
        self.pick(
            Style::new().fg(Color::White).bg(Color::Blue),
            Style::new().add_modifier(Modifier::REVERSED),
        )
    }
    pub fn badge(self) -> Style {
        self.pick(
            Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
        )
    }
    pub fn key(self) -> Style {
        self.pick(
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }
    pub fn days(self, days: i64, warn_within: i64) -> Style {
        if days < 0 || days <= 7 {
            self.danger()
        } else if days <= warn_within {
            self.warn()
        } else {
            Style::new()
        }
    }
}

pub fn date(t: OffsetDateTime) -> String {
    let d = t.date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

pub fn short(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
        out.push('…');
        out
    } else {
        s.to_string()
    }
}

/// Rows `lines` take when wrapped into a bordered box `width` wide.
pub fn wrapped_rows(lines: &[Line], width: u16) -> u16 {
    let inner = usize::from(width.saturating_sub(2)).max(1);
    let rows: usize = lines.iter().map(|l| l.width().div_ceil(inner).max(1)).sum();
    u16::try_from(rows).unwrap_or(u16::MAX)
}

/// A bordered dialog of at most `w` columns, as tall as its wrapped lines, centred.
pub fn dialog_area(frame: &Frame, lines: &[Line], w: u16) -> Rect {
    let w = w.min(frame.area().width.saturating_sub(2));
    popup(frame.area(), w, wrapped_rows(lines, w).saturating_add(2))
}

/// A rectangle of at most `w` x `h` centred in `area`.
pub fn popup(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width.saturating_sub(2));
    let h = h.min(area.height.saturating_sub(2));
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

pub fn dialog_block(title: String, t: Theme) -> Block<'static> {
    Block::new()
        .borders(Borders::ALL)
        .title(Span::styled(format!(" {title} "), t.bold()))
}

pub fn label(text: &str) -> Span<'static> {
    Span::raw(format!("{text:<13}"))
}

pub fn input<'a>(value: &str, focused: bool, t: Theme) -> Span<'a> {
    if focused {
        Span::styled(format!("{value}▏"), t.selected())
    } else {
        Span::styled(
            value.to_string(),
            Style::new().add_modifier(Modifier::UNDERLINED),
        )
    }
}

/// The caption of a validity, `until 2030-01-01 (1826d)`, styled by urgency. Compact form:
/// the date, with the days only when within `warn_within`.
pub fn until(
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

pub fn kv(key: &str, value: impl Into<String>) -> Line<'static> {
    Line::from(vec![
        Span::raw(format!(" {key:<12}")),
        Span::raw(value.into()),
    ])
}

pub fn kv_styled(key: &str, value: impl Into<String>, style: Style) -> Line<'static> {
    Line::from(vec![
        Span::raw(format!(" {key:<12}")),
        Span::styled(value.into(), style),
    ])
}

/// `0A:1B:...` from a decimal serial, when the certificate itself is not at hand.
pub fn serial_hex(decimal: &str) -> Option<String> {
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

pub fn serial_short(serial: &str) -> String {
    short(serial, 11)
}

pub fn field_line(
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

/// The readable part of an AWS principal ARN: `ROLE/SESSION` of an assumed role, the name of
/// a user or role; anything else (a local user name) as it is.
pub fn principal_name(principal: &str) -> &str {
    let Some(resource) = principal
        .strip_prefix("arn:")
        .and_then(|rest| rest.splitn(5, ':').nth(4))
    else {
        return principal;
    };
    match resource.split_once('/') {
        Some(("assumed-role", rest)) => rest,
        Some(("user" | "role", rest)) => rest.rsplit('/').next().unwrap_or(rest),
        _ => resource,
    }
}
