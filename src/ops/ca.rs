//! CA bootstrap and loading the issuing CA from the vault.

use time::OffsetDateTime;

use super::{CaInitOptions, CaSummary, Ctx};
use crate::error::{Error, Result};
use crate::model::VaultItem;
use crate::pki::{self, CaMaterial, CaParams, CertInfo, Subject};

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

/// Creates the root (and the intermediate unless root-only) and stores them in the vault.
/// Refuses when a root already exists, so an existing CA is never overwritten.
pub async fn ca_init(ctx: &Ctx, opts: &CaInitOptions) -> Result<CaSummary> {
    ctx.require_writable("ca init")?;
    let vault = &ctx.backend.vault;
    if vault.get(&VaultItem::RootCert).await?.is_some() {
        return Err(Error::Conflict(format!(
            "a CA already exists in environment '{}' ({}); `ca show` displays it, and nothing was changed",
            ctx.env.name,
            vault.name_of(&VaultItem::RootCert)
        )));
    }
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

    let change = async {
        // Keys before certificates: a CA is only seen as present once its certificate is.
        if let Some(inter) = &inter {
            vault
                .put(&VaultItem::IntermediateKey, &inter.key_pem, false)
                .await?;
        }
        vault.put(&VaultItem::RootKey, &root.key_pem, false).await?;
        if let Some(inter) = &inter {
            vault
                .put(&VaultItem::IntermediateCert, &inter.cert_pem, false)
                .await?;
        }
        vault
            .put(&VaultItem::RootCert, &root.cert_pem, false)
            .await?;
        Ok(())
    };
    ctx.audited("ca.init", &env, change, |_| {
        format!(
            "{} hierarchy, {}",
            if root_only { "root-only" } else { "three-tier" },
            opts.key_algorithm.as_str()
        )
    })
    .await?;
    ca_show(ctx).await
}

/// The CA as stored in the vault.
pub async fn ca_show(ctx: &Ctx) -> Result<CaSummary> {
    let vault = &ctx.backend.vault;
    let root_pem = vault
        .get(&VaultItem::RootCert)
        .await?
        .ok_or_else(|| no_ca(ctx))?;
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
    if let Some(kind) = super::rotation::issuing_with_next(ctx).await? {
        return load_next_issuer(ctx, kind, now).await;
    }
    load_current_issuer(ctx, now).await
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
