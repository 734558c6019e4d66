//! The published exposition: the latest encoded metrics, swapped in atomically once per cycle.
//!
//! The collection side stores a new [`Exposition`]; the HTTP side loads the current one without
//! locking and without ever waiting on libvirt. In the other direction the HTTP side records how
//! the last `--web.config.file` reload went ([`WebConfigStatus`]), which the collection side
//! folds into the next snapshot.

use arc_swap::ArcSwap;
use bytes::Bytes;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};
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
/// Only the gzip bodies are kept: at 1,000 domains each plain body is megabytes, and
/// Prometheus asks for gzip. A plain scrape is decompressed while it is sent, a chunk at a
/// time (see `http::body`), so no plain copy is ever held, however many clients ask for one.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    text_gzip: Bytes,
    openmetrics_gzip: Bytes,
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

    /// The body in `format`, decompressed (a new copy every call: for tests and tools; the
    /// server streams it instead).
    pub fn plain(&self, format: Format) -> Bytes {
        // The gzip bodies are written by `encode` (or `from_plain`) in memory and are never
        // changed, so they always decompress.
        gunzip(self.gzip(format)).expect("an exposition's own gzip body decompresses")
    }
}

/// The size of the data in a complete gzip stream, from its trailer (modulo 4 GiB, far above
/// any exposition).
pub fn gzip_plain_len(gz: &[u8]) -> u64 {
    gz.last_chunk::<4>()
        .map_or(0, |b| u64::from(u32::from_le_bytes(*b)))
}

/// Decompresses a whole gzip stream into a buffer of exactly its size.
fn gunzip(gz: &[u8]) -> io::Result<Bytes> {
    if gz.is_empty() {
        return Ok(Bytes::new());
    }
    let mut plain = Vec::with_capacity(gzip_plain_len(gz) as usize);
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
    fn plain_bodies_decompress_to_what_was_given_and_the_trailer_gives_their_size() {
        let e = Exposition::from_plain(b"a 1\n", b"a 1\n# EOF\n", None, true);
        assert!(!e.is_empty());
        assert_eq!(&e.plain(Format::Text)[..], b"a 1\n");
        assert_eq!(&e.plain(Format::OpenMetrics)[..], b"a 1\n# EOF\n");
        assert_eq!(gzip_plain_len(e.gzip(Format::Text)), 4);
        assert_eq!(gzip_plain_len(e.gzip(Format::OpenMetrics)), 10);
        assert_eq!(gzip_plain_len(&[]), 0);
    }

    #[test]
    fn the_placeholder_is_empty() {
        let e = Exposition::default();
        assert!(e.is_empty());
        assert!(e.plain(Format::Text).is_empty());
        assert!(e.gzip(Format::OpenMetrics).is_empty());
    }
}
