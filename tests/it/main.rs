//! Black-box tests in one binary (the AWS SDK is heavy to link): CLI, embedded backend,
//! AWS backend on moto, TUI, certificates checked with openssl and a real TLS handshake.

mod aws;
mod bundles;
mod cli;
mod cli_scripts;
mod common;
mod concurrency;
mod gateway;
mod local_store;
mod pki_openssl;
mod report;
mod rotation;
mod tmux;
mod tui;
mod tui_layout;
