//! The main area of the screen, one module per view: each holds the view's state, its key
//! handling and its drawing. A view sees the shared [`Ctx`](super::ctx::Ctx) and its own
//! state; moving between views is `update`'s business.

pub mod audit;
pub mod detail;
pub mod roster;
pub mod rotation;
pub mod truststore;

/// The main area of the screen (dialogs and overlays come on top).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    #[default]
    Roster,
    Detail,
    Truststore,
    Audit,
    Rotation,
}

impl View {
    /// What the help overlay calls it.
    pub fn name(self) -> &'static str {
        match self {
            View::Roster => "roster",
            View::Detail => "details",
            View::Truststore => "truststore",
            View::Audit => "audit log",
            View::Rotation => "rotation",
        }
    }
}
