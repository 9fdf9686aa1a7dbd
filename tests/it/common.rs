//! common tests.
