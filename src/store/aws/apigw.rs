//! API Gateway custom domains (apigatewayv2): which truststore version a domain serves, and
//! pointing it at another one. UpdateDomainName is rate-limited to about one call per 30 s per
//! account, so calls go through a pacer (one call, then one per interval) and a throttled call
//! is retried with backoff.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_apigatewayv2::types::MutualTlsAuthenticationInput;

use super::errors::{self, Call, Resource};
use super::retry::{Pacer, RetryPolicy, with_retry};
use crate::store::{DomainTruststore, Gateway, StoreResult};

/// AWS's documented pace for UpdateDomainName: one call per 30 seconds.
pub const DOMAIN_UPDATE_INTERVAL: Duration = Duration::from_secs(30);

/// The domains of one account and region.
#[derive(Debug, Clone)]
pub struct ApiGatewayDomains {
    client: aws_sdk_apigatewayv2::Client,
    pacer: Arc<Pacer>,
    retry: RetryPolicy,
    endpoint: String,
}

impl ApiGatewayDomains {
    /// Updates paced at one per [`DOMAIN_UPDATE_INTERVAL`], throttled calls retried for up
    /// to about two minutes.
    pub fn new(client: aws_sdk_apigatewayv2::Client, endpoint: impl Into<String>) -> Self {
        ApiGatewayDomains {
            client,
            pacer: Arc::new(Pacer::new(1.0 / DOMAIN_UPDATE_INTERVAL.as_secs_f64(), 1)),
            retry: RetryPolicy {
                max_attempts: 5,
                base_delay: Duration::from_secs(5),
                max_delay: DOMAIN_UPDATE_INTERVAL,
            },
            endpoint: endpoint.into(),
        }
    }

    /// Replace the update pacer and the throttling retry policy.
    pub fn with_pacing(mut self, pacer: Pacer, retry: RetryPolicy) -> Self {
        self.pacer = Arc::new(pacer);
        self.retry = retry;
        self
    }
}

fn settings(
    name: &str,
    mtls: Option<&aws_sdk_apigatewayv2::types::MutualTlsAuthentication>,
    configs: &[aws_sdk_apigatewayv2::types::DomainNameConfiguration],
) -> DomainTruststore {
    DomainTruststore {
        domain: name.to_string(),
        truststore_uri: mtls.and_then(|m| m.truststore_uri()).map(str::to_string),
        truststore_version: mtls
            .and_then(|m| m.truststore_version())
            .map(str::to_string),
        warnings: mtls
            .map(|m| m.truststore_warnings().to_vec())
            .unwrap_or_default(),
        status: configs
            .iter()
            .find_map(|c| c.domain_name_status())
            .map(|s| s.as_str().to_string()),
    }
}

#[async_trait]
impl Gateway for ApiGatewayDomains {
    async fn domain(&self, name: &str) -> StoreResult<DomainTruststore> {
        let res = with_retry(&self.retry, None, "apigateway:GET", || {
            self.client.get_domain_name().domain_name(name).send()
        })
        .await;
        match res {
            Ok(out) => Ok(settings(
                name,
                out.mutual_tls_authentication(),
                out.domain_name_configurations(),
            )),
            Err(e) => Err(errors::map(
                e,
                &Call {
                    action: "apigateway:GET",
                    resource: &Resource::Domain(name.to_string()),
                    endpoint: &self.endpoint,
                },
            )),
        }
    }

    async fn point_truststore(
        &self,
        name: &str,
        uri: &str,
        version: &str,
    ) -> StoreResult<DomainTruststore> {
        let mtls = MutualTlsAuthenticationInput::builder()
            .truststore_uri(uri)
            .truststore_version(version)
            .build();
        let res = with_retry(&self.retry, Some(&self.pacer), "apigateway:PATCH", || {
            self.client
                .update_domain_name()
                .domain_name(name)
                .mutual_tls_authentication(mtls.clone())
                .send()
        })
        .await;
        match res {
            Ok(out) => Ok(settings(
                name,
                out.mutual_tls_authentication(),
                out.domain_name_configurations(),
            )),
            Err(e) => Err(errors::map(
                e,
                &Call {
                    action: "apigateway:PATCH",
                    resource: &Resource::Domain(name.to_string()),
                    endpoint: &self.endpoint,
                },
            )),
        }
    }
}
