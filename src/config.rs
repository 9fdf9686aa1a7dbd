//! Environments: which backend and which names. Precedence: command-line flags >
//! environment variables (`MTLS_CONSOLE_*`) > the config file > defaults.
//!
//! The file is `$XDG_CONFIG_HOME/mtls-console/config.toml` (via `directories`), or `--config`.
//! An environment named `local` on the embedded backend exists without any file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::pki::KeyAlgorithm;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    #[default]
    Local,
    Aws,
}

/// Where CA and client keys live on AWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum VaultKind {
    /// SSM Parameter Store names of the reference deployment.
    #[default]
    Ssm,
    /// Secrets Manager JSON secrets (`{Env}/Arda/RootCA`, `{Env}/NextJs/MtlsKeys`).
    SecretsManager,
}

/// One named environment. Every field has a default, so `[environments.x]` alone is valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnvConfig {
    /// Filled from the table key, not the file.
    #[serde(skip)]
    pub name: String,
    pub backend: BackendKind,
    pub vault: VaultKind,
    pub project: String,
    /// The `{env}` segment of SSM names; defaults to the environment's name.
    pub account_name: Option<String>,
    pub table: String,
    pub audit_table: String,
    /// The console's own table of client heads, leases and the rotation journal.
    pub coordination_table: String,
    /// Defaults to `{account_name}-mtls-truststore-{account_id}` once the account is known.
    pub truststore_bucket: Option<String>,
    pub truststore_key: String,
    pub kms_key_id: Option<String>,
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    /// Allow SSM advanced-tier parameters (values up to 8 KB, paid).
    pub ssm_advanced_tier: bool,
    /// API Gateway custom domain whose truststore version the console manages.
    pub gateway_domain: Option<String>,
    /// Embedded backend only: where its database lives (default: the data dir).
    pub data_dir: Option<PathBuf>,
    /// How a client name becomes the client_id (and CN): `{client_id}` (default) or a
    /// template such as `{Env}-{App}-Client`. Placeholders: `{client_id}`/`{app}` (the
    /// name given), `{App}` (same, first letter upper-cased), `{env}`, `{Env}`.
    pub cn_template: String,
    pub client_validity_days: u32,
    pub client_key_algorithm: KeyAlgorithm,
    /// Days before expiry at which a cert counts as expiring.
    pub expiring_days: u32,
    /// Extra CA certificates (PEM files) kept in every published truststore.
    pub pinned_cas: Vec<PathBuf>,
    /// Refuse every change in this environment.
    pub read_only: bool,
}

impl Default for EnvConfig {
    fn default() -> Self {
        EnvConfig {
            name: "local".into(),
            backend: BackendKind::Local,
            vault: VaultKind::Ssm,
            project: "apigw-mtls".into(),
            account_name: None,
            table: "mtls-clients-metadata".into(),
            audit_table: "mtls-clients-audit".into(),
            coordination_table: "mtls-clients-coordination".into(),
            truststore_bucket: None,
            truststore_key: "truststore.pem".into(),
            kms_key_id: None,
            region: None,
            profile: None,
            endpoint_url: None,
            ssm_advanced_tier: false,
            gateway_domain: None,
            data_dir: None,
            cn_template: "{client_id}".into(),
            client_validity_days: 395,
            client_key_algorithm: KeyAlgorithm::EcdsaP256,
            expiring_days: 30,
            pinned_cas: Vec::new(),
            read_only: false,
        }
    }
}

impl EnvConfig {
    /// The `{env}` segment of vault names.
    pub fn account_name(&self) -> &str {
        self.account_name.as_deref().unwrap_or(&self.name)
    }

    /// Renders the client_id for a name given by the operator, using `cn_template`.
    pub fn render_client_id(&self, name: &str) -> String {
        let env = self.account_name();
        self.cn_template
            .replace("{client_id}", name)
            .replace("{app}", name)
            .replace("{App}", &capitalize(name))
            .replace("{env}", env)
            .replace("{Env}", &capitalize(env))
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The environment used when `--env` is not given (default `local`).
    pub default_env: Option<String>,
    pub environments: BTreeMap<String, EnvConfig>,
    /// Where this config was read from, if anywhere.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// The project's directories (config, data, state) under XDG or the platform's equivalent.
pub fn project_dirs() -> Result<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "mtls-console").ok_or_else(|| {
        Error::Config(
            "cannot find a home directory for config and data; set HOME or XDG_CONFIG_HOME and XDG_DATA_HOME"
                .into(),
        )
    })
}

/// The default config file path.
pub fn default_config_path() -> Result<PathBuf> {
    Ok(project_dirs()?.config_dir().join("config.toml"))
}

/// The directory that holds embedded environments' databases.
pub fn default_data_dir() -> Result<PathBuf> {
    Ok(project_dirs()?.data_dir().to_path_buf())
}

/// The directory for logs.
pub fn state_dir() -> Result<PathBuf> {
    let dirs = project_dirs()?;
    Ok(dirs
        .state_dir()
        .unwrap_or_else(|| dirs.data_local_dir())
        .to_path_buf())
}

impl Config {
    /// Reads `path`, or the default path when None. A missing default file is an empty config;
    /// a missing explicit file is an error.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let (path, explicit) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (default_config_path()?, false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return Ok(Config::default());
            }
            Err(e) => {
                return Err(Error::Config(format!(
                    "cannot read config file {}: {e}",
                    path.display()
                )));
            }
        };
        let mut cfg = Config::parse(&text).map_err(|e| {
            Error::Config(format!("config file {} is invalid: {e}", path.display()))
        })?;
        cfg.source = Some(path);
        Ok(cfg)
    }

    /// Parses config text.
    pub fn parse(text: &str) -> std::result::Result<Config, String> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        for (name, env) in cfg.environments.iter_mut() {
            env.name = name.clone();
        }
        Ok(cfg)
    }

    /// The environment to use: `name`, else `MTLS_CONSOLE_ENV`, else `default_env`, else `local`.
    pub fn env(&self, name: Option<&str>) -> Result<EnvConfig> {
        let from_var = std::env::var("MTLS_CONSOLE_ENV").ok();
        let name = name
            .map(str::to_string)
            .or(from_var)
            .or_else(|| self.default_env.clone())
            .unwrap_or_else(|| "local".to_string());
        if let Some(env) = self.environments.get(&name) {
            return Ok(env.clone());
        }
        if name == "local" {
            return Ok(EnvConfig::default());
        }
        let known: Vec<&str> = std::iter::once("local")
            .chain(
                self.environments
                    .keys()
                    .map(String::as_str)
                    .filter(|k| *k != "local"),
            )
            .collect();
        Err(Error::Config(format!(
            "no environment named '{name}' (known: {}); add [environments.{name}] to {}",
            known.join(", "),
            self.source
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "the config file".into())
        )))
    }

    /// Every environment name, `local` included.
    /// [`Config::env`], except that a name the file does not know is an embedded-backend
    /// environment when `create` (the `demo` command makes one) or when its database exists
    /// already (`demo` made it earlier).
    pub fn env_or_embedded(&self, name: Option<&str>, create: bool) -> Result<EnvConfig> {
        let err = match self.env(name) {
            Ok(env) => return Ok(env),
            Err(e) => e,
        };
        let name = name
            .map(str::to_string)
            .or_else(|| std::env::var("MTLS_CONSOLE_ENV").ok())
            .or_else(|| self.default_env.clone());
        let Some(name) = name else { return Err(err) };
        let exists = default_data_dir()
            .map(|dir| dir.join(format!("{name}.sqlite3")).is_file())
            .unwrap_or(false);
        if create || exists {
            return Ok(EnvConfig {
                name,
                ..EnvConfig::default()
            });
        }
        Err(Error::Config(format!(
            "{err}; or run `mtls-console --env {name} demo` to create an embedded demo \
             environment of that name"
        )))
    }

    pub fn env_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.environments.keys().cloned().collect();
        if !names.iter().any(|n| n == "local") {
            names.insert(0, "local".into());
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_exists_without_a_file() {
        let cfg = Config::default();
        let env = cfg.env(Some("local")).unwrap();
        assert_eq!(env.backend, BackendKind::Local);
        assert_eq!(env.project, "apigw-mtls");
        assert!(
            cfg.env(Some("nope"))
                .unwrap_err()
                .to_string()
                .contains("no environment named 'nope'")
        );
    }

    #[test]
    fn parses_an_aws_environment() {
        let cfg = Config::parse(
            r#"
            [environments.sandbox]
            backend = "aws"
            region = "eu-west-2"
            endpoint_url = "http://127.0.0.1:5000"
            account_name = "sandbox"
            truststore_bucket = "sandbox-mtls-truststore-123456789012"
            kms_key_id = "alias/mtls-ca"
            cn_template = "{Env}-{App}-Client"
            "#,
        )
        .unwrap();
        let env = cfg.env(Some("sandbox")).unwrap();
        assert_eq!(env.backend, BackendKind::Aws);
        assert_eq!(env.name, "sandbox");
        assert_eq!(env.table, "mtls-clients-metadata");
        assert_eq!(env.render_client_id("nextJs"), "Sandbox-NextJs-Client");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Config::parse("[environments.x]\nbakend = \"aws\"\n").unwrap_err();
        assert!(err.contains("bakend"), "{err}");
    }
}
