//! The `control` group: the state of libvirt's control interface to each running domain
//! (the QEMU monitor) from `virDomainGetControlInfo`: ok, job (a job is running), occupied
//! (a command waits for QEMU's answer) or error, with the error's reason and how long it has
//! been so. The call does not wait for the domain's job, so a stuck monitor shows up here
//! while the bulk statistics of that domain are only marked busy.

use super::running;
use crate::collect::slow::SlowDomainCollector;
use crate::family::{domain_label, emit, Kind, Sink, Value};
use crate::libvirt::{Domain, LibvirtError};
use crate::snapshot::{ControlState, DomainStats};
use std::fmt;
use std::time::Duration;

/// `virDomainControlState` names, by number.
pub const STATES: [&str; 4] = ["ok", "job", "occupied", "error"];
/// `virDomainControlErrorReason` names, by number.
pub const REASONS: [&str; 4] = ["none", "unknown", "monitor", "internal"];

pub struct Control;

impl SlowDomainCollector for Control {
    fn name(&self) -> &'static str {
        "control"
    }
    fn enabled_by_default(&self) -> bool {
        true
    }
    fn interval(&self, collect_interval: Duration) -> Duration {
        // Not more often than every 15 s even with a denser domain cycle: each run is a
        // call per domain.
        collect_interval.max(Duration::from_secs(15))
    }
    fn collect(&self, domain: &Domain, out: &mut DomainStats) -> Result<(), LibvirtError> {
        out.control = None;
        if !running(domain) {
            return Ok(());
        }
        let info = domain.control_info()?;
        out.control = Some(ControlState {
            state: info.state,
            reason: info.details,
            seconds: info.state_time_ms as f64 / 1000.0,
        });
        Ok(())
    }
    fn merge(&self, from: &DomainStats, into: &mut DomainStats) {
        into.control = from.control;
    }
    fn families(&self) -> Vec<(&'static str, Kind)> {
        vec![
            ("libvirt_domain_control_state", Kind::Gauge),
            ("libvirt_domain_control_error_reason", Kind::Gauge),
            ("libvirt_domain_control_state_duration_seconds", Kind::Gauge),
        ]
    }
    fn encode(&self, sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
        let with_control = || domains.iter().filter_map(|&d| Some((d, d.control?)));
        emit(
            sink,
            "libvirt_domain_control_state",
            Kind::Gauge,
            "State of libvirt's control interface to the domain (the QEMU monitor), one series per state (ok, job, occupied, error): 1 for the current one.",
            with_control().flat_map(|(d, c)| state_set(d, "state", &STATES, c.state)),
        )?;
        emit(
            sink,
            "libvirt_domain_control_error_reason",
            Kind::Gauge,
            "Why the control interface is in the error state, one series per reason (none, unknown, monitor, internal): 1 for the current one.",
            with_control().flat_map(|(d, c)| state_set(d, "reason", &REASONS, c.reason)),
        )?;
        emit(
            sink,
            "libvirt_domain_control_state_duration_seconds",
            Kind::Gauge,
            "How long the control interface has been in its current state, in seconds (0 while ok).",
            with_control().map(|(d, c)| (domain_label(d), Value::Float(c.seconds))),
        )
    }
}

/// One series per name, 1 for `current`'s, 0 for the others.
fn state_set<'a>(
    d: &'a DomainStats,
    label: &'static str,
    names: &'a [&'static str],
    current: u32,
) -> impl Iterator<Item = (crate::family::Labels, Value)> + 'a {
    // a number newer than the table gets a series of its own, by number
    let newer = (current as usize >= names.len()).then(|| current.to_string());
    let current_name = names
        .get(current as usize)
        .map_or_else(|| current.to_string(), |n| n.to_string());
    names
        .iter()
        .map(|n| n.to_string())
        .chain(newer)
        .map(move |name| {
            let is = name == current_name;
            let mut labels = domain_label(d);
            labels.push((label, name));
            (labels, Value::from(is))
        })
}
