//! The fixed flags as clap derive structs, one per concern, flattened into [`Flags`]. Values
//! are typed by their parsers (see `values`); checks that need several flags are in `cli`.

use super::values::{libvirt_uri, positive_duration, regex, telemetry_path, whole_number};
use crate::http::ListenAddress;
use clap::{Args, Parser, ValueEnum};
use regex::Regex;
use std::time::Duration;

/// Every fixed flag. The `--[no-]collector.NAME` switches are added to [`Flags::command`] at
/// run time from the collector list (see `cli::parse`).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "libvirt-exporter",
    version,
    about = "Prometheus exporter for libvirt: domain, vCPU, memory, disk and NIC statistics, storage pools and volumes, virtual networks and the node, collected in the background",
    after_help = "Every --collector.NAME has a --no-collector.NAME that switches it off; the last one given wins."
)]
pub struct Flags {
    #[command(flatten)]
    pub web: WebFlags,
    #[command(flatten)]
    pub libvirt: LibvirtFlags,
    #[command(flatten)]
    pub collect: CollectFlags,
    #[command(flatten)]
    pub log: LogFlags,
    #[command(flatten)]
    pub host: HostFlags,
    #[command(flatten)]
    pub domains: DomainFlags,
}

/// The HTTP side: where to listen, what to serve, how many scrapes at once.
#[derive(Debug, Clone, Args)]
pub struct WebFlags {
    /// Address to listen on for HTTP; repeat for several
    #[arg(
        long = "web.listen-address",
        value_name = "[HOST]:PORT",
        default_value = ":9177"
    )]
    pub listen_address: Vec<ListenAddress>,
    /// Path under which metrics are served
    #[arg(long = "web.telemetry-path", value_name = "PATH", default_value = "/metrics", value_parser = telemetry_path)]
    pub telemetry_path: String,
    /// Web configuration file (exporter-toolkit format) for TLS, client certificates and basic authentication; reread when it changes
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub config_file: Option<String>,
    /// Concurrent scrapes allowed; more get 503 at once (0: no limit)
    #[arg(long = "web.max-requests", value_name = "N", default_value = "40", allow_hyphen_values = true, value_parser = whole_number)]
    pub max_requests: usize,
}

/// The libvirt connection.
#[derive(Debug, Clone, Args)]
pub struct LibvirtFlags {
    /// libvirt connection URI, e.g. qemu:///system or test:///default
    #[arg(long = "libvirt.uri", value_name = "URI", default_value = "qemu:///system", value_parser = libvirt_uri)]
    pub uri: String,
    /// Open a read-only libvirt connection (default)
    #[arg(long = "libvirt.read-only", overrides_with = "read_write")]
    pub read_only: bool,
    /// Open a read-write connection (needs the libvirt group, as good as root)
    #[arg(long = "no-libvirt.read-only", overrides_with = "read_only")]
    pub read_write: bool,
}

/// The domain cycle's clock.
#[derive(Debug, Clone, Args)]
pub struct CollectFlags {
    /// How often statistics are collected from libvirt
    #[arg(long = "collect.interval", value_name = "DURATION", default_value = "15s", allow_hyphen_values = true, value_parser = positive_duration)]
    pub interval: Duration,
    /// How long a collection may take before libvirt_up turns 0 [default: the interval, at most 10s]
    #[arg(long = "collect.timeout", value_name = "DURATION", allow_hyphen_values = true, value_parser = positive_duration)]
    pub timeout: Option<Duration>,
    /// How long data from the last good collection is served while libvirt does not answer [default: 3 intervals]
    #[arg(long = "collect.max-age", value_name = "DURATION", allow_hyphen_values = true, value_parser = positive_duration)]
    pub max_age: Option<Duration>,
}

/// Logging.
#[derive(Debug, Clone, Args)]
pub struct LogFlags {
    /// Log level
    #[arg(long = "log.level", value_name = "LEVEL", default_value = "info")]
    pub level: LogLevel,
}

/// `--log.level` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl From<LogLevel> for tracing::Level {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Error => tracing::Level::ERROR,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Trace => tracing::Level::TRACE,
        }
    }
}

/// Settings of the collectors off the bulk cycle (pools, volumes, the guest agent).
#[derive(Debug, Clone, Args)]
pub struct HostFlags {
    /// How often storage volumes are read, on their own thread (reading one opens its file)
    #[arg(long = "collector.volume.interval", value_name = "DURATION", default_value = "60s", allow_hyphen_values = true, value_parser = positive_duration)]
    pub volume_interval: Duration,
    /// Rescan every active storage pool before reading it (needs --no-libvirt.read-only)
    #[arg(long = "collector.pool.refresh")]
    pub pool_refresh: bool,
    /// How often each running domain's guest agent is asked (guest collector; one call in flight per domain)
    #[arg(long = "collector.guest.interval", value_name = "DURATION", default_value = "60s", allow_hyphen_values = true, value_parser = positive_duration)]
    pub guest_interval: Duration,
}

/// Which domains are reported, with which labels, how finely, and how many series at most.
#[derive(Debug, Clone, Args)]
pub struct DomainFlags {
    /// Most series per scrape; whole domains beyond it are left out, first by name kept, and libvirt_exporter_dropped_series says how many series went (0: no cap)
    #[arg(long = "web.max-series", value_name = "N", default_value = "0", allow_hyphen_values = true, value_parser = whole_number)]
    pub max_series: usize,
    /// Report only domains whose whole name matches this regular expression
    #[arg(long = "domain.include", value_name = "REGEX", value_parser = regex)]
    pub include: Option<Regex>,
    /// Leave out domains whose whole name matches this regular expression (wins over --domain.include)
    #[arg(long = "domain.exclude", value_name = "REGEX", value_parser = regex)]
    pub exclude: Option<Regex>,
    /// Add label NAME to libvirt_domain_info, read from the domain XML with an XPath 1.0 expression, e.g. team=/domain/metadata/app:app/app:team; repeat for several
    #[arg(long = "domain.label", value_name = "NAME=XPATH")]
    pub label: Vec<String>,
    /// Bind a namespace prefix for --domain.label, e.g. app=urn:example:app; repeat for several
    #[arg(long = "domain.label-namespace", value_name = "PREFIX=URI")]
    pub label_namespace: Vec<String>,
    /// While labels or the Nova preset read the domain XML, read it again when it is older than this (metadata changes without a restart)
    #[arg(long = "domain.metadata-refresh", value_name = "DURATION", default_value = "5m", allow_hyphen_values = true, value_parser = positive_duration)]
    pub metadata_refresh: Duration,
    /// Read OpenStack Nova's metadata into libvirt_domain_openstack_info
    #[arg(long = "libvirt.metadata.nova")]
    pub nova: bool,
    /// How often a running domain without a job is asked whether one started (one call per domain); a domain with a job is followed every cycle, and a new, restarted or paused domain is asked at once. The collection interval or less asks every domain every cycle
    #[arg(long = "collector.job.interval", value_name = "DURATION", default_value = "60s", allow_hyphen_values = true, value_parser = positive_duration)]
    pub job_interval: Duration,
    /// Report vCPU times (and KVM vCPU statistics) summed per domain instead of one series per vCPU
    #[arg(long = "collector.vcpu.per-domain")]
    pub vcpu_per_domain: bool,
}
