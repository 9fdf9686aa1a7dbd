//! The truststore view: the published bundle, how it differs from the one the CA implies,
//! and the version history to roll back to.

use std::collections::HashSet;

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};
use time::OffsetDateTime;

use crate::ops::BundleView;
use crate::store::TruststoreVersion;
use crate::tui::action::Action;
use crate::tui::ctx::{Ctx, Load};
use crate::tui::dialogs::confirm::Confirm;
use crate::tui::input::moved;
use crate::tui::widgets::{Theme, date, dialog_block};

#[derive(Debug, Clone, Default)]
pub struct TruststoreView {
    pub history: Load<Vec<TruststoreVersion>>,
    /// Selected history row.
    pub selected: usize,
}

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

impl TruststoreView {
    /// Movement, p (publish) and b (roll back to the selected version): the confirmation to
    /// open, if any.
    pub fn key(&mut self, ctx: &mut Ctx, action: Action) -> Option<Confirm> {
        let len = self.history.ready().map_or(0, Vec::len);
        match action {
            Action::Up
            | Action::Down
            | Action::Top
            | Action::Bottom
            | Action::PageUp
            | Action::PageDown => {
                self.selected = moved(self.selected, len, 5, &action);
                None
            }
            Action::Publish => {
                (!ctx.refuse_read_only("publishing the truststore")).then_some(Confirm::Publish)
            }
            Action::Rollback => {
                if ctx.refuse_read_only("rolling back the truststore") {
                    return None;
                }
                match self.history.ready().and_then(|h| h.get(self.selected)) {
                    Some(v) if v.is_latest => {
                        ctx.warn(
                            "the selected version is already current; select an older one (j/k)",
                        );
                        None
                    }
                    Some(v) => Some(Confirm::Rollback(v.version_id.clone())),
                    None => {
                        ctx.warn("no truststore version selected");
                        None
                    }
                }
            }
            _ => None,
        }
    }

    pub fn draw(&self, frame: &mut Frame, ctx: &Ctx, t: Theme, area: Rect) {
        let published = ctx.header.published.ready().and_then(Option::as_ref);
        let built = ctx.header.built.ready();
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
        match &ctx.header.published {
            Load::Ready(Some(b)) => frame.render_widget(
                Table::new(bundle_rows(t, b, ctx.now), widths)
                    .header(
                        Row::new(["SUBJECT", "KIND", "EXPIRES", "DAYS", "WARNINGS"])
                            .style(t.bold()),
                    )
                    .block(block),
                top,
            ),
            Load::Ready(None) => frame.render_widget(
                Paragraph::new(
                    " nothing published yet: press p to publish the bundle the CA implies",
                )
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
        match (&ctx.header.built, built) {
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
        let diff_title = match ctx.header.truststore_matches() {
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
        match &self.history {
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
                        if k == self.selected {
                            row.style(t.selected())
                        } else {
                            row
                        }
                    })
                    .collect();
                let vp = usize::from(bottom.height.saturating_sub(3));
                let skip = self.selected.saturating_sub(vp.saturating_sub(1));
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
}
