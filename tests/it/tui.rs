//! tui tests.
