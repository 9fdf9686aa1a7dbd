//! CA bootstrap and loading the issuing CA from the vault.

use time::OffsetDateTime;

use super::{CaInitOptions, CaSummary, Ctx};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::VaultItem;
use crate::pki::{self, CaMaterial, CaParams, CertInfo, Subject};
use crate::store::{COMPROMISED_DOC, Contended};

/// The CA that signs client certs, with its chain up to the root.
#[derive(Debug, Clone)]
pub struct Issuer {
    pub material: CaMaterial,
    pub info: CertInfo,
    /// Issuer first, up to and including the root (one entry when root-only).
    pub chain_pem: Vec<String>,
    pub root_only: bool,
}

impl Issuer {
    /// The root certificate PEM (the chain's last entry).
    pub fn root_pem(&self) -> &str {
        self.chain_pem
            .last()
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// Chain as DER, issuer first.
    pub fn chain_der(&self) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        for pem in &self.chain_pem {
            out.extend(pki::parse_pem_certs(pem, false)?);
        }
        Ok(out)
    }
}

fn default_subject(subject: &Subject, cn: String) -> Subject {
    let mut s = subject.clone();
    if s.cn.is_none() {
        s.cn = Some(cn);
    }
    s
}

/// The vault items a CA is made of besides the root certificate (which is written last, so
/// the CA exists once it is there).
const CA_PARTS: [VaultItem; 3] = [
    VaultItem::IntermediateKey,
    VaultItem::RootKey,
    VaultItem::IntermediateCert,
];

/// Parts of a CA that an interrupted `ca init` left (no root certificate, but some of
/// [`CA_PARTS`]), by name.
async fn leftovers(ctx: &Ctx) -> Result<Vec<(VaultItem, String)>> {
    let vault = &ctx.backend.vault;
    let mut found = Vec::new();
    for item in CA_PARTS {
        if vault.get(&item).await?.is_some() {
            let name = vault.name_of(&item);
            found.push((item, name));
        }
    }
    Ok(found)
}

/// Creates the root (and the intermediate unless root-only) and stores them in the vault.
/// Refuses when a root already exists, so an existing CA is never overwritten; finishes what
/// an interrupted `ca init` left (its keys are replaced, they never signed anything). Runs
/// under the CA lease.
pub async fn ca_init(ctx: &Ctx, opts: &CaInitOptions) -> Result<CaSummary> {
    ctx.require_writable("ca init")?;
    super::limits::ca_days("root", opts.root_days)?;
    if !opts.root_only {
        super::limits::ca_days("intermediate", opts.intermediate_days)?;
    }
    super::lease::exclusive(ctx, "ca init", |ctx| async move {
        init_locked(&ctx, opts).await
    })
    .await?;
    ca_show(ctx).await
}

async fn init_locked(ctx: &Ctx, opts: &CaInitOptions) -> Result<()> {
    let vault = &ctx.backend.vault;
    if vault.get(&VaultItem::RootCert).await?.is_some() {
        return Err(Error::conflict(
            Contended::Vault(vault.name_of(&VaultItem::RootCert)),
            format!(
                "a CA already exists in environment '{}' ({}); `ca show` displays it, and nothing was changed",
                ctx.env.name,
                vault.name_of(&VaultItem::RootCert)
            ),
        ));
    }
    let leftover = leftovers(ctx).await?;
    let now = ctx.now();
    let env = ctx.env.account_name().to_string();
    let root_params = CaParams {
        subject: default_subject(&opts.subject, format!("{} {env} Root CA", ctx.env.project)),
        key_algorithm: opts.key_algorithm,
        validity_days: opts.root_days,
    };
    let inter_params = CaParams {
        subject: default_subject(
            &Subject {
                cn: None,
                ..opts.subject.clone()
            },
            format!("{} {env} Intermediate CA", ctx.env.project),
        ),
        key_algorithm: opts.key_algorithm,
        validity_days: opts.intermediate_days,
    };
    let root_only = opts.root_only;
    let (root, inter) = tokio::task::spawn_blocking(move || -> Result<_> {
        let root = pki::create_root(&root_params, now)?;
        let inter = if root_only {
            None
        } else {
            Some(pki::create_intermediate(&root, &inter_params, now)?)
        };
        Ok((root, inter))
    })
    .await
    .map_err(|e| Error::Io(format!("key generation task failed: {e}")))??;

    let finishing = !leftover.is_empty();
    let change = async {
        // What an interrupted init left is replaced; parts the new CA lacks are removed.
        let replace = |item: &VaultItem| leftover.iter().any(|(i, _)| i == item);
        if inter.is_none() {
            for item in [VaultItem::IntermediateKey, VaultItem::IntermediateCert] {
                if replace(&item) {
                    vault.delete(&item).await?;
                }
            }
        }
        // Keys before certificates: a CA is only seen as present once its root certificate is.
        if let Some(inter) = &inter {
            let item = VaultItem::IntermediateKey;
            vault.put(&item, &inter.key_pem, replace(&item)).await?;
        }
        vault
            .put(
                &VaultItem::RootKey,
                &root.key_pem,
                replace(&VaultItem::RootKey),
            )
            .await?;
        if let Some(inter) = &inter {
            let item = VaultItem::IntermediateCert;
            vault.put(&item, &inter.cert_pem, replace(&item)).await?;
        }
        vault
            .put(&VaultItem::RootCert, &root.cert_pem, false)
            .await?;
        Ok(())
    };
    ctx.audited("ca.init", &env, change, |_| {
        format!(
            "{} hierarchy, {}{}",
            if root_only { "root-only" } else { "three-tier" },
            opts.key_algorithm.as_str(),
            if finishing {
                format!(
                    "; finished an interrupted ca init (replaced {})",
                    leftover
                        .iter()
                        .map(|(_, n)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                String::new()
            }
        )
    })
    .await?;
    Ok(())
}

/// The CA as stored in the vault.
pub async fn ca_show(ctx: &Ctx) -> Result<CaSummary> {
    let vault = &ctx.backend.vault;
    let Some(root_pem) = vault.get(&VaultItem::RootCert).await? else {
        let left = leftovers(ctx).await?;
        if left.is_empty() {
            return Err(no_ca(ctx));
        }
        return Err(Error::NotFound(format!(
            "no CA in environment '{}': an interrupted `ca init` left {} but no root certificate; \
             run `mtls-console --env {} ca init` again to finish it (it replaces those)",
            ctx.env.name,
            left.iter()
                .map(|(_, n)| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            ctx.env.name
        )));
    };
    let root = pki::inspect(root_pem.as_bytes())?;
    let inter = match vault.get(&VaultItem::IntermediateCert).await? {
        Some(pem) => Some(pki::inspect(pem.as_bytes())?),
        None => None,
    };
    let mut vault_names = vec![
        vault.name_of(&VaultItem::RootKey),
        vault.name_of(&VaultItem::RootCert),
    ];
    if inter.is_some() {
        vault_names.push(vault.name_of(&VaultItem::IntermediateKey));
        vault_names.push(vault.name_of(&VaultItem::IntermediateCert));
    }
    Ok(CaSummary {
        root,
        intermediate: inter,
        vault_names,
    })
}

fn no_ca(ctx: &Ctx) -> Error {
    Error::NotFound(format!(
        "no CA in environment '{}' ({} is missing); run `mtls-console --env {} ca init` first",
        ctx.env.name,
        ctx.backend.vault.name_of(&VaultItem::RootCert),
        ctx.env.name
    ))
}

/// Loads the issuing CA (intermediate, or the root in a root-only hierarchy) with its key,
/// refusing a key that does not match its certificate or a CA that expired.
pub async fn load_issuer(ctx: &Ctx) -> Result<Issuer> {
    load_issuer_at(ctx, ctx.now()).await
}

pub(crate) async fn load_issuer_at(ctx: &Ctx, now: OffsetDateTime) -> Result<Issuer> {
    let issuer = match super::journal::issuing_with_next(ctx).await? {
        Some(kind) => load_next_issuer(ctx, kind, now).await?,
        None => load_current_issuer(ctx, now).await?,
    };
    refuse_compromised(ctx, &issuer).await?;
    Ok(issuer)
}

/// A CA marked compromised by `revoke --issued-by` with a compromise reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompromisedCa {
    pub fingerprint: String,
    pub subject: String,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    pub by: String,
}

/// The CAs marked compromised, with the stored version.
async fn compromised_doc(ctx: &Ctx) -> Result<(Vec<CompromisedCa>, u64)> {
    match ctx.backend.coordination.doc(COMPROMISED_DOC).await? {
        None => Ok((Vec::new(), 0)),
        Some(doc) => {
            let cas = serde_json::from_str(&doc.text).map_err(|e| {
                Error::Invalid(format!(
                    "the list of compromised CAs ({COMPROMISED_DOC} in {}) is unreadable ({e}); \
                     fix it by hand",
                    ctx.backend.coordination.location()
                ))
            })?;
            Ok((cas, doc.version))
        }
    }
}

/// The CAs marked compromised.
pub async fn compromised_cas(ctx: &Ctx) -> Result<Vec<CompromisedCa>> {
    Ok(compromised_doc(ctx).await?.0)
}

/// Marks CAs compromised (kept in the coordination state; nothing is issued from them).
pub(crate) async fn mark_compromised(
    ctx: &Ctx,
    cas: &[CertInfo],
    reason: crate::model::RevocationReason,
) -> Result<()> {
    let (mut marked, version) = compromised_doc(ctx).await?;
    for ca in cas {
        if !marked
            .iter()
            .any(|m| m.fingerprint == ca.fingerprint_sha256)
        {
            marked.push(CompromisedCa {
                fingerprint: ca.fingerprint_sha256.clone(),
                subject: ca.subject.clone(),
                reason: reason.as_str().to_string(),
                since: ctx.now(),
                by: ctx.backend.operator.clone(),
            });
        }
    }
    let text = serde_json::to_string(&marked)
        .map_err(|e| Error::Io(format!("cannot encode the compromised CAs: {e}")))?;
    ctx.backend
        .coordination
        .put_doc(
            COMPROMISED_DOC,
            &text,
            version,
            ctx.fence.as_ref(),
            Contended::Other("the list of compromised CAs".into()),
        )
        .await?;
    Ok(())
}

/// Refuses to issue from a CA marked compromised (unless the context allows it).
pub(crate) async fn refuse_compromised(ctx: &Ctx, issuer: &Issuer) -> Result<()> {
    if ctx.allow_compromised_ca {
        return Ok(());
    }
    let marked = compromised_cas(ctx).await?;
    if let Some(m) = marked
        .iter()
        .find(|m| m.fingerprint == issuer.info.fingerprint_sha256)
    {
        return Err(Error::Invalid(format!(
            "the issuing CA '{}' is marked compromised ({} since {}, by {}): nothing is issued \
             from it until it is rotated (`ca rotate-intermediate`, or `ca rotate-root` for a \
             root-only hierarchy); --allow-compromised-ca overrides this",
            m.subject,
            m.reason,
            crate::timefmt::format(m.since),
            m.by
        )));
    }
    Ok(())
}

/// The issuing CA in the vault's current slots, whatever a rotation says.
pub(crate) async fn load_current_issuer(ctx: &Ctx, now: OffsetDateTime) -> Result<Issuer> {
    let vault = &ctx.backend.vault;
    let root_pem = vault
        .get(&VaultItem::RootCert)
        .await?
        .ok_or_else(|| no_ca(ctx))?
        .to_string();
    match vault.get(&VaultItem::IntermediateCert).await? {
        Some(inter) => {
            load_pair(
                ctx,
                (VaultItem::IntermediateCert, VaultItem::IntermediateKey),
                vec![inter.to_string(), root_pem],
                now,
            )
            .await
        }
        None => {
            load_pair(
                ctx,
                (VaultItem::RootCert, VaultItem::RootKey),
                vec![root_pem],
                now,
            )
            .await
        }
    }
}

/// The CA a rotation moves clients to: the next intermediate (under the current root, or under
/// the next root in a root rotation), or the next root of a root-only hierarchy.
pub(crate) async fn load_next_issuer(
    ctx: &Ctx,
    kind: super::RotationKind,
    now: OffsetDateTime,
) -> Result<Issuer> {
    let vault = &ctx.backend.vault;
    let missing = |item: VaultItem| {
        Error::NotFound(format!(
            "the rotation's new CA certificate {} is missing from the vault; `ca rotate-{} --abort` \
             ends the rotation",
            vault.name_of(&item),
            if kind == super::RotationKind::Root {
                "root"
            } else {
                "intermediate"
            }
        ))
    };
    let root_pem = match kind {
        super::RotationKind::Root => vault
            .get(&VaultItem::NextRootCert)
            .await?
            .ok_or_else(|| missing(VaultItem::NextRootCert))?
            .to_string(),
        _ => vault
            .get(&VaultItem::RootCert)
            .await?
            .ok_or_else(|| no_ca(ctx))?
            .to_string(),
    };
    match vault.get(&VaultItem::NextIntermediateCert).await? {
        Some(inter) => {
            load_pair(
                ctx,
                (
                    VaultItem::NextIntermediateCert,
                    VaultItem::NextIntermediateKey,
                ),
                vec![inter.to_string(), root_pem],
                now,
            )
            .await
        }
        None if kind == super::RotationKind::Root => {
            load_pair(
                ctx,
                (VaultItem::NextRootCert, VaultItem::NextRootKey),
                vec![root_pem],
                now,
            )
            .await
        }
        None => Err(missing(VaultItem::NextIntermediateCert)),
    }
}

/// Loads the CA whose certificate is `chain_pem[0]` with its key from `items.1`, refusing a key
/// that does not match its certificate or a CA that expired.
async fn load_pair(
    ctx: &Ctx,
    items: (VaultItem, VaultItem),
    chain_pem: Vec<String>,
    now: OffsetDateTime,
) -> Result<Issuer> {
    let vault = &ctx.backend.vault;
    let (cert_item, key_item) = items;
    let root_only = chain_pem.len() == 1;
    let cert_pem = chain_pem[0].clone();
    let key_pem = vault.get(&key_item).await?.ok_or_else(|| {
        Error::NotFound(format!(
            "the CA key {} is missing while its certificate {} exists; restore the key or re-create the CA",
            vault.name_of(&key_item),
            vault.name_of(&cert_item)
        ))
    })?;
    if !pki::key_matches_cert(&key_pem, &cert_pem)? {
        return Err(Error::Invalid(format!(
            "the CA key {} does not match the CA certificate {}; nothing can be issued until the vault holds a matching pair",
            vault.name_of(&key_item),
            vault.name_of(&cert_item)
        )));
    }
    let info = pki::inspect(cert_pem.as_bytes())?;
    if now > info.not_after {
        return Err(Error::Invalid(format!(
            "the issuing CA '{}' expired on {}; rotate the CA before issuing",
            info.subject,
            crate::timefmt::format(info.not_after)
        )));
    }
    Ok(Issuer {
        material: CaMaterial { cert_pem, key_pem },
        info,
        chain_pem,
        root_only,
    })
}
