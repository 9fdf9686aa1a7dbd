//! The interactive console (ratatui), by feature: each view (`views/`) and dialog
//! (`dialogs/`) holds its own state, key handling and drawing.
//!
//! Data flows one way: key -> [`keymap`] -> [`action::Action`] -> [`update::update`] (pure) ->
//! [`action::Effect`]s run by [`runtime`] as tokio tasks calling `crate::ops` -> result actions
//! -> `update` -> [`draw::draw`]. Modules depend downwards only: `action`, `widgets` and
//! `input` depend on no other console module; `ctx` on `action`; dialogs on those; views on
//! those and dialogs (to open one); `state` gathers views and dialogs; `update`, `keymap` and
//! `draw` read `state`; `runtime` runs it all.

pub mod action;
pub mod client_actions;
pub mod ctx;
pub mod dialogs;
pub mod draw;
pub mod input;
pub mod keymap;
pub mod operations;
pub mod roster_table;
pub mod runtime;
pub mod state;
pub mod update;
pub mod views;
pub mod widgets;

pub use runtime::run;
