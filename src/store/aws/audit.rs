//! The audit log on a DynamoDB table (hash key `id` (S)). Items: `id`, `at` (RFC 3339 UTC),
//! `operator` (the STS caller ARN), `action`, `target`, `outcome`, `detail`. Appends are
//! conditional on the id being new, so nothing is ever overwritten.
//!
//! `recent` scans the whole table and sorts newest first: fine for thousands of entries; a
//! larger log would want a GSI on a constant partition with `at` as range key.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use super::errors::{self, Call, Resource};
use super::retry::{RetryPolicy, with_retry};
use crate::model::{AuditOutcome, AuditRecord};
use crate::store::{AuditLog, Contended, StoreError, StoreResult};
use crate::timefmt;

/// The audit log table.
#[derive(Debug, Clone)]
pub struct DynamoAudit {
    client: aws_sdk_dynamodb::Client,
    table: String,
    endpoint: String,
}

impl DynamoAudit {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        endpoint: impl Into<String>,
    ) -> Self {
        DynamoAudit {
            client,
            table: table.into(),
            endpoint: endpoint.into(),
        }
    }

    fn call<'a>(&'a self, action: &'a str, resource: &'a Resource) -> Call<'a> {
        Call {
            action,
            resource,
            endpoint: &self.endpoint,
        }
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

/// RFC 3339 in UTC with the fraction kept, so entries within one second still sort.
fn format_at(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| timefmt::format(t))
}

pub(super) fn to_item(r: &AuditRecord) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("id".to_string(), s(&r.id)),
        ("at".to_string(), s(&format_at(r.at))),
        ("operator".to_string(), s(&r.operator)),
        ("action".to_string(), s(&r.action)),
        ("target".to_string(), s(&r.target)),
        ("outcome".to_string(), s(r.outcome.as_str())),
        ("detail".to_string(), s(&r.detail)),
    ])
}

fn from_item(table: &str, item: &HashMap<String, AttributeValue>) -> StoreResult<AuditRecord> {
    let get = |name: &str| match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    };
    let id = get("id").unwrap_or_default();
    let bad = |what: &str| {
        StoreError::Backend(format!(
            "audit item '{id}' in table {table} has no valid {what}"
        ))
    };
    let at = get("at")
        .as_deref()
        .and_then(timefmt::parse)
        .ok_or_else(|| bad("at"))?;
    let outcome = get("outcome")
        .as_deref()
        .and_then(AuditOutcome::parse)
        .ok_or_else(|| bad("outcome"))?;
    Ok(AuditRecord {
        at,
        operator: get("operator").unwrap_or_default(),
        action: get("action").ok_or_else(|| bad("action"))?,
        target: get("target").unwrap_or_default(),
        outcome,
        detail: get("detail").unwrap_or_default(),
        id,
    })
}

#[async_trait]
impl AuditLog for DynamoAudit {
    async fn append(&self, record: &AuditRecord) -> StoreResult<()> {
        let item = to_item(record);
        let res = with_retry(&RetryPolicy::default(), None, "dynamodb:PutItem", || {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()))
                .condition_expression("attribute_not_exists(id)")
                .send()
        })
        .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if errors::code(&e) == Some("ConditionalCheckFailedException") => {
                Err(StoreError::conflict(
                    Contended::Audit(record.id.clone()),
                    format!(
                        "audit record {} already exists in {}; audit records are never overwritten",
                        record.id, self.table
                    ),
                ))
            }
            Err(e) => {
                let resource = Resource::AuditTable(self.table.clone());
                Err(errors::map(e, &self.call("dynamodb:PutItem", &resource)))
            }
        }
    }

    async fn recent(&self, limit: usize) -> StoreResult<Vec<AuditRecord>> {
        let resource = Resource::AuditTable(self.table.clone());
        let mut records = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| errors::map(e, &self.call("dynamodb:Scan", &resource)))?;
            for item in out.items() {
                records.push(from_item(&self.table, item)?);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        records.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.id.cmp(&a.id)));
        records.truncate(limit);
        Ok(records)
    }
}
