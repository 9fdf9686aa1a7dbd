//! The roster view: every client's latest cert, filtered, sorted and scrolled; and the
//! welcome screen of an empty environment.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};

use crate::model::{CertRecord, CertStatus, ClientState, RevocationReason};
use crate::ops::{CaInitOptions, StatusFilter};
use crate::tui::action::Action;
use crate::tui::ctx::{Ctx, Load};
use crate::tui::input::{FilterEdit, filter_edit, moved, scrolled};
use crate::tui::roster_table::{RosterTable, SortKey, next_status_filter, status_filter_label};
use crate::tui::widgets::{Theme, date, dialog_block, popup, short};

/// Rows of the screen that are not roster rows: header (2), summary (1), table header (1),
/// status line (1), footer (1).
pub const ROSTER_CHROME_ROWS: u16 = 6;

/// The roster as shown: the data plus selection, scroll and the filter being typed.
#[derive(Debug, Clone, Default)]
pub struct RosterView {
    pub load: Load<()>,
    pub data: RosterTable,
    pub filter: String,
    pub selected: usize,
    pub offset: usize,
}

impl RosterView {
    /// Roster rows that fit on the screen.
    pub fn viewport(ctx: &Ctx) -> usize {
        usize::from(ctx.height.saturating_sub(ROSTER_CHROME_ROWS)).max(1)
    }

    /// Freshly listed records (filter and sort kept); the selection stays on its client.
    pub fn set_records(&mut self, ctx: &Ctx, records: Vec<CertRecord>) {
        let keep = self.selected_record().map(|r| r.client_id.clone());
        self.data.reload(records, ctx.now, ctx.warn_within());
        self.load = Load::Ready(());
        self.selected = keep.and_then(|id| self.data.position_of(&id)).unwrap_or(0);
        self.clamp(ctx);
    }

    /// The record under the cursor.
    pub fn selected_record(&self) -> Option<&CertRecord> {
        self.data.row(self.selected).map(|(r, _)| r)
    }

    /// The roster's record of a client.
    pub fn record_of(&self, client_id: &str) -> Option<&CertRecord> {
        self.data
            .records()
            .iter()
            .find(|r| r.client_id == client_id)
    }

    /// Moves the cursor to a client, if shown.
    pub fn select(&mut self, ctx: &Ctx, client_id: &str) {
        if let Some(pos) = self.data.position_of(client_id) {
            self.selected = pos;
        }
        self.clamp(ctx);
    }

    /// Movement, sort and status filter.
    pub fn key(&mut self, ctx: &mut Ctx, action: Action) {
        match action {
            Action::Up
            | Action::Down
            | Action::Top
            | Action::Bottom
            | Action::PageUp
            | Action::PageDown => {
                let len = self.data.visible().len();
                self.selected = moved(self.selected, len, RosterView::viewport(ctx), &action);
                self.clamp(ctx);
            }
            Action::StartFilter => ctx.filtering = true,
            Action::CycleSort => {
                let keep = self.selected_record().map(|r| r.client_id.clone());
                let next = self.data.sort_key().next();
                self.data.set_sort(next);
                self.selected = keep.and_then(|id| self.data.position_of(&id)).unwrap_or(0);
                self.clamp(ctx);
                ctx.info(format!("sorted by {}", next.label()));
            }
            Action::ReverseSort => {
                let keep = self.selected_record().map(|r| r.client_id.clone());
                self.data.set_reversed(!self.data.reversed());
                self.selected = keep.and_then(|id| self.data.position_of(&id)).unwrap_or(0);
                self.clamp(ctx);
                ctx.info(format!(
                    "sorted by {}{}",
                    self.data.sort_key().label(),
                    if self.data.reversed() {
                        ", reversed"
                    } else {
                        ""
                    }
                ));
            }
            Action::CycleStatus => {
                let next = next_status_filter(self.data.status_filter());
                self.data.set_status_filter(next);
                self.selected = 0;
                self.offset = 0;
                ctx.info(format!("showing {}", status_filter_label(next)));
            }
            _ => {}
        }
    }

    /// Typing into the filter.
    pub fn filter_key(&mut self, ctx: &mut Ctx, action: Action) {
        match filter_edit(&mut self.filter, &mut ctx.filtering, &action) {
            FilterEdit::Changed => {
                self.data.set_filter(&self.filter);
                self.selected = 0;
                self.offset = 0;
            }
            FilterEdit::Move => self.key(ctx, action),
            FilterEdit::Unchanged => {}
        }
    }

    /// Esc outside the filter: clears a filter left in place.
    pub fn clear_filter(&mut self, ctx: &Ctx) {
        if !self.filter.is_empty() {
            self.filter.clear();
            self.data.set_filter("");
            self.clamp(ctx);
        }
    }

    /// Keeps the selection inside the rows and on screen.
    pub fn clamp(&mut self, ctx: &Ctx) {
        let len = self.data.visible().len();
        self.selected = self.selected.min(len.saturating_sub(1));
        self.offset = scrolled(self.offset, self.selected, len, RosterView::viewport(ctx));
    }

    pub fn draw(&self, frame: &mut Frame, ctx: &Ctx, t: Theme, area: Rect) {
        let [summary, table] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
        let data = &self.data;
        let c = data.counts();
        let mut spans = vec![
            Span::styled(
                format!(
                    " {} client{}",
                    c.total(),
                    if c.total() == 1 { "" } else { "s" }
                ),
                t.bold(),
            ),
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
        if ctx.filtering || !self.filter.is_empty() {
            spans.push(Span::raw(" │ "));
            let caret = if ctx.filtering { "▏" } else { "" };
            spans.push(Span::styled(
                format!("/{}{caret}", self.filter),
                t.selected(),
            ));
        }
        if data.visible().len() != c.total() {
            spans.push(Span::raw(format!(" │ {} shown", data.visible().len())));
        }
        if !data.visible().is_empty() {
            spans.push(Span::styled(
                format!(" │ {}/{}", self.selected + 1, data.visible().len()),
                t.dim(),
            ));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), summary);

        match &self.load {
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

        let cols = Columns::fit(table.width, data.widest_id(), data.widest_serial());
        let arrow = |k: SortKey, name: &str| {
            if data.sort_key() == k {
                // Issued sorts newest first; reversed turns every order around.
                let down = (k == SortKey::Issued) != data.reversed();
                format!("{name} {}", if down { "▼" } else { "▲" })
            } else {
                name.to_string()
            }
        };
        let mut head = vec![
            arrow(SortKey::ClientId, "CLIENT ID"),
            arrow(SortKey::Status, "STATUS"),
            "SERIAL".into(),
            arrow(SortKey::Issued, "ISSUED"),
            arrow(SortKey::Expiry, "EXPIRES"),
            "DAYS".into(),
        ];
        let mut widths: Vec<Constraint> = [cols.id, 10, cols.serial, 10, 10, 5]
            .into_iter()
            .map(Constraint::Length)
            .collect();
        if cols.extra {
            head.extend(["REASON".into(), "ISSUER".into()]);
            widths.extend([Constraint::Length(REASON_WIDTH), Constraint::Fill(1)]);
        }

        let vp = usize::from(table.height.saturating_sub(1));
        let len = data.visible().len();
        let sel = self.selected;
        // Normally `update` keeps the offset right; recompute if the frame disagrees.
        let mut offset = self.offset;
        if sel < offset || sel >= offset + vp {
            offset = sel.saturating_sub(vp.saturating_sub(1));
        }
        let warn_within = i64::from(ctx.env.expiring_days);
        let rows: Vec<Row> = (offset..len.min(offset + vp))
            .filter_map(|pos| data.row(pos).map(|(r, s)| (pos, r, s)))
            .map(|(pos, r, state)| {
                let days = r.days_left(ctx.now);
                let mut style = row_style(t, state, days, warn_within);
                if pos == sel {
                    style = style.patch(t.selected());
                }
                let mut cells = vec![
                    Cell::from(short(&r.client_id, usize::from(cols.id))),
                    Cell::from(state.as_str()),
                    Cell::from(short(&r.serial, usize::from(cols.serial))),
                    Cell::from(date(r.issued_at)),
                    Cell::from(date(r.expiry)),
                    Cell::from(Line::from(days.to_string()).alignment(Alignment::Right)),
                ];
                if cols.extra {
                    let reason = (r.status == CertStatus::Revoked).then(|| {
                        r.revocation_reason
                            .map_or("not recorded", RevocationReason::as_str)
                    });
                    cells.push(Cell::from(short(
                        reason.unwrap_or(""),
                        usize::from(REASON_WIDTH),
                    )));
                    cells.push(Cell::from(
                        r.issuer
                            .as_deref()
                            .map(issuer_cn)
                            .unwrap_or("-")
                            .to_string(),
                    ));
                }
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
}

fn row_style(t: Theme, state: ClientState, days: i64, warn_within: i64) -> Style {
    match state {
        ClientState::Revoked => t.dim(),
        ClientState::Expired => t.danger(),
        _ => t.days(days, warn_within),
    }
}

const REASON_WIDTH: u16 = 18;

/// Column widths of the roster for a table `width` wide: the client id as wide as the widest
/// one (up to 40), the serial as much of the rest as it needs, then reason and issuer.
struct Columns {
    id: u16,
    serial: u16,
    /// Room for the REASON and ISSUER columns.
    extra: bool,
}

impl Columns {
    /// Longest decimal serial shown in full (a 20-byte serial has up to 49 digits).
    const SERIAL_MAX: u16 = 49;
    /// STATUS, ISSUED, EXPIRES and DAYS, and the spaces between six columns.
    const FIXED: u16 = 10 + 10 + 10 + 5 + 5;

    fn fit(width: u16, widest_id: usize, widest_serial: usize) -> Columns {
        let id = u16::try_from(widest_id).unwrap_or(u16::MAX).clamp(9, 40);
        let serial_max = u16::try_from(widest_serial)
            .unwrap_or(u16::MAX)
            .clamp(12, Self::SERIAL_MAX);
        let room = width.saturating_sub(Self::FIXED);
        // The id gets what it needs while the serial keeps 12 columns.
        let id = id.min(room.saturating_sub(12)).max(9);
        let serial = room.saturating_sub(id).min(serial_max);
        let left = room.saturating_sub(id + serial);
        // Two more columns need their spaces and a few characters of issuer.
        let extra = left >= REASON_WIDTH + 2 + 8;
        Columns { id, serial, extra }
    }
}

/// The CN of an issuer DN (`CN=Example Intermediate CA,O=...`), or the whole DN.
fn issuer_cn(dn: &str) -> &str {
    dn.split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("CN="))
        .unwrap_or(dn)
}

/// An empty environment without a CA: what can be done first.
pub fn draw_onboarding(frame: &mut Frame, ctx: &Ctx, t: Theme, area: Rect) {
    let mut lines = vec![
        Line::raw(""),
        Line::styled(
            format!(
                "  Environment '{}' is empty: no CA and no clients.",
                ctx.env.name
            ),
            t.bold(),
        ),
        Line::raw(""),
    ];
    if ctx.read_only {
        lines.push(Line::styled(
            "  Read-only: nothing can be created here. E switches environment, q quits.",
            t.warn(),
        ));
    } else {
        lines.push(Line::from(vec![
            Span::styled("  b", t.key()),
            Span::raw(format!(
                "  bootstrap a CA: {}",
                CaInitOptions::defaults_described()
            )),
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
