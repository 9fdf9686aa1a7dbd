//! `init-infra`: creates what a sandbox or an emulator lacks, with the contract's settings:
//! the roster table (hash `serialNumber` (S), GSI `status-issuedAt-index`, TTL on `ttl`,
//! on-demand), the audit table (hash `id` (S)), the console's coordination table (hash `pk`
//! (S)) and the truststore bucket (versioning, public
//! access blocked, SSE-S3). Existing resources are reported and left exactly as they are;
//! nothing is ever deleted. Production resources stay the deployment IaC's job.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, VersioningConfiguration,
};
use serde_json::{Value, json};

use super::errors::{self, Call, Resource};
use super::{AwsClients, truststore_bucket};
use crate::config::EnvConfig;
use crate::error::{Error, Result};

/// The roster table's hash key: the decimal certificate serial.
pub const HASH_KEY: &str = "serialNumber";
/// The contract's GSI and its keys.
pub const GSI_NAME: &str = "status-issuedAt-index";
pub const GSI_HASH_KEY: &str = "status";
pub const GSI_RANGE_KEY: &str = "issuedAt";
/// The TTL attribute (epoch seconds, notAfter + 90 days).
pub const TTL_ATTRIBUTE: &str = "ttl";
/// The audit table's hash key.
pub const AUDIT_HASH_KEY: &str = "id";
/// The coordination table's hash key (`client#{id}`, `lease#{name}`, `journal#rotation`).
pub const COORDINATION_HASH_KEY: &str = "pk";

/// The roster table as a DynamoDB CreateTable input (the form of `assets/table-definition.json`,
/// usable with `aws dynamodb create-table --cli-input-json`). TTL is set separately
/// (UpdateTimeToLive on `ttl`).
pub fn table_definition(table: &str) -> Value {
    json!({
        "TableName": table,
        "AttributeDefinitions": [
            {"AttributeName": HASH_KEY, "AttributeType": "S"},
            {"AttributeName": GSI_HASH_KEY, "AttributeType": "S"},
            {"AttributeName": GSI_RANGE_KEY, "AttributeType": "S"}
        ],
        "KeySchema": [{"AttributeName": HASH_KEY, "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [{
            "IndexName": GSI_NAME,
            "KeySchema": [
                {"AttributeName": GSI_HASH_KEY, "KeyType": "HASH"},
                {"AttributeName": GSI_RANGE_KEY, "KeyType": "RANGE"}
            ],
            "Projection": {"ProjectionType": "ALL"}
        }],
        "BillingMode": "PAY_PER_REQUEST"
    })
}

fn built<T>(
    r: std::result::Result<T, aws_smithy_types::error::operation::BuildError>,
) -> Result<T> {
    r.map_err(|e| Error::Invalid(format!("building an init-infra request: {e}")))
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement> {
    built(
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build(),
    )
}

fn string_attr(name: &str) -> Result<AttributeDefinition> {
    built(
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build(),
    )
}

/// Does the table exist? Errors other than "not found" are returned.
async fn table_exists(c: &AwsClients, resource: &Resource, table: &str) -> Result<bool> {
    match c.dynamo.describe_table().table_name(table).send().await {
        Ok(_) => Ok(true),
        Err(e) if errors::code(&e) == Some("ResourceNotFoundException") => Ok(false),
        Err(e) => Err(errors::map(e, &call(c, "dynamodb:DescribeTable", resource)).into()),
    }
}

fn call<'a>(c: &'a AwsClients, action: &'a str, resource: &'a Resource) -> Call<'a> {
    Call {
        action,
        resource,
        endpoint: &c.endpoint,
    }
}

/// Waits (up to five minutes) until a new table is ACTIVE, so TTL can be set on it.
async fn wait_active(c: &AwsClients, resource: &Resource, table: &str) -> Result<()> {
    for _ in 0..150 {
        let out = c
            .dynamo
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| errors::map(e, &call(c, "dynamodb:DescribeTable", resource)))?;
        if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Err(Error::Io(format!(
        "{resource} did not become ACTIVE within five minutes; re-run `mtls-console init-infra` later"
    )))
}

async fn create_roster_table(c: &AwsClients, table: &str) -> Result<String> {
    let resource = Resource::Table(table.to_string());
    if table_exists(c, &resource, table).await? {
        return Ok(format!(
            "roster table {table}: already present, left as it is (`mtls-console doctor` checks it)"
        ));
    }
    let gsi = built(
        GlobalSecondaryIndex::builder()
            .index_name(GSI_NAME)
            .key_schema(key(GSI_HASH_KEY, KeyType::Hash)?)
            .key_schema(key(GSI_RANGE_KEY, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build(),
    )?;
    c.dynamo
        .create_table()
        .table_name(table)
        .attribute_definitions(string_attr(HASH_KEY)?)
        .attribute_definitions(string_attr(GSI_HASH_KEY)?)
        .attribute_definitions(string_attr(GSI_RANGE_KEY)?)
        .key_schema(key(HASH_KEY, KeyType::Hash)?)
        .global_secondary_indexes(gsi)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(|e| errors::map(e, &call(c, "dynamodb:CreateTable", &resource)))?;
    wait_active(c, &resource, table).await?;
    c.dynamo
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(built(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(TTL_ATTRIBUTE)
                .build(),
        )?)
        .send()
        .await
        .map_err(|e| errors::map(e, &call(c, "dynamodb:UpdateTimeToLive", &resource)))?;
    Ok(format!(
        "roster table {table}: created (hash {HASH_KEY} (S), GSI {GSI_NAME} ({GSI_HASH_KEY}, \
         {GSI_RANGE_KEY}, projection ALL), TTL on {TTL_ATTRIBUTE}, on-demand)"
    ))
}

/// Creates an on-demand table with a string hash key (the audit and coordination tables),
/// or leaves one that exists. `what` names it in the returned line.
async fn create_keyed_table(
    c: &AwsClients,
    what: &str,
    resource: Resource,
    table: &str,
    hash_key: &str,
) -> Result<String> {
    if table_exists(c, &resource, table).await? {
        return Ok(format!("{what} {table}: already present, left as it is"));
    }
    c.dynamo
        .create_table()
        .table_name(table)
        .attribute_definitions(string_attr(hash_key)?)
        .key_schema(key(hash_key, KeyType::Hash)?)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(|e| errors::map(e, &call(c, "dynamodb:CreateTable", &resource)))?;
    wait_active(c, &resource, table).await?;
    Ok(format!(
        "{what} {table}: created (hash {hash_key} (S), on-demand)"
    ))
}

async fn create_bucket(c: &AwsClients, bucket: &str) -> Result<String> {
    let resource = Resource::Bucket(bucket.to_string());
    match c.s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => {
            return Ok(format!(
                "truststore bucket {bucket}: already present, left as it is (`mtls-console doctor` \
                 checks versioning and public access)"
            ));
        }
        Err(e) if matches!(errors::code(&e), Some("NotFound" | "NoSuchBucket")) => {}
        Err(e) if errors::code(&e) == Some("Forbidden") => {
            return Err(Error::Store(crate::store::StoreError::AccessDenied(
                format!(
                    "s3:ListBucket on bucket {bucket} was refused: it exists but belongs to another \
                 account, or the caller lacks s3:ListBucket; choose another `truststore_bucket`"
                ),
            )));
        }
        Err(e) => return Err(errors::map(e, &call(c, "s3:ListBucket", &resource)).into()),
    }
    let mut create = c.s3.create_bucket().bucket(bucket);
    if c.region != "us-east-1" {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(c.region.as_str()))
                .build(),
        );
    }
    create
        .send()
        .await
        .map_err(|e| errors::map(e, &call(c, "s3:CreateBucket", &resource)))?;
    c.s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(|e| errors::map(e, &call(c, "s3:PutBucketVersioning", &resource)))?;
    c.s3.put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(|e| errors::map(e, &call(c, "s3:PutBucketPublicAccessBlock", &resource)))?;
    let sse = built(
        ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::Aes256)
            .build(),
    )?;
    c.s3.put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(built(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(sse)
                        .build(),
                )
                .build(),
        )?)
        .send()
        .await
        .map_err(|e| errors::map(e, &call(c, "s3:PutEncryptionConfiguration", &resource)))?;
    Ok(format!(
        "truststore bucket {bucket}: created (versioning on, public access blocked, SSE AES256)"
    ))
}

/// Creates the roster table, the audit table, the coordination table and the truststore
/// bucket where missing.
/// Returns one line per resource saying what was created or found already present.
pub async fn init_infra(env: &EnvConfig) -> Result<Vec<String>> {
    let c = AwsClients::load(env).await?;
    let id = c.identity().await?;
    let bucket = truststore_bucket(env, &id.account);
    Ok(vec![
        create_roster_table(&c, &env.table).await?,
        create_keyed_table(
            &c,
            "audit table",
            Resource::AuditTable(env.audit_table.clone()),
            &env.audit_table,
            AUDIT_HASH_KEY,
        )
        .await?,
        create_keyed_table(
            &c,
            "coordination table",
            Resource::CoordinationTable(env.coordination_table.clone()),
            &env.coordination_table,
            COORDINATION_HASH_KEY,
        )
        .await?,
        create_bucket(&c, &bucket).await?,
    ])
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_table_definition_asset_is_what_init_infra_creates() {
        let asset: Value =
            serde_json::from_str(include_str!("../../../assets/table-definition.json")).unwrap();
        assert_eq!(asset, table_definition("mtls-clients-metadata"));
    }

    fn actions(policy: &str) -> BTreeSet<String> {
        let v: Value = serde_json::from_str(policy).unwrap();
        assert_eq!(v["Version"], "2012-10-17");
        let mut out = BTreeSet::new();
        for st in v["Statement"].as_array().unwrap() {
            assert_eq!(st["Effect"], "Allow");
            for a in st["Action"].as_array().unwrap() {
                out.insert(a.as_str().unwrap().to_string());
            }
        }
        out
    }

    /// Does a statement of `policy` allow `action` on a resource of `resource`?
    fn grants(policy: &str, action: &str, resource: &str) -> bool {
        let v: Value = serde_json::from_str(policy).unwrap();
        v["Statement"].as_array().unwrap().iter().any(|st| {
            let resources: Vec<&str> = match &st["Resource"] {
                Value::String(r) => vec![r.as_str()],
                Value::Array(rs) => rs.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            st["Action"].as_array().unwrap().iter().any(|a| a == action)
                && resources.contains(&resource)
        })
    }

    /// The gateway's guard rails: every role reads the domain and the APIs mapped to it
    /// (GetApiMappings, GetApi, GetRoutes, GetAuthorizer); turning mTLS off and on (PATCH of the
    /// domain) is for operators and CA admins, never the read-only officer.
    #[test]
    fn the_iam_policies_cover_the_gateway_guard_rails() {
        let officer = include_str!("../../../assets/iam-policy-officer.json");
        let operator = include_str!("../../../assets/iam-policy-operator.json");
        let admin = include_str!("../../../assets/iam-policy-ca-admin.json");
        for policy in [officer, operator, admin] {
            for resource in [
                "arn:aws:apigateway:*::/domainnames/*",
                "arn:aws:apigateway:*::/apis/*",
            ] {
                assert!(grants(policy, "apigateway:GET", resource), "{resource}");
            }
        }
        for policy in [operator, admin] {
            assert!(grants(
                policy,
                "apigateway:PATCH",
                "arn:aws:apigateway:*::/domainnames/*"
            ));
        }
        assert!(!officer.contains("apigateway:PATCH"));
        for policy in [officer, operator, admin] {
            assert!(
                !grants(policy, "apigateway:PATCH", "arn:aws:apigateway:*::/apis/*"),
                "no role changes an API"
            );
        }
    }

    #[test]
    fn the_iam_policies_grow_by_role() {
        let officer = actions(include_str!("../../../assets/iam-policy-officer.json"));
        let operator = actions(include_str!("../../../assets/iam-policy-operator.json"));
        let admin = actions(include_str!("../../../assets/iam-policy-ca-admin.json"));
        assert!(officer.is_subset(&operator) && operator.is_subset(&admin));
        assert!(
            officer
                .iter()
                .all(|a| !a.contains("Put") && !a.contains("Create")),
            "{officer:?}"
        );
        for a in [
            "dynamodb:PutItem",
            "ssm:PutParameter",
            "s3:PutObject",
            "apigateway:PATCH",
        ] {
            assert!(operator.contains(a), "{a}");
        }
        for policy in [
            include_str!("../../../assets/iam-policy-officer.json"),
            include_str!("../../../assets/iam-policy-operator.json"),
            include_str!("../../../assets/iam-policy-ca-admin.json"),
        ] {
            assert!(
                policy.contains("table/mtls-clients-coordination"),
                "every role reads the coordination table (leases, heads, journal)"
            );
        }
        for a in ["dynamodb:DeleteItem", "ssm:GetParameterHistory"] {
            assert!(operator.contains(a) && !officer.contains(a), "{a}");
        }
        for a in [
            "dynamodb:CreateTable",
            "dynamodb:UpdateTimeToLive",
            "s3:CreateBucket",
        ] {
            assert!(admin.contains(a) && !operator.contains(a), "{a}");
        }
    }
}
