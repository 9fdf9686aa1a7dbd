//! Export a client's cert, chain and (when held) key, optionally as PKCS#12.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::ca::load_issuer;
use super::query::current_cert;
use super::{Ctx, ExportedFiles, IssueOutcome};
use crate::error::{Error, Result};
use crate::model::VaultItem;
use crate::pki;

/// Writes `client.pem`, `client.key` (when the vault holds the key; mode 0600),
/// `chain.pem` (issuer up to and including the root) and, with a passphrase, `client.p12`.
pub async fn export(
    ctx: &Ctx,
    client_id: &str,
    dir: &Path,
    p12_passphrase: Option<&str>,
) -> Result<ExportedFiles> {
    let certs = ctx.backend.roster.by_client(client_id).await?;
    let rec = current_cert(&certs).cloned().ok_or_else(|| {
        Error::NotFound(format!(
            "no client '{client_id}' in environment '{}'; `list` shows the roster",
            ctx.env.name
        ))
    })?;
    let vault = &ctx.backend.vault;
    let cert_pem = match rec.cert_pem.clone() {
        Some(pem) => pem,
        None => vault
            .get(&VaultItem::ClientCert(client_id.to_string()))
            .await?
            .map(|p| p.to_string())
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "the certificate of '{client_id}' is neither in the roster nor in {}",
                    vault.name_of(&VaultItem::ClientCert(client_id.to_string()))
                ))
            })?,
    };
    let key_item = VaultItem::ClientKey(client_id.to_string());
    let key = match vault.get(&key_item).await? {
        Some(key) if pki::key_matches_cert(&key, &cert_pem).unwrap_or(false) => Some(key),
        // The roster says the vault holds this cert's key: a missing or different key is a
        // vault out of step, not a CSR client, and exporting without it would hide that.
        found if rec.key_held => {
            return Err(Error::conflict(
                crate::store::Contended::Vault(vault.name_of(&key_item)),
                format!(
                    "{} {} the key of '{client_id}''s current cert (serial {}); nothing was \
                     written. `repair` restores it from the vault's history",
                    vault.name_of(&key_item),
                    if found.is_some() {
                        "does not hold"
                    } else {
                        "lacks"
                    },
                    rec.serial
                ),
            ));
        }
        _ => None,
    };
    let issuer = load_issuer(ctx).await?;
    let files = write_bundle(
        dir,
        &cert_pem,
        key.as_deref().map(String::as_str),
        &issuer.chain_pem,
        p12_passphrase,
    )?;
    ctx.audit(
        "export",
        &format!("{client_id} (serial {})", rec.serial),
        crate::model::AuditOutcome::Ok,
        format!(
            "to {}{}",
            dir.display(),
            if key.is_some() { ", key included" } else { "" }
        ),
    )
    .await?;
    Ok(ExportedFiles {
        dir: dir.to_path_buf(),
        files,
    })
}

/// Writes the files of a just-issued cert (the `issue --out` path).
pub fn export_issued(
    outcome: &IssueOutcome,
    dir: &Path,
    p12_passphrase: Option<&str>,
) -> Result<ExportedFiles> {
    let files = write_bundle(
        dir,
        &outcome.cert_pem,
        outcome.key_pem.as_deref().map(String::as_str),
        &outcome.chain_pem,
        p12_passphrase,
    )?;
    Ok(ExportedFiles {
        dir: dir.to_path_buf(),
        files,
    })
}

fn write_bundle(
    dir: &Path,
    cert_pem: &str,
    key_pem: Option<&str>,
    chain_pem: &[String],
    p12_passphrase: Option<&str>,
) -> Result<Vec<PathBuf>> {
    let p12 = match (p12_passphrase, key_pem) {
        (Some(pass), Some(key)) => Some(pki::pkcs12(cert_pem, key, chain_pem, pass)?),
        (Some(_), None) => {
            return Err(Error::Invalid(
                "a PKCS#12 file needs the private key, which the vault does not hold for this client (its key came from a CSR); export without --p12".into(),
            ));
        }
        (None, _) => None,
    };
    create_dir(dir)?;
    let mut files = Vec::new();
    let chain: String = chain_pem.concat();
    files.push(write_file(dir, "client.pem", cert_pem.as_bytes(), 0o644)?);
    files.push(write_file(dir, "chain.pem", chain.as_bytes(), 0o644)?);
    if let Some(key) = key_pem {
        files.push(write_file(dir, "client.key", key.as_bytes(), 0o600)?);
    }
    if let Some(p12) = p12 {
        files.push(write_file(dir, "client.p12", &p12, 0o600)?);
    }
    Ok(files)
}

fn create_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| {
        Error::Io(format!(
            "cannot create export directory {}: {e}",
            dir.display()
        ))
    })
}

/// Writes through a temporary file and a rename, so a reader never sees half a file and a
/// key file is never readable by others, not even for a moment.
fn write_file(dir: &Path, name: &str, data: &[u8], mode: u32) -> Result<PathBuf> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let io = |e: std::io::Error| Error::Io(format!("cannot write {}: {e}", path.display()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    let mut file = options.open(&tmp).map_err(io)?;
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))
        .map_err(io)?;
    file.write_all(data).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(path)
}
