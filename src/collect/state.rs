//! The `state` group: run state and its reason, for every domain.

use super::{DomainCollector, FallbackContext, Fields};
use crate::libvirt::{consts, LibvirtError};
use crate::snapshot::{DomainState, DomainStats};

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
}
