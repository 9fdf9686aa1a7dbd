//! The interactive console (ratatui): state + update (pure), draw (reads state), event plumbing.
//!
//! Data flows one way: key -> [`keymap`] -> [`action::Action`] -> [`update::update`] (pure) ->
//! [`update::Effect`]s run by [`runtime`] as tokio tasks calling `crate::ops` -> result actions
//! -> `update` -> [`draw::draw`].

pub mod action;
pub mod draw;
pub mod keymap;
pub mod roster;
pub mod runtime;
pub mod state;
pub mod update;

pub use runtime::run;
