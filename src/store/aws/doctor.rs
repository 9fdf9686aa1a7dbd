//! The AWS half of `doctor`: identity and region, the roster table's key schema, GSI and TTL,
//! the audit table, the vault's items and their types, and the truststore bucket's versioning,
//! public-access block and encryption. Each check reports; none changes anything.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{
    KeyType, ProjectionType, ScalarAttributeType, TableDescription, TimeToLiveStatus,
};
use aws_sdk_s3::types::BucketVersioningStatus;
use aws_sdk_ssm::types::{ParameterStringFilter, ParameterType};

use super::errors::{self, Call, Resource};
use super::infra::{
    AUDIT_HASH_KEY, GSI_HASH_KEY, GSI_NAME, GSI_RANGE_KEY, HASH_KEY, TTL_ATTRIBUTE,
};
use super::{AwsClients, SecretsVault, truststore_bucket};
use crate::config::{EnvConfig, VaultKind};
use crate::model::VaultItem;
use crate::ops::{CheckStatus, DoctorCheck};
use crate::store::Backend;

fn check(name: &str, status: CheckStatus, detail: impl Into<String>) -> DoctorCheck {
    DoctorCheck {
        name: name.to_string(),
        status,
        detail: detail.into(),
    }
}

fn call<'a>(c: &'a AwsClients, action: &'a str, resource: &'a Resource) -> Call<'a> {
    Call {
        action,
        resource,
        endpoint: &c.endpoint,
    }
}

/// Runs every AWS check. Failures to reach AWS become failed checks, never errors.
pub async fn doctor_checks(env: &EnvConfig, backend: &Backend) -> Vec<DoctorCheck> {
    let c = match AwsClients::load(env).await {
        Ok(c) => c,
        Err(e) => return vec![check("aws identity", CheckStatus::Fail, e.to_string())],
    };
    let mut checks = Vec::new();
    let account = match c.identity().await {
        Ok(id) => {
            checks.push(check(
                "aws identity",
                CheckStatus::Ok,
                format!(
                    "{} in account {}, region {} ({}); backend {}",
                    id.arn, id.account, c.region, c.endpoint, backend.description
                ),
            ));
            Some(id.account)
        }
        Err(e) => {
            checks.push(check("aws identity", CheckStatus::Fail, e.to_string()));
            None
        }
    };
    checks.extend(roster_table(&c, &env.table).await);
    checks.push(audit_table(&c, &env.audit_table).await);
    checks.push(match env.vault {
        VaultKind::Ssm => ssm_parameters(&c, env).await,
        VaultKind::SecretsManager => secrets(&c, env).await,
    });
    match account {
        Some(account) => checks.extend(bucket(&c, &truststore_bucket(env, &account)).await),
        None => checks.push(check(
            "truststore bucket",
            CheckStatus::Fail,
            "not checked: the caller identity (and so the default bucket name) is unknown",
        )),
    }
    checks
}

/// Problems with the roster table's keys and GSI, compared with the contract.
fn schema_problems(t: &TableDescription) -> Vec<String> {
    let mut problems = Vec::new();
    let attr_type = |name: &str| {
        t.attribute_definitions()
            .iter()
            .find(|a| a.attribute_name() == name)
            .map(|a| a.attribute_type().clone())
    };
    let keys = t.key_schema();
    if !(keys.len() == 1
        && keys[0].attribute_name() == HASH_KEY
        && keys[0].key_type() == &KeyType::Hash)
    {
        problems.push(format!("the key must be hash {HASH_KEY} alone"));
    }
    if attr_type(HASH_KEY) != Some(ScalarAttributeType::S) {
        problems.push(format!("{HASH_KEY} must be a string (S) attribute"));
    }
    match t
        .global_secondary_indexes()
        .iter()
        .find(|g| g.index_name() == Some(GSI_NAME))
    {
        None => problems.push(format!("GSI {GSI_NAME} is missing")),
        Some(g) => {
            let k = g.key_schema();
            let ok_keys = k.len() == 2
                && k.iter()
                    .any(|e| e.attribute_name() == GSI_HASH_KEY && e.key_type() == &KeyType::Hash)
                && k.iter().any(|e| {
                    e.attribute_name() == GSI_RANGE_KEY && e.key_type() == &KeyType::Range
                });
            if !ok_keys {
                problems.push(format!(
                    "GSI {GSI_NAME} must have hash {GSI_HASH_KEY} and range {GSI_RANGE_KEY}"
                ));
            }
            if g.projection().and_then(|p| p.projection_type()) != Some(&ProjectionType::All) {
                problems.push(format!("GSI {GSI_NAME} must project ALL attributes"));
            }
        }
    }
    problems
}

async fn roster_table(c: &AwsClients, table: &str) -> Vec<DoctorCheck> {
    let resource = Resource::Table(table.to_string());
    let desc = match c.dynamo.describe_table().table_name(table).send().await {
        Ok(out) => out.table,
        Err(e) => {
            let err = errors::map(e, &call(c, "dynamodb:DescribeTable", &resource));
            return vec![check("roster table", CheckStatus::Fail, err.to_string())];
        }
    };
    let Some(desc) = desc else {
        return vec![check(
            "roster table",
            CheckStatus::Fail,
            format!("{resource}: no description returned"),
        )];
    };
    let problems = schema_problems(&desc);
    let mut checks = vec![if problems.is_empty() {
        check(
            "roster table",
            CheckStatus::Ok,
            format!(
                "{table}: hash {HASH_KEY} (S), GSI {GSI_NAME}, {} items (approximate)",
                desc.item_count.unwrap_or(0)
            ),
        )
    } else {
        check(
            "roster table",
            CheckStatus::Fail,
            format!(
                "{table} does not match the contract: {}; the authorizer and existing tooling depend on it \
                 (see assets/table-definition.json)",
                problems.join("; ")
            ),
        )
    }];
    checks.push(match c.dynamo.describe_time_to_live().table_name(table).send().await {
        Ok(out) => {
            let ttl = out.time_to_live_description;
            let status = ttl.as_ref().and_then(|t| t.time_to_live_status().cloned());
            let attr = ttl.as_ref().and_then(|t| t.attribute_name().map(str::to_string));
            if matches!(status, Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling))
                && attr.as_deref() == Some(TTL_ATTRIBUTE)
            {
                check("roster ttl", CheckStatus::Ok, format!("TTL on {TTL_ATTRIBUTE} is enabled"))
            } else {
                check(
                    "roster ttl",
                    CheckStatus::Warn,
                    format!(
                        "TTL is not enabled on {TTL_ATTRIBUTE} ({}); expired items are never removed. Enable it: \
                         aws dynamodb update-time-to-live --table-name {table} \
                         --time-to-live-specification Enabled=true,AttributeName={TTL_ATTRIBUTE}",
                        status.map(|s| s.as_str().to_string()).unwrap_or_else(|| "no TTL".into())
                    ),
                )
            }
        }
        Err(e) => {
            let err = errors::map(e, &call(c, "dynamodb:DescribeTimeToLive", &resource));
            check("roster ttl", CheckStatus::Warn, err.to_string())
        }
    });
    checks
}

async fn audit_table(c: &AwsClients, table: &str) -> DoctorCheck {
    let resource = Resource::AuditTable(table.to_string());
    match c.dynamo.describe_table().table_name(table).send().await {
        Ok(out) => {
            let keyed_by_id = out.table().is_some_and(|t| {
                t.key_schema()
                    .iter()
                    .any(|k| k.attribute_name() == AUDIT_HASH_KEY && k.key_type() == &KeyType::Hash)
            });
            if keyed_by_id {
                check(
                    "audit table",
                    CheckStatus::Ok,
                    format!("{table}: hash {AUDIT_HASH_KEY} (S)"),
                )
            } else {
                check(
                    "audit table",
                    CheckStatus::Fail,
                    format!(
                        "{table} exists but its hash key is not {AUDIT_HASH_KEY}; audit writes will fail"
                    ),
                )
            }
        }
        Err(e) if errors::code(&e) == Some("ResourceNotFoundException") => check(
            "audit table",
            CheckStatus::Fail,
            format!(
                "audit table {table} does not exist, so changes cannot be audited: create it with \
                 `mtls-console init-infra`, or in IaC as a table with hash key {AUDIT_HASH_KEY} (S), on-demand"
            ),
        ),
        Err(e) => check(
            "audit table",
            CheckStatus::Fail,
            errors::map(e, &call(c, "dynamodb:DescribeTable", &resource)).to_string(),
        ),
    }
}

/// Types of every parameter under `/{project}/{env}/`, by name.
async fn parameter_types(
    c: &AwsClients,
    prefix: &str,
) -> Result<BTreeMap<String, ParameterType>, String> {
    let resource = Resource::Parameter(format!("{prefix}/*"));
    let filter = ParameterStringFilter::builder()
        .key("Path")
        .option("Recursive")
        .values(prefix)
        .build()
        .map_err(|e| e.to_string())?;
    let mut types = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let out = c
            .ssm
            .describe_parameters()
            .parameter_filters(filter.clone())
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| {
                errors::map(e, &call(c, "ssm:DescribeParameters", &resource)).to_string()
            })?;
        for p in out.parameters() {
            if let (Some(name), Some(kind)) = (p.name(), p.r#type()) {
                types.insert(name.to_string(), kind.clone());
            }
        }
        match out.next_token {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => break,
        }
    }
    Ok(types)
}

async fn ssm_parameters(c: &AwsClients, env: &EnvConfig) -> DoctorCheck {
    let name = "vault parameters";
    let prefix = format!("/{}/{}", env.project, env.account_name());
    let types = match parameter_types(c, &prefix).await {
        Ok(t) => t,
        Err(e) => return check(name, CheckStatus::Fail, e),
    };
    let ssm = |item: &VaultItem| item.ssm_name(&env.project, env.account_name());
    let mut problems = Vec::new();
    let mut missing = Vec::new();
    for (param, kind) in &types {
        let secret = param.ends_with("/private-key");
        if secret && kind != &ParameterType::SecureString {
            problems.push(format!(
                "{param} is {} but holds a private key: it must be SecureString",
                kind.as_str()
            ));
        }
        if !secret && param.ends_with("/certificate") && kind != &ParameterType::String {
            problems.push(format!(
                "{param} is {} but a certificate should be String",
                kind.as_str()
            ));
        }
    }
    for item in [VaultItem::RootKey, VaultItem::RootCert] {
        if !types.contains_key(&ssm(&item)) {
            missing.push(ssm(&item));
        }
    }
    let inter = [VaultItem::IntermediateKey, VaultItem::IntermediateCert]
        .map(|i| types.contains_key(&ssm(&i)));
    let hierarchy = match inter {
        [true, true] => "root + intermediate",
        [false, false] => "root only",
        _ => {
            problems.push(format!(
                "only one of {} and {} exists",
                ssm(&VaultItem::IntermediateKey),
                ssm(&VaultItem::IntermediateCert)
            ));
            "incomplete"
        }
    };
    let clients = types.keys().filter(|p| p.contains("/clients/")).count();
    if !problems.is_empty() {
        check(name, CheckStatus::Fail, problems.join("; "))
    } else if missing.len() == 2 {
        check(
            name,
            CheckStatus::Warn,
            format!("no CA under {prefix}/ca yet: create one with `mtls-console ca init`"),
        )
    } else if !missing.is_empty() {
        check(
            name,
            CheckStatus::Fail,
            format!("missing: {}", missing.join(", ")),
        )
    } else {
        check(
            name,
            CheckStatus::Ok,
            format!(
                "{prefix}: CA present ({hierarchy}), keys SecureString, certs String; {clients} client parameters"
            ),
        )
    }
}

async fn secrets(c: &AwsClients, env: &EnvConfig) -> DoctorCheck {
    let name = "vault secrets";
    let vault = SecretsVault::new(c.secrets.clone(), env.account_name(), &c.endpoint);
    let Some(slot) = vault.slot(&VaultItem::RootKey) else {
        return check(
            name,
            CheckStatus::Fail,
            "the Secrets Manager layout has no root CA slot",
        );
    };
    let resource = Resource::Secret(slot.secret.clone());
    match c
        .secrets
        .describe_secret()
        .secret_id(&slot.secret)
        .send()
        .await
    {
        Ok(out) if out.deleted_date.is_some() => check(
            name,
            CheckStatus::Fail,
            format!(
                "secret {} is scheduled for deletion; restore it before using this environment",
                slot.secret
            ),
        ),
        Ok(_) => check(
            name,
            CheckStatus::Ok,
            format!("secret {} present (root-only hierarchy)", slot.secret),
        ),
        Err(e) if errors::code(&e) == Some("ResourceNotFoundException") => check(
            name,
            CheckStatus::Warn,
            format!(
                "secret {} does not exist yet: create the CA with `mtls-console ca init --root-only`",
                slot.secret
            ),
        ),
        Err(e) => check(
            name,
            CheckStatus::Fail,
            errors::map(e, &call(c, "secretsmanager:DescribeSecret", &resource)).to_string(),
        ),
    }
}

/// The versioning status from a successful (200) GetBucketVersioning response the SDK could
/// not decode: moto 5.2 names its root element `GetBucketVersioningResponse` instead of
/// `VersioningConfiguration`. None for any other error.
fn versioning_from_raw<E>(
    err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> Option<String> {
    let aws_sdk_s3::error::SdkError::ServiceError(se) = err else {
        return None;
    };
    let raw = se.raw();
    if raw.status().as_u16() != 200 {
        return None;
    }
    let body = std::str::from_utf8(raw.body().bytes()?).ok()?;
    let status = match body.split_once("<Status>") {
        Some((_, rest)) => rest.split_once("</Status>")?.0.to_string(),
        None => "off".to_string(),
    };
    Some(status)
}

async fn bucket(c: &AwsClients, bucket: &str) -> Vec<DoctorCheck> {
    let resource = Resource::Bucket(bucket.to_string());
    let mut checks = Vec::new();
    let status = match c.s3.get_bucket_versioning().bucket(bucket).send().await {
        Ok(out) => out.status().map(|s| s.as_str().to_string()),
        Err(e) => match versioning_from_raw(&e) {
            Some(status) => Some(status),
            None => {
                let err = errors::map(e, &call(c, "s3:GetBucketVersioning", &resource));
                return vec![check(
                    "truststore bucket",
                    CheckStatus::Fail,
                    err.to_string(),
                )];
            }
        },
    };
    checks.push(if status.as_deref() == Some(BucketVersioningStatus::Enabled.as_str()) {
        check("truststore versioning", CheckStatus::Ok, format!("{bucket}: versioning enabled"))
    } else {
        check(
            "truststore versioning",
            CheckStatus::Fail,
            format!(
                "{bucket}: versioning is {}; publish history and rollback need it: \
                 aws s3api put-bucket-versioning --bucket {bucket} --versioning-configuration Status=Enabled",
                status.as_deref().unwrap_or("off")
            ),
        )
    });
    checks.push(match c.s3.get_public_access_block().bucket(bucket).send().await {
        Ok(out) => {
            let all = out.public_access_block_configuration().is_some_and(|p| {
                p.block_public_acls() == Some(true)
                    && p.ignore_public_acls() == Some(true)
                    && p.block_public_policy() == Some(true)
                    && p.restrict_public_buckets() == Some(true)
            });
            if all {
                check("truststore public access", CheckStatus::Ok, format!("{bucket}: all public access blocked"))
            } else {
                check(
                    "truststore public access",
                    CheckStatus::Fail,
                    format!("{bucket}: public access is not fully blocked; enable all four Block Public Access settings"),
                )
            }
        }
        Err(e) if errors::code(&e) == Some("NoSuchPublicAccessBlockConfiguration") => check(
            "truststore public access",
            CheckStatus::Fail,
            format!("{bucket}: no public access block; enable all four Block Public Access settings"),
        ),
        Err(e) => check(
            "truststore public access",
            CheckStatus::Fail,
            errors::map(e, &call(c, "s3:GetBucketPublicAccessBlock", &resource)).to_string(),
        ),
    });
    checks.push(
        match c.s3.get_bucket_encryption().bucket(bucket).send().await {
            Ok(out) => {
                let algos: Vec<String> = out
                    .server_side_encryption_configuration()
                    .map(|c| {
                        c.rules()
                            .iter()
                            .filter_map(|r| r.apply_server_side_encryption_by_default())
                            .map(|d| d.sse_algorithm().as_str().to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                if algos.is_empty() {
                    check(
                        "truststore encryption",
                        CheckStatus::Warn,
                        format!("{bucket}: no default encryption rule"),
                    )
                } else {
                    check(
                        "truststore encryption",
                        CheckStatus::Ok,
                        format!("{bucket}: default SSE {}", algos.join(", ")),
                    )
                }
            }
            Err(e)
                if errors::code(&e) == Some("ServerSideEncryptionConfigurationNotFoundError") =>
            {
                check(
                    "truststore encryption",
                    CheckStatus::Warn,
                    format!("{bucket}: no default encryption configured"),
                )
            }
            Err(e) => check(
                "truststore encryption",
                CheckStatus::Warn,
                errors::map(e, &call(c, "s3:GetEncryptionConfiguration", &resource)).to_string(),
            ),
        },
    );
    checks
}
