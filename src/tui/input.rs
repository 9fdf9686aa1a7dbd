//! Editing a text field and moving a cursor through a list: shared by every view and dialog.

use super::action::Action;

/// Applies typing to a text field.
pub fn edit(field: &mut String, action: &Action) -> bool {
    match action {
        Action::Input(c) => {
            field.push(*c);
            true
        }
        Action::Backspace => {
            field.pop();
            true
        }
        _ => false,
    }
}

/// A new cursor position after a movement key, within `len` rows.
pub fn moved(pos: usize, len: usize, page: usize, action: &Action) -> usize {
    if len == 0 {
        return 0;
    }
    let last = len - 1;
    match action {
        Action::Up => pos.saturating_sub(1),
        Action::Down => (pos + 1).min(last),
        Action::Top => 0,
        Action::Bottom => last,
        Action::PageUp => pos.saturating_sub(page),
        Action::PageDown => (pos + page).min(last),
        _ => pos,
    }
    .min(last)
}

pub fn scrolled(offset: usize, selected: usize, len: usize, viewport: usize) -> usize {
    let offset = if selected < offset {
        selected
    } else if selected >= offset + viewport {
        selected + 1 - viewport
    } else {
        offset
    };
    offset.min(len.saturating_sub(viewport))
}

/// What a key did to a filter being typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterEdit {
    /// The text changed: filter again.
    Changed,
    /// A movement key: the list moves while the filter stays open.
    Move,
    /// Nothing to redo (Enter closed the filter, or the key means nothing here).
    Unchanged,
}

/// A key while typing into a list's filter: characters edit it, Esc clears and closes it,
/// Enter closes it keeping the text.
pub fn filter_edit(filter: &mut String, filtering: &mut bool, action: &Action) -> FilterEdit {
    match action {
        Action::Input(c) => filter.push(*c),
        Action::Backspace => {
            filter.pop();
        }
        Action::Back => {
            *filtering = false;
            filter.clear();
        }
        Action::Submit => {
            *filtering = false;
            return FilterEdit::Unchanged;
        }
        Action::Up | Action::Down | Action::PageUp | Action::PageDown => return FilterEdit::Move,
        _ => return FilterEdit::Unchanged,
    }
    FilterEdit::Changed
}
