//! The key vault on Secrets Manager, in the layout of the root-only variant of the contract:
//!
//! | item | secret | JSON field |
//! |---|---|---|
//! | root key / cert | `{Env}/Arda/RootCA` | `ROOT_CA_KEY` / `ROOT_CA_CERT` |
//! | client `{Env}-{App}-Client` key / cert | `{Env}/{App}/MtlsKeys` | `MTLS_KEY` / `MTLS_CERT` |
//! | any other client key / cert | `{Env}/mtls-clients/{client_id}` | `MTLS_KEY` / `MTLS_CERT` |
//!
//! `{Env}` is the environment's account name with its first letter upper-cased. A client named
//! by the variant's CN convention (`Prod-NextJs-Client`) lands in the secret its consumers
//! already read (`Prod/NextJs/MtlsKeys`); clients named otherwise get a secret of their own.
//! The layout has no intermediate CA (root-only hierarchy): reading one finds nothing and
//! storing one is refused.
//!
//! Writes read the secret's JSON, set one field and write it back, keeping every other field.
//! Secrets Manager has no conditional write, so two operators writing the same secret at the
//! same moment can lose one field; `put` without overwrite refuses to replace a field that is set.

use async_trait::async_trait;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::errors::{self, Call, Resource};
use super::retry::{RetryPolicy, with_retry};
use crate::model::VaultItem;
use crate::store::{Contended, StoreError, StoreResult, Vault};

/// Where one vault item lives: the secret and the JSON field in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSlot {
    pub secret: String,
    pub field: &'static str,
}

/// The vault on Secrets Manager.
#[derive(Debug, Clone)]
pub struct SecretsVault {
    client: aws_sdk_secretsmanager::Client,
    env_title: String,
    kms_key_id: Option<String>,
    retry: RetryPolicy,
    endpoint: String,
}

impl SecretsVault {
    /// A vault for the account name `env` (`production` -> secrets under `Production/`).
    pub fn new(
        client: aws_sdk_secretsmanager::Client,
        env: &str,
        endpoint: impl Into<String>,
    ) -> Self {
        let mut c = env.chars();
        let env_title = match c.next() {
            Some(first) => first.to_uppercase().chain(c).collect(),
            None => String::new(),
        };
        SecretsVault {
            client,
            env_title,
            kms_key_id: None,
            retry: RetryPolicy::default(),
            endpoint: endpoint.into(),
        }
    }

    /// Encrypt new secrets with this KMS key instead of `aws/secretsmanager`.
    pub fn with_kms_key(mut self, key_id: Option<String>) -> Self {
        self.kms_key_id = key_id;
        self
    }

    /// Replace the throttling retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The secret and field of `item`, or None for the intermediate CA this layout lacks.
    pub fn slot(&self, item: &VaultItem) -> Option<SecretSlot> {
        let env = &self.env_title;
        let client_secret = |id: &str| {
            let app = id
                .strip_prefix(&format!("{env}-"))
                .and_then(|rest| rest.strip_suffix("-Client"))
                .filter(|app| !app.is_empty() && !app.contains('/'));
            match app {
                Some(app) => format!("{env}/{app}/MtlsKeys"),
                None => format!("{env}/mtls-clients/{id}"),
            }
        };
        let (secret, field) = match item {
            VaultItem::RootKey => (format!("{env}/Arda/RootCA"), "ROOT_CA_KEY"),
            VaultItem::RootCert => (format!("{env}/Arda/RootCA"), "ROOT_CA_CERT"),
            VaultItem::NextRootKey => (format!("{env}/Arda/RootCA-next"), "ROOT_CA_KEY"),
            VaultItem::NextRootCert => (format!("{env}/Arda/RootCA-next"), "ROOT_CA_CERT"),
            VaultItem::RotationJournal => (format!("{env}/mtls-console/rotation"), "JOURNAL"),
            VaultItem::IntermediateKey
            | VaultItem::IntermediateCert
            | VaultItem::NextIntermediateKey
            | VaultItem::NextIntermediateCert => return None,
            VaultItem::ClientKey(id) => (client_secret(id), "MTLS_KEY"),
            VaultItem::ClientCert(id) => (client_secret(id), "MTLS_CERT"),
        };
        Some(SecretSlot { secret, field })
    }

    fn call<'a>(&'a self, action: &'a str, resource: &'a Resource) -> Call<'a> {
        Call {
            action,
            resource,
            endpoint: &self.endpoint,
        }
    }

    /// Replaces an existing secret's JSON object.
    async fn write(&self, secret: &str, map: Map<String, Value>) -> StoreResult<()> {
        let resource = Resource::Secret(secret.to_string());
        let body = Zeroizing::new(Value::Object(map).to_string());
        with_retry(&self.retry, None, "secretsmanager:PutSecretValue", || {
            self.client
                .put_secret_value()
                .secret_id(secret)
                .secret_string(body.as_str())
                .send()
        })
        .await
        .map(|_| ())
        .map_err(|e| errors::map(e, &self.call("secretsmanager:PutSecretValue", &resource)))
    }

    /// The secret's JSON object, or None when the secret does not exist.
    async fn read(&self, secret: &str) -> StoreResult<Option<Map<String, Value>>> {
        let res = with_retry(&self.retry, None, "secretsmanager:GetSecretValue", || {
            self.client.get_secret_value().secret_id(secret).send()
        })
        .await;
        let out = match res {
            Ok(out) => out,
            Err(e) if errors::code(&e) == Some("ResourceNotFoundException") => return Ok(None),
            Err(e) => {
                let resource = Resource::Secret(secret.to_string());
                return Err(errors::map(
                    e,
                    &self.call("secretsmanager:GetSecretValue", &resource),
                ));
            }
        };
        let text = Zeroizing::new(out.secret_string.unwrap_or_default());
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => Ok(Some(map)),
            _ => Err(StoreError::Backend(format!(
                "secret {secret} does not hold a JSON object; the Secrets Manager layout expects \
                 {{\"FIELD\": \"PEM\", ...}}"
            ))),
        }
    }
}

/// The client whose certificate a client secret holds (its CN), if it holds a readable one.
fn holder_of(map: &Map<String, Value>) -> Option<String> {
    let pem = map.get("MTLS_CERT")?.as_str()?;
    crate::pki::inspect(pem.as_bytes()).ok()?.cn
}

#[async_trait]
impl Vault for SecretsVault {
    async fn get(&self, item: &VaultItem) -> StoreResult<Option<Zeroizing<String>>> {
        let Some(slot) = self.slot(item) else {
            return Ok(None);
        };
        let Some(map) = self.read(&slot.secret).await? else {
            return Ok(None);
        };
        Ok(map
            .get(slot.field)
            .and_then(Value::as_str)
            .map(|s| Zeroizing::new(s.to_string())))
    }

    async fn put(&self, item: &VaultItem, value: &str, overwrite: bool) -> StoreResult<()> {
        let Some(slot) = self.slot(item) else {
            return Err(StoreError::Invalid(format!(
                "the Secrets Manager vault layout holds a root-only hierarchy ({env}/Arda/RootCA) and has \
                 no place for an intermediate CA; initialise the CA as root-only, or use `vault = \"ssm\"` \
                 for a three-tier hierarchy",
                env = self.env_title
            )));
        };
        let resource = Resource::Secret(slot.secret.clone());
        match self.read(&slot.secret).await? {
            None => {
                let mut map = Map::new();
                map.insert(slot.field.to_string(), Value::String(value.to_string()));
                let body = Zeroizing::new(Value::Object(map).to_string());
                let res = with_retry(&self.retry, None, "secretsmanager:CreateSecret", || {
                    self.client
                        .create_secret()
                        .name(&slot.secret)
                        .secret_string(body.as_str())
                        .set_kms_key_id(self.kms_key_id.clone())
                        .send()
                })
                .await;
                match res {
                    Ok(_) => Ok(()),
                    Err(e) if errors::code(&e) == Some("ResourceExistsException") => {
                        Err(StoreError::conflict(
                            Contended::Vault(slot.secret.clone()),
                            format!(
                                "secret {} was created by someone else meanwhile; nothing was written, re-run",
                                slot.secret
                            ),
                        ))
                    }
                    Err(e) => Err(errors::map(
                        e,
                        &self.call("secretsmanager:CreateSecret", &resource),
                    )),
                }
            }
            Some(mut map) => {
                if !overwrite && map.get(slot.field).is_some_and(|v| !v.is_null()) {
                    return Err(StoreError::conflict(
                        Contended::Vault(slot.secret.clone()),
                        format!(
                            "secret {} already holds {}; nothing was overwritten",
                            slot.secret, slot.field
                        ),
                    ));
                }
                if let VaultItem::ClientKey(id) | VaultItem::ClientCert(id) = item
                    && let Some(other) = holder_of(&map).filter(|other| other != id)
                {
                    return Err(StoreError::conflict(
                        Contended::Vault(slot.secret.clone()),
                        format!(
                            "secret {} holds the certificate of client '{other}', and client '{id}' \
                             maps to the same secret; nothing was written. Choose another client_id \
                             (the secret's consumers read it for '{other}')",
                            slot.secret
                        ),
                    ));
                }
                map.insert(slot.field.to_string(), Value::String(value.to_string()));
                self.write(&slot.secret, map).await
            }
        }
    }

    async fn delete(&self, item: &VaultItem) -> StoreResult<()> {
        let Some(slot) = self.slot(item) else {
            return Ok(());
        };
        let Some(mut map) = self.read(&slot.secret).await? else {
            return Ok(());
        };
        if map.remove(slot.field).is_none() {
            return Ok(());
        }
        self.write(&slot.secret, map).await
    }

    async fn history(&self, item: &VaultItem) -> StoreResult<Vec<Zeroizing<String>>> {
        let Some(slot) = self.slot(item) else {
            return Ok(Vec::new());
        };
        let resource = Resource::Secret(slot.secret.clone());
        let mut versions = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let res = self
                .client
                .list_secret_version_ids()
                .secret_id(&slot.secret)
                .include_deprecated(true)
                .set_next_token(token.take())
                .send()
                .await;
            let out = match res {
                Ok(out) => out,
                Err(e) if errors::code(&e) == Some("ResourceNotFoundException") => {
                    return Ok(Vec::new());
                }
                Err(e) => {
                    return Err(errors::map(
                        e,
                        &self.call("secretsmanager:ListSecretVersionIds", &resource),
                    ));
                }
            };
            for v in out.versions() {
                let current = v.version_stages().iter().any(|s| s == "AWSCURRENT");
                if let (Some(id), false) = (v.version_id(), current) {
                    let created = v.created_date().map(|d| d.as_nanos()).unwrap_or(0);
                    versions.push((created, id.to_string()));
                }
            }
            match out.next_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        versions.sort_by_key(|v| std::cmp::Reverse(v.0));
        let mut values = Vec::new();
        for (_, id) in versions {
            let out = self
                .client
                .get_secret_value()
                .secret_id(&slot.secret)
                .version_id(&id)
                .send()
                .await
                .map_err(|e| {
                    errors::map(e, &self.call("secretsmanager:GetSecretValue", &resource))
                })?;
            let text = Zeroizing::new(out.secret_string.unwrap_or_default());
            if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&text)
                && let Some(v) = map.get(slot.field).and_then(Value::as_str)
            {
                values.push(Zeroizing::new(v.to_string()));
            }
        }
        Ok(values)
    }

    fn name_of(&self, item: &VaultItem) -> String {
        match self.slot(item) {
            Some(slot) => format!("{}:{}", slot.secret, slot.field),
            None => format!(
                "(no intermediate CA in {}/Arda/RootCA layout)",
                self.env_title
            ),
        }
    }
}
