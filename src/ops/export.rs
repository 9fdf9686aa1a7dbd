//! Export a client's cert, chain and (when held) key, optionally as PKCS#12.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::ca::load_issuer;
use super::query::current_cert;
use super::{Ctx, ExportedFiles, IssueOutcome};
use crate::error::{Error, Result};
use crate::model::VaultItem;
use crate::pki;

/// The files an export may write; those holding a private key are never overwritten
/// without `force`, and never left beside a cert they do not belong to.
const FILES: [(&str, u32, bool); 6] = [
    ("client.pem", 0o644, false),
    ("chain.pem", 0o644, false),
    ("client.key", 0o600, true),
    ("client.p12", 0o600, true),
    (CURL_FILE, 0o644, false),
    (BRUNO_FILE, 0o644, false),
];

/// A curl command line calling the API with the exported files.
pub const CURL_FILE: &str = "curl-example.sh";
/// The `clientCertificates` object of a Bruno collection's `bruno.json`.
pub const BRUNO_FILE: &str = "bruno-client-certificates.json";

/// Where the key is when the export writes none: the partner's own (a CSR client) or not
/// exported here (read-only).
const KEY_PLACEHOLDER: &str = "YOUR-PRIVATE-KEY.pem";
/// The API's host when the environment names no `gateway_domain`.
const DOMAIN_PLACEHOLDER: &str = "YOUR-API-DOMAIN";

/// The client configuration written beside the files: a curl line for the environment's
/// gateway domain and a Bruno `clientCertificates` fragment. Neither holds a secret: the
/// PKCS#12 passphrase is left empty in Bruno and read from `$P12_PASSPHRASE` by curl.
fn client_config(domain: Option<&str>, key_written: bool, p12_written: bool) -> (String, String) {
    let host = domain.unwrap_or(DOMAIN_PLACEHOLDER);
    let key = if key_written {
        "client.key"
    } else {
        KEY_PLACEHOLDER
    };
    let mut curl =
        String::from("# Calls the API with this client certificate; run it in this directory.\n");
    if domain.is_none() {
        curl.push_str(&format!(
            "# Replace {DOMAIN_PLACEHOLDER} with the API's domain (the environment sets none: \
             gateway_domain in its config).\n"
        ));
    }
    if !key_written {
        curl.push_str(&format!(
            "# Replace {KEY_PLACEHOLDER} with the private key this certificate was issued for.\n"
        ));
    }
    curl.push_str(&format!(
        "curl --cert client.pem --key {key} https://{host}/\n"
    ));
    if p12_written {
        curl.push_str(&format!(
            "# Or with the PKCS#12 file (passphrase from the environment):\n\
             # curl --cert-type P12 --cert \"client.p12:$P12_PASSPHRASE\" https://{host}/\n"
        ));
    }
    let mut certs = vec![serde_json::json!({
        "domain": host,
        "type": "cert",
        "certFilePath": "client.pem",
        "keyFilePath": key,
        "passphrase": "",
    })];
    if p12_written {
        certs.push(serde_json::json!({
            "domain": host,
            "type": "pfx",
            "pfxFilePath": "client.p12",
            "passphrase": "",
        }));
    }
    let bruno = serde_json::json!({
        "clientCertificates": { "enabled": true, "certs": certs }
    });
    let bruno = serde_json::to_string_pretty(&bruno).unwrap_or_default() + "\n";
    (curl, bruno)
}

/// Writes `client.pem`, `client.key` (when the vault holds the key; mode 0600),
/// `chain.pem` (issuer up to and including the root) and, with a passphrase, `client.p12`.
/// A read-only environment exports the public files only. An existing `client.key` or
/// `client.p12` is replaced (or, when this export writes none, removed) only with `force`.
pub async fn export(
    ctx: &Ctx,
    client_id: &str,
    dir: &Path,
    p12_passphrase: Option<&str>,
    force: bool,
) -> Result<ExportedFiles> {
    if ctx.env.read_only && p12_passphrase.is_some() {
        return Err(Error::Invalid(format!(
            "environment '{}' is read-only: a PKCS#12 file holds the private key, which a \
             read-only export never writes; export without --p12 (cert and chain only)",
            ctx.env.name
        )));
    }
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
    let withheld = if ctx.env.read_only && rec.key_held {
        Some(format!(
            "client.key not written: environment '{}' is read-only, and a read-only export \
             never writes a private key",
            ctx.env.name
        ))
    } else if !rec.key_held {
        Some("client.key not written: the vault holds no key for this cert (its key came from a CSR)".into())
    } else {
        None
    };
    let stored_key = if ctx.env.read_only {
        None
    } else {
        vault.get(&key_item).await?
    };
    let key = match stored_key {
        Some(key) if pki::key_matches_cert(&key, &cert_pem).unwrap_or(false) => Some(key),
        // The roster says the vault holds this cert's key: a missing or different key is a
        // vault out of step, not a CSR client, and exporting without it would hide that.
        found if rec.key_held && !ctx.env.read_only => {
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
        force,
        ctx.env.gateway_domain.as_deref(),
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
        key_withheld: if key.is_some() { None } else { withheld },
    })
}

/// Writes the files of a just-issued cert (the `issue --out` path).
pub fn export_issued(
    outcome: &IssueOutcome,
    dir: &Path,
    p12_passphrase: Option<&str>,
    force: bool,
    gateway_domain: Option<&str>,
) -> Result<ExportedFiles> {
    let files = write_bundle(
        dir,
        &outcome.cert_pem,
        outcome.key_pem.as_deref().map(String::as_str),
        &outcome.chain_pem,
        p12_passphrase,
        force,
        gateway_domain,
    )?;
    Ok(ExportedFiles {
        dir: dir.to_path_buf(),
        files,
        key_withheld: outcome.key_pem.is_none().then(|| {
            "client.key not written: the key stays with the holder of the CSR".to_string()
        }),
    })
}

fn write_bundle(
    dir: &Path,
    cert_pem: &str,
    key_pem: Option<&str>,
    chain_pem: &[String],
    p12_passphrase: Option<&str>,
    force: bool,
    gateway_domain: Option<&str>,
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
    let chain: String = chain_pem.concat();
    let (curl, bruno) = client_config(gateway_domain, key_pem.is_some(), p12.is_some());
    let contents: [Option<&[u8]>; 6] = [
        Some(cert_pem.as_bytes()),
        Some(chain.as_bytes()),
        key_pem.map(str::as_bytes),
        p12.as_deref(),
        Some(curl.as_bytes()),
        Some(bruno.as_bytes()),
    ];
    create_dir(dir)?;
    let stale = check_targets(dir, contents.map(|c| c.is_some()), force)?;
    for path in stale {
        std::fs::remove_file(&path)
            .map_err(|e| Error::Io(format!("cannot remove {}: {e}", path.display())))?;
    }
    let mut files = Vec::new();
    for ((name, mode, _), data) in FILES.iter().zip(contents) {
        if let Some(data) = data {
            files.push(write_file(dir, name, data, *mode)?);
        }
    }
    Ok(files)
}

/// Refuses before anything is issued or written what [`export_issued`] would refuse in `dir`
/// (`issue --out` checks first, so a refused directory issues nothing).
pub fn check_out_dir(dir: &Path, with_key: bool, with_p12: bool, force: bool) -> Result<()> {
    check_targets(dir, [true, true, with_key, with_p12, true, true], force).map(drop)
}

/// Checks the targets of the files written (`writes`, in [`FILES`] order) before anything is
/// written: no link, nothing but a regular file, no key file replaced or left behind without
/// `force`. Returns the key files to remove (with `force`) because this export writes none.
fn check_targets(dir: &Path, writes: [bool; 6], force: bool) -> Result<Vec<PathBuf>> {
    let mut stale = Vec::new();
    for ((name, _, secret), written) in FILES.iter().zip(writes) {
        let path = dir.join(name);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(Error::Invalid(format!(
                    "{} is a symbolic link; nothing was written (an export never writes through \
                     a link: remove it or choose another directory)",
                    path.display()
                )));
            }
            Ok(meta) if !meta.is_file() => {
                return Err(Error::Invalid(format!(
                    "{} exists and is not a regular file; nothing was written",
                    path.display()
                )));
            }
            Ok(_) if *secret && !force => {
                let why = if written {
                    "exists"
                } else {
                    "is left from another export and does not belong to this cert"
                };
                return Err(Error::Invalid(format!(
                    "{} {why}; nothing was written. Choose an empty directory, or pass --force \
                     to replace it",
                    path.display()
                )));
            }
            Ok(_) if *secret && !written => stale.push(path),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::Io(format!("cannot inspect {}: {e}", path.display())));
            }
        }
    }
    Ok(stale)
}

/// Writes a public file (a truststore bundle) at `path`, whole or not at all, mode 0644; a
/// link at `path` is replaced, never written through.
pub fn write_public_file(path: &Path, data: &[u8]) -> Result<()> {
    write_at(path, data, 0o644)
}

/// As [`write_public_file`], mode 0600 (a report: who holds which cert, revocation notes).
pub fn write_private_file(path: &Path, data: &[u8]) -> Result<()> {
    write_at(path, data, 0o600)
}

fn write_at(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::Invalid(format!("{} does not name a file", path.display())))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    write_file(dir, name, data, mode).map(drop)
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

/// Writes through a temporary file created exclusively (a fresh random name, `O_EXCL`: a
/// planted file or link is never opened) with its final mode, then renamed over the target
/// (a rename replaces a link, it never writes through one). A reader never sees half a file,
/// and a key file is never readable by others, not even for a moment.
fn write_file(dir: &Path, name: &str, data: &[u8], mode: u32) -> Result<PathBuf> {
    let path = dir.join(name);
    let io = |e: std::io::Error| Error::Io(format!("cannot write {}: {e}", path.display()));
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(mode));
    let mut file = builder.tempfile_in(dir).map_err(io)?;
    file.write_all(data).map_err(io)?;
    file.as_file().sync_all().map_err(io)?;
    file.persist(&path).map_err(|e| io(e.error))?;
    Ok(path)
}
