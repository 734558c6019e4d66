//! The published exposition: the latest encoded metrics, swapped in atomically once per cycle.
//!
//! The collection side stores a new [`Exposition`]; the HTTP side loads the current one without
//! locking and without ever waiting on libvirt.

use arc_swap::ArcSwap;
use bytes::Bytes;
use std::sync::Arc;
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
}

impl Published {
    pub fn new(libvirt_uri: impl Into<String>) -> Self {
        Published {
            latest: ArcSwap::from_pointee(Exposition::default()),
            libvirt_uri: libvirt_uri.into(),
        }
    }

    pub fn store(&self, exposition: Exposition) {
        self.latest.store(Arc::new(exposition));
    }

    pub fn load(&self) -> Arc<Exposition> {
        self.latest.load_full()
    }
}
