//! One head per client: issue, reissue and revoke first claim the client's head (a
//! conditional write of the head with a claim), then write the vault, then commit the roster
//! items, the head (claim cleared) and the audit record in one transaction conditional on the
//! claimed head. Two consoles changing one client therefore never interleave: the second is
//! refused before it writes anything, and a vault write only ever comes from the claim holder.
//! A claim whose holder crashed expires after [`CLAIM_TTL`], or is taken over at once when
//! the holder ran on this host and is gone; `repair` settles what such a crash left.

use time::{Duration, OffsetDateTime};

use super::Ctx;
use super::lease::{describe, is_gone, this_process};
use crate::error::{Error, Result};
use crate::store::{Claim, ClientHead, Commit, Contended, HeadWrite, StoreError};

/// How long a claim lasts: long enough for a batch that waits for SSM's write quota.
pub const CLAIM_TTL: Duration = Duration::minutes(10);

/// Can a claim be taken over (expired, or its holder on this host is gone)?
pub(crate) fn is_stale(claim: &Claim, now: OffsetDateTime) -> bool {
    now > claim.expires_at || is_gone(&claim.owner)
}

fn new_claim(ctx: &Ctx, purpose: &str) -> Claim {
    let now = OffsetDateTime::now_utc();
    Claim {
        token: super::random_token(),
        owner: this_process(&ctx.backend.operator),
        purpose: purpose.to_string(),
        since: now,
        expires_at: now + CLAIM_TTL,
    }
}

fn busy(client_id: &str, claim: &Claim) -> Error {
    Error::conflict(
        Contended::Client(client_id.to_string()),
        format!(
            "client '{client_id}' is being changed by another run ({} by {} since {}); nothing \
             was changed. Retry when it has finished",
            claim.purpose,
            describe(&claim.owner),
            crate::timefmt::format(claim.since)
        ),
    )
}

/// The head write that claims `client_id` over `found` (None: no head yet), or why not.
fn claim_write(
    ctx: &Ctx,
    client_id: &str,
    found: Option<ClientHead>,
    purpose: &str,
) -> Result<HeadWrite> {
    let now = OffsetDateTime::now_utc();
    let (expect, current) = match found {
        Some(head) => {
            if let Some(claim) = &head.claim
                && !is_stale(claim, now)
            {
                return Err(busy(client_id, claim));
            }
            (head.version, head.current)
        }
        None => (0, None),
    };
    Ok(HeadWrite {
        head: ClientHead {
            client_id: client_id.to_string(),
            version: 0,
            current,
            claim: Some(new_claim(ctx, purpose)),
            updated_at: now,
        },
        expect,
    })
}

/// The head as stored after `write`.
fn stored(write: HeadWrite) -> ClientHead {
    ClientHead {
        version: write.expect + 1,
        ..write.head
    }
}

/// A lost race for a claim, said as such.
fn lost_claim(client_id: &str, e: StoreError) -> Error {
    match e.contended() {
        Some(Contended::Client(_)) => Error::conflict(
            Contended::Client(client_id.to_string()),
            format!(
                "another run started changing client '{client_id}' at the same moment; nothing \
                 was changed. Retry when it has finished"
            ),
        ),
        _ => e.into(),
    }
}

/// Claims one client for `purpose`; returns the head as stored (holding the claim).
pub(crate) async fn claim(ctx: &Ctx, client_id: &str, purpose: &str) -> Result<ClientHead> {
    let found = ctx.backend.roster.head(client_id).await?;
    let write = claim_write(ctx, client_id, found, purpose)?;
    ctx.backend
        .roster
        .commit(Commit {
            heads: vec![write.clone()],
            ..Commit::default()
        })
        .await
        .map_err(|e| lost_claim(client_id, e))?;
    Ok(stored(write))
}

/// Claims many clients at once (bulk issue of new clients): each is first claimed as a client
/// without a head, and only those that have one are read and claimed over it. One result per
/// client, in order.
pub(crate) async fn claim_each(
    ctx: &Ctx,
    client_ids: &[String],
    purpose: &str,
) -> Vec<Result<ClientHead>> {
    let mut results: Vec<Option<Result<ClientHead>>> = client_ids.iter().map(|_| None).collect();
    let mut writes = Vec::with_capacity(client_ids.len());
    for id in client_ids {
        // Cannot fail without a head to look at.
        writes.push(claim_write(ctx, id, None, purpose));
    }
    let commits: Vec<Commit> = writes
        .iter()
        .filter_map(|w| w.as_ref().ok())
        .map(|w| Commit {
            heads: vec![w.clone()],
            ..Commit::default()
        })
        .collect();
    let mut outcomes = ctx.backend.roster.commit_each(commits).await.into_iter();
    let mut retry = Vec::new();
    for (i, write) in writes.into_iter().enumerate() {
        let Ok(write) = write else { continue };
        match outcomes.next() {
            Some(Ok(())) => results[i] = Some(Ok(stored(write))),
            Some(Err(e)) if matches!(e.contended(), Some(Contended::Client(_))) => retry.push(i),
            Some(Err(e)) => results[i] = Some(Err(e.into())),
            None => results[i] = Some(Err(Error::Io("a claim got no answer".into()))),
        }
    }
    for i in retry {
        results[i] = Some(claim(ctx, &client_ids[i], purpose).await);
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Error::Io("a claim was not attempted".into()))))
        .collect()
}

/// The head write that settles a claimed head: the change is done, `current` is the client's
/// current cert, the claim is cleared.
pub(crate) fn settle(claimed: &ClientHead, current: Option<String>) -> HeadWrite {
    HeadWrite {
        head: ClientHead {
            client_id: claimed.client_id.clone(),
            version: 0,
            current,
            claim: None,
            updated_at: OffsetDateTime::now_utc(),
        },
        expect: claimed.version,
    }
}

/// The head write of a client that has none yet, settled at once (`current` is its cert):
/// a commit carrying it is refused as contended if the client has a head, so the commit
/// itself is the claim (bulk issue of new clients).
pub(crate) fn first_head(client_id: &str, current: Option<String>) -> HeadWrite {
    HeadWrite {
        head: ClientHead {
            client_id: client_id.to_string(),
            version: 0,
            current,
            claim: None,
            updated_at: OffsetDateTime::now_utc(),
        },
        expect: 0,
    }
}

/// Gives a claim up without a change (the operation failed or had nothing to do). Best
/// effort: a claim left behind expires, and `repair` clears it.
pub(crate) async fn release(ctx: &Ctx, claimed: &ClientHead) {
    let write = settle(claimed, claimed.current.clone());
    if let Err(e) = ctx
        .backend
        .roster
        .commit(Commit {
            heads: vec![write],
            ..Commit::default()
        })
        .await
    {
        tracing::warn!(client = %claimed.client_id, error = %e, "could not release a client claim");
    }
}
