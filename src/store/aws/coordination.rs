//! The console's coordination table on DynamoDB (hash key `pk` (S); the console owns it, like
//! the audit table): client heads (`client#{id}`), leases for exclusive work (`lease#{name}`)
//! and versioned documents (the rotation journal `journal#rotation`, ...). Items: `pk`, `version` (N), `token` (S,
//! leases), `body` (S, JSON). Every write is conditional (`attribute_not_exists(pk)`,
//! `version = :v` or `token = :t`), so two consoles never overwrite each other; the
//! authorizer and the reference tooling never read this table.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

use super::dynamo::{cancellation_reasons, coordination_error, fence_check};
use super::errors;
use super::retry::{RetryPolicy, with_retry};
use crate::store::{
    Contended, Coordination, Fence, LeaseRecord, StoreError, StoreResult, Versioned,
};

/// The coordination table.
#[derive(Debug, Clone)]
pub struct DynamoCoordination {
    client: aws_sdk_dynamodb::Client,
    table: String,
    endpoint: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn lease_key(name: &str) -> String {
    format!("lease#{name}")
}

impl DynamoCoordination {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        endpoint: impl Into<String>,
    ) -> Self {
        DynamoCoordination {
            client,
            table: table.into(),
            endpoint: endpoint.into(),
        }
    }

    async fn get(&self, key: &str) -> StoreResult<Option<HashMap<String, AttributeValue>>> {
        let out = with_retry(&RetryPolicy::default(), None, "dynamodb:GetItem", || {
            self.client
                .get_item()
                .table_name(&self.table)
                .key("pk", s(key))
                .consistent_read(true)
                .send()
        })
        .await
        .map_err(|e| coordination_error(e, &self.table, &self.endpoint, "dynamodb:GetItem"))?;
        Ok(out.item)
    }
}

fn text(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

fn lost(name: &str) -> StoreError {
    StoreError::conflict(
        Contended::Lease(name.to_string()),
        format!(
            "the {name} lease is no longer held by this run (it expired and another run took it \
             over); nothing was written"
        ),
    )
}

#[async_trait]
impl Coordination for DynamoCoordination {
    async fn lease(&self, name: &str) -> StoreResult<Option<LeaseRecord>> {
        let Some(item) = self.get(&lease_key(name)).await? else {
            return Ok(None);
        };
        let body = text(&item, "body").unwrap_or_default();
        serde_json::from_str(&body).map(Some).map_err(|e| {
            StoreError::Backend(format!(
                "the {name} lease in {} is unreadable ({e}); delete the item lease#{name} once \
                 no run holds it",
                self.table
            ))
        })
    }

    async fn put_lease(&self, lease: &LeaseRecord, expect: Option<&str>) -> StoreResult<()> {
        let body = serde_json::to_string(lease).map_err(|e| {
            StoreError::Backend(format!("cannot encode the {} lease: {e}", lease.name))
        })?;
        let res = with_retry(&RetryPolicy::default(), None, "dynamodb:PutItem", || {
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(lease_key(&lease.name)))
                .item("version", AttributeValue::N("1".into()))
                .item("token", s(&lease.token))
                .item("body", s(&body));
            match expect {
                None => put.condition_expression("attribute_not_exists(pk)"),
                Some(token) => put
                    .condition_expression("#t = :t")
                    .expression_attribute_names("#t", "token")
                    .expression_attribute_values(":t", s(token)),
            }
            .send()
        })
        .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if errors::code(&e) == Some("ConditionalCheckFailedException") => {
                Err(StoreError::conflict(
                    Contended::Lease(lease.name.clone()),
                    format!(
                        "the {} lease changed meanwhile; another run holds it",
                        lease.name
                    ),
                ))
            }
            Err(e) => Err(coordination_error(
                e,
                &self.table,
                &self.endpoint,
                "dynamodb:PutItem",
            )),
        }
    }

    async fn delete_lease(&self, name: &str, token: &str) -> StoreResult<()> {
        let res = with_retry(&RetryPolicy::default(), None, "dynamodb:DeleteItem", || {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(lease_key(name)))
                .condition_expression("#t = :t")
                .expression_attribute_names("#t", "token")
                .expression_attribute_values(":t", s(token))
                .send()
        })
        .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if errors::code(&e) == Some("ConditionalCheckFailedException") => {
                Err(lost(name))
            }
            Err(e) => Err(coordination_error(
                e,
                &self.table,
                &self.endpoint,
                "dynamodb:DeleteItem",
            )),
        }
    }

    async fn doc(&self, key: &str) -> StoreResult<Option<Versioned>> {
        let Some(item) = self.get(key).await? else {
            return Ok(None);
        };
        let version = match item.get("version") {
            Some(AttributeValue::N(n)) => n.parse().unwrap_or(0),
            _ => 0,
        };
        Ok(Some(Versioned {
            text: text(&item, "body").unwrap_or_default(),
            version,
        }))
    }

    async fn put_doc(
        &self,
        key: &str,
        body: &str,
        expect: u64,
        fence: Option<&Fence>,
        resource: Contended,
    ) -> StoreResult<()> {
        let mut put = Put::builder()
            .table_name(&self.table)
            .item("pk", s(key))
            .item("version", AttributeValue::N((expect + 1).to_string()))
            .item("body", s(body));
        put = if expect == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("#v = :v")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", AttributeValue::N(expect.to_string()))
        };
        let put = put
            .build()
            .map_err(|e| StoreError::Backend(format!("building the write of {key}: {e}")))?;
        let mut items = Vec::new();
        if let Some(fence) = fence {
            items.push(fence_check(&self.table, fence)?);
        }
        items.push(TransactWriteItem::builder().put(put).build());
        let res = with_retry(
            &RetryPolicy::default(),
            None,
            "dynamodb:TransactWriteItems",
            || {
                self.client
                    .transact_write_items()
                    .set_transact_items(Some(items.clone()))
                    .send()
            },
        )
        .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if errors::code(&e) == Some("TransactionCanceledException") => {
                // The fence is the first element when there is one.
                let first = cancellation_reasons(&e).into_iter().next().flatten();
                match fence {
                    Some(f) if first.as_deref() == Some("ConditionalCheckFailed") => {
                        Err(lost(&f.lease))
                    }
                    _ => Err(StoreError::conflict(
                        resource.clone(),
                        format!(
                            "{resource} was changed by another run (expected version {expect}); \
                             nothing was written"
                        ),
                    )),
                }
            }
            Err(e) => Err(coordination_error(
                e,
                &self.table,
                &self.endpoint,
                "dynamodb:TransactWriteItems",
            )),
        }
    }

    fn location(&self) -> String {
        format!("DynamoDB table {}", self.table)
    }
}
