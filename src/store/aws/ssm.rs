//! The key vault on SSM Parameter Store, with the contract's names
//! (`/{project}/{env}/ca/root/private-key`, ...): keys are SecureString (with the configured
//! KMS key, else the account's `aws/ssm`), certificates String. Sizes are checked here, before
//! any call, because the emulator does not enforce SSM's limits. Writes are paced and retried.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ssm::types::{ParameterTier, ParameterType};
use futures::StreamExt;
use zeroize::Zeroizing;

use super::errors::{self, Call, Resource};
use super::retry::{Pacer, RetryPolicy, with_retry};
use crate::model::VaultItem;
use crate::store::{Contended, StoreError, StoreResult, Vault, WRITES_IN_FLIGHT};

/// Largest value of a standard-tier parameter.
pub const STANDARD_TIER_LIMIT: usize = 4096;
/// Largest value of an advanced-tier parameter.
pub const ADVANCED_TIER_LIMIT: usize = 8192;

/// The tier a value of `len` bytes needs, or why it cannot be stored.
pub fn tier_for(name: &str, len: usize, advanced_allowed: bool) -> StoreResult<ParameterTier> {
    if len <= STANDARD_TIER_LIMIT {
        Ok(ParameterTier::Standard)
    } else if len <= ADVANCED_TIER_LIMIT && advanced_allowed {
        Ok(ParameterTier::Advanced)
    } else if len <= ADVANCED_TIER_LIMIT {
        Err(StoreError::Invalid(format!(
            "{name}: the value is {len} bytes, over the {STANDARD_TIER_LIMIT}-byte limit of the SSM \
             standard tier; nothing was written. Set `ssm_advanced_tier = true` for this environment \
             to store it as an advanced-tier parameter (up to {ADVANCED_TIER_LIMIT} bytes, billed per \
             parameter per month), or use a smaller key (ECDSA P-256 or RSA-2048)"
        )))
    } else {
        Err(StoreError::Invalid(format!(
            "{name}: the value is {len} bytes, over the {ADVANCED_TIER_LIMIT}-byte limit of even the \
             SSM advanced tier; nothing was written. Use a smaller key (ECDSA P-256 or RSA-2048)"
        )))
    }
}

/// The vault on SSM Parameter Store.
#[derive(Debug, Clone)]
pub struct SsmVault {
    client: aws_sdk_ssm::Client,
    project: String,
    env: String,
    kms_key_id: Option<String>,
    advanced_tier: bool,
    pacer: Arc<Pacer>,
    retry: RetryPolicy,
    endpoint: String,
}

impl SsmVault {
    /// A vault for `/{project}/{env}/...` with default pacing (3 writes/s) and retries,
    /// the account's default KMS key and standard tier only.
    pub fn new(
        client: aws_sdk_ssm::Client,
        project: impl Into<String>,
        env: impl Into<String>,
        endpoint: impl Into<String>,
    ) -> Self {
        SsmVault {
            client,
            project: project.into(),
            env: env.into(),
            kms_key_id: None,
            advanced_tier: false,
            pacer: Arc::new(Pacer::default()),
            retry: RetryPolicy::default(),
            endpoint: endpoint.into(),
        }
    }

    /// Encrypt SecureStrings with this KMS key (id, ARN or alias) instead of `aws/ssm`.
    pub fn with_kms_key(mut self, key_id: Option<String>) -> Self {
        self.kms_key_id = key_id;
        self
    }

    /// Allow advanced-tier parameters for values over 4096 bytes.
    pub fn with_advanced_tier(mut self, allowed: bool) -> Self {
        self.advanced_tier = allowed;
        self
    }

    /// Replace the write pacer and the throttling retry policy.
    pub fn with_pacing(mut self, pacer: Pacer, retry: RetryPolicy) -> Self {
        self.pacer = Arc::new(pacer);
        self.retry = retry;
        self
    }
}

#[async_trait]
impl Vault for SsmVault {
    async fn get(&self, item: &VaultItem) -> StoreResult<Option<Zeroizing<String>>> {
        let name = self.name_of(item);
        let res = with_retry(&self.retry, None, "ssm:GetParameter", || {
            self.client
                .get_parameter()
                .name(&name)
                .with_decryption(true)
                .send()
        })
        .await;
        match res {
            Ok(out) => Ok(out.parameter.and_then(|p| p.value).map(Zeroizing::new)),
            Err(e) if errors::code(&e) == Some("ParameterNotFound") => Ok(None),
            Err(e) => Err(errors::map(
                e,
                &Call {
                    action: "ssm:GetParameter",
                    resource: &Resource::Parameter(name.clone()),
                    endpoint: &self.endpoint,
                },
            )),
        }
    }

    async fn put(&self, item: &VaultItem, value: &str, overwrite: bool) -> StoreResult<()> {
        let name = self.name_of(item);
        let tier = tier_for(&name, value.len(), self.advanced_tier)?;
        let kind = if item.is_secret() {
            ParameterType::SecureString
        } else {
            ParameterType::String
        };
        let key_id = if item.is_secret() {
            self.kms_key_id.clone()
        } else {
            None
        };
        let res = with_retry(&self.retry, Some(&self.pacer), "ssm:PutParameter", || {
            self.client
                .put_parameter()
                .name(&name)
                .value(value)
                .r#type(kind.clone())
                .set_key_id(key_id.clone())
                .tier(tier.clone())
                .overwrite(overwrite)
                .send()
        })
        .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if errors::code(&e) == Some("ParameterAlreadyExists") => {
                Err(StoreError::conflict(
                    Contended::Vault(name.clone()),
                    format!("SSM parameter {name} already exists; nothing was overwritten"),
                ))
            }
            Err(e) => Err(errors::map(
                e,
                &Call {
                    action: "ssm:PutParameter",
                    resource: &Resource::Parameter(name.clone()),
                    endpoint: &self.endpoint,
                },
            )),
        }
    }

    /// Distinct parameters, so the puts go out together; the pacer keeps them at the quota.
    async fn put_each(&self, items: &[(VaultItem, &str)], overwrite: bool) -> Vec<StoreResult<()>> {
        let puts: Vec<_> = items
            .iter()
            .map(|(item, value)| self.put(item, value, overwrite))
            .collect();
        futures::stream::iter(puts)
            .buffered(WRITES_IN_FLIGHT)
            .collect()
            .await
    }

    /// GetParameters, ten names a call (its limit).
    async fn get_each(&self, items: &[VaultItem]) -> Vec<StoreResult<Option<Zeroizing<String>>>> {
        let mut results = Vec::with_capacity(items.len());
        for chunk in items.chunks(10) {
            let names: Vec<String> = chunk.iter().map(|i| self.name_of(i)).collect();
            let res = with_retry(&self.retry, None, "ssm:GetParameters", || {
                self.client
                    .get_parameters()
                    .set_names(Some(names.clone()))
                    .with_decryption(true)
                    .send()
            })
            .await;
            match res {
                Ok(out) => {
                    let mut found: std::collections::HashMap<&str, &str> = out
                        .parameters()
                        .iter()
                        .filter_map(|p| Some((p.name()?, p.value()?)))
                        .collect();
                    for name in &names {
                        results.push(Ok(found
                            .remove(name.as_str())
                            .map(|v| Zeroizing::new(v.to_string()))));
                    }
                }
                Err(e) => {
                    let err = errors::map(
                        e,
                        &Call {
                            action: "ssm:GetParameters",
                            resource: &Resource::Parameter(names.join(", ")),
                            endpoint: &self.endpoint,
                        },
                    );
                    let message = err.to_string();
                    results.extend(
                        names
                            .iter()
                            .map(|_| Err(StoreError::Backend(message.clone()))),
                    );
                }
            }
        }
        results
    }

    async fn history(&self, item: &VaultItem) -> StoreResult<Vec<Zeroizing<String>>> {
        let name = self.name_of(item);
        let mut versions: Vec<(i64, Zeroizing<String>)> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let res = with_retry(&self.retry, None, "ssm:GetParameterHistory", || {
                self.client
                    .get_parameter_history()
                    .name(&name)
                    .with_decryption(true)
                    .set_next_token(token.clone())
                    .send()
            })
            .await;
            let out = match res {
                Ok(out) => out,
                Err(e) if errors::code(&e) == Some("ParameterNotFound") => return Ok(Vec::new()),
                Err(e) => {
                    return Err(errors::map(
                        e,
                        &Call {
                            action: "ssm:GetParameterHistory",
                            resource: &Resource::Parameter(name.clone()),
                            endpoint: &self.endpoint,
                        },
                    ));
                }
            };
            for p in out.parameters() {
                if let Some(value) = p.value() {
                    versions.push((p.version(), Zeroizing::new(value.to_string())));
                }
            }
            match out.next_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        versions.sort_by_key(|v| std::cmp::Reverse(v.0));
        // The newest is the current value.
        Ok(versions.into_iter().skip(1).map(|(_, v)| v).collect())
    }

    async fn delete(&self, item: &VaultItem) -> StoreResult<()> {
        let name = self.name_of(item);
        let res = with_retry(
            &self.retry,
            Some(&self.pacer),
            "ssm:DeleteParameter",
            || self.client.delete_parameter().name(&name).send(),
        )
        .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if errors::code(&e) == Some("ParameterNotFound") => Ok(()),
            Err(e) => Err(errors::map(
                e,
                &Call {
                    action: "ssm:DeleteParameter",
                    resource: &Resource::Parameter(name.clone()),
                    endpoint: &self.endpoint,
                },
            )),
        }
    }

    fn name_of(&self, item: &VaultItem) -> String {
        item.ssm_name(&self.project, &self.env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_follow_the_size() {
        assert_eq!(
            tier_for("/p", 4096, false).unwrap(),
            ParameterTier::Standard
        );
        assert_eq!(tier_for("/p", 4097, true).unwrap(), ParameterTier::Advanced);
        let err = tier_for("/p/x", 4097, false).unwrap_err().to_string();
        assert!(
            err.contains("/p/x") && err.contains("4097") && err.contains("ssm_advanced_tier"),
            "{err}"
        );
        let err = tier_for("/p/x", 9000, true).unwrap_err().to_string();
        assert!(err.contains("8192"), "{err}");
    }
}
