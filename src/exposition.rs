//! The published exposition: the latest encoded metrics, swapped in atomically once per cycle.
//!
//! The collection side stores a new [`Exposition`]; the HTTP side loads the current one without
//! locking and without ever waiting on libvirt. In the other direction the HTTP side records how
//! the last `--web.config.file` reload went ([`WebConfigStatus`]), which the collection side
//! folds into the next snapshot.

use arc_swap::ArcSwap;
use bytes::Bytes;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

/// The exposition formats the server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0.0 text, ending in `# EOF`.
    OpenMetrics,
}

/// One cycle's metrics, encoded in every format the server offers.
///
/// Only the gzip bodies are kept: at 1,000 domains each plain body is megabytes, and most
/// scrapers ask for gzip. A plain body is decompressed the first time one is asked for and
/// kept for the rest of this exposition's life, so a cycle nobody scrapes in plain text holds
/// no plain copy and repeated plain scrapes of one cycle decompress once.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    text_gzip: Bytes,
    openmetrics_gzip: Bytes,
    text: OnceLock<Bytes>,
    openmetrics: OnceLock<Bytes>,
    /// When the data was collected; `None` before the first cycle finished.
    pub collected_at: Option<SystemTime>,
    /// Whether the last cycle reached libvirt.
    pub up: bool,
}

impl Exposition {
    /// An exposition from complete gzip streams of both formats (as `encode` writes them).
    pub fn from_gzip(
        text_gzip: Bytes,
        openmetrics_gzip: Bytes,
        collected_at: Option<SystemTime>,
        up: bool,
    ) -> Self {
        Exposition {
            text_gzip,
            openmetrics_gzip,
            text: OnceLock::new(),
            openmetrics: OnceLock::new(),
            collected_at,
            up,
        }
    }

    /// An exposition from plain bodies, gzipped here; for tests and tools.
    pub fn from_plain(
        text: &[u8],
        openmetrics: &[u8],
        collected_at: Option<SystemTime>,
        up: bool,
    ) -> Self {
        let gzip = |data: &[u8]| {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(data).expect("gzip into memory");
            Bytes::from(gz.finish().expect("gzip into memory"))
        };
        Exposition::from_gzip(gzip(text), gzip(openmetrics), collected_at, up)
    }

    /// Whether this is the empty placeholder published before the first cycle.
    pub fn is_empty(&self) -> bool {
        self.text_gzip.is_empty() && self.openmetrics_gzip.is_empty()
    }

    /// The body in `format`, gzipped.
    pub fn gzip(&self, format: Format) -> &Bytes {
        match format {
            Format::Text => &self.text_gzip,
            Format::OpenMetrics => &self.openmetrics_gzip,
        }
    }

    /// The body in `format`, decompressed on the first call and shared by the later ones.
    pub fn plain(&self, format: Format) -> Bytes {
        let cell = match format {
            Format::Text => &self.text,
            Format::OpenMetrics => &self.openmetrics,
        };
        cell.get_or_init(|| {
            // The gzip bodies are written by `encode` (or `from_plain`) in memory and are
            // never changed, so they always decompress.
            gunzip(self.gzip(format)).expect("an exposition's own gzip body decompresses")
        })
        .clone()
    }

    /// Whether the plain body in `format` has been made.
    #[cfg(test)]
    pub(crate) fn is_plain_cached(&self, format: Format) -> bool {
        match format {
            Format::Text => self.text.get().is_some(),
            Format::OpenMetrics => self.openmetrics.get().is_some(),
        }
    }
}

/// Decompresses a whole gzip stream into a buffer of exactly its size.
fn gunzip(gz: &[u8]) -> io::Result<Bytes> {
    if gz.is_empty() {
        return Ok(Bytes::new());
    }
    // The trailer's last four bytes give the plain size (mod 4 GiB): allocate once.
    let size = gz
        .last_chunk::<4>()
        .map_or(0, |b| u32::from_le_bytes(*b) as usize);
    let mut plain = Vec::with_capacity(size);
    flate2::read::GzDecoder::new(gz).read_to_end(&mut plain)?;
    Ok(Bytes::from(plain.into_boxed_slice()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_bodies_are_made_once_on_demand() {
        let e = Exposition::from_plain(b"a 1\n", b"a 1\n# EOF\n", None, true);
        assert!(!e.is_empty());
        assert!(!e.is_plain_cached(Format::Text));
        assert_eq!(&e.plain(Format::Text)[..], b"a 1\n");
        assert!(e.is_plain_cached(Format::Text));
        assert!(!e.is_plain_cached(Format::OpenMetrics));
        assert_eq!(&e.plain(Format::OpenMetrics)[..], b"a 1\n# EOF\n");
        assert_eq!(
            e.plain(Format::Text).as_ptr(),
            e.plain(Format::Text).as_ptr()
        );
    }

    #[test]
    fn the_placeholder_is_empty() {
        let e = Exposition::default();
        assert!(e.is_empty());
        assert!(e.plain(Format::Text).is_empty());
        assert!(e.gzip(Format::OpenMetrics).is_empty());
    }
}
