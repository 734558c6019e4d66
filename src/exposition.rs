//! The published exposition: the latest encoded metrics, swapped in atomically once per cycle.
//!
//! The collection side stores a new [`Exposition`]; the HTTP side loads the current one without
//! locking and without ever waiting on libvirt. In the other direction the HTTP side records how
//! the last `--web.config.file` reload went ([`WebConfigStatus`]), which the collection side
//! folds into the next snapshot.

use arc_swap::ArcSwap;
use bytes::Bytes;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// The exposition formats the server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0.0 text, ending in `# EOF`.
    OpenMetrics,
}

impl Format {
    pub const ALL: [Format; 2] = [Format::Text, Format::OpenMetrics];

    fn index(self) -> usize {
        match self {
            Format::Text => 0,
            Format::OpenMetrics => 1,
        }
    }
}

/// Encodes one cycle's metrics in a format, into a complete gzip stream.
pub type Encoder = Box<dyn Fn(Format) -> Bytes + Send + Sync>;

/// One cycle's metrics, as gzip bodies: encoded when the cycle ends in the formats scrapers
/// have been asking for, and in any other format when it is first asked for.
///
/// Only the gzip bodies are kept: at 1,000 domains each plain body is megabytes, and
/// Prometheus asks for gzip. A plain scrape is decompressed while it is sent, a chunk at a
/// time (see `http::body`), so no plain copy is ever held, however many clients ask for one.
#[derive(Default)]
pub struct Exposition {
    /// Each format's gzip body ([`Format::index`]), once encoded.
    bodies: [OnceLock<Bytes>; 2],
    /// Encodes a format on first demand; `None` when every body was given.
    encoder: Option<Encoder>,
    /// When the data was collected; `None` before the first cycle finished.
    pub collected_at: Option<SystemTime>,
    /// Whether the last cycle reached libvirt.
    pub up: bool,
}

impl std::fmt::Debug for Exposition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exposition")
            .field("text_gzip_len", &self.bodies[0].get().map(Bytes::len))
            .field(
                "openmetrics_gzip_len",
                &self.bodies[1].get().map(Bytes::len),
            )
            .field("collected_at", &self.collected_at)
            .field("up", &self.up)
            .finish()
    }
}

impl Exposition {
    /// An exposition from complete gzip streams of both formats.
    pub fn from_gzip(
        text_gzip: Bytes,
        openmetrics_gzip: Bytes,
        collected_at: Option<SystemTime>,
        up: bool,
    ) -> Self {
        Exposition {
            bodies: [text_gzip.into(), openmetrics_gzip.into()],
            encoder: None,
            collected_at,
            up,
        }
    }

    /// An exposition with the bodies in `encoded` ready and the other formats left to
    /// `encoder`, which runs at most once per format, when that format is first asked for.
    pub fn lazy(
        encoded: Vec<(Format, Bytes)>,
        encoder: Encoder,
        collected_at: Option<SystemTime>,
        up: bool,
    ) -> Self {
        let bodies: [OnceLock<Bytes>; 2] = Default::default();
        for (format, body) in encoded {
            let _ = bodies[format.index()].set(body);
        }
        Exposition {
            bodies,
            encoder: Some(encoder),
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
        self.encoder.is_none()
            && self
                .bodies
                .iter()
                .all(|b| b.get().is_none_or(Bytes::is_empty))
    }

    /// Whether the body in `format` is ready (asking for it will not encode).
    pub fn is_encoded(&self, format: Format) -> bool {
        self.encoder.is_none() || self.bodies[format.index()].get().is_some()
    }

    /// The body in `format`, gzipped; encoded now if this is the first time it is asked for
    /// (concurrent first askers wait for one encoding).
    pub fn gzip(&self, format: Format) -> &Bytes {
        self.bodies[format.index()].get_or_init(|| match &self.encoder {
            Some(encode) => encode(format),
            None => Bytes::new(),
        })
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

/// How long a format counts as in demand after it was last asked for: a format nobody asked
/// for in this long is encoded only when someone does. Prometheus' staleness period, longer
/// than any sensible scrape interval.
pub const DEMAND_WINDOW: Duration = Duration::from_secs(300);

const NEVER_ASKED: u64 = u64::MAX;

/// Shared between the collection loop (writer) and the HTTP server (readers).
#[derive(Debug)]
pub struct Published {
    latest: ArcSwap<Exposition>,
    /// The libvirt URI the exporter collects from, shown on the landing page.
    pub libvirt_uri: String,
    /// How the web configuration file last loaded; written by the HTTP side.
    pub web_config: WebConfigStatus,
    /// When each format ([`Format::index`]) was last asked for, in milliseconds after
    /// `started`; [`NEVER_ASKED`] before the first time.
    asked_ms: [AtomicU64; 2],
    started: Instant,
}

impl Published {
    pub fn new(libvirt_uri: impl Into<String>) -> Self {
        Published {
            latest: ArcSwap::from_pointee(Exposition::default()),
            libvirt_uri: libvirt_uri.into(),
            web_config: WebConfigStatus::default(),
            asked_ms: [AtomicU64::new(NEVER_ASKED), AtomicU64::new(NEVER_ASKED)],
            started: Instant::now(),
        }
    }

    pub fn store(&self, exposition: Exposition) {
        self.latest.store(Arc::new(exposition));
    }

    pub fn load(&self) -> Arc<Exposition> {
        self.latest.load_full()
    }

    /// Records that a scraper asked for `format` now.
    pub fn asked_for(&self, format: Format) {
        let now = self.started.elapsed().as_millis() as u64;
        self.asked_ms[format.index()].store(now, Ordering::Relaxed);
    }

    /// Whether `format` was asked for since the start.
    #[cfg(test)]
    pub(crate) fn asked_after_start(&self, format: Format) -> bool {
        self.asked_ms[format.index()].load(Ordering::Relaxed) != NEVER_ASKED
    }

    /// The formats to encode as soon as a cycle ends: those asked for within the last
    /// [`DEMAND_WINDOW`], else OpenMetrics, which is what Prometheus asks for. The others are
    /// encoded when first asked for.
    pub fn formats_in_demand(&self) -> Vec<Format> {
        self.formats_in_demand_at(self.started.elapsed())
    }

    fn formats_in_demand_at(&self, since_start: Duration) -> Vec<Format> {
        let now = since_start.as_millis() as u64;
        let window = DEMAND_WINDOW.as_millis() as u64;
        let wanted: Vec<Format> = Format::ALL
            .into_iter()
            .filter(|f| {
                let asked = self.asked_ms[f.index()].load(Ordering::Relaxed);
                asked != NEVER_ASKED && now.saturating_sub(asked) <= window
            })
            .collect();
        if wanted.is_empty() {
            vec![Format::OpenMetrics]
        } else {
            wanted
        }
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
    fn formats_nobody_asked_for_in_five_minutes_are_not_encoded_ahead() {
        let p = Published::new("test:///default");
        let at = |s: u64| p.formats_in_demand_at(Duration::from_secs(s));
        assert_eq!(
            at(0),
            [Format::OpenMetrics],
            "Prometheus' format when none was asked for"
        );
        assert_eq!(at(301), [Format::OpenMetrics]);
        p.asked_ms[Format::Text.index()].store(0, Ordering::Relaxed);
        assert_eq!(at(0), [Format::Text]);
        assert_eq!(at(300), [Format::Text]);
        assert_eq!(at(301), [Format::OpenMetrics], "asked for too long ago");
        p.asked_ms[Format::Text.index()].store(200_000, Ordering::Relaxed);
        assert_eq!(at(301), [Format::Text]);
        assert_eq!(at(500), [Format::Text]);
        assert_eq!(at(501), [Format::OpenMetrics]);
        p.asked_for(Format::OpenMetrics);
        assert!(p.formats_in_demand().contains(&Format::OpenMetrics));
    }

    #[test]
    fn a_lazy_body_is_encoded_once_on_first_demand() {
        let calls = Arc::new(AtomicU64::new(0));
        let counter = calls.clone();
        let e = Exposition::lazy(
            vec![(Format::OpenMetrics, Bytes::from_static(b"om"))],
            Box::new(move |format| {
                counter.fetch_add(1, Ordering::SeqCst);
                assert_eq!(format, Format::Text, "the given body is not encoded again");
                Bytes::from_static(b"text")
            }),
            None,
            true,
        );
        assert!(!e.is_empty());
        assert!(e.is_encoded(Format::OpenMetrics));
        assert!(!e.is_encoded(Format::Text));
        assert_eq!(&e.gzip(Format::OpenMetrics)[..], b"om");
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert_eq!(&e.gzip(Format::Text)[..], b"text");
        assert_eq!(&e.gzip(Format::Text)[..], b"text");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(e.is_encoded(Format::Text));
    }

    #[test]
    fn the_placeholder_is_empty() {
        let e = Exposition::default();
        assert!(e.is_empty());
        assert!(e.plain(Format::Text).is_empty());
        assert!(e.gzip(Format::OpenMetrics).is_empty());
    }
}
