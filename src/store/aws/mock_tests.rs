//! Error mapping and retries against mocked SDK clients (aws-smithy-mocks): throttling
//! retried then success, AccessDenied naming the refused action, ConditionalCheckFailed as a
//! conflict naming the serial, ParameterNotFound naming the parameter.
//!
//! Modeled errors carry their AWS code in their metadata, as the SDK's deserializers set it.

use std::time::Duration;

use aws_sdk_dynamodb::operation::get_item::GetItemError;
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::CancellationReason;
use aws_sdk_dynamodb::types::error::{
    ConditionalCheckFailedException, TransactionCanceledException,
};
use aws_sdk_s3::operation::put_object::PutObjectError;
use aws_sdk_ssm::operation::get_parameter::{GetParameterError, GetParameterOutput};
use aws_sdk_ssm::operation::put_parameter::{PutParameterError, PutParameterOutput};
use aws_sdk_ssm::types::error::{ParameterNotFound, TooManyUpdates};
use aws_sdk_ssm::types::{Parameter, ParameterType};
use aws_smithy_mocks::{MockResponseInterceptor, RuleMode, create_mock_http_client, mock};
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use time::macros::datetime;

use super::errors::{self, Call, Resource};
use super::{DynamoRoster, Pacer, RetryPolicy, S3Truststore, SsmVault};
use crate::model::{CertRecord, CertStatus, VaultItem};
use crate::store::{Expect, Roster, RosterWrite, StoreError, TruststoreStore, Vault};

/// A client of `$sdk` whose responses come from the rules, with the SDK's own retries off
/// so the adapters' retry loop is what is tested.
macro_rules! mocked {
    ($sdk:ident, [$($rule:expr),* $(,)?]) => {{
        let interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::Sequential);
        $(let interceptor = interceptor.with_rule($rule);)*
        $sdk::Client::from_conf(
            $sdk::Config::builder()
                .behavior_version($sdk::config::BehaviorVersion::latest())
                .region($sdk::config::Region::new("us-east-1"))
                .credentials_provider($sdk::config::Credentials::new(
                    "AKIDTEST", "not-a-secret", None, None, "mock",
                ))
                .http_client(create_mock_http_client())
                .interceptor(interceptor)
                .retry_config(RetryConfig::disabled())
                .build(),
        )
    }};
}

fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

const ENDPOINT: &str = "AWS us-east-1";
const KEY_PEM: &str =
    "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGSECRETSECRET\n-----END PRIVATE KEY-----\n";

fn fast_retries(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts: attempts,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(4),
    }
}

fn vault(client: aws_sdk_ssm::Client, attempts: u32) -> SsmVault {
    SsmVault::new(client, "apigw-mtls", "sandbox", ENDPOINT)
        .with_pacing(Pacer::new(1000.0, 10), fast_retries(attempts))
}

fn record(serial: &str) -> CertRecord {
    let t = datetime!(2025-01-01 00:00:00 UTC);
    CertRecord {
        serial: serial.into(),
        client_id: "acme".into(),
        client_name: "acme".into(),
        status: CertStatus::Active,
        issued_at: t,
        not_before: Some(t),
        expiry: t + time::Duration::days(395),
        ttl: (t + time::Duration::days(485)).unix_timestamp(),
        not_after: Some(t + time::Duration::days(395)),
        cert_pem: None,
        fingerprint: None,
        issuer: None,
        issuer_fingerprint: None,
        key_algorithm: None,
        key_held: false,
        revoked_at: None,
        revocation_reason: None,
        revoked_by: None,
        revocation_note: None,
        replaces: None,
        replaced_by: None,
        version: 1,
    }
}

#[tokio::test]
async fn throttled_puts_are_retried_until_they_succeed() {
    let rule = mock!(aws_sdk_ssm::Client::put_parameter)
        .sequence()
        .error(|| {
            PutParameterError::TooManyUpdates(
                TooManyUpdates::builder()
                    .meta(meta("TooManyUpdates", "too many updates"))
                    .build(),
            )
        })
        .error(|| PutParameterError::generic(meta("ThrottlingException", "Rate exceeded")))
        .output(|| PutParameterOutput::builder().version(1).build())
        .build();
    let v = vault(mocked!(aws_sdk_ssm, [&rule]), 5);
    v.put(&VaultItem::ClientCert("acme".into()), "CERT", true)
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test]
async fn throttling_gives_up_after_the_bounded_attempts() {
    let rule = mock!(aws_sdk_ssm::Client::put_parameter)
        .sequence()
        .error(|| PutParameterError::generic(meta("ThrottlingException", "Rate exceeded")))
        .repeatedly()
        .build();
    let v = vault(mocked!(aws_sdk_ssm, [&rule]), 3);
    let err = v
        .put(&VaultItem::ClientKey("acme".into()), KEY_PEM, true)
        .await
        .unwrap_err();
    assert_eq!(rule.num_calls(), 3);
    match err {
        StoreError::Throttled(m) => {
            assert!(
                m.contains("ssm:PutParameter")
                    && m.contains("/apigw-mtls/sandbox/clients/acme/private-key"),
                "{m}"
            );
        }
        other => panic!("expected Throttled, got {other}"),
    }
}

#[tokio::test]
async fn keys_go_in_as_securestring_with_the_configured_kms_key() {
    let rule = mock!(aws_sdk_ssm::Client::put_parameter)
        .match_requests(|r| {
            r.r#type() == Some(&ParameterType::SecureString)
                && r.key_id() == Some("alias/mtls-ca")
                && r.overwrite() == Some(false)
        })
        .then_output(|| PutParameterOutput::builder().version(1).build());
    let v = vault(mocked!(aws_sdk_ssm, [&rule]), 1).with_kms_key(Some("alias/mtls-ca".into()));
    v.put(&VaultItem::RootKey, KEY_PEM, false).await.unwrap();
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn access_denied_names_the_refused_action_and_never_the_value() {
    let rule = mock!(aws_sdk_ssm::Client::put_parameter).then_error(|| {
        PutParameterError::generic(meta(
            "AccessDeniedException",
            "User: arn:aws:sts::123456789012:assumed-role/officer/alice is not authorized to perform: ssm:PutParameter",
        ))
    });
    let v = vault(mocked!(aws_sdk_ssm, [&rule]), 3);
    let err = v
        .put(&VaultItem::IntermediateKey, KEY_PEM, false)
        .await
        .unwrap_err();
    assert_eq!(rule.num_calls(), 1, "access denied is not retried");
    let text = err.to_string();
    assert!(matches!(err, StoreError::AccessDenied(_)), "{text}");
    assert!(
        text.contains(
            "ssm:PutParameter on SSM parameter /apigw-mtls/sandbox/ca/intermediate/private-key"
        ),
        "{text}"
    );
    assert!(!text.contains("SECRET"), "{text}");
}

#[tokio::test]
async fn parameter_not_found_names_the_parameter() {
    let rule = mock!(aws_sdk_ssm::Client::get_parameter).then_error(|| {
        GetParameterError::ParameterNotFound(
            ParameterNotFound::builder()
                .meta(meta("ParameterNotFound", ""))
                .build(),
        )
    });
    let client = mocked!(aws_sdk_ssm, [&rule]);
    let name = "/apigw-mtls/sandbox/ca/root/certificate";
    let err = client.get_parameter().name(name).send().await.unwrap_err();
    let resource = Resource::Parameter(name.into());
    let mapped = errors::map(
        err,
        &Call {
            action: "ssm:GetParameter",
            resource: &resource,
            endpoint: ENDPOINT,
        },
    );
    assert!(
        matches!(&mapped, StoreError::NotFound(m) if m.contains(name)),
        "{mapped}"
    );

    // Through the vault, an absent item is simply None.
    let rule = mock!(aws_sdk_ssm::Client::get_parameter).then_error(|| {
        GetParameterError::ParameterNotFound(
            ParameterNotFound::builder()
                .meta(meta("ParameterNotFound", ""))
                .build(),
        )
    });
    let v = vault(mocked!(aws_sdk_ssm, [&rule]), 1);
    assert_eq!(v.get(&VaultItem::RootCert).await.unwrap(), None);
}

#[tokio::test]
async fn reads_ask_for_decryption() {
    let rule = mock!(aws_sdk_ssm::Client::get_parameter)
        .match_requests(|r| r.with_decryption() == Some(true))
        .then_output(|| {
            GetParameterOutput::builder()
                .parameter(Parameter::builder().value("PEM").build())
                .build()
        });
    let v = vault(mocked!(aws_sdk_ssm, [&rule]), 1);
    assert_eq!(
        v.get(&VaultItem::RootKey).await.unwrap().unwrap().as_str(),
        "PEM"
    );
}

#[tokio::test]
async fn a_failed_condition_is_a_conflict_naming_the_serial() {
    let rule = mock!(aws_sdk_dynamodb::Client::put_item)
        .match_requests(|r| r.condition_expression() == Some("attribute_not_exists(serialNumber)"))
        .then_error(|| {
            PutItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder()
                    .meta(meta(
                        "ConditionalCheckFailedException",
                        "The conditional request failed",
                    ))
                    .build(),
            )
        });
    let roster = DynamoRoster::new(
        mocked!(aws_sdk_dynamodb, [&rule]),
        "mtls-clients-metadata",
        ENDPOINT,
    );
    let err = roster
        .transact(vec![RosterWrite::Put(record("4242"))])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict { message: m, .. } if m.contains("4242") && m.contains("already exists")),
        "{err}"
    );
}

#[tokio::test]
async fn a_cancelled_transaction_names_the_serial_whose_condition_failed() {
    let rule = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .match_requests(|r| r.transact_items().len() == 2)
        .then_error(|| {
            TransactWriteItemsError::TransactionCanceledException(
                TransactionCanceledException::builder()
                    .meta(meta(
                        "TransactionCanceledException",
                        "Transaction cancelled",
                    ))
                    .cancellation_reasons(CancellationReason::builder().code("None").build())
                    .cancellation_reasons(
                        CancellationReason::builder()
                            .code("ConditionalCheckFailed")
                            .build(),
                    )
                    .build(),
            )
        });
    let roster = DynamoRoster::new(
        mocked!(aws_sdk_dynamodb, [&rule]),
        "mtls-clients-metadata",
        ENDPOINT,
    );
    let mut old = record("1000");
    old.status = CertStatus::Revoked;
    let err = roster
        .transact(vec![
            RosterWrite::Put(record("1001")),
            RosterWrite::Update(
                old,
                Expect {
                    version: 1,
                    active: true,
                },
            ),
        ])
        .await
        .unwrap_err();
    match err {
        StoreError::Conflict { message: m, .. } => {
            assert!(
                m.contains("1000") && m.contains("status active") && !m.contains("1001"),
                "{m}"
            )
        }
        other => panic!("expected Conflict, got {other}"),
    }
}

#[tokio::test]
async fn updates_carry_the_version_and_status_conditions() {
    let rule = mock!(aws_sdk_dynamodb::Client::put_item)
        .match_requests(|r| {
            let v = r.expression_attribute_values().and_then(|v| v.get(":v"));
            let stored = r.item().and_then(|i| i.get("version"));
            r.condition_expression()
                == Some("attribute_exists(serialNumber) AND #v = :v AND #s = :active")
                && v == Some(&aws_sdk_dynamodb::types::AttributeValue::N("3".into()))
                && stored == Some(&aws_sdk_dynamodb::types::AttributeValue::N("4".into()))
        })
        .then_output(|| PutItemOutput::builder().build());
    let roster = DynamoRoster::new(mocked!(aws_sdk_dynamodb, [&rule]), "t", ENDPOINT);
    roster
        .transact(vec![RosterWrite::Update(
            record("7"),
            Expect {
                version: 3,
                active: true,
            },
        )])
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn a_missing_table_says_how_to_create_it() {
    let rule = mock!(aws_sdk_dynamodb::Client::get_item).then_error(|| {
        GetItemError::generic(meta(
            "ResourceNotFoundException",
            "Requested resource not found",
        ))
    });
    let roster = DynamoRoster::new(
        mocked!(aws_sdk_dynamodb, [&rule]),
        "mtls-clients-metadata",
        ENDPOINT,
    );
    let err = roster.get("1").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound(m) if m.contains("mtls-clients-metadata") && m.contains("mtls-console init-infra")),
        "{err}"
    );
}

#[tokio::test]
async fn dynamodb_access_denied_names_the_action_and_table() {
    let rule = mock!(aws_sdk_dynamodb::Client::get_item)
        .then_error(|| GetItemError::generic(meta("AccessDeniedException", "not authorized")));
    let roster = DynamoRoster::new(
        mocked!(aws_sdk_dynamodb, [&rule]),
        "mtls-clients-metadata",
        ENDPOINT,
    );
    let err = roster.get("1").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::AccessDenied(m) if m.contains("dynamodb:GetItem on DynamoDB table mtls-clients-metadata")),
        "{err}"
    );
}

#[tokio::test]
async fn a_moved_truststore_is_a_conflict() {
    let rule = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| r.if_match() == Some("\"abc\""))
        .then_error(|| {
            PutObjectError::generic(meta(
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
            ))
        });
    let ts = S3Truststore::new(
        mocked!(aws_sdk_s3, [&rule]),
        "b",
        "truststore.pem",
        ENDPOINT,
    );
    let err = ts.put("PEM", Some("\"abc\"")).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict { message: m, .. } if m.contains("the truststore changed since you looked: s3://b/truststore.pem")),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_is_named() {
    let conf = aws_sdk_ssm::Config::builder()
        .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
        .region(aws_sdk_ssm::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ssm::config::Credentials::new(
            "AKIDTEST", "x", None, None, "t",
        ))
        .endpoint_url("http://127.0.0.1:9")
        .retry_config(RetryConfig::disabled())
        .build();
    let v = SsmVault::new(
        aws_sdk_ssm::Client::from_conf(conf),
        "p",
        "e",
        "http://127.0.0.1:9",
    )
    .with_pacing(Pacer::default(), fast_retries(1));
    let err = v.get(&VaultItem::RootCert).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend(m) if m.contains("cannot reach http://127.0.0.1:9") && m.contains("ssm:GetParameter")),
        "{err}"
    );
}

mod domains {
    use std::time::Instant;

    use aws_sdk_apigatewayv2::operation::update_domain_name::{
        UpdateDomainNameError, UpdateDomainNameOutput,
    };
    use aws_sdk_apigatewayv2::types::error::TooManyRequestsException;
    use aws_sdk_apigatewayv2::types::{
        DomainNameConfiguration, DomainNameStatus, MutualTlsAuthentication,
    };

    use super::*;
    use crate::store::Gateway;
    use crate::store::aws::ApiGatewayDomains;

    const URI: &str = "s3://sandbox-mtls-truststore-123456789012/truststore.pem";

    fn updated(version: &str, warnings: &[&str]) -> UpdateDomainNameOutput {
        let mut mtls = MutualTlsAuthentication::builder()
            .truststore_uri(URI)
            .truststore_version(version);
        for w in warnings {
            mtls = mtls.truststore_warnings(*w);
        }
        UpdateDomainNameOutput::builder()
            .domain_name("api.example.com")
            .mutual_tls_authentication(mtls.build())
            .domain_name_configurations(
                DomainNameConfiguration::builder()
                    .domain_name_status(DomainNameStatus::Updating)
                    .build(),
            )
            .build()
    }

    fn domains(client: aws_sdk_apigatewayv2::Client, pacer: Pacer) -> ApiGatewayDomains {
        ApiGatewayDomains::new(client, ENDPOINT).with_pacing(pacer, fast_retries(4))
    }

    #[tokio::test]
    async fn the_domain_is_pointed_at_the_version_and_its_warnings_come_back() {
        let rule = mock!(aws_sdk_apigatewayv2::Client::update_domain_name)
            .match_requests(|req| {
                req.domain_name() == Some("api.example.com")
                    && req.mutual_tls_authentication().is_some_and(|m| {
                        m.truststore_uri() == Some(URI) && m.truststore_version() == Some("v2")
                    })
            })
            .then_output(|| updated("v2", &["Certificate CN=old expires in 20 days"]));
        let client = mocked!(aws_sdk_apigatewayv2, [&rule]);
        let d = domains(client, Pacer::new(1000.0, 1))
            .point_truststore("api.example.com", URI, "v2")
            .await
            .unwrap();
        assert_eq!(d.truststore_version.as_deref(), Some("v2"));
        assert_eq!(d.truststore_uri.as_deref(), Some(URI));
        assert_eq!(d.warnings, vec!["Certificate CN=old expires in 20 days"]);
        assert_eq!(d.status.as_deref(), Some("UPDATING"));
        assert_eq!(rule.num_calls(), 1);
    }

    /// "Disable mutual TLS" in API Gateway's developer guide: UpdateDomainName with
    /// `--mutual-tls-authentication truststoreUri=''`, nothing else.
    #[tokio::test]
    async fn mtls_off_removes_the_truststore_exactly_as_the_developer_guide_says() {
        let rule = mock!(aws_sdk_apigatewayv2::Client::update_domain_name)
            .match_requests(|req| {
                req.domain_name() == Some("api.example.com")
                    && req.domain_name_configurations().is_empty()
                    && req.mutual_tls_authentication().is_some_and(|m| {
                        m.truststore_uri() == Some("") && m.truststore_version().is_none()
                    })
            })
            .then_output(|| {
                UpdateDomainNameOutput::builder()
                    .domain_name("api.example.com")
                    .mutual_tls_authentication(
                        MutualTlsAuthentication::builder()
                            .truststore_uri("")
                            .build(),
                    )
                    .build()
            });
        let client = mocked!(aws_sdk_apigatewayv2, [&rule]);
        let d = domains(client, Pacer::new(1000.0, 1))
            .disable_mtls("api.example.com")
            .await
            .unwrap();
        assert_eq!(
            d.truststore_uri, None,
            "an empty uri reads back as mTLS off"
        );
        assert_eq!(d.truststore_version, None);
        assert_eq!(rule.num_calls(), 1);
    }

    /// `on` puts back the uri and the version, or the uri alone when none was named.
    #[tokio::test]
    async fn mtls_on_restores_the_uri_and_the_version() {
        let with_version = mock!(aws_sdk_apigatewayv2::Client::update_domain_name)
            .match_requests(|req| {
                req.mutual_tls_authentication().is_some_and(|m| {
                    m.truststore_uri() == Some(URI) && m.truststore_version() == Some("v7")
                })
            })
            .then_output(|| updated("v7", &[]));
        let without = mock!(aws_sdk_apigatewayv2::Client::update_domain_name)
            .match_requests(|req| {
                req.mutual_tls_authentication().is_some_and(|m| {
                    m.truststore_uri() == Some(URI) && m.truststore_version().is_none()
                })
            })
            .then_output(|| updated("v8", &[]));
        let client = mocked!(aws_sdk_apigatewayv2, [&with_version, &without]);
        let gw = domains(client, Pacer::new(1000.0, 1));
        let d = gw
            .enable_mtls("api.example.com", URI, Some("v7"))
            .await
            .unwrap();
        assert_eq!(d.truststore_uri.as_deref(), Some(URI));
        assert_eq!(d.truststore_version.as_deref(), Some("v7"));
        gw.enable_mtls("api.example.com", URI, None).await.unwrap();
        assert_eq!((with_version.num_calls(), without.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn a_refused_mtls_off_names_the_iam_action_and_the_domain() {
        let rule = mock!(aws_sdk_apigatewayv2::Client::update_domain_name).then_error(|| {
            UpdateDomainNameError::generic(meta("AccessDeniedException", "not authorized"))
        });
        let client = mocked!(aws_sdk_apigatewayv2, [&rule]);
        let err = domains(client, Pacer::new(1000.0, 1))
            .disable_mtls("api.example.com")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::AccessDenied(m)
                if m.contains("apigateway:PATCH") && m.contains("api.example.com")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_throttled_update_is_retried_until_it_succeeds() {
        let throttled = mock!(aws_sdk_apigatewayv2::Client::update_domain_name)
            .sequence()
            .error(|| {
                UpdateDomainNameError::TooManyRequestsException(
                    TooManyRequestsException::builder()
                        .message("Too Many Requests")
                        .meta(meta("TooManyRequestsException", "Too Many Requests"))
                        .build(),
                )
            })
            .times(2)
            .output(|| updated("v3", &[]))
            .build();
        let client = mocked!(aws_sdk_apigatewayv2, [&throttled]);
        let d = domains(client, Pacer::new(1000.0, 1))
            .point_truststore("api.example.com", URI, "v3")
            .await
            .unwrap();
        assert_eq!(d.truststore_version.as_deref(), Some("v3"));
        assert_eq!(throttled.num_calls(), 3);
    }

    #[tokio::test]
    async fn updates_are_paced_at_the_configured_interval() {
        let rule = mock!(aws_sdk_apigatewayv2::Client::update_domain_name)
            .sequence()
            .output(|| updated("v4", &[]))
            .times(3)
            .build();
        let client = mocked!(aws_sdk_apigatewayv2, [&rule]);
        // One update per 200 ms here (AWS: one per 30 s): three updates take two intervals.
        let gw = domains(client, Pacer::new(5.0, 1));
        let start = Instant::now();
        for _ in 0..3 {
            gw.point_truststore("api.example.com", URI, "v4")
                .await
                .unwrap();
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(380), "took {took:?}");
        assert_eq!(rule.num_calls(), 3);
    }
}
