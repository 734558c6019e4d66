//! The exporter binary with `--web.config.file` against libvirt's test driver, scraped by a real
//! TLS client: basic authentication, client certificates, plain HTTP to the TLS port, and
//! reloading the file while it runs (with the reload metrics in /metrics).

mod common;

use common::tls::{basic, hash, https_get, Pki};
use common::{poll_until, Exporter, Metrics};
use std::time::Duration;

const TLS: &str = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n";

fn start(pki: &Pki, yaml: &str) -> Exporter {
    let file = pki.write("web.yml", yaml);
    Exporter::start(&[
        "--libvirt.uri",
        "test:///default",
        "--collect.interval",
        "1s",
        "--web.config.file",
        &file,
    ])
}

fn users(list: &[(&str, &str)]) -> String {
    let mut yaml = String::from("basic_auth_users:\n");
    for (user, password) in list {
        yaml.push_str(&format!("  {user}: {}\n", hash(password)));
    }
    yaml
}

/// Retries `check` for up to 30 s.
fn eventually(what: &str, exporter: &Exporter, check: impl Fn() -> bool) {
    let ok = poll_until(
        Duration::from_secs(30),
        Duration::from_millis(100),
        check,
        |ok| *ok,
    );
    assert!(ok, "timed out waiting for {what}; log:\n{}", exporter.log());
}

#[test]
fn basic_auth_over_tls_lets_only_the_right_password_in() {
    let pki = Pki::new();
    let exporter = start(
        &pki,
        &format!("{TLS}{}", users(&[("prometheus", "scrape-me")])),
    );
    assert!(
        exporter.log().contains("listening on https://"),
        "{}",
        exporter.log()
    );
    let client = pki.client(false);
    let get = |auth: Option<String>| {
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| ("Authorization", a))
            .into_iter()
            .collect();
        https_get(exporter.addr, client.clone(), "/metrics", &headers).unwrap()
    };
    let res = get(None);
    assert_eq!(res.status, 401);
    assert!(
        res.header("WWW-Authenticate")
            .unwrap()
            .starts_with("Basic "),
        "{:?}",
        res.headers
    );
    let res = get(Some(basic("prometheus", "wrong")));
    assert_eq!(res.status, 401);
    assert!(res.header("WWW-Authenticate").is_some());
    assert_eq!(get(Some(basic("nobody", "scrape-me"))).status, 401);

    let auth = basic("prometheus", "scrape-me");
    let res = poll_until(
        Duration::from_secs(30),
        Duration::from_millis(100),
        || get(Some(auth.clone())),
        |res| res.status != 503,
    );
    assert_eq!(res.status, 200, "{}", res.text());
    let m = Metrics::parse(&res.text());
    assert_eq!(m.get("libvirt_up", &[]), 1.0);
    assert_eq!(
        m.get("libvirt_exporter_web_config_reload_success", &[]),
        1.0
    );
    let loaded = m.get(
        "libvirt_exporter_web_config_last_reload_success_timestamp_seconds",
        &[],
    );
    assert!((loaded - common::unix_now()).abs() < 300.0, "{loaded}");
}

#[test]
fn plain_http_to_the_tls_port_is_refused_and_tls_scrapes_carry_on() {
    let pki = Pki::new();
    let exporter = start(&pki, TLS);
    let plain = common::http_get(exporter.addr, "/metrics", &[]);
    assert_eq!(plain.status, 400);
    assert!(plain.text().contains("HTTPS"), "{}", plain.text());
    for _ in 0..3 {
        let res = https_get(exporter.addr, pki.client(false), "/healthz", &[]).unwrap();
        assert_eq!(res.status, 200);
        assert_eq!(res.text(), "ok\n");
    }
}

#[test]
fn a_client_without_the_required_certificate_is_refused() {
    let pki = Pki::new();
    let yaml =
        format!("{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n");
    let exporter = start(&pki, &yaml);
    let without = https_get(exporter.addr, pki.client(false), "/healthz", &[]);
    assert!(without.is_err(), "{without:?}");
    let stranger = https_get(
        exporter.addr,
        pki.client_with("stranger.pem", "other.key"),
        "/healthz",
        &[],
    );
    assert!(stranger.is_err(), "{stranger:?}");
    let with = https_get(exporter.addr, pki.client(true), "/healthz", &[]).unwrap();
    assert_eq!(with.status, 200);
    assert_eq!(with.text(), "ok\n");
}

#[test]
fn a_self_signed_client_certificate_named_as_its_own_ca_gets_in() {
    let pki = Pki::new();
    let yaml = format!(
        "{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: pinned.pem\n  client_allowed_sans: [scraper.example]\n"
    );
    let exporter = start(&pki, &yaml);
    let pinned = https_get(
        exporter.addr,
        pki.client_with("pinned.pem", "pinned.key"),
        "/healthz",
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}; log:\n{}", exporter.log()));
    assert_eq!(pinned.status, 200);
    assert_eq!(pinned.text(), "ok\n");
    for (cert, key) in [("stranger.pem", "other.key"), ("client.pem", "client.key")] {
        let res = https_get(exporter.addr, pki.client_with(cert, key), "/healthz", &[]);
        assert!(res.is_err(), "{cert}: {res:?}");
    }
}

#[test]
fn the_file_is_reread_and_a_bad_version_leaves_the_last_good_one_in_force() {
    let pki = Pki::new();
    let exporter = start(&pki, &format!("{TLS}{}", users(&[("alice", "a")])));
    let status = |user: &str, password: &str| {
        let auth = basic(user, password);
        https_get(
            exporter.addr,
            pki.client(false),
            "/healthz",
            &[("Authorization", &auth)],
        )
        .unwrap()
        .status
    };
    let metrics = || {
        let auth = basic("alice", "a");
        let res = https_get(
            exporter.addr,
            pki.client(false),
            "/metrics",
            &[("Authorization", &auth)],
        )
        .unwrap();
        (res.status == 200).then(|| Metrics::parse(&res.text()))
    };
    assert_eq!(status("alice", "a"), 200);
    assert_eq!(status("bob", "b"), 401);

    // A new user works without a restart.
    pki.write(
        "web.yml",
        &format!("{TLS}{}", users(&[("alice", "a"), ("bob", "b")])),
    );
    eventually("bob to be let in", &exporter, || status("bob", "b") == 200);
    assert!(exporter.log().contains("web configuration reloaded"));

    // An invalid version: refused with a log line and the metric, the old users still work.
    pki.write(
        "web.yml",
        &format!("{TLS}basic_auth_users:\n  alice: plain-text-password\n"),
    );
    eventually("the reload failure in /metrics", &exporter, || {
        metrics().is_some_and(|m| {
            m.value("libvirt_exporter_web_config_reload_success", &[]) == Some(0.0)
        })
    });
    assert_eq!(status("bob", "b"), 200);
    assert_eq!(status("alice", "a"), 200);
    let log = exporter.log();
    let refusal = log
        .lines()
        .find(|l| l.contains("web configuration not reloaded"))
        .unwrap_or_else(|| panic!("no refusal in the log:\n{log}"));
    assert!(
        refusal.contains("basic_auth_users.alice: not a bcrypt hash"),
        "{refusal}"
    );

    // Fixed again: the metric recovers.
    pki.write("web.yml", &format!("{TLS}{}", users(&[("alice", "a")])));
    eventually("the reload success in /metrics", &exporter, || {
        metrics().is_some_and(|m| {
            m.value("libvirt_exporter_web_config_reload_success", &[]) == Some(1.0)
        })
    });
    assert_eq!(status("bob", "b"), 401);
}

#[test]
fn without_a_web_config_file_there_are_no_reload_metrics() {
    let exporter = Exporter::start(&["--libvirt.uri", "test:///default"]);
    let m = exporter.next_snapshot();
    assert!(m
        .value("libvirt_exporter_web_config_reload_success", &[])
        .is_none());
    assert!(m.get("libvirt_up", &[]) == 1.0);
}
