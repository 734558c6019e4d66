//! The watcher: polls the web configuration file and the certificate, key and CA files it names.
//! A change is loaded once it has stayed the same for one more poll (an editor's half-written
//! file is not taken for the new configuration). A good version replaces the settings for new
//! connections and requests; a bad one is logged and counted, and the last good one stays.

use super::{fingerprint, load_settings, one_line, Fingerprint, Settings, WebConfigFile};
use crate::exposition::Published;
use arc_swap::ArcSwap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Runs until `shutdown` turns true or its sender is dropped.
pub(crate) async fn watch(
    file: WebConfigFile,
    current: Arc<ArcSwap<Settings>>,
    published: Arc<Published>,
    poll: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let path = Arc::new(file.path);
    let mut settle = Settle::new(file.fingerprint);
    let mut ticker = tokio::time::interval(poll.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow_and_update() {
                    return;
                }
                continue;
            }
        }
        let p = path.clone();
        let Ok(seen) = tokio::task::spawn_blocking(move || fingerprint(&p)).await else {
            continue;
        };
        if !settle.observe(seen) {
            continue;
        }
        let p = path.clone();
        let Ok(loaded) = tokio::task::spawn_blocking(move || load_settings(&p)).await else {
            continue;
        };
        match loaded {
            Ok(settings) => {
                let was_tls = current.load().tls_enabled();
                tracing::info!(
                    path = %path.display(),
                    "web configuration reloaded: {settings}"
                );
                if was_tls && !settings.tls_enabled() {
                    tracing::warn!(path = %path.display(), "TLS is now off: new connections are plain HTTP");
                }
                settings.warn_if_unsafe(&path);
                current.store(Arc::new(settings));
                published.web_config.succeeded();
            }
            Err(message) => {
                tracing::error!(
                    path = %path.display(),
                    "web configuration not reloaded, the previous one stays in force: {}",
                    one_line(&message)
                );
                published.web_config.failed();
            }
        }
    }
}

/// Decides when a change is loaded: when the files differ from the version last loaded (good
/// or bad) and looked the same on two polls in a row.
#[derive(Debug)]
struct Settle {
    loaded: Fingerprint,
    pending: Option<Fingerprint>,
}

impl Settle {
    fn new(loaded: Fingerprint) -> Self {
        Settle {
            loaded,
            pending: None,
        }
    }

    /// Takes one poll's fingerprint; true when it is time to load.
    fn observe(&mut self, seen: Fingerprint) -> bool {
        if seen == self.loaded {
            self.pending = None;
            return false;
        }
        if self.pending != Some(seen) {
            self.pending = Some(seen);
            return false;
        }
        self.pending = None;
        self.loaded = seen;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(n: u8) -> Fingerprint {
        Fingerprint([n; 32])
    }

    #[test]
    fn a_change_is_loaded_once_after_it_held_still_for_a_poll() {
        let mut s = Settle::new(fp(0));
        assert!(!s.observe(fp(0)));
        assert!(!s.observe(fp(1)), "first sight of a change waits");
        assert!(s.observe(fp(1)), "unchanged on the next poll: load");
        assert!(!s.observe(fp(1)), "loaded once, not again");
        // A file still being written keeps moving: nothing is loaded until it stops.
        assert!(!s.observe(fp(2)));
        assert!(!s.observe(fp(3)));
        assert!(!s.observe(fp(4)));
        assert!(s.observe(fp(4)));
        // Going back to the loaded version cancels a pending change.
        assert!(!s.observe(fp(5)));
        assert!(!s.observe(fp(4)));
        assert!(!s.observe(fp(5)));
        assert!(s.observe(fp(5)));
    }
}
