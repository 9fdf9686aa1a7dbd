//! Domain errors. Every message says what failed, on which resource, and what to do.

use crate::pki::PkiError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Io(String),
}

impl Error {
    /// The process exit code a CLI run ends with for this error (see README, "Exit codes").
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Invalid(_) | Error::Pki(_) => 3,
            Error::NotFound(_) => 4,
            Error::Conflict(_) => 5,
            Error::Store(StoreError::Conflict(_)) => 5,
            Error::Store(StoreError::NotFound(_)) => 4,
            Error::Store(_) => 6,
            Error::Config(_) => 7,
            Error::Io(_) => 8,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
