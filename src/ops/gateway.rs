//! The gateway's guard rails: turning mutual TLS off and on again (the documented emergency
//! rollback for an mTLS outage), the bypass check (an API mapped to the domain whose default
//! `execute-api` endpoint answers skips mutual TLS entirely) and how soon a revoke bites
//! (API Gateway caches the Lambda authorizer's answers for its result TTL).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;

use super::{CheckStatus, Ctx, DoctorCheck};
use crate::error::{Error, Result};
use crate::store::{Contended, DomainTruststore, MappedApi, StoreError, StoreResult};

/// API Gateway's result cache TTL for an authorizer that does not state one.
pub const DEFAULT_AUTHORIZER_TTL: u32 = 300;

/// The coordination document that keeps what a domain served when mTLS was turned off.
fn off_doc(domain: &str) -> String {
    format!("gateway#mtls-off#{domain}")
}

fn off_resource(domain: &str) -> Contended {
    Contended::Other(format!("the mutual-TLS record of domain {domain}"))
}

/// What a domain served when `gateway mtls off` turned mutual TLS off: what `on` restores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MtlsOffRecord {
    pub domain: String,
    pub truststore_uri: String,
    /// The S3 object version served; None when the domain named none (the newest then).
    pub truststore_version: Option<String>,
    pub reason: String,
    pub operator: String,
    #[serde(with = "time::serde::rfc3339")]
    pub turned_off_at: OffsetDateTime,
    /// When `gateway mtls on` restored it; None while it is off.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub restored_at: Option<OffsetDateTime>,
}

impl MtlsOffRecord {
    /// `s3://bucket/key version V` (or "its newest version").
    pub fn served(&self) -> String {
        served(&self.truststore_uri, self.truststore_version.as_deref())
    }
}

fn served(uri: &str, version: Option<&str>) -> String {
    match version {
        Some(v) => format!("{uri} version {v}"),
        None => format!("{uri} (no version named: its newest)"),
    }
}

/// A domain's mutual-TLS settings and the record of the last `gateway mtls off`.
#[derive(Debug, Clone, Serialize)]
pub struct MtlsState {
    pub domain: DomainTruststore,
    pub off: Option<MtlsOffRecord>,
}

/// What `gateway mtls off` or `on` did.
#[derive(Debug, Clone, Serialize)]
pub struct MtlsChange {
    /// The domain's settings after the change.
    pub domain: DomainTruststore,
    /// What was served before mTLS went off: what `on` restores (or restored).
    pub record: MtlsOffRecord,
}

fn domain_of<'a>(ctx: &'a Ctx, what: &str) -> Result<&'a str> {
    ctx.env.gateway_domain.as_deref().ok_or_else(|| {
        Error::Config(format!(
            "{what} needs the gateway's custom domain: set gateway_domain in environment '{}'",
            ctx.env.name
        ))
    })
}

async fn off_record(ctx: &Ctx, domain: &str) -> Result<Option<(MtlsOffRecord, u64)>> {
    let key = off_doc(domain);
    match ctx.backend.coordination.doc(&key).await? {
        None => Ok(None),
        Some(doc) => {
            let record = serde_json::from_str(&doc.text).map_err(|e| {
                Error::Store(StoreError::Backend(format!(
                    "the mutual-TLS record of domain {domain} ({key} in {}) is unreadable: {e}",
                    ctx.backend.coordination.location()
                )))
            })?;
            Ok(Some((record, doc.version)))
        }
    }
}

async fn put_record(ctx: &Ctx, record: &MtlsOffRecord, expect: u64) -> Result<()> {
    let text = serde_json::to_string(record).map_err(|e| Error::Io(e.to_string()))?;
    ctx.backend
        .coordination
        .put_doc(
            &off_doc(&record.domain),
            &text,
            expect,
            None,
            off_resource(&record.domain),
        )
        .await?;
    Ok(())
}

/// The environment's domain: its mutual-TLS settings and the last off record, for a
/// confirmation question or a status line.
pub async fn gateway_mtls_state(ctx: &Ctx) -> Result<MtlsState> {
    let name = domain_of(ctx, "the gateway's mutual-TLS state")?;
    let domain = ctx.backend.gateway.domain(name).await?;
    let off = off_record(ctx, name).await?.map(|(r, _)| r);
    Ok(MtlsState { domain, off })
}

/// Emergency: turns mutual TLS off on the environment's domain, so that the API accepts
/// requests without a client certificate (the authorizer still runs on every request).
/// What the domain served (truststore uri and version) is recorded first, so `gateway mtls
/// on` restores exactly it; the change is audited with `reason`.
pub async fn gateway_mtls_off(ctx: &Ctx, reason: &str) -> Result<MtlsChange> {
    ctx.require_writable("gateway mtls off")?;
    let name = domain_of(ctx, "gateway mtls off")?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::Invalid(
            "--reason is empty: say why mutual TLS is turned off (it is kept in the audit log); \
             nothing changed"
                .into(),
        ));
    }
    super::validate_note(reason)?;
    let gateway = &ctx.backend.gateway;
    let now = gateway.domain(name).await?;
    let prior = off_record(ctx, name).await?;
    let Some(uri) = now.truststore_uri.clone() else {
        let since = prior
            .as_ref()
            .filter(|(r, _)| r.restored_at.is_none())
            .map(|(r, _)| {
                format!(
                    " (since {} by {}: {})",
                    crate::timefmt::format(r.turned_off_at),
                    r.operator,
                    r.reason
                )
            })
            .unwrap_or_default();
        return Err(Error::Invalid(format!(
            "mutual TLS is already off on domain {name}{since}; nothing changed. \
             `gateway mtls on` turns it back on"
        )));
    };
    let record = MtlsOffRecord {
        domain: name.to_string(),
        truststore_uri: uri,
        truststore_version: now.truststore_version.clone(),
        reason: reason.to_string(),
        operator: ctx.backend.operator.clone(),
        turned_off_at: ctx.now(),
        restored_at: None,
    };
    // Recorded before the change: whatever happens next, `on` knows what to restore.
    put_record(ctx, &record, prior.map_or(0, |(_, v)| v)).await?;
    let change = async { Ok(gateway.disable_mtls(name).await?) };
    let domain = ctx
        .audited("gateway.mtls-off", name, change, |_: &DomainTruststore| {
            format!(
                "mutual TLS OFF: the API accepts requests without a client certificate; it \
                 served {}; reason: {reason}",
                record.served()
            )
        })
        .await?;
    Ok(MtlsChange { domain, record })
}

/// Turns mutual TLS back on, restoring the truststore uri and version the domain served when
/// `gateway mtls off` turned it off; audited.
pub async fn gateway_mtls_on(ctx: &Ctx) -> Result<MtlsChange> {
    ctx.require_writable("gateway mtls on")?;
    let name = domain_of(ctx, "gateway mtls on")?;
    let gateway = &ctx.backend.gateway;
    let now = gateway.domain(name).await?;
    let prior = off_record(ctx, name).await?;
    if let Some(uri) = &now.truststore_uri {
        return Err(Error::Invalid(format!(
            "mutual TLS is on already on domain {name}: it serves {}; nothing changed",
            served(uri, now.truststore_version.as_deref())
        )));
    }
    let Some((record, version)) = prior.filter(|(r, _)| r.restored_at.is_none()) else {
        return Err(Error::NotFound(format!(
            "mutual TLS is off on domain {name}, but no `gateway mtls off` recorded what it \
             served before (it was turned off elsewhere); `truststore publish` turns it on with \
             the newest version of {}",
            ctx.backend.truststore.location()
        )));
    };
    let change = async {
        Ok(gateway
            .enable_mtls(
                name,
                &record.truststore_uri,
                record.truststore_version.as_deref(),
            )
            .await?)
    };
    let domain = ctx
        .audited("gateway.mtls-on", name, change, |d: &DomainTruststore| {
            format!(
                "mutual TLS on again with {} (off since {}: {}){}",
                record.served(),
                crate::timefmt::format(record.turned_off_at),
                record.reason,
                if d.warnings.is_empty() {
                    String::new()
                } else {
                    format!("; API Gateway warned: {}", d.warnings.join("; "))
                }
            )
        })
        .await?;
    let restored = MtlsOffRecord {
        restored_at: Some(ctx.now()),
        ..record
    };
    if let Err(e) = put_record(ctx, &restored, version).await {
        ctx.warn(format!(
            "mutual TLS is on again, but the record of domain {name} still says off: {e}"
        ));
    }
    Ok(MtlsChange {
        domain,
        record: restored,
    })
}

/// One authorizer's result cache on one mapped API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthorizerCache {
    pub api_id: String,
    pub authorizer_id: String,
    pub name: Option<String>,
    /// How long API Gateway caches the authorizer's answer.
    pub ttl_seconds: u32,
    /// False when the authorizer states no TTL and API Gateway's default is assumed.
    pub stated: bool,
}

impl AuthorizerCache {
    fn label(&self) -> String {
        match &self.name {
            Some(n) => format!(
                "authorizer {n} ({}) on API {}",
                self.authorizer_id, self.api_id
            ),
            None => format!("authorizer {} on API {}", self.authorizer_id, self.api_id),
        }
    }
}

/// How long a revoked certificate may keep working: the longest result cache TTL of the Lambda
/// authorizers on the APIs mapped to the domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevocationLatency {
    pub domain: Option<String>,
    pub authorizers: Vec<AuthorizerCache>,
    /// The longest TTL; None when it is not known.
    pub ttl_seconds: Option<u32>,
    /// Why it is not known.
    pub unknown: Option<String>,
}

/// When a revoke takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TakesEffect {
    /// The authorizer caches nothing: the next request is denied.
    NextRequest,
    /// Cached answers may let the cert through for up to the TTL.
    Within,
    /// The TTL could not be read.
    Unknown,
}

/// When a revoke made at a given time takes effect, for `revoke`, `verify` and the console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevocationEffect {
    pub takes_effect: TakesEffect,
    pub ttl_seconds: Option<u32>,
    /// The latest time a cached answer can still let the cert through (UTC).
    #[serde(with = "time::serde::rfc3339::option")]
    pub by: Option<OffsetDateTime>,
    /// One line: "on the next request", "within 300 s, by 12:05:00 UTC", or "at a time not
    /// known" and why.
    pub summary: String,
}

impl RevocationLatency {
    /// When a revoke made at `at` takes effect.
    pub fn effect(&self, at: OffsetDateTime) -> RevocationEffect {
        match self.ttl_seconds {
            Some(0) => RevocationEffect {
                takes_effect: TakesEffect::NextRequest,
                ttl_seconds: Some(0),
                by: Some(at),
                summary: "on the next request (the authorizer's result cache TTL is 0)".into(),
            },
            Some(ttl) => {
                let by = at + time::Duration::seconds(i64::from(ttl));
                let longest = self
                    .authorizers
                    .iter()
                    .find(|a| a.ttl_seconds == ttl)
                    .map(|a| {
                        format!(
                            "{} caches answers for {ttl} s{}",
                            a.label(),
                            if a.stated {
                                ""
                            } else {
                                " (API Gateway's default)"
                            }
                        )
                    })
                    .unwrap_or_default();
                RevocationEffect {
                    takes_effect: TakesEffect::Within,
                    ttl_seconds: Some(ttl),
                    by: Some(by),
                    summary: format!("within {ttl} s, by {} ({longest})", clock(by)),
                }
            }
            None => RevocationEffect {
                takes_effect: TakesEffect::Unknown,
                ttl_seconds: None,
                by: None,
                summary: format!(
                    "at a time not known: {}; with the authorizer's result cache on (API Gateway's default \
                     {DEFAULT_AUTHORIZER_TTL} s, at most 3600 s) a revoked cert keeps working \
                     until its cached answer expires",
                    self.unknown.as_deref().unwrap_or("the TTL was not read")
                ),
            },
        }
    }
}

/// `HH:MM:SS UTC`.
fn clock(t: OffsetDateTime) -> String {
    let f = format_description!("[hour]:[minute]:[second]");
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{} UTC", t.format(&f).unwrap_or_default())
}

fn latency_of(domain: &str, apis: &StoreResult<Option<Vec<MappedApi>>>) -> RevocationLatency {
    let unknown = |why: String| RevocationLatency {
        domain: Some(domain.to_string()),
        authorizers: Vec::new(),
        ttl_seconds: None,
        unknown: Some(why),
    };
    let apis = match apis {
        Err(e) => {
            return unknown(format!(
                "the authorizers of domain {domain} could not be read ({e})"
            ));
        }
        Ok(None) => {
            return unknown(format!(
                "this backend models no API behind domain {domain}, so no authorizer cache"
            ));
        }
        Ok(Some(apis)) if apis.is_empty() => {
            return unknown(format!("no API is mapped to domain {domain}"));
        }
        Ok(Some(apis)) => apis,
    };
    let authorizers: Vec<AuthorizerCache> = apis
        .iter()
        .flat_map(|api| {
            api.authorizers.iter().map(|a| AuthorizerCache {
                api_id: api.api_id.clone(),
                authorizer_id: a.authorizer_id.clone(),
                name: a.name.clone(),
                ttl_seconds: a.result_ttl_seconds.unwrap_or(DEFAULT_AUTHORIZER_TTL),
                stated: a.result_ttl_seconds.is_some(),
            })
        })
        .collect();
    if authorizers.is_empty() {
        return unknown(format!(
            "no route of the APIs mapped to domain {domain} uses a Lambda authorizer, so none \
             consults the roster"
        ));
    }
    RevocationLatency {
        domain: Some(domain.to_string()),
        ttl_seconds: authorizers.iter().map(|a| a.ttl_seconds).max(),
        authorizers,
        unknown: None,
    }
}

/// How soon a revoke bites on this environment's gateway. Never fails: what could not be read
/// is said in `unknown`.
pub async fn revocation_latency(ctx: &Ctx) -> RevocationLatency {
    let Some(domain) = ctx.env.gateway_domain.as_deref() else {
        return RevocationLatency {
            domain: None,
            authorizers: Vec::new(),
            ttl_seconds: None,
            unknown: Some(format!(
                "environment '{}' names no gateway_domain, so the authorizer's result cache TTL \
                 is not read",
                ctx.env.name
            )),
        };
    };
    latency_of(domain, &ctx.backend.gateway.mapped_apis(domain).await)
}

fn check(name: &str, status: CheckStatus, detail: impl Into<String>) -> DoctorCheck {
    DoctorCheck {
        name: name.to_string(),
        status,
        detail: detail.into(),
    }
}

fn api_label(api: &MappedApi) -> String {
    match &api.name {
        Some(n) => format!("{} ({n})", api.api_id),
        None => api.api_id.clone(),
    }
}

/// The bypass check (`gateway.bypass`: FAIL naming each mapped API whose default endpoint is
/// enabled) and, with `cache`, the authorizer cache (`gateway.authorizer-cache`: WARN when a
/// TTL is above 0). Nothing when the environment names no domain or the backend models no
/// APIs.
pub(crate) async fn guard_checks(ctx: &Ctx, cache: bool) -> Vec<DoctorCheck> {
    let Some(domain) = ctx.env.gateway_domain.as_deref() else {
        return Vec::new();
    };
    let apis = ctx.backend.gateway.mapped_apis(domain).await;
    let mut checks = Vec::new();
    match &apis {
        Err(e) => checks.push(check(
            "gateway.bypass",
            CheckStatus::Fail,
            format!("cannot read the APIs mapped to domain {domain}: {e}"),
        )),
        Ok(None) => return checks,
        Ok(Some(list)) if list.is_empty() => checks.push(check(
            "gateway.bypass",
            CheckStatus::Warn,
            format!("no API is mapped to domain {domain}: requests to it reach no API"),
        )),
        Ok(Some(list)) => {
            let open: Vec<&MappedApi> = list.iter().filter(|a| !a.execute_api_disabled).collect();
            for api in &open {
                checks.push(check(
                    "gateway.bypass",
                    CheckStatus::Fail,
                    format!(
                        "API {} is mapped to domain {domain} but its default execute-api \
                         endpoint is enabled: requests there skip mutual TLS entirely. Disable \
                         it (aws apigatewayv2 update-api --api-id {} \
                         --disable-execute-api-endpoint)",
                        api_label(api),
                        api.api_id
                    ),
                ));
            }
            if open.is_empty() {
                checks.push(check(
                    "gateway.bypass",
                    CheckStatus::Ok,
                    format!(
                        "every API mapped to domain {domain} has its execute-api endpoint \
                         disabled: {}",
                        list.iter().map(api_label).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
    }
    if cache && apis.is_ok() {
        let latency = latency_of(domain, &apis);
        let cached: Vec<&AuthorizerCache> = latency
            .authorizers
            .iter()
            .filter(|a| a.ttl_seconds > 0)
            .collect();
        if let Some(why) = &latency.unknown {
            checks.push(check(
                "gateway.authorizer-cache",
                CheckStatus::Warn,
                format!("when a revoke takes effect is not known: {why}"),
            ));
        } else if cached.is_empty() {
            checks.push(check(
                "gateway.authorizer-cache",
                CheckStatus::Ok,
                "no authorizer caches its answers (TTL 0): a revoke takes effect on the next \
                 request",
            ));
        }
        for a in cached {
            checks.push(check(
                "gateway.authorizer-cache",
                CheckStatus::Warn,
                format!(
                    "{} caches answers for {} s{}: a revoked cert keeps working for up to that \
                     long. Set authorizerResultTtlInSeconds to 0 for revocation on the next \
                     request",
                    a.label(),
                    a.ttl_seconds,
                    if a.stated {
                        ""
                    } else {
                        " (none stated: API Gateway's default)"
                    }
                ),
            ));
        }
    }
    checks
}

/// The domain's mutual TLS for doctor: FAIL when it is off (with the off record when there is
/// one). Nothing when the environment names no domain.
pub(crate) async fn mtls_check(ctx: &Ctx) -> Option<DoctorCheck> {
    let name = ctx.env.gateway_domain.as_deref()?;
    Some(match gateway_mtls_state(ctx).await {
        // The embedded backend's domain comes into being with the first publish.
        Err(Error::Store(StoreError::NotFound(why)))
            if ctx.env.backend == crate::config::BackendKind::Local =>
        {
            check("gateway.mtls", CheckStatus::Warn, why)
        }
        Err(e) => check("gateway.mtls", CheckStatus::Fail, e.to_string()),
        Ok(state) => match &state.domain.truststore_uri {
            Some(uri) => check(
                "gateway.mtls",
                CheckStatus::Ok,
                format!(
                    "domain {name} requires a client certificate: it serves {}",
                    served(uri, state.domain.truststore_version.as_deref())
                ),
            ),
            None => check("gateway.mtls", CheckStatus::Fail, off_detail(name, &state)),
        },
    })
}

/// Why a domain reads no truststore, in words: turned off by `gateway mtls off` (when, by
/// whom, why, and what `on` restores) or elsewhere.
pub(crate) fn off_detail(name: &str, state: &MtlsState) -> String {
    match state.off.as_ref().filter(|r| r.restored_at.is_none()) {
        Some(r) => format!(
            "mutual TLS is OFF on domain {name}: the API accepts requests without a client \
             certificate (since {} by {}: {}); `gateway mtls on` restores {}",
            crate::timefmt::format(r.turned_off_at),
            r.operator,
            r.reason,
            r.served()
        ),
        None => format!(
            "mutual TLS is OFF on domain {name}: the API accepts requests without a client \
             certificate, and no `gateway mtls off` recorded what it served; `truststore \
             publish` turns it on with the newest version"
        ),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::store::RouteAuthorizer;

    fn api(id: &str, ttls: &[Option<u32>]) -> MappedApi {
        MappedApi {
            api_id: id.into(),
            name: None,
            stage: None,
            execute_api_disabled: true,
            authorizers: ttls
                .iter()
                .enumerate()
                .map(|(i, ttl)| RouteAuthorizer {
                    authorizer_id: format!("auth{i}"),
                    name: None,
                    result_ttl_seconds: *ttl,
                })
                .collect(),
        }
    }

    const AT: OffsetDateTime = datetime!(2026-03-01 23:58:00 UTC);

    #[test]
    fn a_ttl_of_zero_bites_on_the_next_request() {
        let l = latency_of("api.example.com", &Ok(Some(vec![api("a1", &[Some(0)])])));
        let e = l.effect(AT);
        assert_eq!(e.takes_effect, TakesEffect::NextRequest);
        assert!(
            e.summary.starts_with("on the next request"),
            "{}",
            e.summary
        );
    }

    #[test]
    fn the_longest_ttl_of_every_mapped_api_decides() {
        let l = latency_of(
            "api.example.com",
            &Ok(Some(vec![api("a1", &[Some(0)]), api("a2", &[Some(300)])])),
        );
        let e = l.effect(AT);
        assert_eq!(e.takes_effect, TakesEffect::Within);
        assert_eq!(e.by, Some(datetime!(2026-03-02 00:03:00 UTC)));
        assert!(
            e.summary
                .starts_with("within 300 s, by 00:03:00 UTC (authorizer auth0 on API a2"),
            "{}",
            e.summary
        );
    }

    #[test]
    fn an_unstated_ttl_is_api_gateways_default() {
        let l = latency_of("api.example.com", &Ok(Some(vec![api("a1", &[None])])));
        assert_eq!(l.ttl_seconds, Some(DEFAULT_AUTHORIZER_TTL));
        assert!(l.effect(AT).summary.contains("API Gateway's default"));
    }

    #[test]
    fn what_cannot_be_read_is_never_the_next_request() {
        for apis in [
            Ok(None),
            Ok(Some(Vec::new())),
            Ok(Some(vec![api("a1", &[])])),
            Err(StoreError::AccessDenied("apigateway:GET".into())),
        ] {
            let e = latency_of("api.example.com", &apis).effect(AT);
            assert_eq!(e.takes_effect, TakesEffect::Unknown, "{apis:?}");
            assert!(
                e.summary.starts_with("at a time not known: "),
                "{}",
                e.summary
            );
        }
    }
}
