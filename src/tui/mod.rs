//! The interactive console (ratatui): state + update (pure), draw (reads state), event plumbing.
