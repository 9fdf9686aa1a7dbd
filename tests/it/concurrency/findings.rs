//! The single-operator findings of the coordination work: a revoke that revokes every cert
//! of the client (3), rollback's safety checks (5), foreign items skipped (7), `verify`
//! agreeing with the reference authorizer (8), same-second issue and reissue (10), Secrets
//! Manager name collisions (11), and lease take-over rules.

use mtls_console::config::VaultKind;
use mtls_console::model::{CertStatus, RevocationReason, VaultItem};
use mtls_console::ops::{self, Ctx, IssueOptions, ReissueOptions, RevokeScope, StatusFilter};
use mtls_console::store::item::{AttrValue, Item};
use mtls_console::store::{LeaseRecord, Owner};
use time::{Duration, OffsetDateTime};

use super::{Site, check, ids, python_authorizer, report, text};
use crate::common::code;

/// Sets an attribute of a roster item the way another tool would (SQLite row or DynamoDB
/// PutItem of the whole item).
async fn set_attr(site: &Site, serial: &str, name: &str, value: &str) {
    if site.aws {
        let raw = crate::aws::raw(&site.env).await;
        let item = raw
            .dynamo
            .get_item()
            .table_name(&site.env.table)
            .key(
                "serialNumber",
                aws_sdk_dynamodb::types::AttributeValue::S(serial.into()),
            )
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        let mut item = item;
        item.insert(
            name.into(),
            aws_sdk_dynamodb::types::AttributeValue::S(value.into()),
        );
        raw.dynamo
            .put_item()
            .table_name(&site.env.table)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    } else {
        let db = site.env.data_dir.as_ref().unwrap().join("t.sqlite3");
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.execute(
            &format!(
                "UPDATE roster SET item = json_set(item, '$.{name}.S', ?1) WHERE serialNumber = ?2"
            ),
            [value, serial],
        )
        .unwrap();
        if name == "status" {
            conn.execute(
                "UPDATE roster SET status = ?1 WHERE serialNumber = ?2",
                [value, serial],
            )
            .unwrap();
        }
    }
}

async fn serial_of(site: &Site, client: &str) -> String {
    let ctx = site.ctx().await;
    let certs = ctx.backend.roster.client_items(client).await.unwrap();
    certs
        .records
        .iter()
        .filter(|c| c.status == CertStatus::Active && c.replaced_by.is_none())
        .map(|c| c.serial.clone())
        .next()
        .unwrap()
}

/// Finding 3: after `revoke CLIENT` no cert of the client is accepted, grace certs included;
/// `--keep-grace` keeps the old one only when asked.
async fn revoke_revokes_every_cert(site: &Site) {
    site.bootstrap(&[]);
    let old = site.home.path().join("old");
    site.ok(&["issue", "acme", "--out", old.to_str().unwrap()]);
    site.ok(&["issue", "beta", "--out", old.join("beta").to_str().unwrap()]);
    site.ok(&["truststore", "publish", "--yes"]);
    site.ok(&["reissue", "acme", "--grace", "7d", "--yes"]);
    site.ok(&["reissue", "beta", "--grace", "7d", "--yes"]);
    let pem = old.join("client.pem");
    let verify = |pem: &std::path::Path| code(&site.run(&["verify", pem.to_str().unwrap()]));
    assert_eq!(
        verify(&pem),
        0,
        "the grace cert is accepted before the revoke"
    );

    let said = site.ok(&["revoke", "acme", "--reason", "keyCompromise", "--yes"]);
    assert!(
        said.contains("no certificate of acme is accepted any more"),
        "{said}"
    );
    assert_eq!(said.matches("revoked acme serial").count(), 2, "{said}");
    assert_eq!(
        verify(&pem),
        10,
        "the grace cert is denied after the revoke"
    );
    let new = site.home.path().join("new");
    site.ok(&["export", "acme", "--out", new.to_str().unwrap()]);
    assert_eq!(verify(&new.join("client.pem")), 10);

    let said = site.ok(&[
        "revoke",
        "beta",
        "--keep-grace",
        "--reason",
        "superseded",
        "--yes",
    ]);
    assert!(said.contains("still accepted: serial"), "{said}");
    assert_eq!(
        verify(&old.join("beta/client.pem")),
        0,
        "--keep-grace keeps it"
    );
    report(
        site,
        "revoke during a grace period",
        2,
        0,
        &check(site).await,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn revoke_revokes_every_cert_embedded() {
    revoke_revokes_every_cert(&Site::local()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn revoke_revokes_every_cert_moto() {
    revoke_revokes_every_cert(&Site::moto("revoke-all", VaultKind::Ssm).await).await;
}

/// Finding 5: rolling back past a rotation would cut every client off: refused without
/// `--force`, nothing changed.
async fn rollback_past_a_rotation_needs_force(site: &Site) {
    site.bootstrap(&ids("rb", 3));
    site.ok(&["ca", "rotate-intermediate", "--yes", "--grace", "0s"]);
    let ctx = site.ctx().await;
    let history = ops::truststore_history(&ctx).await.unwrap();
    let first = history.last().unwrap().version_id.clone();
    let latest = history.first().unwrap().version_id.clone();
    let out = site.run(&["truststore", "rollback", &first, "--yes"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--force"), "{err}");
    let now = ops::truststore_history(&ctx).await.unwrap();
    assert_eq!(
        now.first().unwrap().version_id,
        latest,
        "nothing was published"
    );
    report(site, "rollback past a rotation", 1, 0, &check(site).await);
    site.ok(&["truststore", "rollback", &first, "--force", "--yes"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_past_a_rotation_needs_force_embedded() {
    rollback_past_a_rotation_needs_force(&Site::local()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_past_a_rotation_needs_force_moto() {
    rollback_past_a_rotation_needs_force(&Site::moto("rollback", VaultKind::Ssm).await).await;
}

/// Finding 7: an item another tool wrote with an unknown status is reported and skipped by
/// `list`, `doctor`, `issue --from`, `truststore publish` and the emergency revoke.
async fn foreign_items_are_skipped(site: &Site) {
    site.bootstrap(&ids("s", 3));
    let serial = serial_of(site, "s-2").await;
    set_attr(site, &serial, "status", "suspended").await;

    let out = site.run(&["list"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains(&serial),
        "list names the skipped item:\n{}",
        text(&out)
    );
    let out = site.run(&["doctor"]);
    assert!(
        text(&out).contains(&serial) && !text(&out).contains("panicked"),
        "doctor reports the item:\n{}",
        text(&out)
    );
    let file = site.bulk_file("more", &ids("more", 2));
    site.ok(&["issue", "--from", file.to_str().unwrap()]);
    site.ok(&["truststore", "publish", "--yes"]);
    let said = site.ok(&[
        "revoke",
        "--issued-by",
        "intermediate",
        "--reason",
        "cACompromise",
        "--yes",
    ]);
    assert!(said.contains("revoked"), "{said}");
    let ctx = site.ctx().await;
    let listing = ctx.backend.roster.scan(false).await.unwrap();
    assert_eq!(listing.skipped.len(), 1);
    assert!(
        listing
            .records
            .iter()
            .all(|r| r.status == CertStatus::Revoked),
        "every readable cert of the compromised CA is revoked"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn foreign_items_are_skipped_embedded() {
    foreign_items_are_skipped(&Site::local()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn foreign_items_are_skipped_moto() {
    foreign_items_are_skipped(&Site::moto("foreign", VaultKind::Ssm).await).await;
}

fn s(v: &str) -> AttrValue {
    AttrValue::S(v.into())
}

fn item(pairs: &[(&str, AttrValue)]) -> Item {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect()
}

/// Finding 8: `verify`'s model of the authorizer agrees with the Python authorizer on items
/// of every shape other tooling writes, exceptions included.
#[test]
fn the_authorizer_model_agrees_with_python() {
    let expiries = [
        "2099-01-01T00:00:00+00:00",
        "2099-01-01T00:00:00Z",
        "2099-01-01T00:00:00",
        "2099-01-01",
        "2099-01-01T00:00:00.123456+00:00",
        "2099-01-01T00:00:00.123+00:00",
        "2099-01-01 00:00:00+00:00",
        "2099-01-01T00:00+00:00",
        "2099-01-01T00+00:00",
        "20990101T000000Z",
        "2099-W01-1T00:00:00+00:00",
        "2099-01-01T00:00:00+05:30",
        "2099-01-01T00:00:00-0800",
        "2099-01-01T24:00:00+00:00",
        "2099-13-01T00:00:00+00:00",
        "2020-01-01T00:00:00+00:00",
        "2020-01-01T00:00:00Z",
        "not a date",
        "",
        "2099-01-01T00:00:00+00:00 ",
        "2099-01-01T00:00:00,5+00:00",
        "2099-01-01T00:00:00.1234567+00:00",
        "2099W011T00:00:00+00:00",
        "2099W01T00:00:00+00:00",
        "2099-W01T00:00:00+00:00",
        "2099-W01",
        "2099W01",
        "2099W011",
        "2099-W52-7T23:59:59Z",
        "2099-W53-1T00:00:00+00:00",
        "2026-W53-1T00:00:00+00:00",
        "2099-W01-8T00:00:00+00:00",
        "2099-W011T00:00:00+00:00",
        "2099-0101T00:00:00+00:00",
        "209901-01T00:00:00+00:00",
        "2099-01-01T",
        "2099-01-01T00:00:00+00:00:30",
        "2099-01-01T00:00:00+24:00",
        "0000-01-01T00:00:00+00:00",
    ];
    let mut cases = Vec::new();
    for e in expiries {
        cases.push((
            Some(item(&[
                ("status", s("active")),
                ("expiry", s(e)),
                ("client_id", s("acme")),
            ])),
            "CN=acme".to_string(),
        ));
    }
    let others: Vec<(Option<Item>, &str)> = vec![
        (None, "CN=acme"),
        (
            Some(item(&[
                ("status", s("suspended")),
                ("expiry", s(expiries[0])),
                ("client_id", s("acme")),
            ])),
            "CN=acme",
        ),
        (
            Some(item(&[
                ("expiry", s(expiries[0])),
                ("client_id", s("acme")),
            ])),
            "CN=acme",
        ),
        (
            Some(item(&[("status", s("active")), ("client_id", s("acme"))])),
            "CN=acme",
        ),
        (
            Some(item(&[
                ("status", s("active")),
                ("expiry", AttrValue::N("4102444800".into())),
                ("client_id", s("acme")),
            ])),
            "CN=acme",
        ),
        (
            Some(item(&[
                ("status", s("active")),
                ("expiry", s(expiries[0])),
                ("clientName", s("acme")),
            ])),
            "CN=acme",
        ),
        (
            Some(item(&[("status", s("active")), ("expiry", s(expiries[0]))])),
            "CN=acme",
        ),
        (
            Some(item(&[
                ("status", s("active")),
                ("expiry", s(expiries[0])),
                ("client_id", s("acme")),
            ])),
            "O=x,CN=acme,OU=y",
        ),
        (
            Some(item(&[
                ("status", s("active")),
                ("expiry", s(expiries[0])),
                ("client_id", s("acme")),
            ])),
            "CN=other,CN=acme",
        ),
        (
            Some(item(&[
                ("status", s("active")),
                ("expiry", s(expiries[0])),
                ("client_id", s("acme")),
            ])),
            "CN=acme,CN=other",
        ),
        (
            Some(item(&[
                ("status", s("Active")),
                ("expiry", s(expiries[0])),
                ("client_id", s("acme")),
            ])),
            "CN=acme",
        ),
        (
            Some(item(&[
                ("status", AttrValue::Bool(true)),
                ("expiry", s(expiries[0])),
                ("client_id", s("acme")),
            ])),
            "CN=acme",
        ),
    ];
    for (i, dn) in others {
        cases.push((i, dn.to_string()));
    }
    let now = OffsetDateTime::now_utc();
    let python = python_authorizer(&cases);
    let mut disagreements = Vec::new();
    for ((item, dn), (allow, error)) in cases.iter().zip(python) {
        let model = ops::authorizer::refusal(item.as_ref(), dn, now);
        if model.is_none() != allow {
            disagreements.push(format!(
                "{item:?} {dn}: model {model:?}, python allow={allow} error={error:?}"
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

/// Finding 8 end to end: an item whose expiry has no UTC offset makes the authorizer raise,
/// so `verify` says DENY and names the TypeError.
async fn verify_denies_an_expiry_without_offset(site: &Site) {
    site.bootstrap(&[]);
    let dir = site.home.path().join("naive");
    site.ok(&["issue", "acme", "--out", dir.to_str().unwrap()]);
    site.ok(&["truststore", "publish", "--yes"]);
    let pem = dir.join("client.pem");
    assert_eq!(code(&site.run(&["verify", pem.to_str().unwrap()])), 0);
    let serial = serial_of(site, "acme").await;
    set_attr(site, &serial, "expiry", "2099-01-01T00:00:00").await;
    let out = site.run(&["verify", pem.to_str().unwrap()]);
    assert_eq!(code(&out), 10, "{}", text(&out));
    assert!(text(&out).contains("TypeError"), "{}", text(&out));
    let ctx = site.ctx().await;
    let item = ctx.backend.roster.get_item(&serial).await.unwrap();
    let python = python_authorizer(&[(item, "CN=acme".into())]);
    assert!(!python[0].0, "the reference authorizer denies it");
    assert!(python[0].1.as_deref().unwrap().starts_with("TypeError"));
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_denies_an_expiry_without_offset_embedded() {
    verify_denies_an_expiry_without_offset(&Site::local()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_denies_an_expiry_without_offset_moto() {
    verify_denies_an_expiry_without_offset(&Site::moto("naive", VaultKind::Ssm).await).await;
}

/// Finding 10: issue and reissue in the same second: `list`, `export` and `revoke
/// --keep-grace` all take the new cert as the client's current one.
async fn issue_and_reissue_in_the_same_second(site: &Site) {
    site.bootstrap(&[]);
    let t = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() + Duration::days(1);
    let ctx = Ctx::open(site.env.clone()).await.unwrap().with_clock(t);
    for _ in 0..5 {
        ops::issue(
            &ctx,
            &IssueOptions {
                client: "acme".into(),
                cn: None,
                days: None,
                key: None,
            },
        )
        .await
        .unwrap();
        let re = ops::reissue(
            &ctx,
            "acme",
            &ReissueOptions {
                rekey: false,
                grace: Some(Duration::days(7)),
                days: None,
                key_algorithm: None,
            },
        )
        .await
        .unwrap();
        let new = re.new.record.serial.clone();
        let listed = ops::list(&ctx, StatusFilter::All).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].serial, new, "list shows the new cert");
        let out = tempfile::tempdir().unwrap();
        ops::export(&ctx, "acme", out.path(), None, false)
            .await
            .unwrap();
        let written = std::fs::read_to_string(out.path().join("client.pem")).unwrap();
        assert_eq!(
            Some(written.trim()),
            Some(re.new.cert_pem.trim()),
            "export writes the new cert"
        );
        let revoked = ops::revoke(
            &ctx,
            "acme",
            RevocationReason::Superseded,
            None,
            RevokeScope::KeepGrace,
        )
        .await
        .unwrap();
        assert_eq!(revoked.revoked.len(), 1);
        assert_eq!(revoked.revoked[0].serial, new, "revoke takes the new cert");
        ops::revoke(
            &ctx,
            "acme",
            RevocationReason::Superseded,
            None,
            RevokeScope::All,
        )
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_and_reissue_in_the_same_second_embedded() {
    issue_and_reissue_in_the_same_second(&Site::local()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_and_reissue_in_the_same_second_moto() {
    issue_and_reissue_in_the_same_second(&Site::moto("same-second", VaultKind::Ssm).await).await;
}

/// Finding 11: two client ids that map to one Secrets Manager secret: the second is refused
/// and the first keeps its key.
#[tokio::test(flavor = "multi_thread")]
async fn secrets_manager_names_never_collide() {
    let site = Site::moto("collide", VaultKind::SecretsManager).await;
    site.ok(&[
        "ca",
        "init",
        "--root-only",
        "--key-algorithm",
        "ecdsa-p256",
        "--yes",
    ]);
    site.ok(&["truststore", "publish", "--yes"]);
    site.ok(&["issue", "MtlsKeys"]);
    let ctx = site.ctx().await;
    let name = ctx
        .backend
        .vault
        .name_of(&VaultItem::ClientKey("MtlsKeys".into()));
    let env_title = name.split('/').next().unwrap().to_string();
    let other = format!("{env_title}-mtls-clients-Client");
    assert_eq!(
        ctx.backend
            .vault
            .name_of(&VaultItem::ClientKey(other.clone())),
        name,
        "the two ids map to one secret"
    );
    let out = site.run(&["issue", &other]);
    assert_eq!(code(&out), 5, "{}", text(&out));
    assert!(text(&out).contains("MtlsKeys"), "{}", text(&out));
    assert!(
        ctx.backend
            .roster
            .client_items(&other)
            .await
            .unwrap()
            .records
            .is_empty(),
        "no roster item for the refused client"
    );
    report(
        &site,
        "Secrets Manager name collision",
        2,
        1,
        &check(&site).await,
    );
}

fn owner(host: &str, pid: u32) -> Owner {
    Owner {
        operator: "someone".into(),
        host: host.into(),
        pid,
        started: 0,
    }
}

/// A lease held on another host is refused until it expires, naming its holder; an expired
/// one, or one whose process on this host is gone, is taken over.
#[tokio::test(flavor = "multi_thread")]
async fn leases_are_taken_over_only_from_the_dead() {
    let site = Site::local();
    let ctx = site.ctx().await;
    let now = OffsetDateTime::now_utc();
    let held = |owner: Owner, expires_at: OffsetDateTime| LeaseRecord {
        name: "ca".into(),
        token: format!("t{}", expires_at.unix_timestamp()),
        owner,
        purpose: "ca rotate-intermediate".into(),
        acquired_at: now - Duration::minutes(5),
        heartbeat_at: now - Duration::seconds(10),
        expires_at,
    };
    let coordination = &ctx.backend.coordination;
    coordination
        .put_lease(
            &held(owner("far-away-host", 1), now + Duration::seconds(50)),
            None,
        )
        .await
        .unwrap();
    let err = ops::lease::acquire(&ctx, "ca", "test").await.err().unwrap();
    let msg = err.to_string();
    assert_eq!(err.exit_code(), 5);
    assert!(
        msg.contains("ca rotate-intermediate")
            && msg.contains("far-away-host")
            && msg.contains("since"),
        "{msg}"
    );
    let token = coordination.lease("ca").await.unwrap().unwrap().token;
    coordination
        .put_lease(
            &held(owner("far-away-host", 1), now - Duration::seconds(1)),
            Some(&token),
        )
        .await
        .unwrap();
    let guard = ops::lease::acquire(&ctx, "ca", "test").await.unwrap();
    assert_eq!(
        coordination.lease("ca").await.unwrap().unwrap().owner.pid,
        std::process::id()
    );
    guard.release().await.unwrap();
    assert!(coordination.lease("ca").await.unwrap().is_none());

    let here = ops::lease::acquire(&ctx, "ca", "test").await.unwrap();
    let mine = coordination.lease("ca").await.unwrap().unwrap();
    let mut dead = mine.clone();
    dead.owner.pid = 4_194_305;
    dead.token = "dead".into();
    coordination
        .put_lease(&dead, Some(&mine.token))
        .await
        .unwrap();
    drop(here);
    let taken = ops::lease::acquire(&ctx, "ca", "test").await.unwrap();
    taken.release().await.unwrap();
}

/// Finding 2's tail: a vault key that is not the current cert's (a race lost before the
/// head existed) makes `export` refuse rather than silently leave `client.key` out, and
/// `repair` restores the right key from the vault's history.
#[tokio::test(flavor = "multi_thread")]
async fn export_refuses_a_key_that_is_not_the_certs() {
    let site = Site::local();
    site.bootstrap(&ids("x", 1));
    let other = site.home.path().join("other.key");
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&other)
        .output()
        .unwrap();
    assert!(out.status.success());
    let ctx = site.ctx().await;
    ctx.backend
        .vault
        .put(
            &VaultItem::ClientKey("x-1".into()),
            &std::fs::read_to_string(&other).unwrap(),
            true,
        )
        .await
        .unwrap();
    let dir = site.home.path().join("export");
    let out = site.run(&["export", "x-1", "--out", dir.to_str().unwrap()]);
    assert_eq!(code(&out), 5, "{}", text(&out));
    assert!(text(&out).contains("repair"), "{}", text(&out));
    assert!(!dir.join("client.pem").exists(), "nothing was written");
    let said = site.ok(&["repair", "--yes"]);
    assert!(
        said.contains("fixed: restore the current cert's key"),
        "{said}"
    );
    site.ok(&["export", "x-1", "--out", dir.to_str().unwrap()]);
    assert!(dir.join("client.key").exists());
    report(
        &site,
        "vault key out of step, then repair",
        1,
        0,
        &check(&site).await,
    );
}
