//! The command line: clap's derive structs ([`flags`]) plus one `--[no-]collector.NAME` pair
//! per collector become a validated [`Config`]. Every bad-input error is born here, as one line
//! that names the flag and says what to do.

pub mod flags;
#[cfg(test)]
mod tests;
mod values;

use crate::collect::labels::LabelSet;
use crate::collect::options::{DomainFilter, DomainOptions};
use crate::collect::CollectConfig;
use crate::collect::{DomainCollector, HostCollector, HostOptions};
use crate::http::{WebConfig, WebConfigFile};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, ArgAction, ArgMatches, Command, CommandFactory, FromArgMatches};
use flags::Flags;
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

/// The `--[no-]collector.NAME` switches to offer: each collector's name and whether it runs
/// unless switched off, domain statistics groups and host collectors apart (their help differs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectorSwitches {
    pub domain: Vec<(&'static str, bool)>,
    pub host: Vec<(&'static str, bool)>,
}

impl CollectorSwitches {
    /// The switches of every group of the registry: the domain groups (bulk and slow
    /// per-domain) as statistics groups, the host groups as host collectors.
    pub fn of_registry() -> Self {
        let mut switches = CollectorSwitches {
            domain: Vec::new(),
            host: Vec::new(),
        };
        for group in crate::groups::groups() {
            let switch = (group.name(), group.enabled_by_default());
            match group {
                crate::groups::Group::Host(_) => switches.host.push(switch),
                _ => switches.domain.push(switch),
            }
        }
        switches
    }

    /// The switches of these collectors.
    pub fn of(domain: &[Box<dyn DomainCollector>], host: &[Box<dyn HostCollector>]) -> Self {
        CollectorSwitches {
            domain: domain
                .iter()
                .map(|c| (c.name(), c.enabled_by_default()))
                .collect(),
            host: host
                .iter()
                .map(|c| (c.name(), c.enabled_by_default()))
                .collect(),
        }
    }
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

/// The whole command: the fixed flags, then the collector switches, in the order given.
pub fn command(switches: &CollectorSwitches) -> Command {
    let mut cmd = Flags::command();
    for &(name, on) in &switches.domain {
        cmd = collector_flags(cmd, name, on, "statistics group");
    }
    for &(name, on) in &switches.host {
        cmd = collector_flags(cmd, name, on, "host collector");
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

/// The names of the collectors that `--collector.NAME` / `--no-collector.NAME` leave on.
fn enabled(m: &ArgMatches, switches: &[(&'static str, bool)]) -> Vec<&'static str> {
    switches
        .iter()
        .filter(|&&(name, enabled_by_default)| {
            let on = m.get_flag(&format!("collector.{name}"));
            let off = m.get_flag(&format!("no-collector.{name}"));
            on || (!off && enabled_by_default)
        })
        .map(|&(name, _)| name)
        .collect()
}

/// Parses `args` (including the program name). `Err` carries clap's help and version output
/// too; callers print it with [`clap::Error::exit`] or as one line.
pub fn parse<I, T>(args: I, switches: &CollectorSwitches) -> Result<Config, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = command(switches).try_get_matches_from(args)?;
    let flags = Flags::from_arg_matches(&matches)?;
    Ok(validate(
        flags,
        enabled(&matches, &switches.domain),
        enabled(&matches, &switches.host),
    )?)
}

/// Why the command line was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A clap error, or help/version output.
    #[error("{}", one_line(.0))]
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

/// A clap error as one line: a value its parser refused as `--flag: why` (as for the checks
/// in [`validate`]), a value not among the choices with the choices, else clap's first line.
fn one_line(e: &clap::Error) -> String {
    let flag = || match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => arg.split(' ').next().map(str::to_owned),
        _ => None,
    };
    if e.kind() == ErrorKind::ValueValidation {
        if let (Some(flag), Some(why)) = (flag(), std::error::Error::source(e)) {
            return format!("{flag}: {why}");
        }
    }
    let rendered = e.render().to_string();
    let line = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim_start_matches("error: ");
    match e.get(ContextKind::ValidValue) {
        Some(ContextValue::Strings(values))
            if e.kind() == ErrorKind::InvalidValue && !values.is_empty() =>
        {
            format!("{line}; possible values: {}", values.join(", "))
        }
        _ => line.to_owned(),
    }
}

/// The checks that need several flags, and building the [`Config`].
fn validate(
    flags: Flags,
    collectors: Vec<&'static str>,
    host_collectors: Vec<&'static str>,
) -> Result<Config, ConfigError> {
    let Flags {
        web,
        libvirt,
        collect,
        log,
        host,
        domains,
    } = flags;
    let interval = collect.interval;
    let timeout = collect
        .timeout
        .unwrap_or(interval.min(Duration::from_secs(10)));
    let max_age = collect.max_age.unwrap_or(interval * 3);
    if max_age < interval {
        return Err(bad(
            "collect.max-age",
            "must be at least --collect.interval, or every scrape would lose its data",
        ));
    }
    let read_only = !libvirt.read_write;
    let host = HostOptions {
        pool_refresh: host.pool_refresh,
        volume_interval: host.volume_interval,
        guest_interval: host.guest_interval,
    };
    if collectors.contains(&"guest") && read_only {
        return Err(bad(
            "collector.guest",
            "libvirt refuses guest agent calls on a read-only connection; add --no-libvirt.read-only (the read-write socket is as good as root, see \"Least privilege\" in the README) or drop --collector.guest",
        ));
    }
    if host.pool_refresh && read_only {
        return Err(bad(
            "collector.pool.refresh",
            "libvirt refuses to refresh pools on a read-only connection; add --no-libvirt.read-only or drop --collector.pool.refresh",
        ));
    }
    if host.pool_refresh && !host_collectors.contains(&"pool") {
        return Err(bad(
            "collector.pool.refresh",
            "refreshes pools for the pool collector, which --no-collector.pool switches off; drop one of the two",
        ));
    }
    let domains = domain_options(domains)?;
    let mut config = WebConfig::new(web.listen_address, web.telemetry_path);
    config.max_requests = web.max_requests;
    config.web_config_file = match web.config_file {
        Some(file) if !file.is_empty() => {
            Some(WebConfigFile::load(&file).map_err(|e| bad("web.config.file", e.to_string()))?)
        }
        _ => None,
    };
    Ok(Config {
        web: config,
        collect: CollectConfig {
            libvirt_uri: libvirt.uri,
            read_only,
            interval,
            timeout,
            max_age,
            domains,
        },
        collectors,
        host_collectors,
        host,
        log_level: log.level.into(),
    })
}

fn domain_options(flags: flags::DomainFlags) -> Result<DomainOptions, ConfigError> {
    let filter = DomainFilter::new(
        flags.include.as_ref().map(regex::Regex::as_str),
        flags.exclude.as_ref().map(regex::Regex::as_str),
    )
    .map_err(|e| bad("domain.include", e.to_string()))?;
    let namespaces = flags.label_namespace;
    LabelSet::new(&[], &namespaces).map_err(|e| bad("domain.label-namespace", e.to_string()))?;
    let labels =
        LabelSet::new(&flags.label, &namespaces).map_err(|e| bad("domain.label", e.to_string()))?;
    Ok(DomainOptions {
        filter,
        labels,
        nova: flags.nova,
        metadata_refresh: flags.metadata_refresh,
        vcpu_per_domain: flags.vcpu_per_domain,
        job_interval: flags.job_interval,
        max_series: (flags.max_series > 0).then_some(flags.max_series),
    })
}
