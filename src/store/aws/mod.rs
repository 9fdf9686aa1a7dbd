//! AWS backend: DynamoDB roster and audit, SSM / Secrets Manager vault, versioned S3 truststore.
//!
//! Every adapter is built from an SDK client (so tests can hand in a mocked one) plus the
//! names from the environment; [`connect`] builds them all from the standard credential chain.
//! Rooms: `dynamo` (roster), `ssm` and `secrets` (vault layouts), `s3` (truststore), `audit`,
//! `retry` (pacing and throttling retries), `errors` (SDK errors -> [`crate::store::StoreError`]),
//! `apigw` (the custom domain's truststore version), `infra` (`init-infra`, the table definition) and `doctor` (the AWS checks).

mod apigw;
mod audit;
mod coordination;
mod doctor;
mod dynamo;
mod errors;
mod infra;
#[cfg(test)]
mod mock_tests;
mod retry;
mod s3;
mod secrets;
mod ssm;

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_smithy_types::timeout::TimeoutConfig;

pub use self::apigw::{ApiGatewayDomains, DOMAIN_UPDATE_INTERVAL};
pub use self::audit::DynamoAudit;
pub use self::coordination::DynamoCoordination;
pub use self::doctor::doctor_checks;
pub use self::dynamo::{DynamoRoster, LIST_PROJECTION, SCAN_SEGMENTS};
pub use self::infra::{
    GSI_HASH_KEY, GSI_NAME, GSI_RANGE_KEY, HASH_KEY, TTL_ATTRIBUTE, init_infra, table_definition,
};
pub use self::retry::{Pacer, RetryPolicy};
pub use self::s3::S3Truststore;
pub use self::secrets::{SecretSlot, SecretsVault};
pub use self::ssm::{ADVANCED_TIER_LIMIT, STANDARD_TIER_LIMIT, SsmVault, tier_for};

use self::errors::{Call, Resource};
use crate::config::{EnvConfig, VaultKind};
use crate::error::{Error, Result};
use crate::store::{AuditLog, Backend, Roster, TruststoreStore, Vault};

/// Environment variable overriding the SSM write rate (writes per second, default 3).
pub const SSM_WRITE_RATE_VAR: &str = "MTLS_CONSOLE_SSM_WRITES_PER_SEC";

/// The SDK clients of one environment, configured from the standard chain and its overrides.
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub dynamo: aws_sdk_dynamodb::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub s3: aws_sdk_s3::Client,
    pub sts: aws_sdk_sts::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub apigw: aws_sdk_apigatewayv2::Client,
    pub region: String,
    /// Where requests go, for messages: the override URL or `AWS {region}`.
    pub endpoint: String,
}

/// Who the credentials belong to (STS GetCallerIdentity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub account: String,
    pub arn: String,
}

/// Fails unless `profile` has a section in the shared config or credentials file (as the
/// AWS CLI refuses `--profile nosuch`): the SDK's own error for it is buried in a debug dump.
fn check_profile_defined(profile: &str) -> Result<()> {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let file = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(std::path::PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
    };
    let config = file("AWS_CONFIG_FILE", "config");
    let credentials = file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    let sections = |path: &Option<std::path::PathBuf>| -> Vec<String> {
        path.as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|text| {
                text.lines()
                    .filter_map(|l| l.trim().strip_prefix('[')?.strip_suffix(']').map(str::trim))
                    .map(|name| {
                        name.strip_prefix("profile ")
                            .unwrap_or(name)
                            .trim()
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    if sections(&config)
        .iter()
        .chain(&sections(&credentials))
        .any(|s| s == profile)
    {
        return Ok(());
    }
    let shown = |p: &Option<std::path::PathBuf>| {
        p.as_ref().map_or("(no home directory)".to_string(), |p| {
            p.display().to_string()
        })
    };
    Err(Error::Config(format!(
        "AWS profile '{profile}' is not defined in {} or {}; give one that is (`aws configure \
         list-profiles`), or drop --profile to use the default credentials",
        shown(&config),
        shown(&credentials)
    )))
}

impl AwsClients {
    /// Loads credentials and region the way the AWS CLI does (environment, profiles, SSO,
    /// instance roles), then applies the environment's profile / region / endpoint overrides.
    /// With an endpoint override S3 uses path-style addressing (emulators).
    pub async fn load(env: &EnvConfig) -> Result<AwsClients> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(3100))
                .operation_timeout(Duration::from_secs(60))
                .build(),
        );
        if let Some(profile) = &env.profile {
            check_profile_defined(profile)?;
            // A named profile is where the credentials come from, as with the aws CLI's
            // --profile: AWS_* credential variables do not silently win over it.
            let credentials = aws_config::profile::ProfileFileCredentialsProvider::builder()
                .profile_name(profile)
                .build();
            loader = loader
                .profile_name(profile)
                .credentials_provider(credentials);
        }
        if let Some(region) = &env.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &env.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let sdk = loader.load().await;
        let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| {
            Error::Config(format!(
                "no AWS region for environment '{}': set `region` in its config, pass --region, \
                 or set AWS_REGION",
                env.name
            ))
        })?;
        let s3_conf = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(env.endpoint_url.is_some())
            .build();
        Ok(AwsClients {
            dynamo: aws_sdk_dynamodb::Client::new(&sdk),
            ssm: aws_sdk_ssm::Client::new(&sdk),
            s3: aws_sdk_s3::Client::from_conf(s3_conf),
            sts: aws_sdk_sts::Client::new(&sdk),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
            apigw: aws_sdk_apigatewayv2::Client::new(&sdk),
            endpoint: env
                .endpoint_url
                .clone()
                .unwrap_or_else(|| format!("AWS {region}")),
            region,
        })
    }

    /// The caller's account and ARN.
    pub async fn identity(&self) -> Result<Identity> {
        let out = self.sts.get_caller_identity().send().await.map_err(|e| {
            errors::map(
                e,
                &Call {
                    action: "sts:GetCallerIdentity",
                    resource: &Resource::Identity,
                    endpoint: &self.endpoint,
                },
            )
        })?;
        Ok(Identity {
            account: out.account.unwrap_or_default(),
            arn: out.arn.unwrap_or_default(),
        })
    }
}

/// The truststore bucket: configured, or `{account_name}-mtls-truststore-{account_id}`.
pub fn truststore_bucket(env: &EnvConfig, account_id: &str) -> String {
    env.truststore_bucket
        .clone()
        .unwrap_or_else(|| format!("{}-mtls-truststore-{account_id}", env.account_name()))
}

/// The SSM write pacer: [`SSM_WRITE_RATE_VAR`] writes per second if set, else the default.
fn ssm_pacer() -> Result<Pacer> {
    match std::env::var(SSM_WRITE_RATE_VAR) {
        Ok(v) => match v.trim().parse::<f64>() {
            Ok(rate) if rate > 0.0 && rate.is_finite() => {
                Ok(Pacer::new(rate, Pacer::DEFAULT_BURST))
            }
            _ => Err(Error::Config(format!(
                "{SSM_WRITE_RATE_VAR}={v} is not a positive number of writes per second"
            ))),
        },
        Err(_) => Ok(Pacer::default()),
    }
}

/// The vault of the environment's layout.
pub fn vault_for(env: &EnvConfig, clients: &AwsClients) -> Result<Arc<dyn Vault>> {
    Ok(match env.vault {
        VaultKind::Ssm => Arc::new(
            SsmVault::new(
                clients.ssm.clone(),
                &env.project,
                env.account_name(),
                &clients.endpoint,
            )
            .with_kms_key(env.kms_key_id.clone())
            .with_advanced_tier(env.ssm_advanced_tier)
            .with_pacing(ssm_pacer()?, RetryPolicy::default()),
        ),
        VaultKind::SecretsManager => Arc::new(
            SecretsVault::new(
                clients.secrets.clone(),
                env.account_name(),
                &clients.endpoint,
            )
            .with_kms_key(env.kms_key_id.clone()),
        ),
    })
}

/// Connects to the environment's AWS account: checks the credentials with STS (the caller's
/// ARN becomes the operator of audit records) and builds every adapter.
pub async fn connect(env: &EnvConfig) -> Result<Backend> {
    let clients = AwsClients::load(env).await?;
    let id = clients.identity().await?;
    let bucket = truststore_bucket(env, &id.account);
    let roster: Arc<dyn Roster> = Arc::new(
        DynamoRoster::new(clients.dynamo.clone(), &env.table, &clients.endpoint)
            .with_tables(&env.coordination_table, &env.audit_table),
    );
    let truststore: Arc<dyn TruststoreStore> = Arc::new(S3Truststore::new(
        clients.s3.clone(),
        bucket,
        &env.truststore_key,
        &clients.endpoint,
    ));
    let audit: Arc<dyn AuditLog> = Arc::new(DynamoAudit::new(
        clients.dynamo.clone(),
        &env.audit_table,
        &clients.endpoint,
    ));
    Ok(Backend {
        roster,
        vault: vault_for(env, &clients)?,
        truststore,
        audit,
        gateway: Arc::new(ApiGatewayDomains::new(
            clients.apigw.clone(),
            &clients.endpoint,
        )),
        coordination: Arc::new(DynamoCoordination::new(
            clients.dynamo.clone(),
            &env.coordination_table,
            &clients.endpoint,
        )),
        description: format!("aws {} {}", id.account, clients.region),
        operator: id.arn,
    })
}
