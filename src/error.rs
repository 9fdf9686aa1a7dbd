//! Domain errors. Every message says what failed, on which resource, and what to do.

use crate::pki::PkiError;
use crate::store::{Contended, StoreError};

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
    /// Someone else holds or changed `resource` first.
    #[error("{message}")]
    Conflict {
        resource: Contended,
        message: String,
    },
    #[error("{0}")]
    Io(String),
}

impl Error {
    /// The process exit code a CLI run ends with for this error (see README, "Exit codes").
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Invalid(_) | Error::Pki(_) => 3,
            Error::NotFound(_) => 4,
            Error::Conflict { .. } => 5,
            Error::Store(StoreError::Conflict { .. }) => 5,
            Error::Store(StoreError::NotFound(_)) => 4,
            Error::Store(_) => 6,
            Error::Config(_) => 7,
            Error::Io(_) => 8,
        }
    }
}

impl Error {
    /// The class of error, as `--json` reports it (`error.kind`): one per exit code.
    pub fn kind(&self) -> &'static str {
        match self.exit_code() {
            3 => "invalid",
            4 => "not-found",
            5 => "conflict",
            6 => "backend",
            7 => "config",
            _ => "io",
        }
    }

    /// A conflict on `resource`.
    pub fn conflict(resource: Contended, message: impl Into<String>) -> Error {
        Error::Conflict {
            resource,
            message: message.into(),
        }
    }

    /// The resource of a conflict (from ops or from a store), None for every other error.
    pub fn contended(&self) -> Option<&Contended> {
        match self {
            Error::Conflict { resource, .. } => Some(resource),
            Error::Store(e) => e.contended(),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
