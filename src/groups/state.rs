//! The `state` group: run state and its reason, for every domain, and the number of domains
//! in each state.

use crate::collect::{DomainCollector, FallbackContext, Fields};
use crate::family::{emit, Kind, Labels, Sink, Value};
use crate::libvirt::states::{reason_name, state_name, STATE_NAMES};
use crate::libvirt::{consts, LibvirtError};
use crate::snapshot::{DomainState, DomainStats};
use std::fmt;

pub struct State;

impl DomainCollector for State {
    fn name(&self) -> &'static str {
        "state"
    }
    fn group(&self) -> u32 {
        consts::GROUP_STATE
    }
    fn decode(&self, f: &Fields, out: &mut DomainStats) -> bool {
        match f.u32("state.state") {
            Some(state) => {
                out.state = Some(DomainState {
                    state,
                    reason: f.u32("state.reason").unwrap_or(0),
                });
                true
            }
            None => false,
        }
    }
    fn fallback(&self, ctx: &FallbackContext, out: &mut DomainStats) -> Result<(), LibvirtError> {
        let (state, reason) = ctx.domain.state()?;
        out.state = Some(DomainState { state, reason });
        Ok(())
    }
    fn families(&self) -> Vec<(&'static str, Kind)> {
        vec![
            ("libvirt_domain_info_state", Kind::Gauge),
            ("libvirt_domains_by_state", Kind::Gauge),
        ]
    }
    fn encode(&self, sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
        emit(
            sink,
            "libvirt_domain_info_state",
            Kind::Gauge,
            "State of the domain as libvirt's number (see docs/metrics.md), with its name and reason as labels.",
            domains.iter().filter_map(|d| {
                let s = d.state?;
                let labels = vec![
                    ("domain", d.name.clone()),
                    ("state_desc", state_name(s.state).to_string()),
                    ("reason", reason_name(s.state, s.reason).to_string()),
                ];
                Some((labels, Value::Int(s.state.into())))
            }),
        )
    }
    fn encode_totals(&self, sink: &mut dyn Sink, all: &[DomainStats]) -> fmt::Result {
        if !all.is_empty() && all.iter().all(|d| d.state.is_none()) {
            return Ok(()); // no state known (yet): unknown is not zero
        }
        let mut by_state = [0u64; STATE_NAMES.len()];
        for s in all.iter().filter_map(|d| d.state) {
            if let Some(n) = by_state.get_mut(s.state as usize) {
                *n += 1;
            }
        }
        emit(
            sink,
            "libvirt_domains_by_state",
            Kind::Gauge,
            "Number of domains in each state.",
            STATE_NAMES
                .iter()
                .zip(by_state)
                .map(|(name, n)| (Labels::from([("state", name.to_string())]), Value::Int(n))),
        )
    }
}
