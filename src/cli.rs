//! The command line: clap flags become a validated [`Config`]. Every bad-input error is born
//! here, as one line that names the flag and says what to do.

use crate::collect::labels::LabelSet;
use crate::collect::options::{DomainFilter, DomainOptions};
use crate::collect::scheduler::CollectConfig;
use crate::collect::{all_host_collectors, DomainCollector, HostOptions};
use crate::http::{ListenAddress, WebConfig, WebConfigFile};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::time::Duration;

/// Everything the exporter needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    pub web: WebConfig,
    pub collect: CollectConfig,
    /// Names of the enabled domain collectors.
    pub collectors: Vec<&'static str>,
    /// Names of the enabled host collectors (pool, volume, network, node, pages).
    pub host_collectors: Vec<&'static str>,
    pub host: HostOptions,
    pub log_level: tracing::Level,
}

/// A flag whose value cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{flag}: {message}")]
pub struct ConfigError {
    pub flag: String,
    pub message: String,
}

fn bad(flag: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        flag: format!("--{flag}"),
        message: message.into(),
    }
}

fn command(collectors: &[Box<dyn DomainCollector>]) -> Command {
    let mut cmd = Command::new("libvirt-exporter")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Prometheus exporter for libvirt: domain, vCPU, memory, disk and NIC statistics, storage pools and volumes, virtual networks and the node, collected in the background")
        .after_help("Every --collector.NAME has a --no-collector.NAME that switches it off; the last one given wins.")
        .arg(Arg::new("web.listen-address").long("web.listen-address").value_name("[HOST]:PORT").action(ArgAction::Append).default_value(":9177").help("Address to listen on for HTTP; repeat for several"))
        .arg(Arg::new("web.telemetry-path").long("web.telemetry-path").value_name("PATH").default_value("/metrics").help("Path under which metrics are served"))
        .arg(Arg::new("web.config.file").long("web.config.file").value_name("FILE").help("Web configuration file (exporter-toolkit format) for TLS, client certificates and basic authentication; reread when it changes"))
        .arg(Arg::new("web.max-requests").long("web.max-requests").allow_hyphen_values(true).value_name("N").default_value("40").help("Concurrent scrapes allowed; more get 503 at once (0: no limit)"))
        .arg(Arg::new("libvirt.uri").long("libvirt.uri").value_name("URI").default_value("qemu:///system").help("libvirt connection URI, e.g. qemu:///system or test:///default"))
        .arg(Arg::new("libvirt.read-only").long("libvirt.read-only").action(ArgAction::SetTrue).overrides_with("no-libvirt.read-only").help("Open a read-only libvirt connection (default)"))
        .arg(Arg::new("no-libvirt.read-only").long("no-libvirt.read-only").action(ArgAction::SetTrue).overrides_with("libvirt.read-only").help("Open a read-write connection (needs the libvirt group, as good as root)"))
        .arg(Arg::new("collect.interval").long("collect.interval").allow_hyphen_values(true).value_name("DURATION").default_value("15s").help("How often statistics are collected from libvirt"))
        .arg(Arg::new("collect.timeout").long("collect.timeout").allow_hyphen_values(true).value_name("DURATION").help("How long a collection may take before libvirt_up turns 0 [default: the interval, at most 10s]"))
        .arg(Arg::new("collect.max-age").long("collect.max-age").allow_hyphen_values(true).value_name("DURATION").help("How long data from the last good collection is served while libvirt does not answer [default: 3 intervals]"))
        .arg(Arg::new("log.level").long("log.level").value_name("LEVEL").default_value("info").value_parser(["error", "warn", "info", "debug", "trace"]).help("Log level"))
        .arg(Arg::new("collector.volume.interval").long("collector.volume.interval").allow_hyphen_values(true).value_name("DURATION").default_value("60s").help("How often storage volumes are read, on their own thread (reading one opens its file)"))
        .arg(Arg::new("collector.pool.refresh").long("collector.pool.refresh").action(ArgAction::SetTrue).help("Rescan every active storage pool before reading it (needs --no-libvirt.read-only)"))
        .arg(Arg::new("web.max-series").long("web.max-series").allow_hyphen_values(true).value_name("N").default_value("0").help("Most series per scrape; whole domains beyond it are left out, first by name kept, and libvirt_exporter_dropped_series says how many series went (0: no cap)"))
        .arg(Arg::new("domain.include").long("domain.include").value_name("REGEX").help("Report only domains whose whole name matches this regular expression"))
        .arg(Arg::new("domain.exclude").long("domain.exclude").value_name("REGEX").help("Leave out domains whose whole name matches this regular expression (wins over --domain.include)"))
        .arg(Arg::new("domain.label").long("domain.label").value_name("NAME=XPATH").action(ArgAction::Append).help("Add label NAME to libvirt_domain_info, read from the domain XML with an XPath 1.0 expression, e.g. team=/domain/metadata/app:app/app:team; repeat for several"))
        .arg(Arg::new("domain.label-namespace").long("domain.label-namespace").value_name("PREFIX=URI").action(ArgAction::Append).help("Bind a namespace prefix for --domain.label, e.g. app=urn:example:app; repeat for several"))
        .arg(Arg::new("domain.metadata-refresh").long("domain.metadata-refresh").allow_hyphen_values(true).value_name("DURATION").default_value("5m").help("While labels or the Nova preset read the domain XML, read it again when it is older than this (metadata changes without a restart)"))
        .arg(Arg::new("libvirt.metadata.nova").long("libvirt.metadata.nova").action(ArgAction::SetTrue).help("Read OpenStack Nova's metadata into libvirt_domain_openstack_info"))
        .arg(Arg::new("collector.job.interval").long("collector.job.interval").allow_hyphen_values(true).value_name("DURATION").default_value("60s").help("How often a running domain without a job is asked whether one started (one call per domain); a domain with a job is followed every cycle, and a new, restarted or paused domain is asked at once. The collection interval or less asks every domain every cycle"))
        .arg(Arg::new("collector.vcpu.per-domain").long("collector.vcpu.per-domain").action(ArgAction::SetTrue).help("Report vCPU times (and KVM vCPU statistics) summed per domain instead of one series per vCPU"));
    for c in collectors {
        cmd = collector_flags(cmd, c.name(), c.enabled_by_default(), "statistics group");
    }
    for c in all_host_collectors(&HostOptions::default()) {
        cmd = collector_flags(cmd, c.name(), c.enabled_by_default(), "host collector");
    }
    cmd
}

/// `--collector.NAME` and its hidden `--no-collector.NAME`; the last one given wins.
fn collector_flags(cmd: Command, name: &str, enabled_by_default: bool, what: &str) -> Command {
    let on = format!("collector.{name}");
    let off = format!("no-collector.{name}");
    let default = if enabled_by_default {
        "enabled"
    } else {
        "disabled"
    };
    cmd.arg(
        Arg::new(on.clone())
            .long(on.clone())
            .action(ArgAction::SetTrue)
            .overrides_with(off.clone())
            .help(format!("Enable the {name} {what} [default: {default}]")),
    )
    .arg(
        Arg::new(off.clone())
            .long(off)
            .action(ArgAction::SetTrue)
            .overrides_with(on)
            .hide(true),
    )
}

/// Whether `--collector.NAME` / `--no-collector.NAME` leave the collector on.
fn collector_enabled(m: &ArgMatches, name: &str, enabled_by_default: bool) -> bool {
    let on = m.get_flag(&format!("collector.{name}"));
    let off = m.get_flag(&format!("no-collector.{name}"));
    on || (!off && enabled_by_default)
}

/// Parses `args` (including the program name). `Err` carries clap's help and version output
/// too; callers print it with [`clap::Error::exit`] or as one line.
pub fn parse<I, T>(args: I, collectors: &[Box<dyn DomainCollector>]) -> Result<Config, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = command(collectors).try_get_matches_from(args)?;
    Ok(validate(&matches, collectors)?)
}

/// Why the command line was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A clap error, or help/version output.
    #[error("{}", first_line(.0))]
    Clap(#[from] clap::Error),
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

impl CliError {
    /// Where to look for help, to end the error line with.
    pub fn hint(&self) -> &'static str {
        match self {
            CliError::Invalid(e) if e.flag == "--web.config.file" => {
                "the format is described under --web.config.file in the README"
            }
            _ => "see --help",
        }
    }
}

fn first_line(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let line = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    line.trim_start_matches("error: ").to_string()
}

fn duration(m: &ArgMatches, flag: &str) -> Result<Option<Duration>, ConfigError> {
    let Some(text) = m.get_one::<String>(flag) else {
        return Ok(None);
    };
    let d = humantime::parse_duration(text.trim()).map_err(|e| {
        bad(
            flag,
            format!("{text:?} is not a duration ({e}); use e.g. 15s, 1m or 500ms"),
        )
    })?;
    if d.is_zero() {
        return Err(bad(flag, "must be greater than zero, e.g. 15s"));
    }
    Ok(Some(d))
}

fn validate(
    m: &ArgMatches,
    collectors: &[Box<dyn DomainCollector>],
) -> Result<Config, ConfigError> {
    let listen = m
        .get_many::<String>("web.listen-address")
        .into_iter()
        .flatten()
        .map(|a| {
            a.parse::<ListenAddress>()
                .map_err(|e| bad("web.listen-address", e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let path = m
        .get_one::<String>("web.telemetry-path")
        .expect("has a default")
        .clone();
    if !path.starts_with('/')
        || path == "/"
        || path == "/healthz"
        || path.contains(char::is_whitespace)
    {
        return Err(bad(
            "web.telemetry-path",
            format!("{path:?} must be a path like /metrics, other than / and /healthz"),
        ));
    }
    let max_requests = m
        .get_one::<String>("web.max-requests")
        .expect("has a default");
    let max_requests = max_requests.parse::<usize>().map_err(|_| {
        bad(
            "web.max-requests",
            format!("{max_requests:?} is not a whole number >= 0"),
        )
    })?;
    let uri = m
        .get_one::<String>("libvirt.uri")
        .expect("has a default")
        .clone();
    validate_uri(&uri)?;
    let interval = duration(m, "collect.interval")?.expect("has a default");
    let timeout = duration(m, "collect.timeout")?.unwrap_or(interval.min(Duration::from_secs(10)));
    let max_age = duration(m, "collect.max-age")?.unwrap_or(interval * 3);
    if max_age < interval {
        return Err(bad(
            "collect.max-age",
            "must be at least --collect.interval, or every scrape would lose its data",
        ));
    }
    let enabled = collectors
        .iter()
        .filter(|c| collector_enabled(m, c.name(), c.enabled_by_default()))
        .map(|c| c.name())
        .collect();
    let read_only = !m.get_flag("no-libvirt.read-only");
    let (host_collectors, host) = host_options(m, read_only)?;
    let log_level = m
        .get_one::<String>("log.level")
        .expect("has a default")
        .parse()
        .expect("validated by clap");
    let domains = domain_options(m)?;
    let mut web = WebConfig::new(listen, path);
    web.max_requests = max_requests;
    web.web_config_file = match m.get_one::<String>("web.config.file") {
        Some(file) if !file.is_empty() => {
            Some(WebConfigFile::load(file).map_err(|e| bad("web.config.file", e.to_string()))?)
        }
        _ => None,
    };
    Ok(Config {
        web,
        collect: CollectConfig {
            libvirt_uri: uri,
            read_only,
            interval,
            timeout,
            max_age,
            domains,
        },
        collectors: enabled,
        host_collectors,
        host,
        log_level,
    })
}

/// The enabled host collectors and their settings.
fn host_options(
    m: &ArgMatches,
    read_only: bool,
) -> Result<(Vec<&'static str>, HostOptions), ConfigError> {
    let enabled: Vec<&'static str> = all_host_collectors(&HostOptions::default())
        .iter()
        .filter(|c| collector_enabled(m, c.name(), c.enabled_by_default()))
        .map(|c| c.name())
        .collect();
    let options = HostOptions {
        pool_refresh: m.get_flag("collector.pool.refresh"),
        volume_interval: duration(m, "collector.volume.interval")?.expect("has a default"),
    };
    if options.pool_refresh && read_only {
        return Err(bad(
            "collector.pool.refresh",
            "libvirt refuses to refresh pools on a read-only connection; add --no-libvirt.read-only or drop --collector.pool.refresh",
        ));
    }
    if options.pool_refresh && !enabled.contains(&"pool") {
        return Err(bad(
            "collector.pool.refresh",
            "refreshes pools for the pool collector, which --no-collector.pool switches off; drop one of the two",
        ));
    }
    Ok((enabled, options))
}

fn domain_options(m: &ArgMatches) -> Result<DomainOptions, ConfigError> {
    let text = |flag: &str| m.get_one::<String>(flag).map(String::as_str);
    let regex = |flag: &str| -> Result<Option<&str>, ConfigError> {
        let Some(r) = text(flag) else {
            return Ok(None);
        };
        DomainFilter::new(Some(r), None).map_err(|e| {
            let reason = e.to_string().lines().last().unwrap_or_default().to_string();
            bad(
                flag,
                format!("{r:?} is not a regular expression ({reason})"),
            )
        })?;
        Ok(Some(r))
    };
    let filter = DomainFilter::new(regex("domain.include")?, regex("domain.exclude")?)
        .expect("both expressions were checked");
    let many = |flag: &str| -> Vec<String> {
        m.get_many::<String>(flag)
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    };
    let namespaces = many("domain.label-namespace");
    LabelSet::new(&[], &namespaces).map_err(|e| bad("domain.label-namespace", e.to_string()))?;
    let labels = LabelSet::new(&many("domain.label"), &namespaces)
        .map_err(|e| bad("domain.label", e.to_string()))?;
    let max_series = text("web.max-series").expect("has a default");
    let max_series = max_series.parse::<usize>().map_err(|_| {
        bad(
            "web.max-series",
            format!("{max_series:?} is not a whole number >= 0"),
        )
    })?;
    Ok(DomainOptions {
        filter,
        labels,
        nova: m.get_flag("libvirt.metadata.nova"),
        metadata_refresh: duration(m, "domain.metadata-refresh")?.expect("has a default"),
        vcpu_per_domain: m.get_flag("collector.vcpu.per-domain"),
        job_interval: duration(m, "collector.job.interval")?.expect("has a default"),
        max_series: (max_series > 0).then_some(max_series),
    })
}

/// A libvirt URI is `driver[+transport]://[host]/path`, e.g. `qemu:///system`.
fn validate_uri(uri: &str) -> Result<(), ConfigError> {
    let scheme_ok = uri.split_once(':').is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    if !scheme_ok || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(
            "libvirt.uri",
            format!("{uri:?} is not a libvirt URI; use e.g. qemu:///system or test:///default"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::all_domain_collectors;

    fn parse_args(args: &[&str]) -> Result<Config, CliError> {
        let mut full = vec!["libvirt-exporter"];
        full.extend_from_slice(args);
        parse(full, &all_domain_collectors())
    }

    #[test]
    fn defaults_match_the_documentation() {
        let c = parse_args(&[]).unwrap();
        assert_eq!(
            c.web.listen,
            vec![ListenAddress::AllInterfaces { port: 9177 }]
        );
        assert_eq!(c.web.telemetry_path, "/metrics");
        assert_eq!(c.collect.libvirt_uri, "qemu:///system");
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
                "job"
            ]
        );
        let d = &c.collect.domains;
        assert!(d.filter.is_empty() && d.labels.is_empty());
        assert!(!d.nova && !d.vcpu_per_domain && !d.reads_metadata());
        assert_eq!(d.metadata_refresh, Duration::from_secs(300));
        assert_eq!(d.job_interval, Duration::from_secs(60));
        assert_eq!(d.max_series, None);
        assert_eq!(
            c.host_collectors,
            ["pool", "volume", "network", "node", "pages"]
        );
        assert_eq!(c.host, HostOptions::default());
        assert_eq!(c.host.volume_interval, Duration::from_secs(60));
        assert!(!c.host.pool_refresh);
        assert!(c.web.web_config_file.is_none());
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
        assert_eq!(c.collectors.len(), 7);
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
            ["state", "cpu", "balloon", "vcpu", "interface", "perf", "vm"]
        );
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
        ])
        .unwrap();
        let d = &c.collect.domains;
        assert!(d.filter.accepts("web-1") && !d.filter.accepts("web-test"));
        assert!(!d.filter.accepts("db-1"));
        assert_eq!(d.labels.names().collect::<Vec<_>>(), ["team", "title"]);
        assert!(d.nova && d.vcpu_per_domain && d.reads_metadata());
        assert_eq!(d.metadata_refresh, Duration::from_secs(30));
        assert_eq!(d.job_interval, Duration::from_secs(15));
        assert_eq!(d.max_series, Some(5000));
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
        assert_eq!(c.web.listen.len(), 2);
        assert!(!c.collect.read_only);
        assert_eq!(c.collect.timeout, Duration::from_secs(2));
    }

    #[test]
    fn bad_values_give_one_line_naming_the_flag() {
        for (args, needle) in [
            (&["--collect.interval", "0s"][..], "--collect.interval"),
            (&["--collect.interval", "fast"], "--collect.interval"),
            (&["--collect.timeout", "-1s"], "--collect.timeout"),
            (&["--collect.max-age", "1s"], "--collect.max-age"),
            (&["--web.listen-address", "nope"], "--web.listen-address"),
            (&["--web.telemetry-path", "metrics"], "--web.telemetry-path"),
            (&["--web.max-requests", "-3"], "--web.max-requests"),
            (&["--libvirt.uri", "not a uri"], "--libvirt.uri"),
            (&["--log.level", "loud"], "--log.level"),
            (
                &["--collector.volume.interval", "0s"],
                "--collector.volume.interval",
            ),
            (
                &["--collector.volume.interval", "often"],
                "--collector.volume.interval",
            ),
            (
                &["--collector.job.interval", "0s"],
                "--collector.job.interval",
            ),
            (&["--web.max-series", "-1"], "--web.max-series"),
            (&["--domain.include", "web-("], "--domain.include"),
            (&["--domain.exclude", "[z-a]"], "--domain.exclude"),
            (&["--domain.label", "team"], "--domain.label"),
            (&["--domain.label", "9x=/a"], "--domain.label"),
            (&["--domain.label", "uuid=/domain/uuid"], "--domain.label"),
            (&["--domain.label", "t=/domain/title["], "--domain.label"),
            (&["--domain.label", "t=/a/p:b"], "--domain.label"),
            (
                &["--domain.label-namespace", "p:x=urn:a"],
                "--domain.label-namespace",
            ),
            (
                &["--domain.metadata-refresh", "soon"],
                "--domain.metadata-refresh",
            ),
            (&["--no-such-flag"], "--no-such-flag"),
            (
                &["--web.config.file", "/nonexistent/web.yml"],
                "--web.config.file: /nonexistent/web.yml: cannot read",
            ),
        ] {
            let err = parse_args(args).unwrap_err().to_string();
            assert!(err.contains(needle), "{args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        }
    }

    #[test]
    fn label_errors_say_what_to_do() {
        let err = |args: &[&str]| parse_args(args).unwrap_err().to_string();
        assert!(err(&["--domain.label", "t=/a/p:b"])
            .contains("prefix \"p\", which is not bound; add --domain.label-namespace p=URI"));
        assert!(err(&["--domain.label", "uuid=/domain/uuid"])
            .contains("one of the exporter's own labels"));
        assert!(err(&["--domain.label", "t=/domain/title["]).contains("not a valid XPath 1.0"));
        assert!(err(&["--domain.include", "web-("]).contains("not a regular expression"));
    }
}
