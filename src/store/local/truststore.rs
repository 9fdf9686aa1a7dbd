//! The truststore object: every version kept, writes conditional like S3's
//! `If-Match` / `If-None-Match: *`.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::types::Type;
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{Db, random_hex, to_i64};
use crate::config::EnvConfig;
use crate::store::{Contended, StoreError, StoreResult, TruststoreStore, TruststoreVersion};
use crate::timefmt;

pub(super) struct LocalTruststore {
    db: Arc<Db>,
    location: String,
}

impl LocalTruststore {
    pub(super) fn new(db: Arc<Db>, env: &EnvConfig) -> Self {
        let location = format!("local:{}#{}", db.path.display(), env.truststore_key);
        LocalTruststore { db, location }
    }
}

/// S3-style ETag: the quoted hex digest of the content (SHA-256 here).
fn etag(content: &str) -> String {
    format!("\"{}\"", hex::encode(Sha256::digest(content.as_bytes())))
}

/// ETags compare without their quotes (clients pass them either way).
fn same_etag(a: &str, b: &str) -> bool {
    a.trim_matches('"') == b.trim_matches('"')
}

const COLUMNS: &str = "versionId, etag, lastModified, size";

/// A version from a row of `COLUMNS` (is_latest filled in by the caller).
fn version(row: &Row<'_>) -> rusqlite::Result<TruststoreVersion> {
    let last_modified: String = row.get(2)?;
    let last_modified = timefmt::parse(&last_modified).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            Type::Text,
            format!("lastModified '{last_modified}' is not an ISO-8601 time").into(),
        )
    })?;
    let size: i64 = row.get(3)?;
    Ok(TruststoreVersion {
        version_id: row.get(0)?,
        etag: row.get(1)?,
        last_modified,
        size: u64::try_from(size).unwrap_or(0),
        is_latest: false,
    })
}

#[async_trait]
impl TruststoreStore for LocalTruststore {
    async fn current(&self) -> StoreResult<Option<(String, TruststoreVersion)>> {
        self.db
            .run(|conn| {
                let latest = conn
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS}, content FROM truststore ORDER BY seq DESC LIMIT 1"
                    ))?
                    .query_row([], |r| {
                        let mut v = version(r)?;
                        v.is_latest = true;
                        Ok((r.get::<_, String>(4)?, v))
                    })
                    .optional()?;
                Ok(latest)
            })
            .await
    }

    async fn put(&self, pem: &str, if_match: Option<&str>) -> StoreResult<TruststoreVersion> {
        let pem = pem.to_string();
        let if_match = if_match.map(str::to_string);
        let location = self.location.clone();
        self.db
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let latest: Option<(String, String)> = tx
                    .prepare_cached(
                        "SELECT versionId, etag FROM truststore ORDER BY seq DESC LIMIT 1",
                    )?
                    .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                match (&if_match, &latest) {
                    (None, None) => {}
                    (Some(want), Some((_, have))) if same_etag(want, have) => {}
                    (None, Some((id, _))) => {
                        return Err(StoreError::conflict(
                            Contended::Truststore(location.clone()),
                            format!("{location} was published meanwhile (version {id}); reload and retry"),
                        )
                        .into());
                    }
                    (Some(want), None) => {
                        return Err(StoreError::conflict(
                            Contended::Truststore(location.clone()),
                            format!("{location} does not exist (expected ETag {want}); reload and retry"),
                        )
                        .into());
                    }
                    (Some(want), Some((id, have))) => {
                        return Err(StoreError::conflict(
                            Contended::Truststore(location.clone()),
                            format!("{location} was changed by someone else (expected ETag {want}, found \
                             {have} of version {id}); reload and retry"),
                        )
                        .into());
                    }
                }
                let new = TruststoreVersion {
                    version_id: random_hex(16),
                    etag: etag(&pem),
                    last_modified: OffsetDateTime::now_utc()
                        .replace_nanosecond(0)
                        .expect("0 is a valid nanosecond"),
                    size: pem.len() as u64,
                    is_latest: true,
                };
                tx.prepare_cached(
                    "INSERT INTO truststore (versionId, etag, lastModified, size, content)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    new.version_id,
                    new.etag,
                    timefmt::format(new.last_modified),
                    to_i64(new.size),
                    pem
                ])?;
                tx.commit()?;
                Ok(new)
            })
            .await
    }

    async fn history(&self) -> StoreResult<Vec<TruststoreVersion>> {
        self.db
            .run(|conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM truststore ORDER BY seq DESC"
                ))?;
                let mut versions = stmt
                    .query_map([], version)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                if let Some(first) = versions.first_mut() {
                    first.is_latest = true;
                }
                Ok(versions)
            })
            .await
    }

    async fn get_version(&self, version_id: &str) -> StoreResult<String> {
        let version_id = version_id.to_string();
        let location = self.location.clone();
        self.db
            .run(move |conn| {
                let content: Option<String> = conn
                    .prepare_cached("SELECT content FROM truststore WHERE versionId = ?1")?
                    .query_row([&version_id], |r| r.get(0))
                    .optional()?;
                content.ok_or_else(|| {
                    StoreError::NotFound(format!(
                        "version {version_id} of {location}; see the truststore history for the versions there are"
                    ))
                    .into()
                })
            })
            .await
    }

    fn location(&self) -> String {
        self.location.clone()
    }
}
