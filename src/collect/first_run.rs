//! The announcement an off-cycle collector (host or slow per-domain) makes when its first
//! run is in, so that the clock publishes its data at once instead of at the next cycle: at
//! start-up, data should not wait for a long `--collect.interval`.

use std::sync::OnceLock;

/// Called by a collector thread when its collector's first run has finished.
#[derive(Default)]
pub struct FirstRunHook(OnceLock<Box<dyn Fn() + Send + Sync>>);

impl FirstRunHook {
    /// Sets what to call; only the first call sets it.
    pub fn set(&self, hook: impl Fn() + Send + Sync + 'static) {
        let _ = self.0.set(Box::new(hook));
    }

    /// Calls the hook, if one is set.
    pub fn announce(&self) {
        if let Some(hook) = self.0.get() {
            hook();
        }
    }
}

impl std::fmt::Debug for FirstRunHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "FirstRunHook(set)"
        } else {
            "FirstRunHook(unset)"
        })
    }
}
