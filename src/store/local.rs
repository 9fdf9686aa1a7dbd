//! Embedded backend: one SQLite database per environment holding the roster, the vault,
//! the truststore versions and the audit log.
