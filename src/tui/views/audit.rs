//! The audit view: recent audit records, filtered as typed.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};

use crate::model::AuditRecord;
use crate::tui::action::Action;
use crate::tui::ctx::{Ctx, Load};
use crate::tui::input::{moved, scrolled};
use crate::tui::widgets::Theme;

/// Rows of the audit view that are not audit rows: header (2), summary and filter (2), table
/// header (1), the selected record's detail (2), status line (1), footer (1).
pub const AUDIT_CHROME_ROWS: u16 = 9;

/// How many audit records the audit view loads.
pub const AUDIT_LIMIT: usize = 500;

#[derive(Debug, Clone, Default)]
pub struct AuditView {
    pub load: Load<Vec<AuditRecord>>,
    pub filter: String,
    /// Records matching the filter, indexes into the loaded records.
    pub visible: Vec<u32>,
    pub selected: usize,
    pub offset: usize,
}

impl AuditView {
    pub fn records(&self) -> &[AuditRecord] {
        self.load.ready().map(Vec::as_slice).unwrap_or(&[])
    }

    /// Audit rows that fit on the screen.
    pub fn viewport(ctx: &Ctx) -> usize {
        usize::from(ctx.height.saturating_sub(AUDIT_CHROME_ROWS)).max(1)
    }

    /// Freshly loaded records; the filter is applied again.
    pub fn set_records(&mut self, records: Vec<AuditRecord>) {
        self.load = Load::Ready(records);
        self.refilter();
    }

    pub fn key(&mut self, ctx: &mut Ctx, action: Action) {
        match action {
            Action::Up
            | Action::Down
            | Action::Top
            | Action::Bottom
            | Action::PageUp
            | Action::PageDown => {
                let len = self.visible.len();
                self.selected = moved(self.selected, len, AuditView::viewport(ctx), &action);
                self.clamp(ctx);
            }
            Action::StartFilter => ctx.filtering = true,
            _ => {}
        }
    }

    /// Typing into the filter.
    pub fn filter_key(&mut self, ctx: &mut Ctx, action: Action) {
        match action {
            Action::Input(c) => self.filter.push(c),
            Action::Backspace => {
                self.filter.pop();
            }
            Action::Back => {
                ctx.filtering = false;
                self.filter.clear();
            }
            Action::Submit => {
                ctx.filtering = false;
                return;
            }
            Action::Up | Action::Down | Action::PageUp | Action::PageDown => {
                return self.key(ctx, action);
            }
            _ => return,
        }
        self.refilter();
    }

    /// Esc outside the filter: clears a filter left in place; false when there was none.
    pub fn clear_filter(&mut self) -> bool {
        if self.filter.is_empty() {
            return false;
        }
        self.filter.clear();
        self.refilter();
        true
    }

    /// Keeps the selection inside the rows and on screen.
    pub fn clamp(&mut self, ctx: &Ctx) {
        let len = self.visible.len();
        self.selected = self.selected.min(len.saturating_sub(1));
        self.offset = scrolled(self.offset, self.selected, len, AuditView::viewport(ctx));
    }

    fn refilter(&mut self) {
        let needle = self.filter.to_lowercase();
        let visible: Vec<u32> = self
            .records()
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                needle.is_empty()
                    || [
                        r.operator.as_str(),
                        r.action.as_str(),
                        r.target.as_str(),
                        r.outcome.as_str(),
                        r.detail.as_str(),
                    ]
                    .iter()
                    .any(|f| f.to_lowercase().contains(&needle))
            })
            .map(|(i, _)| i as u32)
            .collect();
        self.visible = visible;
        self.selected = 0;
        self.offset = 0;
    }

    pub fn draw(&self, frame: &mut Frame, ctx: &Ctx, t: Theme, area: Rect) {
        let [summary, table, detail] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Min(1),
            Constraint::Length(2),
        ])
        .areas(area);
        let a = self;
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
        let filter = if ctx.filtering || !a.filter.is_empty() {
            let caret = if ctx.filtering { "▏" } else { "" };
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
}
