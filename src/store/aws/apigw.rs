//! API Gateway custom domains (apigatewayv2): which truststore version a domain serves,
//! pointing it at another one, turning mutual TLS off and on, and the APIs mapped to it with
//! their authorizers. UpdateDomainName is rate-limited to about one call per 30 s per
//! account, so calls go through a pacer (one call, then one per interval) and a throttled call
//! is retried with backoff.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_apigatewayv2::types::{AuthorizerType, MutualTlsAuthenticationInput};

use super::errors::{self, Call, Resource};
use super::retry::{Pacer, RetryPolicy, with_retry};
use crate::store::{DomainTruststore, Gateway, MappedApi, RouteAuthorizer, StoreResult};

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
        // Mutual TLS off reads back as no truststore, or as an empty one.
        truststore_uri: mtls
            .and_then(|m| m.truststore_uri())
            .filter(|u| !u.is_empty())
            .map(str::to_string),
        truststore_version: mtls
            .and_then(|m| m.truststore_version())
            .filter(|v| !v.is_empty())
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
                &self.call("apigateway:GET", &Resource::Domain(name.to_string())),
            )),
        }
    }

    async fn point_truststore(
        &self,
        name: &str,
        uri: &str,
        version: &str,
    ) -> StoreResult<DomainTruststore> {
        self.enable_mtls(name, uri, Some(version)).await
    }

    async fn enable_mtls(
        &self,
        name: &str,
        uri: &str,
        version: Option<&str>,
    ) -> StoreResult<DomainTruststore> {
        let mtls = MutualTlsAuthenticationInput::builder()
            .truststore_uri(uri)
            .set_truststore_version(version.map(str::to_string))
            .build();
        self.update(name, mtls).await
    }

    async fn disable_mtls(&self, name: &str) -> StoreResult<DomainTruststore> {
        // The developer guide's "Disable mutual TLS": `--mutual-tls-authentication truststoreUri=''`.
        let mtls = MutualTlsAuthenticationInput::builder()
            .truststore_uri("")
            .build();
        self.update(name, mtls).await
    }

    async fn mapped_apis(&self, name: &str) -> StoreResult<Option<Vec<MappedApi>>> {
        let domain = Resource::Domain(name.to_string());
        let mut mappings = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = with_retry(&self.retry, None, "apigateway:GET", || {
                self.client
                    .get_api_mappings()
                    .domain_name(name)
                    .set_next_token(token.clone())
                    .send()
            })
            .await
            .map_err(|e| errors::map(e, &self.call("apigateway:GET", &domain)))?;
            mappings.extend(out.items().iter().cloned());
            match out.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => break,
            }
        }
        let mut apis: Vec<MappedApi> = Vec::new();
        for mapping in mappings {
            let Some(api_id) = mapping.api_id() else {
                continue;
            };
            if apis.iter().any(|a| a.api_id == api_id) {
                continue;
            }
            let resource = Resource::Api(api_id.to_string());
            let api = with_retry(&self.retry, None, "apigateway:GET", || {
                self.client.get_api().api_id(api_id).send()
            })
            .await
            .map_err(|e| errors::map(e, &self.call("apigateway:GET", &resource)))?;
            apis.push(MappedApi {
                api_id: api_id.to_string(),
                name: api.name().map(str::to_string),
                stage: mapping.stage().map(str::to_string),
                execute_api_disabled: api.disable_execute_api_endpoint().unwrap_or(false),
                authorizers: self.route_authorizers(api_id, &resource).await?,
            });
        }
        Ok(Some(apis))
    }
}

impl ApiGatewayDomains {
    fn call<'a>(&'a self, action: &'a str, resource: &'a Resource) -> Call<'a> {
        Call {
            action,
            resource,
            endpoint: &self.endpoint,
        }
    }

    /// UpdateDomainName with `mtls`, paced and retried when throttled.
    async fn update(
        &self,
        name: &str,
        mtls: MutualTlsAuthenticationInput,
    ) -> StoreResult<DomainTruststore> {
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
                &self.call("apigateway:PATCH", &Resource::Domain(name.to_string())),
            )),
        }
    }

    /// The REQUEST authorizers the API's routes name, each once, through GetRoutes and
    /// GetAuthorizer (the GetAuthorizers list is not used: the emulator cannot answer it).
    async fn route_authorizers(
        &self,
        api_id: &str,
        resource: &Resource,
    ) -> StoreResult<Vec<RouteAuthorizer>> {
        let mut ids: Vec<String> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = with_retry(&self.retry, None, "apigateway:GET", || {
                self.client
                    .get_routes()
                    .api_id(api_id)
                    .set_next_token(token.clone())
                    .send()
            })
            .await
            .map_err(|e| errors::map(e, &self.call("apigateway:GET", resource)))?;
            for route in out.items() {
                if let Some(id) = route.authorizer_id()
                    && !ids.iter().any(|known| known == id)
                {
                    ids.push(id.to_string());
                }
            }
            match out.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => break,
            }
        }
        let mut authorizers = Vec::new();
        for id in ids {
            let out = with_retry(&self.retry, None, "apigateway:GET", || {
                self.client
                    .get_authorizer()
                    .api_id(api_id)
                    .authorizer_id(&id)
                    .send()
            })
            .await
            .map_err(|e| errors::map(e, &self.call("apigateway:GET", resource)))?;
            if out.authorizer_type() != Some(&AuthorizerType::Request) {
                continue;
            }
            authorizers.push(RouteAuthorizer {
                authorizer_id: id,
                name: out.name().map(str::to_string),
                result_ttl_seconds: out
                    .authorizer_result_ttl_in_seconds()
                    .and_then(|ttl| u32::try_from(ttl).ok()),
            });
        }
        Ok(authorizers)
    }
}
