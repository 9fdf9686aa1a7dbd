//! The audit view: recent audit records, filtered as typed.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Clear, Paragraph, Row, Table, Wrap};

use crate::model::AuditRecord;
use crate::tui::action::Action;
use crate::tui::ctx::{Ctx, Load};
use crate::tui::input::{FilterEdit, filter_edit, moved, scrolled};
use crate::tui::widgets::{Theme, dialog_area, dialog_block, kv, principal_name};

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
    /// The selected record is shown in full (Enter; Esc closes it).
    pub open: bool,
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
            Action::OpenDetail => self.open = !self.open && self.selected_record().is_some(),
            _ => {}
        }
    }

    /// The record under the cursor.
    pub fn selected_record(&self) -> Option<&AuditRecord> {
        self.visible
            .get(self.selected)
            .and_then(|&i| self.records().get(i as usize))
    }

    /// Esc: closes the record shown in full; false when none was.
    pub fn close(&mut self) -> bool {
        std::mem::take(&mut self.open)
    }

    /// Typing into the filter.
    pub fn filter_key(&mut self, ctx: &mut Ctx, action: Action) {
        match filter_edit(&mut self.filter, &mut ctx.filtering, &action) {
            FilterEdit::Changed => self.refilter(),
            FilterEdit::Move => self.key(ctx, action),
            FilterEdit::Unchanged => {}
        }
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
        let terms = Term::parse(&self.filter);
        let visible: Vec<u32> = self
            .records()
            .iter()
            .enumerate()
            .filter(|(_, r)| terms.iter().all(|t| t.matches(r)))
            .map(|(i, _)| i as u32)
            .collect();
        self.visible = visible;
        self.selected = 0;
        self.offset = 0;
        self.open = false;
    }

    /// Every field of the selected record, over the view.
    fn draw_open(&self, frame: &mut Frame, t: Theme) {
        let Some(r) = self.selected_record() else {
            return;
        };
        let lines = vec![
            kv("At", crate::timefmt::format(r.at)),
            kv("Operator", r.operator.clone()),
            kv("Action", r.action.clone()),
            kv("Target", r.target.clone()),
            kv("Outcome", r.outcome.as_str()),
            kv("Detail", r.detail.clone()),
            kv("Record id", r.id.clone()),
            Line::raw(""),
            Line::styled(" Esc/⏎ close", t.dim()),
        ];
        let area = dialog_area(frame, &lines, 100);
        frame.render_widget(Clear, area);
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(dialog_block("Audit record".into(), t)),
            area,
        );
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
                " / filters: words match any field; client:ID action:NAME operator:NAME date:YYYY-MM-DD one each; ⏎ opens a record",
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
                    Cell::from(principal_name(&r.operator).to_string()),
                    Cell::from(r.action.clone()),
                    Cell::from(r.target.clone()),
                    Cell::from(r.outcome.as_str()),
                    Cell::from(r.detail.clone()),
                ])
                .style(style)
            })
            .collect();
        // Columns as wide as their widest value on screen (capped), the detail takes the rest.
        let shown = || {
            a.visible
                .iter()
                .skip(offset)
                .take(vp)
                .map(|&i| &records[i as usize])
        };
        let widest = |f: fn(&AuditRecord) -> usize, head: usize, cap: usize| {
            let w = shown().map(f).max().unwrap_or(0).max(head).min(cap);
            Constraint::Length(u16::try_from(w).unwrap_or(u16::MAX))
        };
        let widths = [
            Constraint::Length(20),
            widest(|r| principal_name(&r.operator).chars().count(), 8, 40),
            widest(|r| r.action.chars().count(), 6, 24),
            widest(|r| r.target.chars().count(), 6, 36),
            Constraint::Length(8),
            Constraint::Fill(1),
        ];
        frame.render_widget(
            Table::new(rows, widths)
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
        if self.open {
            self.draw_open(frame, t);
        }
    }
}

/// One term of the audit filter: a word matched against every field, or `field:value`
/// against one (client: and target: the target, action:, operator:, outcome:, date: the
/// time as written, e.g. `date:2026-11` for a month). Case does not matter.
enum Term {
    Any(String),
    Target(String),
    Action(String),
    Operator(String),
    Outcome(String),
    Date(String),
}

impl Term {
    fn parse(filter: &str) -> Vec<Term> {
        filter
            .split_whitespace()
            .map(|word| {
                let lower = word.to_lowercase();
                match lower.split_once(':') {
                    Some(("client" | "target", v)) => Term::Target(v.into()),
                    Some(("action", v)) => Term::Action(v.into()),
                    Some(("operator" | "by", v)) => Term::Operator(v.into()),
                    Some(("outcome", v)) => Term::Outcome(v.into()),
                    Some(("date" | "at", v)) => Term::Date(v.into()),
                    _ => Term::Any(lower),
                }
            })
            .collect()
    }

    fn matches(&self, r: &AuditRecord) -> bool {
        let has = |field: &str, v: &str| field.to_lowercase().contains(v);
        match self {
            Term::Target(v) => has(&r.target, v),
            Term::Action(v) => has(&r.action, v),
            Term::Operator(v) => has(&r.operator, v),
            Term::Outcome(v) => has(r.outcome.as_str(), v),
            Term::Date(v) => crate::timefmt::format(r.at)
                .to_lowercase()
                .starts_with(v.as_str()),
            Term::Any(v) => [
                r.operator.as_str(),
                r.action.as_str(),
                r.target.as_str(),
                r.outcome.as_str(),
                r.detail.as_str(),
            ]
            .iter()
            .any(|f| has(f, v)),
        }
    }
}
