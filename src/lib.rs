//! mtls-console: the operator's console for the private PKI behind an AWS API Gateway
//! that enforces mutual TLS. See README.md and docs/ for the shape of the code.

pub mod cli;
pub mod config;
pub mod error;
pub mod model;
pub mod ops;
pub mod pki;
pub mod store;
pub mod timefmt;
pub mod tui;
