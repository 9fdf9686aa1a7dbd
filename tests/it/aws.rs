//! The AWS backend against a real moto server: resources created by `init_infra`, then every
//! port exercised through the console's adapters and checked through the emulator's own API
//! (the raw SDK clients), including items written by the reference tooling.

mod bundles;
mod flow;
mod gateway;
mod moto;
mod ports;
mod rotation;

use mtls_console::config::{BackendKind, EnvConfig};
use mtls_console::store::aws::AwsClients;

/// An environment on the shared moto server whose every name carries `tag`, so tests that
/// run in parallel never see each other's tables, buckets, parameters or secrets.
pub fn env(tag: &str) -> EnvConfig {
    let moto = moto::shared();
    EnvConfig {
        name: format!("moto-{tag}"),
        backend: BackendKind::Aws,
        project: format!("proj-{tag}"),
        account_name: Some(format!("sandbox{tag}")),
        table: format!("roster-{tag}"),
        audit_table: format!("audit-{tag}"),
        coordination_table: format!("coordination-{tag}"),
        truststore_bucket: Some(format!("truststore-{tag}")),
        region: Some("us-east-1".into()),
        endpoint_url: Some(moto.endpoint.clone()),
        ..EnvConfig::default()
    }
}

/// A home whose config names `env` as environment `moto` (plus `extra` TOML lines), for
/// tests that drive the binary against moto.
pub fn home_for(env: &EnvConfig, extra: &str) -> crate::common::Home {
    let home = crate::common::Home::new();
    let dir = home.path().join("config/mtls-console");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[environments.moto]\nbackend = \"aws\"\nregion = \"us-east-1\"\nendpoint_url = \"{}\"\nproject = \"{}\"\naccount_name = \"{}\"\ntable = \"{}\"\naudit_table = \"{}\"\ncoordination_table = \"{}\"\ntruststore_bucket = \"{}\"\n{extra}",
            env.endpoint_url.as_deref().unwrap(),
            env.project,
            env.account_name(),
            env.table,
            env.audit_table,
            env.coordination_table,
            env.truststore_bucket.as_deref().unwrap(),
        ),
    )
    .unwrap();
    home
}

/// The raw SDK clients for `env`, to check what the adapters wrote.
pub async fn raw(env: &EnvConfig) -> AwsClients {
    AwsClients::load(env).await.expect("SDK clients for moto")
}
