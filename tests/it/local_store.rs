//! local_store tests.
