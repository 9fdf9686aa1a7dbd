//! The truststore as a versioned S3 object. Publishing is conditional on the ETag the caller
//! diffed against (`If-Match`), or on there being no object yet (`If-None-Match: *`), so two
//! operators never overwrite each other's bundle silently.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use time::OffsetDateTime;

use super::errors::{self, Call, Resource};
use crate::store::{Contended, StoreError, StoreResult, TruststoreStore, TruststoreVersion};

/// The truststore object `s3://bucket/key`.
#[derive(Debug, Clone)]
pub struct S3Truststore {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    endpoint: String,
}

fn to_time(t: Option<&aws_smithy_types::DateTime>) -> OffsetDateTime {
    t.and_then(|t| OffsetDateTime::from_unix_timestamp_nanos(t.as_nanos()).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// S3 reports `null` as the version of objects written while versioning was off.
fn version_or_null(v: Option<String>) -> String {
    v.unwrap_or_else(|| "null".into())
}

impl S3Truststore {
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        key: impl Into<String>,
        endpoint: impl Into<String>,
    ) -> Self {
        S3Truststore {
            client,
            bucket: bucket.into(),
            key: key.into(),
            endpoint: endpoint.into(),
        }
    }

    fn resource(&self) -> Resource {
        Resource::Object {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
        }
    }

    fn map<E, R>(&self, e: aws_sdk_s3::error::SdkError<E, R>, action: &str) -> StoreError
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
        R: std::fmt::Debug,
    {
        let resource = match errors::code(&e) {
            Some("NoSuchBucket") => Resource::Bucket(self.bucket.clone()),
            _ => self.resource(),
        };
        errors::map(
            e,
            &Call {
                action,
                resource: &resource,
                endpoint: &self.endpoint,
            },
        )
    }

    /// Fetches one version (or the newest when `version_id` is None). None when absent.
    async fn fetch(
        &self,
        version_id: Option<&str>,
    ) -> StoreResult<Option<(String, TruststoreVersion)>> {
        let action = if version_id.is_some() {
            "s3:GetObjectVersion"
        } else {
            "s3:GetObject"
        };
        let res = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .set_version_id(version_id.map(str::to_string))
            .send()
            .await;
        let out = match res {
            Ok(out) => out,
            Err(e) if matches!(errors::code(&e), Some("NoSuchKey" | "NoSuchVersion")) => {
                return Ok(None);
            }
            Err(e) if version_id.is_some() && errors::code(&e) == Some("InvalidArgument") => {
                return Ok(None);
            }
            Err(e) => return Err(self.map(e, action)),
        };
        let meta = TruststoreVersion {
            version_id: version_or_null(out.version_id.clone()),
            etag: out.e_tag.clone().unwrap_or_default(),
            last_modified: to_time(out.last_modified.as_ref()),
            size: out
                .content_length
                .and_then(|l| u64::try_from(l).ok())
                .unwrap_or(0),
            is_latest: version_id.is_none(),
        };
        let bytes = out.body.collect().await.map_err(|e| {
            StoreError::Backend(format!(
                "reading {} from {} failed: {e}",
                self.location(),
                self.endpoint
            ))
        })?;
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
            StoreError::Backend(format!(
                "{} (version {}) is not UTF-8 text, so not a PEM truststore",
                self.location(),
                meta.version_id
            ))
        })?;
        Ok(Some((text, meta)))
    }
}

#[async_trait]
impl TruststoreStore for S3Truststore {
    async fn current(&self) -> StoreResult<Option<(String, TruststoreVersion)>> {
        self.fetch(None).await
    }

    async fn put(&self, pem: &str, if_match: Option<&str>) -> StoreResult<TruststoreVersion> {
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .content_type("application/x-pem-file")
            .body(ByteStream::from(pem.as_bytes().to_vec()));
        req = match if_match {
            Some(etag) => req.if_match(etag),
            None => req.if_none_match("*"),
        };
        let out = match req.send().await {
            Ok(out) => out,
            Err(e)
                if matches!(
                    errors::code(&e),
                    Some("PreconditionFailed" | "ConditionalRequestConflict")
                ) =>
            {
                let expected = match if_match {
                    Some(etag) => format!("expected the version with ETag {etag}"),
                    None => "expected no object yet, but one exists".into(),
                };
                return Err(StoreError::conflict(
                    Contended::Truststore(self.location()),
                    format!(
                        "the truststore changed since you looked: {} ({expected}); nothing was written, \
                     review the current bundle and publish again",
                        self.location()
                    ),
                ));
            }
            Err(e) => return Err(self.map(e, "s3:PutObject")),
        };
        let version_id = version_or_null(out.version_id.clone());
        let etag = out.e_tag.clone().unwrap_or_default();
        let last_modified = match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .version_id(&version_id)
            .send()
            .await
        {
            Ok(head) => to_time(head.last_modified.as_ref()),
            Err(e) => {
                tracing::warn!(
                    location = %self.location(),
                    error = %self.map(e, "s3:GetObjectVersion"),
                    "published, but cannot read the new version's metadata"
                );
                OffsetDateTime::now_utc()
            }
        };
        Ok(TruststoreVersion {
            version_id,
            etag,
            last_modified,
            size: pem.len() as u64,
            is_latest: true,
        })
    }

    async fn history(&self) -> StoreResult<Vec<TruststoreVersion>> {
        let mut versions = Vec::new();
        let mut key_marker: Option<String> = None;
        let mut version_marker: Option<String> = None;
        loop {
            let out = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(&self.key)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| self.map(e, "s3:ListBucketVersions"))?;
            versions.extend(
                out.versions()
                    .iter()
                    .filter(|v| v.key() == Some(self.key.as_str()))
                    .map(|v| TruststoreVersion {
                        version_id: version_or_null(v.version_id.clone()),
                        etag: v.e_tag.clone().unwrap_or_default(),
                        last_modified: to_time(v.last_modified.as_ref()),
                        size: v.size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                        is_latest: v.is_latest.unwrap_or(false),
                    }),
            );
            if out.is_truncated == Some(true) {
                key_marker = out.next_key_marker;
                version_marker = out.next_version_id_marker;
            } else {
                break;
            }
        }
        versions.sort_by(|a, b| {
            b.is_latest
                .cmp(&a.is_latest)
                .then(b.last_modified.cmp(&a.last_modified))
        });
        Ok(versions)
    }

    async fn get_version(&self, version_id: &str) -> StoreResult<String> {
        match self.fetch(Some(version_id)).await? {
            Some((text, _)) => Ok(text),
            None => Err(StoreError::NotFound(format!(
                "{} has no version {version_id}; `mtls-console truststore history` lists them",
                self.location()
            ))),
        }
    }

    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}
