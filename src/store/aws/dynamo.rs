//! The roster on the contract's DynamoDB table: one item per certificate, hash key
//! `serialNumber` (decimal string). Item attributes come from [`crate::store::item`], the one
//! mapping shared with the embedded backend; this module only converts its values to and from
//! DynamoDB's and makes every write conditional.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem};

use super::errors::{self, Call, Resource};
use super::retry::{RetryPolicy, with_retry};
use crate::model::CertRecord;
use crate::store::item::{self, AttrValue, Item, names};
use crate::store::{
    ClientHead, Commit, Contended, Expect, Fence, HeadWrite, Listing, Roster, RosterWrite,
    StoreError, StoreResult,
};

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
    item::from_attrs(&attrs_of(item))
}

/// The attributes of the types a roster item uses (S, N, BOOL).
pub fn attrs_of(item: &HashMap<String, AttributeValue>) -> Item {
    item.iter()
        .filter_map(|(k, v)| {
            let v = match v {
                AttributeValue::S(s) => AttrValue::S(s.clone()),
                AttributeValue::N(n) => AttrValue::N(n.clone()),
                AttributeValue::Bool(b) => AttrValue::Bool(*b),
                _ => return None,
            };
            Some((k.clone(), v))
        })
        .collect::<BTreeMap<_, _>>()
}

/// A filter for [`DynamoRoster::scan`]: expression, names and values.
struct Filter {
    expression: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

/// One write of a transaction in DynamoDB's terms.
struct PreparedPut {
    item: HashMap<String, AttributeValue>,
    condition: String,
    names: Option<HashMap<String, String>>,
    values: Option<HashMap<String, AttributeValue>>,
    /// What a failed condition means, for the conflict message.
    conflict: String,
    resource: Contended,
}

fn prepare(write: RosterWrite) -> PreparedPut {
    match write {
        RosterWrite::Put(record) => PreparedPut {
            conflict: format!(
                "roster item {} already exists (serialNumber must be unique)",
                record.serial
            ),
            resource: Contended::Cert(record.serial.clone()),
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
                resource: Contended::Cert(record.serial.clone()),
                item: to_item(&record),
                condition,
                names: Some(names),
                values: Some(values),
            }
        }
    }
}

/// The roster on DynamoDB, with the client heads in the console's coordination table and the
/// audit table beside it: one TransactWriteItems spans the three.
#[derive(Debug, Clone)]
pub struct DynamoRoster {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// The coordination table (client heads, leases), when commits may write heads.
    coordination: Option<String>,
    /// The audit table, when commits may append audit records.
    audit: Option<String>,
    endpoint: String,
}

/// One element of a TransactWriteItems with what its failed condition means.
struct TxItem {
    write: TransactWriteItem,
    resource: Contended,
    conflict: String,
}

fn built<T>(r: Result<T, aws_smithy_types::error::operation::BuildError>) -> StoreResult<T> {
    r.map_err(|e| StoreError::Backend(format!("building the roster transaction: {e}")))
}

/// The fence of a commit: the lease item must still hold the token.
pub(crate) fn fence_check(table: &str, fence: &Fence) -> StoreResult<TransactWriteItem> {
    let check = built(
        ConditionCheck::builder()
            .table_name(table)
            .key("pk", AttributeValue::S(format!("lease#{}", fence.lease)))
            .condition_expression("#t = :t")
            .expression_attribute_names("#t", "token")
            .expression_attribute_values(":t", AttributeValue::S(fence.token.clone()))
            .build(),
    )?;
    Ok(TransactWriteItem::builder().condition_check(check).build())
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
            coordination: None,
            audit: None,
            endpoint: endpoint.into(),
        }
    }

    /// Commits may write client heads to `coordination` and audit records to `audit`.
    pub fn with_tables(
        mut self,
        coordination: impl Into<String>,
        audit: impl Into<String>,
    ) -> Self {
        self.coordination = Some(coordination.into());
        self.audit = Some(audit.into());
        self
    }

    fn coordination_table(&self) -> StoreResult<&str> {
        self.coordination.as_deref().ok_or_else(|| {
            StoreError::Invalid(
                "this roster has no coordination table to write client heads to".into(),
            )
        })
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
    /// by `issuedAt` then serial; unreadable items are skipped and listed.
    async fn scan_all(&self, with_pem: bool, filter: Option<Filter>) -> StoreResult<Listing> {
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
        let mut listing = Listing::from_results(segments.iter().flatten().map(|item| {
            let serial = match item.get(names::SERIAL_NUMBER) {
                Some(AttributeValue::S(s) | AttributeValue::N(s)) => s.clone(),
                _ => "?".to_string(),
            };
            (serial, from_item(item))
        }));
        listing.records.sort_by(|a, b| {
            a.issued_at
                .cmp(&b.issued_at)
                .then_with(|| a.serial.cmp(&b.serial))
        });
        Ok(listing)
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
                StoreError::conflict(p.resource, format!("{}; nothing was written", p.conflict)),
            ),
            Err(e) => Err(self.map(e, "dynamodb:PutItem")),
        }
    }

    /// The elements of a commit's transaction, in the order the commit lists them.
    fn tx_items(&self, commit: Commit) -> StoreResult<Vec<TxItem>> {
        if !commit.vault.is_empty() {
            return Err(StoreError::Invalid(
                "a DynamoDB transaction cannot write vault items (SSM or Secrets Manager): \
                 write the vault first, then commit the roster"
                    .into(),
            ));
        }
        let mut items = Vec::with_capacity(commit.len());
        if let Some(fence) = &commit.fence {
            items.push(TxItem {
                write: fence_check(self.coordination_table()?, fence)?,
                resource: Contended::Lease(fence.lease.clone()),
                conflict: format!(
                    "the {} lease is no longer held by this run (it expired and another run took it over)",
                    fence.lease
                ),
            });
        }
        for write in commit.heads {
            items.push(self.head_put(write)?);
        }
        for write in commit.certs {
            let p = prepare(write);
            let put = built(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(p.item))
                    .condition_expression(p.condition)
                    .set_expression_attribute_names(p.names)
                    .set_expression_attribute_values(p.values)
                    .build(),
            )?;
            items.push(TxItem {
                write: TransactWriteItem::builder().put(put).build(),
                resource: p.resource,
                conflict: p.conflict,
            });
        }
        if !commit.audit.is_empty() {
            let table = self.audit.as_deref().ok_or_else(|| {
                StoreError::Invalid("this roster has no audit table to append to".into())
            })?;
            for record in commit.audit {
                let put = built(
                    Put::builder()
                        .table_name(table)
                        .set_item(Some(super::audit::to_item(&record)))
                        .condition_expression("attribute_not_exists(id)")
                        .build(),
                )?;
                items.push(TxItem {
                    write: TransactWriteItem::builder().put(put).build(),
                    resource: Contended::Audit(record.id.clone()),
                    conflict: format!("audit record {} already exists", record.id),
                });
            }
        }
        Ok(items)
    }

    fn head_put(&self, write: HeadWrite) -> StoreResult<TxItem> {
        let HeadWrite { head, expect } = write;
        let body = serde_json::to_string(&head).map_err(|e| {
            StoreError::Backend(format!("cannot encode the head of {}: {e}", head.client_id))
        })?;
        let mut put = Put::builder()
            .table_name(self.coordination_table()?)
            .item(
                "pk",
                AttributeValue::S(format!("client#{}", head.client_id)),
            )
            .item("version", AttributeValue::N((expect + 1).to_string()))
            .item("body", AttributeValue::S(body));
        put = if expect == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("#v = :v")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", AttributeValue::N(expect.to_string()))
        };
        Ok(TxItem {
            write: TransactWriteItem::builder()
                .put(built(put.build())?)
                .build(),
            resource: Contended::Client(head.client_id.clone()),
            conflict: format!(
                "client {} was changed by someone else meanwhile (expected head version {expect})",
                head.client_id
            ),
        })
    }

    async fn transact_items(&self, items: Vec<TxItem>) -> StoreResult<()> {
        let (writes, meanings): (Vec<_>, Vec<_>) = items
            .into_iter()
            .map(|i| (i.write, (i.resource, i.conflict)))
            .unzip();
        // Throttled writes were not applied, so they are retried; the conditions keep a retry
        // from applying anything twice.
        let res = with_retry(
            &RetryPolicy::default(),
            None,
            "dynamodb:TransactWriteItems",
            || {
                self.client
                    .transact_write_items()
                    .set_transact_items(Some(writes.clone()))
                    .send()
            },
        )
        .await;
        let err = match res {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if errors::code(&err) != Some("TransactionCanceledException") {
            return Err(self.map(err, "dynamodb:PutItem"));
        }
        let reasons = cancellation_reasons(&err);
        let failed: Vec<&(Contended, String)> = reasons
            .iter()
            .enumerate()
            .filter(|(_, code)| code.as_deref() == Some("ConditionalCheckFailed"))
            .filter_map(|(i, _)| meanings.get(i))
            .collect();
        match failed.first() {
            None => {
                let codes: Vec<String> = reasons
                    .iter()
                    .map(|c| c.clone().unwrap_or_else(|| "None".into()))
                    .collect();
                let resource = meanings
                    .iter()
                    .map(|(r, _)| r.clone())
                    .find(|r| matches!(r, Contended::Client(_) | Contended::Cert(_)))
                    .unwrap_or_else(|| Contended::Other("a roster transaction".into()));
                Err(StoreError::conflict(
                    resource,
                    format!(
                        "the roster transaction was cancelled ({}); nothing was written, re-read and retry",
                        codes.join(", ")
                    ),
                ))
            }
            Some((resource, _)) => Err(StoreError::conflict(
                resource.clone(),
                format!(
                    "{}; nothing was written (the transaction is all or nothing)",
                    failed
                        .iter()
                        .map(|(_, m)| m.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            )),
        }
    }

    fn head_of(item: &HashMap<String, AttributeValue>) -> StoreResult<ClientHead> {
        let body = match item.get("body") {
            Some(AttributeValue::S(b)) => b,
            _ => return Err(StoreError::Backend("a client head has no body".into())),
        };
        let mut head: ClientHead = serde_json::from_str(body).map_err(|e| {
            StoreError::Backend(format!(
                "a client head is unreadable ({e}); `mtls-console repair` rebuilds heads from the roster"
            ))
        })?;
        head.version = match item.get("version") {
            Some(AttributeValue::N(n)) => n.parse().unwrap_or(0),
            _ => 0,
        };
        Ok(head)
    }
}

#[async_trait]
impl Roster for DynamoRoster {
    async fn scan(&self, with_pem: bool) -> StoreResult<Listing> {
        self.scan_all(with_pem, None).await
    }

    async fn get_item(&self, serial: &str) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("serialNumber", AttributeValue::S(serial.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.map(e, "dynamodb:GetItem"))?;
        Ok(out.item.as_ref().map(attrs_of))
    }

    async fn client_items(&self, client_id: &str) -> StoreResult<Listing> {
        let filter = Filter {
            expression: "#cid = :c OR (attribute_not_exists(#cid) AND #cn = :c)".into(),
            names: HashMap::from([
                ("#cid".to_string(), "client_id".to_string()),
                ("#cn".to_string(), "clientName".to_string()),
            ]),
            values: HashMap::from([(":c".to_string(), AttributeValue::S(client_id.to_string()))]),
        };
        self.scan_all(true, Some(filter)).await
    }

    async fn commit(&self, mut commit: Commit) -> StoreResult<()> {
        commit.check()?;
        if commit.len() == 1 && commit.certs.len() == 1 {
            let write = commit.certs.remove(0);
            return self.put_one(prepare(write)).await;
        }
        if commit.is_empty() {
            return Ok(());
        }
        let items = self.tx_items(commit)?;
        self.transact_items(items).await
    }

    async fn head(&self, client_id: &str) -> StoreResult<Option<ClientHead>> {
        let table = self.coordination_table()?;
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key("pk", AttributeValue::S(format!("client#{client_id}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| coordination_error(e, table, &self.endpoint, "dynamodb:GetItem"))?;
        out.item.as_ref().map(Self::head_of).transpose()
    }

    async fn heads(&self) -> StoreResult<Vec<ClientHead>> {
        let table = self.coordination_table()?;
        let mut heads = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(table)
                .consistent_read(true)
                .filter_expression("begins_with(pk, :p)")
                .expression_attribute_values(":p", AttributeValue::S("client#".into()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| coordination_error(e, table, &self.endpoint, "dynamodb:Scan"))?;
            for item in out.items() {
                heads.push(Self::head_of(item)?);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        heads.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        Ok(heads)
    }
}

/// The code of each element of a cancelled TransactWriteItems (`ConditionalCheckFailed`,
/// `None`, ...), in the order of the elements.
pub(crate) fn cancellation_reasons(
    err: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
) -> Vec<Option<String>> {
    match err.as_service_error() {
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
            let message =
                aws_smithy_types::error::metadata::ProvideErrorMetadata::message(err).unwrap_or("");
            message
                .rfind('[')
                .and_then(|i| message[i + 1..].split(']').next())
                .map(|list| list.split(',').map(|c| Some(c.trim().to_string())).collect())
                .unwrap_or_default()
        }
    }
}

/// An error of a call on the coordination table.
pub(crate) fn coordination_error<E, R>(
    e: aws_sdk_dynamodb::error::SdkError<E, R>,
    table: &str,
    endpoint: &str,
    action: &str,
) -> StoreError
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
            resource: &Resource::CoordinationTable(table.to_string()),
            endpoint,
        },
    )
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
