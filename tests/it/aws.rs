//! aws tests.
