//! Switching to another environment of the config file.

use ratatui::Frame;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph};

use crate::tui::action::{Action, Effect, Op};
use crate::tui::ctx::Ctx;
use crate::tui::input::moved;
use crate::tui::widgets::{Theme, dialog_area, dialog_block};

#[derive(Debug, Clone)]
pub struct EnvPicker {
    pub names: Vec<String>,
    pub selected: usize,
}

impl EnvPicker {
    /// Every environment of the config file, the current one selected.
    pub fn new(names: Vec<String>, current: &str) -> EnvPicker {
        let selected = names.iter().position(|n| n == current).unwrap_or(0);
        EnvPicker { names, selected }
    }
}

pub fn key(ctx: &mut Ctx, mut p: EnvPicker, action: Action) -> (Option<EnvPicker>, Vec<Effect>) {
    let len = p.names.len();
    match action {
        Action::Back => (None, vec![]),
        Action::Up | Action::Down | Action::Top | Action::Bottom => {
            p.selected = moved(p.selected, len, len, &action);
            (Some(p), vec![])
        }
        Action::Submit => match p.names.get(p.selected) {
            Some(name) if *name == ctx.env.name => (None, vec![]),
            Some(name) => {
                let name = name.clone();
                (None, ctx.start(Op::SwitchEnv(name)))
            }
            None => (None, vec![]),
        },
        _ => (Some(p), vec![]),
    }
}

pub fn draw(frame: &mut Frame, ctx: &Ctx, t: Theme, p: &EnvPicker, hints: Line<'static>) {
    let mut lines: Vec<Line> = p
        .names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let current = if *name == ctx.env.name {
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
    lines.push(hints);
    let area = dialog_area(frame, &lines, 50);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(dialog_block("Switch environment".into(), t)),
        area,
    );
}
