//! The gateway's guard rails on moto: a domain with APIs mapped to it (CreateApi with and
//! without disableExecuteApiEndpoint, CreateApiMapping) and Lambda authorizers on their routes
//! (CreateAuthorizer with a result TTL, CreateRoute). `truststore check` and doctor FAIL on an
//! API whose execute-api endpoint is open, naming it; `revoke` and `verify` (the release
//! binary) say when a revoke takes effect from the TTL; doctor warns when it is above 0.
//! moto has no UpdateDomainName, so the bundle is written to S3 and the domain created on it
//! here (publish would point the domain); `gateway mtls off/on` is tested with
//! aws-smithy-mocks (src/store/aws/mock_tests.rs) and on the embedded backend.

use aws_sdk_apigatewayv2::types::{
    AuthorizationType, AuthorizerType, DomainNameConfiguration, EndpointType,
    MutualTlsAuthenticationInput, ProtocolType,
};
use mtls_console::config::EnvConfig;
use mtls_console::ops::{self, CaInitOptions, CheckStatus, Ctx, IssueOptions, TakesEffect};
use mtls_console::pki::{KeyAlgorithm, Subject};
use mtls_console::store::aws as aws_store;
use time::OffsetDateTime;

use super::{env, home_for, raw};

/// An HTTP API mapped to `domain`; with `ttl`, a Lambda authorizer on its route caching
/// answers that long. Returns the API id.
async fn mapped_api(
    env: &EnvConfig,
    domain: &str,
    name: &str,
    execute_api_disabled: bool,
    ttl: Option<i32>,
) -> String {
    let gw = raw(env).await.apigw;
    let mut create = gw.create_api().name(name).protocol_type(ProtocolType::Http);
    if execute_api_disabled {
        create = create.disable_execute_api_endpoint(true);
    }
    let api_id = create.send().await.unwrap().api_id.unwrap();
    if let Some(ttl) = ttl {
        let authorizer = gw
            .create_authorizer()
            .api_id(&api_id)
            .name(format!("{name}-roster"))
            .authorizer_type(AuthorizerType::Request)
            .authorizer_uri(
                "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/\
                 arn:aws:lambda:us-east-1:123456789012:function:mtls-authorizer/invocations",
            )
            .authorizer_payload_format_version("2.0")
            .identity_source("$context.identity.clientCert.serialNumber")
            .authorizer_result_ttl_in_seconds(ttl)
            .send()
            .await
            .unwrap()
            .authorizer_id
            .unwrap();
        gw.create_route()
            .api_id(&api_id)
            .route_key("ANY /{proxy+}")
            .authorization_type(AuthorizationType::Custom)
            .authorizer_id(authorizer)
            .send()
            .await
            .unwrap();
    }
    gw.create_api_mapping()
        .domain_name(domain)
        .api_id(&api_id)
        .stage("$default")
        .api_mapping_key(name)
        .send()
        .await
        .unwrap();
    api_id
}

/// A CA, one client, the bundle in S3 and a domain serving that version: an environment as
/// the deployment leaves it.
async fn deployment(tag: &str) -> (EnvConfig, Ctx) {
    let mut env = env(tag);
    let domain = format!("api-{tag}.example.com");
    env.gateway_domain = Some(domain.clone());
    aws_store::init_infra(&env).await.unwrap();
    let ctx = Ctx::open(env.clone()).await.unwrap();
    ops::ca_init(
        &ctx,
        &CaInitOptions {
            root_only: false,
            key_algorithm: KeyAlgorithm::EcdsaP256,
            subject: Subject::default(),
            root_days: 3650,
            intermediate_days: 1825,
        },
    )
    .await
    .unwrap();
    for client in ["acme", "globex"] {
        ops::issue(
            &ctx,
            &IssueOptions {
                client: client.into(),
                cn: None,
                days: None,
                key: None,
            },
        )
        .await
        .unwrap();
    }
    let bundle = ops::truststore_build(&ctx).await.unwrap();
    let version = ctx.backend.truststore.put(&bundle.pem, None).await.unwrap();
    raw(&env)
        .await
        .apigw
        .create_domain_name()
        .domain_name(&domain)
        .domain_name_configurations(
            DomainNameConfiguration::builder()
                .certificate_arn("arn:aws:acm:us-east-1:123456789012:certificate/gateway")
                .endpoint_type(EndpointType::Regional)
                .build(),
        )
        .mutual_tls_authentication(
            MutualTlsAuthenticationInput::builder()
                .truststore_uri(ctx.backend.truststore.location())
                .truststore_version(version.version_id)
                .build(),
        )
        .send()
        .await
        .unwrap();
    (env, ctx)
}

fn named<'a>(checks: &'a [ops::DoctorCheck], name: &str) -> Vec<&'a ops::DoctorCheck> {
    checks.iter().filter(|c| c.name == name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_execute_api_endpoint_fails_check_and_doctor_and_ttl_0_bites_next_request() {
    let (env, ctx) = deployment("bypass").await;
    let domain = env.gateway_domain.clone().unwrap();
    let closed = mapped_api(&env, &domain, "closed", true, Some(0)).await;
    let open = mapped_api(&env, &domain, "open", false, None).await;

    let check = ops::truststore_check(&ctx).await.unwrap();
    let bypass = named(&check.checks, "gateway.bypass");
    assert_eq!(bypass.len(), 1, "{bypass:?}");
    assert_eq!(bypass[0].status, CheckStatus::Fail);
    assert!(
        bypass[0].detail.contains(&open) && !bypass[0].detail.contains(&closed),
        "{}",
        bypass[0].detail
    );
    let served = named(&check.checks, "domain");
    assert_eq!(served[0].status, CheckStatus::Ok, "{:?}", served[0]);
    let doctor = ops::doctor(&ctx).await.unwrap();
    let bypass = named(&doctor, "gateway.bypass");
    assert_eq!(bypass.len(), 1, "{bypass:?}");
    assert_eq!(bypass[0].status, CheckStatus::Fail);
    assert!(bypass[0].detail.contains(&open), "{}", bypass[0].detail);
    let cache = named(&doctor, "gateway.authorizer-cache");
    assert_eq!(cache.len(), 1, "{cache:?}");
    assert_eq!(cache[0].status, CheckStatus::Ok, "{}", cache[0].detail);

    // Through the binary: exit 9, the API named.
    let home = home_for(&env, &format!("gateway_domain = \"{domain}\"\n"));
    let out = home.run(&["--env", "moto", "truststore", "check"]);
    assert_eq!(crate::common::code(&out), 9);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAIL") && l.contains("gateway.bypass") && l.contains(&open)),
        "{text}"
    );

    let latency = ops::revocation_latency(&ctx).await;
    assert_eq!(latency.ttl_seconds, Some(0), "{latency:?}");
    let revoked = home.json(&[
        "--env",
        "moto",
        "--yes",
        "revoke",
        "acme",
        "--reason",
        "keyCompromise",
    ]);
    assert_eq!(revoked["takes_effect"]["takes_effect"], "next-request");
    let said = home.ok(&[
        "--env",
        "moto",
        "--yes",
        "revoke",
        "globex",
        "--reason",
        "keyCompromise",
    ]);
    assert!(said.contains("takes effect on the next request"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_authorizer_delays_the_revoke_and_doctor_warns() {
    let (env, ctx) = deployment("ttl300").await;
    let domain = env.gateway_domain.clone().unwrap();
    let api = mapped_api(&env, &domain, "partners", true, Some(300)).await;

    let check = ops::truststore_check(&ctx).await.unwrap();
    let bypass = named(&check.checks, "gateway.bypass");
    assert_eq!(bypass.len(), 1);
    assert_eq!(bypass[0].status, CheckStatus::Ok, "{}", bypass[0].detail);
    assert!(bypass[0].detail.contains(&api), "{}", bypass[0].detail);
    let doctor = ops::doctor(&ctx).await.unwrap();
    let cache = named(&doctor, "gateway.authorizer-cache");
    assert_eq!(cache.len(), 1, "{cache:?}");
    assert_eq!(cache[0].status, CheckStatus::Warn);
    assert!(
        cache[0].detail.contains("300 s") && cache[0].detail.contains(&api),
        "{}",
        cache[0].detail
    );

    let home = home_for(&env, &format!("gateway_domain = \"{domain}\"\n"));
    let verdict = home.run(&["--env", "moto", "--json", "verify", "acme"]);
    let verdict: serde_json::Value = serde_json::from_slice(&verdict.stdout).unwrap();
    assert_eq!(verdict["allow"], true, "{verdict}");
    assert_eq!(verdict["revocation"]["takes_effect"], "within");
    assert_eq!(verdict["revocation"]["ttl_seconds"], 300);

    let before = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let revoked = home.json(&[
        "--env",
        "moto",
        "--yes",
        "revoke",
        "acme",
        "--reason",
        "keyCompromise",
    ]);
    let after = OffsetDateTime::now_utc();
    let effect = &revoked["takes_effect"];
    assert_eq!(effect["takes_effect"], "within", "{revoked}");
    assert_eq!(effect["ttl_seconds"], 300);
    let by = OffsetDateTime::parse(
        effect["by"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let ttl = time::Duration::seconds(300);
    assert!(
        before + ttl <= by && by <= after + ttl,
        "{by} not 300 s after the revoke"
    );
    let summary = effect["summary"].as_str().unwrap();
    let clock = format!("{:02}:{:02}:{:02} UTC", by.hour(), by.minute(), by.second());
    assert!(
        summary.starts_with(&format!("within 300 s, by {clock}")),
        "{summary}"
    );

    // verify of the revoked cert: DENY, and when the cached answers run out.
    let verdict = home.run(&["--env", "moto", "verify", "acme"]);
    assert_eq!(crate::common::code(&verdict), 10);
    let text = String::from_utf8_lossy(&verdict.stdout);
    assert!(
        text.contains(&format!(
            "its revocation takes effect within 300 s, by {clock}"
        )),
        "{text}"
    );
    let latency = ops::revocation_latency(&ctx).await;
    assert_eq!(latency.effect(by).takes_effect, TakesEffect::Within);

    // The emergency revoke by CA says it too.
    let by_ca = home.json(&[
        "--env",
        "moto",
        "--yes",
        "revoke",
        "--issued-by",
        "intermediate",
        "--reason",
        "cACompromise",
    ]);
    assert_eq!(by_ca["revoked"], 1, "{by_ca}");
    assert_eq!(by_ca["takes_effect"]["takes_effect"], "within", "{by_ca}");
    assert_eq!(by_ca["takes_effect"]["ttl_seconds"], 300);
}
