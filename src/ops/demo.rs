//! demo: fills an empty environment with a CA and 50 clients in every state a security
//! officer meets: active, expiring within 7 and 30 days, expired, revoked, re-issued.

use time::Duration;

use super::ca::{ca_init, load_issuer};
use super::lifecycle::issue_at;
use super::{CaInitOptions, Ctx, IssueOptions, KeyChoice, ReissueOptions};
use crate::error::{Error, Result};
use crate::model::{RevocationReason, VaultItem};
use crate::pki::{KeyAlgorithm, Subject};

const COMPANIES: [&str; 10] = [
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark",
    "wayne",
    "wonka",
    "tyrell",
    "cyberdyne",
];
const SERVICES: [&str; 5] = ["payments", "api", "reports", "mobile", "billing"];

/// The demo's 50 client ids.
pub fn demo_client_ids() -> Vec<String> {
    COMPANIES
        .iter()
        .flat_map(|c| SERVICES.iter().map(move |s| format!("{c}-{s}")))
        .collect()
}

/// Creates the demo data and returns how many clients it issued. Refuses an environment
/// that already has a CA, so real data is never mixed with demo data.
pub async fn demo(ctx: &Ctx) -> Result<usize> {
    ctx.require_writable("demo")?;
    if ctx.backend.vault.get(&VaultItem::RootCert).await?.is_some() {
        return Err(Error::conflict(
            crate::store::Contended::Vault(
                ctx.backend
                    .vault
                    .name_of(&crate::model::VaultItem::RootCert),
            ),
            format!(
                "environment '{}' already has a CA; demo data goes only into an empty environment (try `--env demo`)",
                ctx.env.name
            ),
        ));
    }
    let now = ctx.now();
    let mut past = ctx.clone();
    past.clock = Some(now - Duration::days(500));
    ca_init(
        &past,
        &CaInitOptions {
            root_only: false,
            key_algorithm: KeyAlgorithm::EcdsaP256,
            subject: Subject {
                o: Some("Demo Corp".into()),
                c: Some("GB".into()),
                ..Subject::default()
            },
            root_days: CaInitOptions::DEFAULT_ROOT_DAYS,
            intermediate_days: CaInitOptions::DEFAULT_INTERMEDIATE_DAYS,
        },
    )
    .await?;
    let issuer = load_issuer(ctx).await?;
    let ids = demo_client_ids();
    for (i, id) in ids.iter().enumerate() {
        let i = i as i64;
        // Issued `age` days ago with 395-day validity: days left = 395 - age.
        let age = match i {
            0..=29 => (i * 11) % 300,
            30..=34 => 395 - (i - 29),
            35..=39 => 395 - (i - 25) * 2,
            40..=43 => 400 + (i - 40) * 5,
            _ => (i * 7) % 200,
        };
        let key = if i % 9 == 4 {
            KeyAlgorithm::Rsa2048
        } else {
            KeyAlgorithm::EcdsaP256
        };
        let opts = IssueOptions {
            client: id.clone(),
            cn: None,
            days: Some(395),
            key: Some(KeyChoice::Generate(key)),
        };
        issue_at(ctx, &issuer, &opts, now - Duration::days(age)).await?;
    }
    let reasons = [
        RevocationReason::KeyCompromise,
        RevocationReason::CessationOfOperation,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::PrivilegeWithdrawn,
        RevocationReason::Unspecified,
    ];
    for (id, reason) in ids[44..].iter().zip(reasons) {
        super::revoke(ctx, id, reason, Some("demo data"), super::RevokeScope::All).await?;
    }
    for id in &ids[..2] {
        super::reissue(
            ctx,
            id,
            &ReissueOptions {
                rekey: false,
                grace: None,
                days: Some(395),
                key_algorithm: None,
            },
        )
        .await?;
    }
    super::truststore_publish(ctx, false).await?;
    Ok(ids.len())
}
