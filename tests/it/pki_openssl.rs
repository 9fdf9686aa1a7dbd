//! pki_openssl tests.
