//! A fault-injecting wrapper around any backend, for tests: it fails or delays chosen calls,
//! or "crashes" (fails every call from one on, so no clean-up code can run either), and
//! records the sequence of calls so a test can drive an operation through every failure
//! point. Modelled on mountpoint-s3's failure client.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use zeroize::Zeroizing;

use super::item::Item;
use super::{
    AuditLog, Backend, ClientHead, Commit, Contended, Coordination, DomainTruststore, Fence,
    Gateway, LeaseRecord, Listing, MappedApi, Roster, StoreError, StoreResult, TruststoreStore,
    TruststoreVersion, Vault, Versioned,
};
use crate::model::{AuditRecord, VaultItem};

/// A call a fault can target. Batch methods count as one call of their kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    RosterScan,
    RosterGet,
    RosterClient,
    RosterCommit,
    RosterHead,
    RosterHeads,
    VaultGet,
    VaultPut,
    VaultDelete,
    VaultHistory,
    AuditAppend,
    AuditRecent,
    TruststoreCurrent,
    TruststorePut,
    TruststoreHistory,
    TruststoreGet,
    GatewayDomain,
    GatewayPoint,
    LeaseGet,
    LeasePut,
    LeaseDelete,
    DocGet,
    DocPut,
}

impl Call {
    /// Does the call change anything?
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Call::RosterCommit
                | Call::VaultPut
                | Call::VaultDelete
                | Call::AuditAppend
                | Call::TruststorePut
                | Call::GatewayPoint
                | Call::LeasePut
                | Call::LeaseDelete
                | Call::DocPut
        )
    }
}

#[derive(Debug, Clone, Copy)]
enum Rule {
    /// The `n`th call (1-based, of `call` or of any kind) fails.
    Fail { call: Option<Call>, n: usize },
    /// The `n`th call and every call after it fail: the process is gone.
    Crash { n: usize },
    /// The `n`th call of `call` waits `pause` first.
    Delay {
        call: Call,
        n: usize,
        pause: Duration,
    },
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Rule>,
    log: Vec<Call>,
}

/// The fault plan shared by every port of a wrapped backend.
#[derive(Debug, Default)]
pub struct Faults {
    state: Mutex<State>,
}

impl Faults {
    pub fn new() -> Arc<Faults> {
        Arc::new(Faults::default())
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The `n`th call of `call` (1-based) fails.
    pub fn fail_nth(&self, call: Call, n: usize) {
        self.with(|s| {
            s.rules.push(Rule::Fail {
                call: Some(call),
                n,
            })
        });
    }

    /// The `n`th call of any kind fails.
    pub fn fail_call(&self, n: usize) {
        self.with(|s| s.rules.push(Rule::Fail { call: None, n }));
    }

    /// The `n`th call of any kind and every later call fail, as if the process died there.
    pub fn crash_at(&self, n: usize) {
        self.with(|s| s.rules.push(Rule::Crash { n }));
    }

    /// The `n`th call of `call` waits `pause` before it runs.
    pub fn delay_nth(&self, call: Call, n: usize, pause: Duration) {
        self.with(|s| s.rules.push(Rule::Delay { call, n, pause }));
    }

    /// Removes every rule and forgets the calls seen.
    pub fn reset(&self) {
        self.with(|s| *s = State::default());
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.with(|s| s.log.clone())
    }

    /// Records `call` and says what to do with it.
    async fn enter(&self, call: Call) -> StoreResult<()> {
        let (fail, pause) = self.with(|s| {
            s.log.push(call);
            let all = s.log.len();
            let same = s.log.iter().filter(|c| **c == call).count();
            let mut fail = false;
            let mut pause = Duration::ZERO;
            for rule in &s.rules {
                match *rule {
                    Rule::Fail { call: Some(c), n } if c == call && n == same => fail = true,
                    Rule::Fail { call: None, n } if n == all => fail = true,
                    Rule::Crash { n } if all >= n => fail = true,
                    Rule::Delay {
                        call: c,
                        n,
                        pause: p,
                    } if c == call && n == same => pause = p,
                    _ => {}
                }
            }
            (fail.then_some(all), pause)
        });
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        match fail {
            Some(n) => Err(StoreError::Backend(format!(
                "injected fault: call #{n} ({call:?}) failed"
            ))),
            None => Ok(()),
        }
    }
}

/// `backend` with every port going through `faults`.
pub fn wrap(backend: Backend, faults: Arc<Faults>) -> Backend {
    Backend {
        roster: Arc::new(FaultyRoster {
            inner: backend.roster,
            faults: Arc::clone(&faults),
        }),
        vault: Arc::new(FaultyVault {
            inner: backend.vault,
            faults: Arc::clone(&faults),
        }),
        truststore: Arc::new(FaultyTruststore {
            inner: backend.truststore,
            faults: Arc::clone(&faults),
        }),
        audit: Arc::new(FaultyAudit {
            inner: backend.audit,
            faults: Arc::clone(&faults),
        }),
        gateway: Arc::new(FaultyGateway {
            inner: backend.gateway,
            faults: Arc::clone(&faults),
        }),
        coordination: Arc::new(FaultyCoordination {
            inner: backend.coordination,
            faults,
        }),
        operator: backend.operator,
        description: format!("{} (fault injection)", backend.description),
    }
}

struct FaultyRoster {
    inner: Arc<dyn Roster>,
    faults: Arc<Faults>,
}

#[async_trait]
impl Roster for FaultyRoster {
    async fn scan(&self, with_pem: bool) -> StoreResult<Listing> {
        self.faults.enter(Call::RosterScan).await?;
        self.inner.scan(with_pem).await
    }

    async fn get_item(&self, serial: &str) -> StoreResult<Option<Item>> {
        self.faults.enter(Call::RosterGet).await?;
        self.inner.get_item(serial).await
    }

    async fn client_items(&self, client_id: &str) -> StoreResult<Listing> {
        self.faults.enter(Call::RosterClient).await?;
        self.inner.client_items(client_id).await
    }

    async fn commit(&self, commit: Commit) -> StoreResult<()> {
        self.faults.enter(Call::RosterCommit).await?;
        self.inner.commit(commit).await
    }

    async fn commit_each(&self, commits: Vec<Commit>) -> Vec<StoreResult<()>> {
        match self.faults.enter(Call::RosterCommit).await {
            Ok(()) => self.inner.commit_each(commits).await,
            Err(e) => {
                let message = e.to_string();
                commits
                    .iter()
                    .map(|_| Err(StoreError::Backend(message.clone())))
                    .collect()
            }
        }
    }

    async fn head(&self, client_id: &str) -> StoreResult<Option<ClientHead>> {
        self.faults.enter(Call::RosterHead).await?;
        self.inner.head(client_id).await
    }

    async fn heads(&self) -> StoreResult<Vec<ClientHead>> {
        self.faults.enter(Call::RosterHeads).await?;
        self.inner.heads().await
    }
}

struct FaultyVault {
    inner: Arc<dyn Vault>,
    faults: Arc<Faults>,
}

#[async_trait]
impl Vault for FaultyVault {
    async fn get(&self, item: &VaultItem) -> StoreResult<Option<Zeroizing<String>>> {
        self.faults.enter(Call::VaultGet).await?;
        self.inner.get(item).await
    }

    async fn put(&self, item: &VaultItem, value: &str, overwrite: bool) -> StoreResult<()> {
        self.faults.enter(Call::VaultPut).await?;
        self.inner.put(item, value, overwrite).await
    }

    async fn delete(&self, item: &VaultItem) -> StoreResult<()> {
        self.faults.enter(Call::VaultDelete).await?;
        self.inner.delete(item).await
    }

    async fn put_each(&self, items: &[(VaultItem, &str)], overwrite: bool) -> Vec<StoreResult<()>> {
        match self.faults.enter(Call::VaultPut).await {
            Ok(()) => self.inner.put_each(items, overwrite).await,
            Err(e) => {
                let message = e.to_string();
                items
                    .iter()
                    .map(|_| Err(StoreError::Backend(message.clone())))
                    .collect()
            }
        }
    }

    async fn get_each(&self, items: &[VaultItem]) -> Vec<StoreResult<Option<Zeroizing<String>>>> {
        match self.faults.enter(Call::VaultGet).await {
            Ok(()) => self.inner.get_each(items).await,
            Err(e) => {
                let message = e.to_string();
                items
                    .iter()
                    .map(|_| Err(StoreError::Backend(message.clone())))
                    .collect()
            }
        }
    }

    async fn history(&self, item: &VaultItem) -> StoreResult<Vec<Zeroizing<String>>> {
        self.faults.enter(Call::VaultHistory).await?;
        self.inner.history(item).await
    }

    fn name_of(&self, item: &VaultItem) -> String {
        self.inner.name_of(item)
    }
}

struct FaultyTruststore {
    inner: Arc<dyn TruststoreStore>,
    faults: Arc<Faults>,
}

#[async_trait]
impl TruststoreStore for FaultyTruststore {
    async fn current(&self) -> StoreResult<Option<(String, TruststoreVersion)>> {
        self.faults.enter(Call::TruststoreCurrent).await?;
        self.inner.current().await
    }

    async fn put(&self, pem: &str, if_match: Option<&str>) -> StoreResult<TruststoreVersion> {
        self.faults.enter(Call::TruststorePut).await?;
        self.inner.put(pem, if_match).await
    }

    async fn history(&self) -> StoreResult<Vec<TruststoreVersion>> {
        self.faults.enter(Call::TruststoreHistory).await?;
        self.inner.history().await
    }

    async fn get_version(&self, version_id: &str) -> StoreResult<String> {
        self.faults.enter(Call::TruststoreGet).await?;
        self.inner.get_version(version_id).await
    }

    fn location(&self) -> String {
        self.inner.location()
    }
}

struct FaultyAudit {
    inner: Arc<dyn AuditLog>,
    faults: Arc<Faults>,
}

#[async_trait]
impl AuditLog for FaultyAudit {
    async fn append(&self, record: &AuditRecord) -> StoreResult<()> {
        self.faults.enter(Call::AuditAppend).await?;
        self.inner.append(record).await
    }

    async fn append_each(&self, records: &[AuditRecord]) -> Vec<StoreResult<()>> {
        match self.faults.enter(Call::AuditAppend).await {
            Ok(()) => self.inner.append_each(records).await,
            Err(e) => {
                let message = e.to_string();
                records
                    .iter()
                    .map(|_| Err(StoreError::Backend(message.clone())))
                    .collect()
            }
        }
    }

    async fn recent(&self, limit: usize) -> StoreResult<Vec<AuditRecord>> {
        self.faults.enter(Call::AuditRecent).await?;
        self.inner.recent(limit).await
    }
}

struct FaultyGateway {
    inner: Arc<dyn Gateway>,
    faults: Arc<Faults>,
}

#[async_trait]
impl Gateway for FaultyGateway {
    async fn domain(&self, name: &str) -> StoreResult<DomainTruststore> {
        self.faults.enter(Call::GatewayDomain).await?;
        self.inner.domain(name).await
    }

    async fn point_truststore(
        &self,
        name: &str,
        uri: &str,
        version: &str,
    ) -> StoreResult<DomainTruststore> {
        self.faults.enter(Call::GatewayPoint).await?;
        self.inner.point_truststore(name, uri, version).await
    }

    async fn enable_mtls(
        &self,
        name: &str,
        uri: &str,
        version: Option<&str>,
    ) -> StoreResult<DomainTruststore> {
        self.faults.enter(Call::GatewayPoint).await?;
        self.inner.enable_mtls(name, uri, version).await
    }

    async fn disable_mtls(&self, name: &str) -> StoreResult<DomainTruststore> {
        self.faults.enter(Call::GatewayPoint).await?;
        self.inner.disable_mtls(name).await
    }

    async fn mapped_apis(&self, name: &str) -> StoreResult<Option<Vec<MappedApi>>> {
        self.faults.enter(Call::GatewayDomain).await?;
        self.inner.mapped_apis(name).await
    }
}

struct FaultyCoordination {
    inner: Arc<dyn Coordination>,
    faults: Arc<Faults>,
}

#[async_trait]
impl Coordination for FaultyCoordination {
    async fn lease(&self, name: &str) -> StoreResult<Option<LeaseRecord>> {
        self.faults.enter(Call::LeaseGet).await?;
        self.inner.lease(name).await
    }

    async fn put_lease(&self, lease: &LeaseRecord, expect: Option<&str>) -> StoreResult<()> {
        self.faults.enter(Call::LeasePut).await?;
        self.inner.put_lease(lease, expect).await
    }

    async fn delete_lease(&self, name: &str, token: &str) -> StoreResult<()> {
        self.faults.enter(Call::LeaseDelete).await?;
        self.inner.delete_lease(name, token).await
    }

    async fn doc(&self, key: &str) -> StoreResult<Option<Versioned>> {
        self.faults.enter(Call::DocGet).await?;
        self.inner.doc(key).await
    }

    async fn put_doc(
        &self,
        key: &str,
        text: &str,
        expect: u64,
        fence: Option<&Fence>,
        resource: Contended,
    ) -> StoreResult<()> {
        self.faults.enter(Call::DocPut).await?;
        self.inner.put_doc(key, text, expect, fence, resource).await
    }

    fn location(&self) -> String {
        self.inner.location()
    }
}
