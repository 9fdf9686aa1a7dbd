//! Exclusive work (rotations, `ca init`, `revoke --issued-by`) runs under a lease, after the
//! design of the DynamoDB lock client: a lease item written with a conditional put (absent,
//! or held by a token the taker has seen), an owner, an expiry and a heartbeat that renews
//! it; released at the end. A second run is refused, naming the holder and since when. A
//! holder that crashed is taken over once its lease expires, or at once when it ran on this
//! host and its process is gone. Every commit made under the lease carries it as a fence, so a
//! run whose lease was taken over cannot change anything.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use time::{Duration, OffsetDateTime};

use super::Ctx;
use crate::error::{Error, Result};
use crate::store::{Contended, Coordination, Fence, LeaseRecord, Owner};

/// The lease of every exclusive change to the CA: rotations, `ca init`, `revoke --issued-by`.
pub const CA_LEASE: &str = "ca";

/// How long a lease lasts without a heartbeat.
pub const LEASE_TTL: Duration = Duration::seconds(60);

/// How often the holder renews its lease.
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(20);

/// This machine's name, as the kernel knows it.
fn host_name() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown-host".into())
    })
}

/// A process's start time in clock ticks since boot (`/proc/PID/stat` field 22), None when
/// the process does not exist.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The owner record of this process.
pub(crate) fn this_process(operator: &str) -> Owner {
    static STARTED: OnceLock<u64> = OnceLock::new();
    let pid = std::process::id();
    Owner {
        operator: operator.to_string(),
        host: host_name().to_string(),
        pid,
        started: *STARTED.get_or_init(|| process_start(pid).unwrap_or(0)),
    }
}

/// Is the owner's process known to be gone (it ran on this host and is no longer running)?
/// An owner on another host is never known to be gone: its lease must expire.
pub(crate) fn is_gone(owner: &Owner) -> bool {
    if owner.host != host_name() {
        return false;
    }
    match process_start(owner.pid) {
        None => true,
        Some(start) => owner.started != 0 && start != owner.started,
    }
}

/// Has the lease's holder stopped (its process is gone, or the lease expired)?
pub(crate) fn is_stale(lease: &LeaseRecord) -> bool {
    OffsetDateTime::now_utc() > lease.expires_at || is_gone(&lease.owner)
}

/// Who holds a lease or claim, in words.
pub(crate) fn describe(owner: &Owner) -> String {
    format!("{} on {} (pid {})", owner.operator, owner.host, owner.pid)
}

/// A held lease: renewed in the background until released or dropped.
pub struct LeaseGuard {
    coordination: Arc<dyn Coordination>,
    record: Arc<Mutex<LeaseRecord>>,
    lost: Arc<AtomicBool>,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl LeaseGuard {
    /// The fence for commits made under this lease.
    pub fn fence(&self) -> Fence {
        let record = self.record.lock().unwrap_or_else(PoisonError::into_inner);
        Fence {
            lease: record.name.clone(),
            token: record.token.clone(),
        }
    }

    /// Raised when a heartbeat found the lease taken over: the run must stop.
    pub(crate) fn lost_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.lost)
    }

    /// Ends the lease (the item is deleted if this run still holds it).
    pub async fn release(self) -> Result<()> {
        self.heartbeat.abort();
        let fence = self.fence();
        if self.lost.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.coordination
            .delete_lease(&fence.lease, &fence.token)
            .await?;
        Ok(())
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

/// Takes the lease `name` for `purpose`, or refuses naming the holder. A lease that expired,
/// or whose holder ran on this host and is gone, is taken over.
pub async fn acquire(ctx: &Ctx, name: &str, purpose: &str) -> Result<LeaseGuard> {
    let coordination = Arc::clone(&ctx.backend.coordination);
    let now = OffsetDateTime::now_utc();
    let existing = coordination.lease(name).await?;
    if let Some(held) = &existing {
        let expired = now > held.expires_at;
        if !expired && !is_gone(&held.owner) {
            return Err(Error::conflict(
                Contended::Lease(name.to_string()),
                format!(
                    "another run holds the {name} lease: {} by {} since {} (last heartbeat {}); \
                     nothing was changed. Wait until it finishes; if it stopped, its lease expires \
                     at {} and `--resume` then takes over",
                    held.purpose,
                    describe(&held.owner),
                    crate::timefmt::format(held.acquired_at),
                    crate::timefmt::format(held.heartbeat_at),
                    crate::timefmt::format(held.expires_at),
                ),
            ));
        }
        tracing::warn!(
            lease = name,
            holder = %describe(&held.owner),
            purpose = %held.purpose,
            expired,
            "taking over a lease whose holder stopped"
        );
    }
    let record = LeaseRecord {
        name: name.to_string(),
        token: super::random_token(),
        owner: this_process(&ctx.backend.operator),
        purpose: purpose.to_string(),
        acquired_at: now,
        heartbeat_at: now,
        expires_at: now + LEASE_TTL,
    };
    coordination
        .put_lease(&record, existing.as_ref().map(|l| l.token.as_str()))
        .await
        .map_err(|e| match e.contended() {
            Some(resource) => Error::conflict(
                resource.clone(),
                format!(
                    "another run took the {name} lease at the same moment; nothing was changed. \
                     Retry once it finishes"
                ),
            ),
            None => e.into(),
        })?;
    let record = Arc::new(Mutex::new(record));
    let lost = Arc::new(AtomicBool::new(false));
    let heartbeat = tokio::spawn(renew(
        Arc::clone(&coordination),
        Arc::clone(&record),
        Arc::clone(&lost),
    ));
    Ok(LeaseGuard {
        coordination,
        record,
        lost,
        heartbeat,
    })
}

/// Runs `work` under the CA lease, with a context whose commits carry the lease as a fence;
/// the lease is released whatever the outcome.
pub(crate) async fn exclusive<T, F, Fut>(ctx: &Ctx, purpose: &str, work: F) -> Result<T>
where
    F: FnOnce(Ctx) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let lease = acquire(ctx, CA_LEASE, purpose).await?;
    let result = work(ctx.under(&lease)).await;
    let released = lease.release().await;
    let value = result?;
    released?;
    Ok(value)
}

/// The heartbeat: renews the lease every [`HEARTBEAT`]. A renewal that finds the lease taken
/// over marks it lost; a failed call is retried at the next beat (the lease lasts three).
async fn renew(
    coordination: Arc<dyn Coordination>,
    record: Arc<Mutex<LeaseRecord>>,
    lost: Arc<AtomicBool>,
) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        let (renewed, token) = {
            let held = record.lock().unwrap_or_else(PoisonError::into_inner);
            let now = OffsetDateTime::now_utc();
            let mut renewed = held.clone();
            renewed.heartbeat_at = now;
            renewed.expires_at = now + LEASE_TTL;
            (renewed, held.token.clone())
        };
        match coordination.put_lease(&renewed, Some(&token)).await {
            Ok(()) => *record.lock().unwrap_or_else(PoisonError::into_inner) = renewed,
            Err(e) if e.contended().is_some() => {
                tracing::error!(lease = %renewed.name, "the lease was taken over; stopping");
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => tracing::warn!(lease = %renewed.name, error = %e, "lease heartbeat failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_vanished_pid_is_gone() {
        let me = this_process("tester");
        assert!(me.started > 0, "reads /proc/self/stat");
        assert!(!is_gone(&me));
        let gone = Owner {
            pid: u32::MAX - 1,
            ..me.clone()
        };
        assert!(is_gone(&gone));
        let reused = Owner {
            started: me.started + 1,
            ..me.clone()
        };
        assert!(is_gone(&reused), "same pid, another process");
        let elsewhere = Owner {
            host: "another-host".into(),
            pid: u32::MAX - 1,
            ..me
        };
        assert!(!is_gone(&elsewhere), "a holder elsewhere must expire");
    }
}
