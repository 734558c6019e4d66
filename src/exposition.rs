//! The published exposition: the latest encoded metrics, swapped in atomically once per cycle.
//!
//! The collection side stores a new [`Exposition`]; the HTTP side loads the current one without
//! locking and without ever waiting on libvirt. In the other direction the HTTP side records how
//! the last `--web.config.file` reload went ([`WebConfigStatus`]), which the collection side
//! folds into the next snapshot.

use arc_swap::ArcSwap;
use bytes::Bytes;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// One cycle's metrics, encoded in every format the server offers.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    /// Prometheus text format 0.0.4.
    pub text: Bytes,
    pub text_gzip: Bytes,
    /// OpenMetrics 1.0 text, ending in `# EOF`.
    pub openmetrics: Bytes,
    pub openmetrics_gzip: Bytes,
    /// When the data was collected; `None` before the first cycle finished.
    pub collected_at: Option<SystemTime>,
    /// Whether the last cycle reached libvirt.
    pub up: bool,
}

/// Shared between the collection loop (writer) and the HTTP server (readers).
#[derive(Debug)]
pub struct Published {
    latest: ArcSwap<Exposition>,
    /// The libvirt URI the exporter collects from, shown on the landing page.
    pub libvirt_uri: String,
    /// How the web configuration file last loaded; written by the HTTP side.
    pub web_config: WebConfigStatus,
}

impl Published {
    pub fn new(libvirt_uri: impl Into<String>) -> Self {
        Published {
            latest: ArcSwap::from_pointee(Exposition::default()),
            libvirt_uri: libvirt_uri.into(),
            web_config: WebConfigStatus::default(),
        }
    }

    pub fn store(&self, exposition: Exposition) {
        self.latest.store(Arc::new(exposition));
    }

    pub fn load(&self) -> Arc<Exposition> {
        self.latest.load_full()
    }
}

/// The outcome of the latest load of `--web.config.file`; empty when no file is used.
#[derive(Debug, Default)]
pub struct WebConfigStatus {
    latest: Mutex<Option<WebConfigReload>>,
}

/// How the web configuration file last loaded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WebConfigReload {
    /// Whether the latest version of the file was taken into use.
    pub success: bool,
    /// When a version of the file was last taken into use.
    pub last_success: SystemTime,
}

impl WebConfigStatus {
    /// Records a version of the file taken into use now.
    pub fn succeeded(&self) {
        *self.lock() = Some(WebConfigReload {
            success: true,
            last_success: SystemTime::now(),
        });
    }

    /// Records a version of the file that was refused; the last good one stays in force.
    pub fn failed(&self) {
        let mut latest = self.lock();
        let last_success = latest.map_or(SystemTime::UNIX_EPOCH, |r| r.last_success);
        *latest = Some(WebConfigReload {
            success: false,
            last_success,
        });
    }

    pub fn get(&self) -> Option<WebConfigReload> {
        *self.lock()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<WebConfigReload>> {
        // The value is a plain Copy record, valid even if a writer panicked.
        self.latest.lock().unwrap_or_else(|e| e.into_inner())
    }
}
