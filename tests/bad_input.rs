//! Bad command lines and web configuration files, one table: each must stop the real binary
//! with a non-zero exit and exactly one line on stderr that names the problem and says what to
//! do, and nothing may panic.

mod common;

use common::tls::Pki;
use std::process::{Command, Stdio};
use std::time::Duration;

/// One bad start: a name, the files to write first, the arguments, and what the error line
/// must contain (the problem, and where given, the remedy).
struct Case {
    name: &'static str,
    files: Vec<(&'static str, String)>,
    args: Vec<String>,
    says: &'static [&'static str],
}

const TLS: &str = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n";
const HASH: &str = "$2y$04$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

/// A case whose only argument is `--web.config.file web.yml` holding `yaml`.
fn web(name: &'static str, yaml: impl Into<String>, says: &'static [&'static str]) -> Case {
    Case {
        name,
        files: vec![("web.yml", yaml.into())],
        args: vec!["--web.config.file".into(), "{dir}/web.yml".into()],
        says,
    }
}

fn flags(name: &'static str, args: &[&str], says: &'static [&'static str]) -> Case {
    Case {
        name,
        files: vec![],
        args: args.iter().map(|a| a.to_string()).collect(),
        says,
    }
}

fn cases(taken_port: u16) -> Vec<Case> {
    let taken = format!("127.0.0.1:{taken_port}");
    let mut cases = vec![
        web(
            "malformed YAML",
            "basic_auth_users: {alice\n",
            &[
                "--web.config.file",
                "did not find expected ',' or '}'",
                "line 2",
            ],
        ),
        web(
            "unknown top-level key",
            "tls_config:\n  cert_file: x\n",
            &[
                "unknown field `tls_config`",
                "expected one of `tls_server_config`",
            ],
        ),
        web(
            "unknown key under tls_server_config",
            format!("{TLS}  cert_fille: x\n"),
            &["unknown field `cert_fille`"],
        ),
        web(
            "empty web configuration file",
            "",
            &["is empty", "leave out --web.config.file"],
        ),
        web(
            "missing certificate",
            "tls_server_config:\n  cert_file: nowhere.pem\n  key_file: server.key\n",
            &[
                "tls_server_config.cert_file",
                "nowhere.pem",
                "cannot read it",
                "check the path",
            ],
        ),
        web(
            "unreadable certificate (a directory)",
            "tls_server_config:\n  cert_file: .\n  key_file: server.key\n",
            &["tls_server_config.cert_file", "cannot read it"],
        ),
        web(
            "certificate that is not PEM",
            "tls_server_config:\n  cert_file: web.yml\n  key_file: server.key\n",
            &["holds no PEM certificate"],
        ),
        web(
            "key that does not match the certificate",
            "tls_server_config:\n  cert_file: server.pem\n  key_file: other.key\n",
            &[
                "other.key does not belong to the certificate",
                "give the certificate's own key",
            ],
        ),
        web(
            "certificate without a key",
            "tls_server_config:\n  cert_file: server.pem\n",
            &["no private key", "set key_file"],
        ),
        web(
            "password instead of a bcrypt hash",
            "basic_auth_users:\n  prometheus: hunter2\n",
            &["basic_auth_users.prometheus: not a bcrypt hash", "htpasswd"],
        ),
        web(
            "user name with a colon",
            format!("basic_auth_users:\n  \"a:b\": \"{HASH}\"\n"),
            &["contains ':'", "rename the user"],
        ),
        web(
            "TLS 1.0",
            format!("{TLS}  min_version: TLS10\n"),
            &["min_version: TLS10 is not supported", "use TLS12 or TLS13"],
        ),
        web(
            "unknown TLS version",
            format!("{TLS}  max_version: TLS14\n"),
            &["unknown TLS version \"TLS14\""],
        ),
        web(
            "cipher rustls lacks",
            format!("{TLS}  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n"),
            &[
                "\"TLS_RSA_WITH_AES_128_CBC_SHA\" is not available",
                "supports TLS_ECDHE",
            ],
        ),
        web(
            "curve rustls lacks",
            format!("{TLS}  curve_preferences: [CurveP521]\n"),
            &[
                "CurveP521 is not supported",
                "use X25519, CurveP256 or CurveP384",
            ],
        ),
        web(
            "unknown client auth type",
            format!("{TLS}  client_auth_type: RequireCert\n"),
            &[
                "unknown value \"RequireCert\"",
                "RequireAndVerifyClientCert",
            ],
        ),
        web(
            "verified client certificates without a CA",
            format!("{TLS}  client_auth_type: RequireAndVerifyClientCert\n"),
            &["needs client_ca_file"],
        ),
        web(
            "TLS settings without a certificate",
            "tls_server_config:\n  min_version: TLS13\n",
            &[
                "sets min_version but no certificate",
                "add cert_file and key_file",
            ],
        ),
        web(
            "header that may not be set",
            "http_server_config:\n  headers:\n    Access-Control-Allow-Origin: \"*\"\n",
            &[
                "\"Access-Control-Allow-Origin\" cannot be set",
                "only Strict-Transport-Security",
            ],
        ),
        web(
            "rate limit without a burst",
            "rate_limit:\n  interval: 1s\n",
            &["rate_limit.burst must be at least 1"],
        ),
        Case {
            name: "web configuration file that does not exist",
            files: vec![],
            args: vec!["--web.config.file".into(), "{dir}/missing.yml".into()],
            says: &["missing.yml", "cannot read the web configuration file"],
        },
        flags(
            "bad listen address",
            &["--web.listen-address", "localhost"],
            &["--web.listen-address", "expected [host]:port"],
        ),
        flags(
            "listen port out of range",
            &["--web.listen-address", ":70000"],
            &["--web.listen-address", "\":70000\""],
        ),
        flags(
            "bad regular expression",
            &["--domain.include", "web-("],
            &["--domain.include", "is not a regular expression"],
        ),
        flags(
            "bad XPath",
            &["--domain.label", "team=/domain/title["],
            &["--domain.label", "is not a valid XPath 1.0 expression"],
        ),
        flags(
            "XPath with an unbound namespace prefix",
            &["--domain.label", "team=/domain/metadata/app:team"],
            &["--domain.label", "add --domain.label-namespace app=URI"],
        ),
        flags(
            "label name that clashes with the exporter's own",
            &["--domain.label", "uuid=/domain/uuid"],
            &["--domain.label", "one of the exporter's own labels"],
        ),
        flags(
            "bad libvirt URI",
            &["--libvirt.uri", "qemu system"],
            &["--libvirt.uri", "use e.g. qemu:///system"],
        ),
        flags(
            "zero interval",
            &["--collect.interval", "0s"],
            &["--collect.interval", "must be greater than zero"],
        ),
        flags(
            "negative interval",
            &["--collect.interval", "-5s"],
            &["--collect.interval", "\"-5s\" is not a duration"],
        ),
        flags(
            "interval without a unit",
            &["--collect.interval", "15"],
            &["--collect.interval", "use e.g. 15s"],
        ),
        flags(
            "telemetry path without a slash",
            &["--web.telemetry-path", "metrics"],
            &["--web.telemetry-path", "must be a path like /metrics"],
        ),
        flags(
            "telemetry path that is the landing page",
            &["--web.telemetry-path", "/"],
            &["--web.telemetry-path"],
        ),
        flags(
            "negative max requests",
            &["--web.max-requests", "-1"],
            &["--web.max-requests", "whole number"],
        ),
        flags(
            "max age below the interval",
            &["--collect.interval", "10s", "--collect.max-age", "5s"],
            &["--collect.max-age", "at least --collect.interval"],
        ),
        flags(
            "unknown log level",
            &["--log.level", "verbose"],
            &["--log.level", "verbose"],
        ),
        flags(
            "guest agent collector on a read-only connection",
            &["--collector.guest"],
            &[
                "--collector.guest",
                "read-only connection",
                "add --no-libvirt.read-only",
            ],
        ),
        flags(
            "unknown flag",
            &["--collector.nonsense"],
            &["--collector.nonsense", "see --help"],
        ),
    ];
    cases.push(Case {
        name: "port in use",
        files: vec![],
        args: vec!["--web.listen-address".into(), taken],
        says: &[
            "cannot listen on 127.0.0.1:",
            "choose another --web.listen-address",
        ],
    });
    cases
}

/// Runs the binary (against the test driver unless the case says otherwise); returns its exit
/// code and stderr. Kills it and fails if it is still running after 30 s.
fn run(args: &[String]) -> (Option<i32>, String) {
    let default_uri: &[&str] = if args.iter().any(|a| a == "--libvirt.uri") {
        &[]
    } else {
        &["--libvirt.uri", "test:///default"]
    };
    let mut child = Command::new(common::BIN)
        .args(default_uri)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the exporter binary starts");
    let exited = common::poll_until(
        Duration::from_secs(30),
        Duration::from_millis(20),
        || child.try_wait().unwrap().is_some(),
        |exited| *exited,
    );
    if !exited {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!(
            "{args:?}: still running after 30 s, stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_bad_start_gives_one_line_naming_the_problem_and_a_non_zero_exit() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let cases = cases(taken.local_addr().unwrap().port());
    assert!(cases.len() >= 20, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let pki = Pki::new();
        let dir = pki.dir.path().to_str().unwrap().to_string();
        for (name, text) in &case.files {
            pki.write(name, text);
        }
        let args: Vec<String> = case.args.iter().map(|a| a.replace("{dir}", &dir)).collect();
        let (code, stderr) = run(&args);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let mut problems = Vec::new();
        if code.is_none_or(|c| c == 0) {
            problems.push(format!("exit code {code:?}"));
        }
        if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
            problems.push("panicked".to_string());
        }
        if lines.len() != 1 {
            problems.push(format!("{} lines on stderr", lines.len()));
        }
        let line = lines.first().copied().unwrap_or("");
        if !line.starts_with("libvirt-exporter: error: ") {
            problems.push("no `libvirt-exporter: error:` prefix".into());
        }
        for needle in case.says {
            if !line.contains(needle) {
                problems.push(format!("does not say {needle:?}"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n    args: {args:?}\n    stderr: {stderr:?}",
                case.name,
                problems.join(", ")
            ));
        }
    }
    drop(taken);
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_guest_collector_on_a_read_only_connection_exits_2_with_one_line_saying_why() {
    let (code, stderr) = run(&["--collector.guest".to_string()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "libvirt-exporter: error: --collector.guest: libvirt refuses guest agent calls on a \
         read-only connection; add --no-libvirt.read-only (the read-write socket is as good as \
         root, see \"Least privilege\" in the README) or drop --collector.guest (see --help)"
    );
}
