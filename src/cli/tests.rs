//! Command-line tests: parsing, errors, and the README's flag table and docs/metrics.md's
//! collector table read against the command and the collector list.

use super::*;
use crate::collect::{all_domain_collectors, all_host_collectors};
use crate::http::ListenAddress;

/// The switches the exporter offers: those of the group registry.
fn switches() -> CollectorSwitches {
    CollectorSwitches::of_registry()
}

/// Every collector switch, domain and host, as (name, on by default).
fn every_switch() -> Vec<(String, bool)> {
    let switches = switches();
    switches
        .domain
        .iter()
        .chain(&switches.host)
        .map(|&(n, on)| (n.to_owned(), on))
        .collect()
}

#[test]
fn the_registry_switches_are_those_of_its_collectors() {
    let of = CollectorSwitches::of(
        &all_domain_collectors(),
        &all_host_collectors(&HostOptions::default()),
    );
    let registry = CollectorSwitches::of_registry();
    assert_eq!(registry.host, of.host);
    assert!(
        registry.domain.starts_with(&of.domain),
        "{:?}",
        registry.domain
    );
    assert!(registry.domain.contains(&("diskerror", true)));
}

fn parse_args(args: &[&str]) -> Result<Config, CliError> {
    let mut full = vec!["libvirt-exporter"];
    full.extend_from_slice(args);
    parse(full, &switches())
}

/// The rows of the first Markdown table in `doc` whose header row is `header`, as cells.
fn table(doc: &str, header: &str) -> Vec<Vec<String>> {
    let mut lines = doc.lines().skip_while(|l| l.trim() != header).skip(2);
    let mut rows = Vec::new();
    for line in lines.by_ref() {
        let line = line.trim();
        if !line.starts_with('|') {
            break;
        }
        let inner = line.trim_start_matches('|').trim_end_matches('|');
        rows.push(inner.split('|').map(|c| c.trim().to_owned()).collect());
    }
    assert!(!rows.is_empty(), "no table under {header:?}");
    rows
}

/// The `code` spans of a Markdown cell.
fn code_spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// `--web.listen-address` → `web.listen-address`, `--[no-]x` → `x`, `--domain.label NAME=XPATH`
/// → `domain.label`.
fn flag_name(span: &str) -> &str {
    let name = span.split(' ').next().unwrap_or(span);
    name.trim_start_matches("--").trim_start_matches("[no-]")
}

const README_HEADER: &str = "| flag | default | meaning |";

#[test]
fn defaults_match_the_documentation() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md is readable");
    let mut cmd = command(&switches());
    cmd.build(); // fills in the implicit defaults, e.g. `false` of a switch
    let parsed = parse_args(&[]).unwrap();
    let mut documented = Vec::new();
    for row in table(&readme, README_HEADER) {
        let [flags, default, meaning] = &row[..] else {
            panic!("README flag row needs 3 cells: {row:?}");
        };
        for span in code_spans(flags) {
            let name = flag_name(span);
            documented.push(name.to_owned());
            if name == "collector.NAME" {
                readme_collector_list_matches(meaning);
                continue;
            }
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_long() == Some(name))
                .unwrap_or_else(|| panic!("README documents --{name}, which the exporter lacks"));
            if span.starts_with("--[no-]") {
                let off = format!("no-{name}");
                assert!(
                    cmd.get_arguments()
                        .any(|a| a.get_long() == Some(off.as_str())),
                    "README documents --[no-]{name}, but there is no --{off}"
                );
            }
            let clap_default: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            let takes_value = arg.get_action().takes_values();
            let agrees = match default.as_str() {
                "none" | "all" => takes_value && clap_default.is_empty(),
                "off" => !takes_value && clap_default == ["false"],
                // Defaults computed from other flags, with what the parse gives.
                "read-only" => name == "libvirt.read-only" && parsed.collect.read_only,
                "interval, at most `10s`" => {
                    clap_default.is_empty()
                        && parsed.collect.timeout
                            == parsed.collect.interval.min(Duration::from_secs(10))
                }
                "3 intervals" => {
                    clap_default.is_empty() && parsed.collect.max_age == parsed.collect.interval * 3
                }
                cell => match &code_spans(cell)[..] {
                    [value] if cell == format!("`{value}`") => clap_default == [*value],
                    _ => panic!("README: --{name}: no check for the default {cell:?}; add one"),
                },
            };
            assert!(
                agrees,
                "README says --{name} defaults to {default:?}; the command line says {clap_default:?}"
            );
        }
    }
    // Every flag that --help shows is in the table (the collector switches as collector.NAME).
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        let Some(long) = arg.get_long() else { continue };
        let is_switch = switches()
            .domain
            .iter()
            .chain(&switches().host)
            .any(|(n, _)| long == format!("collector.{n}"));
        let covered = documented.iter().any(|d| d == long)
            || (is_switch && documented.iter().any(|d| d == "collector.NAME"))
            || long == "no-libvirt.read-only"
            || ["help", "version"].contains(&long);
        assert!(covered, "--{long} is missing from README's flag table");
    }
}

/// The `--[no-]collector.NAME` row lists the collectors as "`a`, `b` (on); `c` (off); host
/// collectors `d` (on)": the same names and defaults as the collector list.
fn readme_collector_list_matches(meaning: &str) {
    let mut listed = Vec::new();
    for part in meaning.split(';') {
        let on = if part.trim_end().ends_with("(on)") {
            true
        } else if part.trim_end().ends_with("(off)") {
            false
        } else {
            panic!("README collector.NAME row: {part:?} ends in neither (on) nor (off)");
        };
        listed.extend(code_spans(part).into_iter().map(|n| (n.to_owned(), on)));
    }
    let mut actual = every_switch();
    listed.sort();
    actual.sort();
    assert_eq!(
        listed, actual,
        "README's collector.NAME row vs the collector list"
    );
}

#[test]
fn the_collector_table_of_the_metrics_doc_matches_the_collector_list() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md"))
        .expect("docs/metrics.md is readable");
    let mut documented: Vec<(String, bool)> = table(&doc, "| Collector | Default | Produces |")
        .into_iter()
        .filter(|row| row[0] != "(always on)")
        .map(|row| {
            let name = match &code_spans(&row[0])[..] {
                [name] => name.to_string(),
                _ => panic!(
                    "docs/metrics.md: collector cell {:?} is not one `name`",
                    row[0]
                ),
            };
            let on = match row[1].as_str() {
                "on" => true,
                "off" => false,
                other => panic!("docs/metrics.md: {name}: default {other:?} is neither on nor off"),
            };
            (name, on)
        })
        .collect();
    let mut actual = every_switch();
    documented.sort();
    actual.sort();
    assert_eq!(
        documented, actual,
        "docs/metrics.md's collector table vs the collector list"
    );
}

#[test]
fn the_documentation_checks_fail_on_a_wrong_row() {
    let cells = table(
        "x\n| flag | default | meaning |\n| --- | --- | --- |\n| `--a` | `1` | m |\n\nafter\n",
        README_HEADER,
    );
    assert_eq!(cells, [["`--a`", "`1`", "m"]]);
    assert_eq!(flag_name("--[no-]libvirt.read-only"), "libvirt.read-only");
    assert_eq!(flag_name("--domain.label NAME=XPATH"), "domain.label");
    assert_eq!(code_spans("`a`, `b` (on)"), ["a", "b"]);
    let wrong = std::panic::catch_unwind(|| readme_collector_list_matches("`state` (off)"));
    assert!(wrong.is_err());
}

#[test]
fn the_parsed_defaults_are_the_collectors_own() {
    let c = parse_args(&[]).unwrap();
    assert_eq!(
        c.web.listen,
        vec![ListenAddress::AllInterfaces { port: 9177 }]
    );
    assert_eq!(c.web.max_requests, 40);
    assert!(c.collect.read_only);
    assert_eq!(c.collect.interval, Duration::from_secs(15));
    assert_eq!(c.collect.timeout, Duration::from_secs(10));
    assert_eq!(c.collect.max_age, Duration::from_secs(45));
    assert_eq!(
        c.collectors,
        [
            "state",
            "cpu",
            "balloon",
            "vcpu",
            "interface",
            "block",
            "job",
            "diskerror",
            "control",
            "snapshot"
        ]
    );
    assert_eq!(
        c.host_collectors,
        ["pool", "volume", "network", "node", "pages"]
    );
    // The CLI's own default for --collector.volume.interval is the host collectors' default.
    assert_eq!(c.host, HostOptions::default());
    let d = &c.collect.domains;
    assert!(d.filter.is_empty() && d.labels.is_empty());
    assert!(!d.nova && !d.vcpu_per_domain && !d.reads_metadata());
    assert_eq!(d.metadata_refresh, Duration::from_secs(300));
    assert_eq!(d.job_interval, Duration::from_secs(60));
    assert_eq!(d.max_series, None);
    assert_eq!(c.log_level, tracing::Level::INFO);
    assert!(c.web.web_config_file.is_none());
}

#[test]
fn the_collector_switches_come_from_the_list_given() {
    let switches = CollectorSwitches {
        domain: vec![("alpha", false)],
        host: vec![("beta", true)],
    };
    let parse = |args: &[&str]| {
        let args = std::iter::once("x").chain(args.iter().copied());
        super::parse(args, &switches)
    };
    let c = parse(&["--collector.alpha"]).unwrap();
    assert_eq!(
        (c.collectors, c.host_collectors),
        (vec!["alpha"], vec!["beta"])
    );
    let c = parse(&["--no-collector.beta"]).unwrap();
    assert!(c.collectors.is_empty() && c.host_collectors.is_empty());
    let err = parse(&["--collector.state"]).unwrap_err().to_string();
    assert!(err.contains("'--collector.state'"), "{err}");
    let help = command(&switches).render_help().to_string();
    assert!(help.contains("Enable the alpha statistics group [default: disabled]"));
    assert!(help.contains("Enable the beta host collector [default: enabled]"));
    assert!(!help.contains("--no-collector.beta"));
}

#[test]
fn host_collectors_switch_off_and_take_their_settings() {
    let c = parse_args(&[
        "--no-collector.volume",
        "--no-collector.network",
        "--collector.volume.interval=5m",
        "--collector.pool.refresh",
        "--no-libvirt.read-only",
    ])
    .unwrap();
    assert_eq!(c.host_collectors, ["pool", "node", "pages"]);
    assert_eq!(c.host.volume_interval, Duration::from_secs(300));
    assert!(c.host.pool_refresh);
    // Host toggles do not touch the domain collectors.
    let domain_defaults = switches().domain.iter().filter(|(_, on)| *on).count();
    assert_eq!(c.collectors.len(), domain_defaults);
    assert_eq!(domain_defaults, 10);
}

#[test]
fn pool_refresh_on_a_read_only_connection_is_refused_naming_both_flags() {
    let err = parse_args(&["--collector.pool.refresh"])
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("--collector.pool.refresh: "), "{err}");
    assert!(err.contains("--no-libvirt.read-only"), "{err}");
    assert_eq!(err.lines().count(), 1);
    let err = parse_args(&[
        "--collector.pool.refresh",
        "--no-libvirt.read-only",
        "--no-collector.pool",
    ])
    .unwrap_err()
    .to_string();
    assert!(err.contains("--no-collector.pool"), "{err}");
}

#[test]
fn the_guest_collector_needs_a_read_write_connection_and_takes_its_interval() {
    let err = parse_args(&["--collector.guest"]).unwrap_err().to_string();
    assert!(err.starts_with("--collector.guest: "), "{err}");
    assert!(err.contains("read-only connection"), "{err}");
    assert!(err.contains("add --no-libvirt.read-only"), "{err}");
    assert!(err.contains("drop --collector.guest"), "{err}");
    assert_eq!(err.lines().count(), 1);
    // Switched off again, or never on: the read-only default stands.
    let c = parse_args(&["--collector.guest", "--no-collector.guest"]).unwrap();
    assert!(!c.collectors.contains(&"guest"));
    assert!(c.collect.read_only);
    assert_eq!(c.host.guest_interval, Duration::from_secs(60));
    let c = parse_args(&[
        "--collector.guest",
        "--no-libvirt.read-only",
        "--collector.guest.interval",
        "2m",
    ])
    .unwrap();
    assert!(c.collectors.contains(&"guest"));
    assert!(!c.collect.read_only);
    assert_eq!(c.host.guest_interval, Duration::from_secs(120));
    let err = parse_args(&["--collector.guest.interval", "0s"])
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("--collector.guest.interval"), "{err}");
}

#[test]
fn a_web_config_file_is_loaded_and_an_empty_flag_means_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.yml");
    std::fs::write(&path, "http_server_config:\n  http2: false\n").unwrap();
    let c = parse_args(&["--web.config.file", path.to_str().unwrap()]).unwrap();
    assert!(!c.web.tls_enabled());
    let file = c.web.web_config_file.unwrap();
    assert_eq!(file.path, path);
    assert!(!file.settings.http2);
    let c = parse_args(&["--web.config.file", ""]).unwrap();
    assert!(c.web.web_config_file.is_none());
}

#[test]
fn collectors_switch_on_and_off_and_the_last_flag_wins() {
    let c = parse_args(&[
        "--no-collector.block",
        "--collector.perf",
        "--collector.iothread",
        "--no-collector.iothread",
        "--collector.vm",
        "--no-collector.job",
    ])
    .unwrap();
    assert_eq!(
        c.collectors,
        [
            "state",
            "cpu",
            "balloon",
            "vcpu",
            "interface",
            "perf",
            "vm",
            "diskerror",
            "control",
            "snapshot"
        ]
    );
    let c = parse_args(&["--no-libvirt.read-only", "--libvirt.read-only"]).unwrap();
    assert!(c.collect.read_only);
}

#[test]
fn domain_options_are_read() {
    let c = parse_args(&[
        "--domain.include",
        "web-.*",
        "--domain.exclude=web-test",
        "--domain.label",
        "team=/domain/metadata/app:app/app:team",
        "--domain.label=title=/domain/title",
        "--domain.label-namespace",
        "app=urn:example:app",
        "--domain.metadata-refresh",
        "30s",
        "--libvirt.metadata.nova",
        "--collector.vcpu.per-domain",
        "--collector.job.interval=15s",
        "--web.max-series",
        "5000",
        "--log.level=debug",
    ])
    .unwrap();
    let d = &c.collect.domains;
    assert!(d.filter.accepts("web-1") && !d.filter.accepts("web-test"));
    assert!(!d.filter.accepts("db-1") && !d.filter.accepts("my-web-1"));
    assert_eq!(d.labels.names().collect::<Vec<_>>(), ["team", "title"]);
    assert!(d.nova && d.vcpu_per_domain && d.reads_metadata());
    assert_eq!(d.metadata_refresh, Duration::from_secs(30));
    assert_eq!(d.job_interval, Duration::from_secs(15));
    assert_eq!(d.max_series, Some(5000));
    assert_eq!(c.log_level, tracing::Level::DEBUG);
    assert_eq!(
        parse_args(&["--web.max-series", "0"])
            .unwrap()
            .collect
            .domains
            .max_series,
        None
    );
}

#[test]
fn listen_addresses_repeat_and_read_only_can_be_turned_off() {
    let c = parse_args(&[
        "--web.listen-address",
        "127.0.0.1:1",
        "--web.listen-address=[::1]:2",
        "--no-libvirt.read-only",
        "--collect.interval=2s",
    ])
    .unwrap();
    assert_eq!(
        c.web.listen,
        [
            ListenAddress::Socket("127.0.0.1:1".parse().unwrap()),
            ListenAddress::Socket("[::1]:2".parse().unwrap())
        ]
    );
    assert!(!c.collect.read_only);
    assert_eq!(c.collect.timeout, Duration::from_secs(2));
    assert_eq!(c.collect.max_age, Duration::from_secs(6));
}

#[test]
fn bad_values_give_one_line_naming_the_flag() {
    for (args, starts) in [
        (&["--collect.interval", "0s"][..], "--collect.interval: must be greater than zero"),
        (&["--collect.interval", "fast"], "--collect.interval: \"fast\" is not a duration"),
        (&["--collect.timeout", "-1s"], "--collect.timeout: \"-1s\" is not a duration"),
        (&["--collect.max-age", "1s"], "--collect.max-age: must be at least"),
        (&["--web.listen-address", "nope"], "--web.listen-address: invalid listen address"),
        (&["--web.telemetry-path", "metrics"], "--web.telemetry-path: \"metrics\" must be a path"),
        (&["--web.max-requests", "-3"], "--web.max-requests: \"-3\" is not a whole number"),
        (&["--libvirt.uri", "not a uri"], "--libvirt.uri: \"not a uri\" is not a libvirt URI"),
        (&["--log.level", "loud"], "invalid value 'loud' for '--log.level <LEVEL>'; possible values: error, warn, info, debug, trace"),
        (&["--collector.volume.interval", "0s"], "--collector.volume.interval: must be"),
        (&["--collector.volume.interval", "often"], "--collector.volume.interval: \"often\""),
        (&["--collector.job.interval", "0s"], "--collector.job.interval: must be"),
        (&["--web.max-series", "-1"], "--web.max-series: \"-1\" is not a whole number"),
        (&["--domain.include", "web-("], "--domain.include: \"web-(\" is not a regular expression"),
        (&["--domain.exclude", "[z-a]"], "--domain.exclude: \"[z-a]\" is not a regular expression"),
        (&["--domain.label", "team"], "--domain.label: \"team\" is not NAME=VALUE"),
        (&["--domain.label", "9x=/a"], "--domain.label: \"9x\" is not a valid label name"),
        (&["--domain.label", "uuid=/domain/uuid"], "--domain.label: label \"uuid\""),
        (&["--domain.label", "t=/domain/title["], "--domain.label: \"/domain/title[\" is not a valid XPath 1.0"),
        (&["--domain.label", "t=/a/p:b"], "--domain.label: \"/a/p:b\" uses the namespace prefix \"p\""),
        (&["--domain.label-namespace", "p:x=urn:a"], "--domain.label-namespace: \"p:x\""),
        (&["--domain.metadata-refresh", "soon"], "--domain.metadata-refresh: \"soon\""),
        (&["--no-such-flag"], "unexpected argument '--no-such-flag' found"),
        (&["--collect.interval"], "a value is required for '--collect.interval <DURATION>'"),
        (&["--web.config.file", "/nonexistent/web.yml"], "--web.config.file: /nonexistent/web.yml: cannot read"),
    ] {
        let err = parse_args(args).unwrap_err().to_string();
        assert!(err.starts_with(starts), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn label_errors_say_what_to_do() {
    let err = |args: &[&str]| parse_args(args).unwrap_err().to_string();
    assert!(err(&["--domain.label", "t=/a/p:b"])
        .contains("prefix \"p\", which is not bound; add --domain.label-namespace p=URI"));
    assert!(
        err(&["--domain.label", "uuid=/domain/uuid"]).contains("one of the exporter's own labels")
    );
    assert!(err(&["--domain.label", "t=/domain/title["]).contains("not a valid XPath 1.0"));
    assert!(err(&["--domain.include", "web-("]).contains("not a regular expression"));
}

#[test]
fn help_and_version_are_not_errors_to_print_as_one_line() {
    for flag in ["--help", "--version"] {
        match parse_args(&[flag]) {
            Err(CliError::Clap(e)) => assert!(!e.use_stderr(), "{flag}"),
            other => panic!("{flag}: {other:?}"),
        }
    }
}
