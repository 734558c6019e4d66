//! Errors from libvirt calls, with the call that failed and libvirt's own error code.

use virt::sys;

/// A failed libvirt call: which call, libvirt's error number and its message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{call} failed: {message}")]
pub struct LibvirtError {
    pub call: &'static str,
    pub code: i32,
    pub message: String,
}

impl LibvirtError {
    /// Captures libvirt's last error for `call`.
    pub(crate) fn last(call: &'static str) -> Self {
        Self::from_virt(call, virt::error::Error::last_error())
    }

    pub(crate) fn from_virt(call: &'static str, err: virt::error::Error) -> Self {
        LibvirtError {
            call,
            code: err.code().to_raw() as i32,
            message: err.message().to_string(),
        }
    }

    /// The domain disappeared between listing and asking (normal during churn).
    pub fn is_no_domain(&self) -> bool {
        self.code == sys::VIR_ERR_NO_DOMAIN as i32
    }

    /// A pool, volume or network disappeared (or a pool stopped) between listing and asking.
    pub fn is_vanished(&self) -> bool {
        [
            sys::VIR_ERR_NO_STORAGE_POOL,
            sys::VIR_ERR_NO_STORAGE_VOL,
            sys::VIR_ERR_NO_NETWORK,
            sys::VIR_ERR_NO_DOMAIN,
        ]
        .iter()
        .any(|code| self.code == *code as i32)
    }

    /// The driver does not implement the call, the flag or the stats group.
    pub fn is_unsupported(&self) -> bool {
        [
            sys::VIR_ERR_NO_SUPPORT,
            sys::VIR_ERR_ARGUMENT_UNSUPPORTED,
            sys::VIR_ERR_INVALID_ARG,
        ]
        .iter()
        .any(|code| self.code == *code as i32)
    }

    /// The domain is not in a state that allows the call (e.g. not running).
    pub fn is_operation_invalid(&self) -> bool {
        self.code == sys::VIR_ERR_OPERATION_INVALID as i32
    }

    /// An argument libvirt does not know, e.g. a `virDomainGetGuestInfo` type bit newer than
    /// the daemon.
    pub fn is_invalid_arg(&self) -> bool {
        self.code == sys::VIR_ERR_INVALID_ARG as i32
    }

    /// The domain has no guest agent channel at all ("QEMU guest agent is not configured").
    pub fn is_agent_not_configured(&self) -> bool {
        self.code == sys::VIR_ERR_ARGUMENT_UNSUPPORTED as i32 && self.message.contains("agent")
    }

    /// The guest agent's port is closed in the guest ("QEMU guest agent is not connected"):
    /// no agent runs, or it is restarting.
    pub fn is_agent_not_connected(&self) -> bool {
        self.code == sys::VIR_ERR_AGENT_UNRESPONSIVE as i32
            && self.message.contains("not connected")
    }

    /// The guest agent answered with an error: the command is disabled or unknown in the
    /// guest (`qemu-ga --block-rpcs`, an old agent).
    pub fn is_agent_command_failed(&self) -> bool {
        self.code == sys::VIR_ERR_AGENT_COMMAND_FAILED as i32
    }

    /// The domain is busy with a job and libvirt gave up waiting for it.
    pub fn is_busy(&self) -> bool {
        self.code == sys::VIR_ERR_OPERATION_TIMEOUT as i32
    }
}
