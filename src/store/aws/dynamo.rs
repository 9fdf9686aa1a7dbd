//! The roster on the contract's DynamoDB table: one item per certificate, hash key
//! `serialNumber` (decimal string). Item attributes come from [`crate::store::item`], the one
//! mapping shared with the embedded backend; this module only converts its values to and from
//! DynamoDB's and makes every write conditional.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

use super::errors::{self, Call, Resource};
use super::retry::{RetryPolicy, with_retry};
use crate::model::CertRecord;
use crate::store::item::{self, AttrValue, names};
use crate::store::{Expect, Roster, RosterWrite, StoreError, StoreResult};

/// Segments of the parallel scan used for listing.
pub const SCAN_SEGMENTS: i32 = 4;

/// Every attribute a listing needs: all of the item except `certificatePem`.
pub const LIST_PROJECTION: &[&str] = &[
    names::SERIAL_NUMBER,
    names::CLIENT_ID,
    names::CLIENT_NAME,
    names::STATUS,
    names::ISSUED_AT,
    names::NOT_BEFORE,
    names::EXPIRY,
    names::TTL,
    names::NOT_AFTER,
    names::FINGERPRINT,
    names::ISSUER,
    names::ISSUER_FINGERPRINT,
    names::KEY_ALGORITHM,
    names::KEY_HELD,
    names::REVOKED_AT,
    names::REVOCATION_REASON,
    names::REVOKED_BY,
    names::REVOCATION_NOTE,
    names::REPLACES,
    names::REPLACED_BY,
    names::VERSION,
];

/// DynamoDB's limit on items in one TransactWriteItems.
const MAX_TRANSACTION_ITEMS: usize = 100;

/// A roster item in DynamoDB's representation.
pub fn to_item(record: &CertRecord) -> HashMap<String, AttributeValue> {
    item::to_attrs(record)
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                AttrValue::S(s) => AttributeValue::S(s),
                AttrValue::N(n) => AttributeValue::N(n),
                AttrValue::Bool(b) => AttributeValue::Bool(b),
            };
            (k, v)
        })
        .collect()
}

/// A record from a DynamoDB item. Attributes of other types (lists, maps, sets, binary,
/// null) are not part of the mapping and are ignored, like any unknown attribute.
pub fn from_item(item: &HashMap<String, AttributeValue>) -> StoreResult<CertRecord> {
    let attrs: BTreeMap<String, AttrValue> = item
        .iter()
        .filter_map(|(k, v)| {
            let v = match v {
                AttributeValue::S(s) => AttrValue::S(s.clone()),
                AttributeValue::N(n) => AttrValue::N(n.clone()),
                AttributeValue::Bool(b) => AttrValue::Bool(*b),
                _ => return None,
            };
            Some((k.clone(), v))
        })
        .collect();
    item::from_attrs(&attrs)
}

/// A filter for [`DynamoRoster::scan`]: expression, names and values.
struct Filter {
    expression: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

/// One write of a transaction in DynamoDB's terms.
struct PreparedPut {
    serial: String,
    item: HashMap<String, AttributeValue>,
    condition: String,
    names: Option<HashMap<String, String>>,
    values: Option<HashMap<String, AttributeValue>>,
    /// What a failed condition means, for the conflict message.
    conflict: String,
}

fn prepare(write: RosterWrite) -> PreparedPut {
    match write {
        RosterWrite::Put(record) => PreparedPut {
            conflict: format!(
                "roster item {} already exists (serialNumber must be unique)",
                record.serial
            ),
            serial: record.serial.clone(),
            item: to_item(&record),
            condition: "attribute_not_exists(serialNumber)".into(),
            names: None,
            values: None,
        },
        RosterWrite::Update(mut record, Expect { version, active }) => {
            record.version = version + 1;
            let mut condition = if version == 0 {
                "attribute_exists(serialNumber) AND (attribute_not_exists(#v) OR #v = :v)"
                    .to_string()
            } else {
                "attribute_exists(serialNumber) AND #v = :v".to_string()
            };
            let mut names = HashMap::from([("#v".to_string(), "version".to_string())]);
            let mut values =
                HashMap::from([(":v".to_string(), AttributeValue::N(version.to_string()))]);
            if active {
                condition.push_str(" AND #s = :active");
                names.insert("#s".into(), "status".into());
                values.insert(":active".into(), AttributeValue::S("active".into()));
            }
            PreparedPut {
                conflict: format!(
                    "roster item {} changed or disappeared since it was read (expected version {version}{})",
                    record.serial,
                    if active { ", status active" } else { "" }
                ),
                serial: record.serial.clone(),
                item: to_item(&record),
                condition,
                names: Some(names),
                values: Some(values),
            }
        }
    }
}

/// The roster on DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoRoster {
    client: aws_sdk_dynamodb::Client,
    table: String,
    endpoint: String,
}

impl DynamoRoster {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        endpoint: impl Into<String>,
    ) -> Self {
        DynamoRoster {
            client,
            table: table.into(),
            endpoint: endpoint.into(),
        }
    }

    fn map<E, R>(&self, e: aws_sdk_dynamodb::error::SdkError<E, R>, action: &str) -> StoreError
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
        R: std::fmt::Debug,
    {
        errors::map(
            e,
            &Call {
                action,
                resource: &Resource::Table(self.table.clone()),
                endpoint: &self.endpoint,
            },
        )
    }

    /// One segment of a scan, all pages.
    async fn scan_segment(
        &self,
        segment: i32,
        projection: Option<&(String, HashMap<String, String>)>,
        filter: Option<&Filter>,
    ) -> StoreResult<Vec<HashMap<String, AttributeValue>>> {
        let mut names: HashMap<String, String> = HashMap::new();
        if let Some((_, n)) = projection {
            names.extend(n.clone());
        }
        if let Some(f) = filter {
            names.extend(f.names.clone());
        }
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .segment(segment)
                .total_segments(SCAN_SEGMENTS)
                .consistent_read(true)
                .set_projection_expression(projection.map(|(p, _)| p.clone()))
                .set_filter_expression(filter.map(|f| f.expression.clone()))
                .set_expression_attribute_names((!names.is_empty()).then(|| names.clone()))
                .set_expression_attribute_values(filter.map(|f| f.values.clone()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.map(e, "dynamodb:Scan"))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(items)
    }

    /// A parallel scan of [`SCAN_SEGMENTS`] segments, read concurrently, as records sorted
    /// by `issuedAt` then serial.
    async fn scan(&self, with_pem: bool, filter: Option<Filter>) -> StoreResult<Vec<CertRecord>> {
        let projection = (!with_pem).then(|| {
            let names: HashMap<String, String> = LIST_PROJECTION
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("#p{i}"), (*n).to_string()))
                .collect();
            let expr = (0..LIST_PROJECTION.len())
                .map(|i| format!("#p{i}"))
                .collect::<Vec<_>>()
                .join(", ");
            (expr, names)
        });
        let segments = futures::future::try_join_all(
            (0..SCAN_SEGMENTS).map(|s| self.scan_segment(s, projection.as_ref(), filter.as_ref())),
        )
        .await?;
        let mut records = segments
            .iter()
            .flatten()
            .map(from_item)
            .collect::<StoreResult<Vec<_>>>()?;
        records.sort_by(|a, b| {
            a.issued_at
                .cmp(&b.issued_at)
                .then_with(|| a.serial.cmp(&b.serial))
        });
        Ok(records)
    }

    async fn put_one(&self, p: PreparedPut) -> StoreResult<()> {
        let res = with_retry(&RetryPolicy::default(), None, "dynamodb:PutItem", || {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(p.item.clone()))
                .condition_expression(p.condition.clone())
                .set_expression_attribute_names(p.names.clone())
                .set_expression_attribute_values(p.values.clone())
                .send()
        })
        .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if errors::code(&e) == Some("ConditionalCheckFailedException") => Err(
                StoreError::Conflict(format!("{}; nothing was written", p.conflict)),
            ),
            Err(e) => Err(self.map(e, "dynamodb:PutItem")),
        }
    }

    async fn put_many(&self, prepared: Vec<PreparedPut>) -> StoreResult<()> {
        let mut conflicts = Vec::with_capacity(prepared.len());
        let mut serials = Vec::with_capacity(prepared.len());
        let mut items = Vec::with_capacity(prepared.len());
        for p in prepared {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(p.item))
                .condition_expression(p.condition)
                .set_expression_attribute_names(p.names)
                .set_expression_attribute_values(p.values)
                .build()
                .map_err(|e| {
                    StoreError::Backend(format!("building the roster transaction: {e}"))
                })?;
            items.push(TransactWriteItem::builder().put(put).build());
            conflicts.push(p.conflict);
            serials.push(p.serial);
        }
        // Throttled writes were not applied, so they are retried; the conditions keep a retry
        // from applying anything twice.
        let res = with_retry(&RetryPolicy::default(), None, "dynamodb:PutItem", || {
            self.client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
        })
        .await;
        let err = match res {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if errors::code(&err) != Some("TransactionCanceledException") {
            return Err(self.map(err, "dynamodb:PutItem"));
        }
        let reasons: Vec<Option<String>> = match err.as_service_error() {
            Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(tc))
                if !tc.cancellation_reasons().is_empty() =>
            {
                tc.cancellation_reasons()
                    .iter()
                    .map(|r| r.code().map(str::to_string))
                    .collect()
            }
            // Some emulators only list the reasons in the message: "... [ConditionalCheckFailed, None]".
            _ => {
                let message = aws_smithy_types::error::metadata::ProvideErrorMetadata::message(&err)
                    .unwrap_or("");
                message
                    .rfind('[')
                    .and_then(|i| message[i + 1..].split(']').next())
                    .map(|list| list.split(',').map(|c| Some(c.trim().to_string())).collect())
                    .unwrap_or_default()
            }
        };
        let failed: Vec<String> = reasons
            .iter()
            .enumerate()
            .filter(|(_, code)| code.as_deref() == Some("ConditionalCheckFailed"))
            .filter_map(|(i, _)| conflicts.get(i).cloned())
            .collect();
        if failed.is_empty() {
            let codes: Vec<String> = reasons
                .iter()
                .map(|c| c.clone().unwrap_or_else(|| "None".into()))
                .collect();
            Err(StoreError::Conflict(format!(
                "the roster transaction on {} was cancelled ({}); nothing was written, re-read and retry",
                serials.join(", "),
                codes.join(", ")
            )))
        } else {
            Err(StoreError::Conflict(format!(
                "{}; nothing was written (the transaction is all or nothing)",
                failed.join("; ")
            )))
        }
    }
}

#[async_trait]
impl Roster for DynamoRoster {
    async fn list(&self, with_pem: bool) -> StoreResult<Vec<CertRecord>> {
        self.scan(with_pem, None).await
    }

    async fn get(&self, serial: &str) -> StoreResult<Option<CertRecord>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("serialNumber", AttributeValue::S(serial.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.map(e, "dynamodb:GetItem"))?;
        out.item.as_ref().map(from_item).transpose()
    }

    async fn by_client(&self, client_id: &str) -> StoreResult<Vec<CertRecord>> {
        let filter = Filter {
            expression: "#cid = :c OR (attribute_not_exists(#cid) AND #cn = :c)".into(),
            names: HashMap::from([
                ("#cid".to_string(), "client_id".to_string()),
                ("#cn".to_string(), "clientName".to_string()),
            ]),
            values: HashMap::from([(":c".to_string(), AttributeValue::S(client_id.to_string()))]),
        };
        self.scan(true, Some(filter)).await
    }

    async fn transact(&self, writes: Vec<RosterWrite>) -> StoreResult<()> {
        if writes.len() > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::Invalid(format!(
                "a roster transaction holds at most {MAX_TRANSACTION_ITEMS} writes; got {}",
                writes.len()
            )));
        }
        let mut prepared: Vec<PreparedPut> = writes.into_iter().map(prepare).collect();
        match prepared.len() {
            0 => Ok(()),
            1 => self.put_one(prepared.remove(0)).await,
            _ => self.put_many(prepared).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::model::{CertStatus, RevocationReason};

    #[test]
    fn the_listing_projection_is_every_attribute_but_the_pem() {
        let t = time::macros::datetime!(2025-01-01 00:00:00 UTC);
        let full = CertRecord {
            serial: "1".into(),
            client_id: "c".into(),
            client_name: "c".into(),
            status: CertStatus::Revoked,
            issued_at: t,
            not_before: Some(t),
            expiry: t,
            ttl: 0,
            not_after: Some(t),
            cert_pem: Some("PEM".into()),
            fingerprint: Some("f".into()),
            issuer: Some("i".into()),
            issuer_fingerprint: Some("if".into()),
            key_algorithm: Some("k".into()),
            key_held: true,
            revoked_at: Some(t),
            revocation_reason: Some(RevocationReason::Superseded),
            revoked_by: Some("o".into()),
            revocation_note: Some("rotated".into()),
            replaces: Some("0".into()),
            replaced_by: Some("2".into()),
            version: 1,
        };
        let mut all: BTreeSet<String> = to_item(&full).into_keys().collect();
        assert!(all.remove(names::CERTIFICATE_PEM));
        let projected: BTreeSet<String> = LIST_PROJECTION.iter().map(|s| s.to_string()).collect();
        assert_eq!(all, projected);
        assert_eq!(from_item(&to_item(&full)).unwrap(), full);
    }
}
