//! Mapping of AWS SDK errors onto [`StoreError`]: every message names the refused IAM action
//! or the missing resource and says what the operator can do. Messages never carry values
//! that were sent (keys, certificates): only names, codes and AWS's own error text, scrubbed.

use std::fmt::Debug;

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::store::{Contended, StoreError};

/// The thing an AWS call was about, for messages and hints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// The roster table.
    Table(String),
    /// The audit table.
    AuditTable(String),
    /// The console's coordination table (client heads, leases, the rotation journal).
    CoordinationTable(String),
    Bucket(String),
    /// An S3 object (`s3://bucket/key`).
    Object {
        bucket: String,
        key: String,
    },
    Parameter(String),
    Secret(String),
    /// An API Gateway custom domain name.
    Domain(String),
    /// An API Gateway API (apigatewayv2), by id.
    Api(String),
    /// The caller's identity (STS).
    Identity,
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resource::Table(t) => write!(f, "DynamoDB table {t}"),
            Resource::AuditTable(t) => write!(f, "DynamoDB audit table {t}"),
            Resource::CoordinationTable(t) => write!(f, "DynamoDB coordination table {t}"),
            Resource::Bucket(b) => write!(f, "S3 bucket {b}"),
            Resource::Object { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            Resource::Parameter(p) => write!(f, "SSM parameter {p}"),
            Resource::Secret(s) => write!(f, "secret {s}"),
            Resource::Domain(d) => write!(f, "API Gateway domain {d}"),
            Resource::Api(id) => write!(f, "API Gateway API {id}"),
            Resource::Identity => write!(f, "the caller identity"),
        }
    }
}

/// One AWS call: the IAM action it needs, what it is about and where it goes.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// The IAM action, e.g. `ssm:PutParameter`.
    pub action: &'a str,
    pub resource: &'a Resource,
    /// The endpoint for network errors: the override URL, or `AWS {region}`.
    pub endpoint: &'a str,
}

const THROTTLING: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyUpdates",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
];

const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
];

const BAD_CREDENTIALS: &[&str] = &[
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
];

const NOT_FOUND: &[&str] = &[
    "ResourceNotFoundException",
    "NoSuchBucket",
    "NoSuchKey",
    "NoSuchVersion",
    "ParameterNotFound",
    "ParameterVersionNotFound",
    "NotFound",
    "NotFoundException",
];

const CONFLICT: &[&str] = &[
    "ConditionalCheckFailedException",
    "PreconditionFailed",
    "ConditionalRequestConflict",
    "ParameterAlreadyExists",
    "ResourceExistsException",
    "TransactionConflictException",
    "ConflictException",
];

/// The AWS error code of a service error, if any.
pub fn code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    match err {
        SdkError::ServiceError(e) => e.err().code(),
        _ => None,
    }
}

/// Is this a throttling error that is worth retrying after a pause?
pub fn is_throttling<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    code(err).is_some_and(|c| THROTTLING.contains(&c))
}

/// AWS error text cut before anything that looks like PEM material, shortened.
pub fn scrub(message: &str) -> String {
    let cut = message.find("-----BEGIN").unwrap_or(message.len());
    let mut s: String = message[..cut].chars().take(300).collect();
    if cut < message.len() {
        s.push_str("[redacted]");
    }
    s.trim().to_string()
}

/// The deepest error of `err`'s source chain in plain words (e.g. "Connection refused (os
/// error 111)"), without the SDK's debug dump around it.
fn innermost_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    let text = scrub(&cause.to_string());
    let text = text.trim_start_matches("io error: ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "the connection failed".into(),
    }
}

/// The SDK's error text without the debug dump it ends with (`... (DispatchFailure(...`):
/// what a person reads, e.g. which profile could not be loaded.
fn plain_detail(detail: &str) -> String {
    let end = detail
        .match_indices(" (")
        .find(|(i, _)| {
            detail[i + 2..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_uppercase())
        })
        .map_or(detail.len(), |(i, _)| i);
    scrub(&detail[..end])
}

/// What to do about a missing resource.
fn not_found_hint(resource: &Resource) -> String {
    match resource {
        Resource::Table(_)
        | Resource::AuditTable(_)
        | Resource::CoordinationTable(_)
        | Resource::Bucket(_) => format!(
            "{resource} does not exist: create it with `mtls-console init-infra` (sandbox or emulator) \
             or the deployment's IaC; `mtls-console doctor` checks the whole setup"
        ),
        Resource::Parameter(p) => format!("SSM parameter {p} does not exist"),
        Resource::Secret(s) => format!("secret {s} does not exist"),
        Resource::Domain(d) => format!(
            "API Gateway domain {d} does not exist in this account and region; check `gateway_domain` \
             in the environment's config"
        ),
        Resource::Api(id) => format!(
            "API Gateway API {id} (mapped to the domain) was not found as an HTTP or WebSocket \
             API: it is gone, or a REST API, which apigatewayv2 does not read"
        ),
        Resource::Object { .. } => format!("{resource} does not exist"),
        Resource::Identity => "the caller identity is unknown".into(),
    }
}

/// What a conflict on `resource` is about.
pub fn contended(resource: &Resource) -> Contended {
    match resource {
        Resource::Parameter(name) | Resource::Secret(name) => Contended::Vault(name.clone()),
        Resource::Object { .. } | Resource::Bucket(_) => {
            Contended::Truststore(resource.to_string())
        }
        other => Contended::Other(other.to_string()),
    }
}

/// Maps an SDK error to a [`StoreError`] for `call`. Throttling that reaches here has already
/// been retried, so it becomes [`StoreError::Throttled`].
pub fn map<E, R>(err: SdkError<E, R>, call: &Call<'_>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: Debug,
{
    let Call {
        action,
        resource,
        endpoint,
    } = call;
    match &err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("Unknown");
            let message = scrub(e.message().unwrap_or(""));
            if ACCESS_DENIED.contains(&code) {
                StoreError::AccessDenied(format!(
                    "{action} on {resource} was refused ({code}: {message}); the caller's IAM policy \
                     needs {action} (see assets/iam-policy-*.json)"
                ))
            } else if BAD_CREDENTIALS.contains(&code) {
                StoreError::AccessDenied(format!(
                    "AWS rejected the credentials for {action} on {resource} ({code}: {message}); \
                     refresh them (`aws sso login`, the profile, or AWS_* variables)"
                ))
            } else if NOT_FOUND.contains(&code) {
                StoreError::NotFound(not_found_hint(resource))
            } else if CONFLICT.contains(&code) {
                StoreError::conflict(
                    contended(resource),
                    format!(
                        "{resource} changed since it was read ({code}); nothing was written, re-read and retry"
                    ),
                )
            } else if THROTTLING.contains(&code) {
                StoreError::Throttled(format!(
                    "AWS kept throttling {action} on {resource} ({code}) after retries; wait a little and \
                     re-run (bulk operations skip what is already done)"
                ))
            } else {
                StoreError::Backend(format!("{action} on {resource} failed: {code}: {message}"))
            }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            let detail = DisplayErrorContext(&err).to_string();
            let (cause, hint) = if detail.contains("credential") {
                (
                    plain_detail(&detail),
                    "configure credentials (profile, `aws sso login`, AWS_* variables or an \
                     instance role)",
                )
            } else if matches!(err, SdkError::TimeoutError(_)) {
                (
                    "no answer in time".to_string(),
                    "check the network (VPN, proxy) and the endpoint; `mtls-console doctor` \
                     checks the setup",
                )
            } else {
                let cause = match &err {
                    SdkError::DispatchFailure(failure) => failure
                        .as_connector_error()
                        .map(|connector| innermost_cause(connector)),
                    _ => None,
                };
                (
                    cause.unwrap_or_else(|| "the connection failed".into()),
                    "check the endpoint (endpoint_url, region), the network (VPN, proxy) and \
                     that the service or emulator is up; `mtls-console doctor` checks the setup",
                )
            };
            StoreError::Backend(format!(
                "cannot reach {endpoint} for {action} on {resource}: {cause}; {hint}"
            ))
        }
        _ => StoreError::Backend(format!(
            "{action} on {resource} via {endpoint} failed: {}",
            scrub(&DisplayErrorContext(&err).to_string())
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_endpoint_is_said_in_plain_words() {
        #[derive(Debug)]
        struct Wrapper(std::io::Error);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "tcp connect error")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let refused = Wrapper(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(innermost_cause(&refused), "connection refused");
    }

    #[test]
    fn the_debug_dump_is_cut_from_sdk_text() {
        assert_eq!(
            plain_detail(
                "dispatch failure: other: profile `nosuch` was not defined (DispatchFailure(Other { x }))"
            ),
            "dispatch failure: other: profile `nosuch` was not defined"
        );
        assert_eq!(plain_detail("no dump (here)"), "no dump (here)");
    }

    #[test]
    fn scrub_drops_pem_material() {
        let s = scrub("Value -----BEGIN PRIVATE KEY-----\nMIIE...");
        assert_eq!(s, "Value [redacted]");
        assert!(!s.contains("MIIE"));
        assert_eq!(scrub("plain"), "plain");
    }
}
