//! Embedded backend: one SQLite database per environment holding the roster, the vault,
//! the truststore versions and the audit log.

pub fn open(_env: &crate::config::EnvConfig) -> crate::error::Result<super::Backend> {
    todo!()
}
