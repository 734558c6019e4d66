//! The sink the encoders write into: text goes straight into a gzip stream while its series
//! lines are counted, so a cycle's exposition never exists in full as plain text (at 1,000
//! domains that is megabytes per format).

use flate2::{write::GzEncoder, Compression};
use std::fmt;
use std::io::{self, BufWriter, Write};

/// The encoders hand over many small pieces (a name, a quote, a label value); they are
/// gathered into chunks this size before each call into the compressor.
const CHUNK: usize = 32 * 1024;

/// A `fmt::Write` that gzips what it is given (`Compression::fast`) and counts its series.
pub struct GzipText {
    gz: BufWriter<GzEncoder<Vec<u8>>>,
    series: SeriesCounter,
    /// The first write error; `fmt::Error` carries no detail, so it is kept here.
    error: Option<io::Error>,
}

impl GzipText {
    pub fn new() -> Self {
        GzipText {
            gz: BufWriter::with_capacity(CHUNK, GzEncoder::new(Vec::new(), Compression::fast())),
            series: SeriesCounter::default(),
            error: None,
        }
    }

    /// The number of series (sample lines) written so far.
    pub fn series(&self) -> usize {
        self.series.count()
    }

    /// The complete gzip stream, without spare capacity (it stays allocated for as long as
    /// the exposition is published).
    pub fn finish(self) -> io::Result<Box<[u8]>> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let gz = self
            .gz
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        Ok(gz.finish()?.into_boxed_slice())
    }
}

impl fmt::Write for GzipText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.error.is_some() {
            return Err(fmt::Error);
        }
        self.series.feed(s);
        self.gz.write_all(s.as_bytes()).map_err(|e| {
            self.error = Some(e);
            fmt::Error
        })
    }
}

/// Counts the series lines of a text exposition fed in arbitrary pieces: lines that are
/// neither empty nor comments (`#`), as Prometheus' text format and OpenMetrics write them.
#[derive(Debug, Clone, Copy)]
pub struct SeriesCounter {
    /// Whether the next byte starts a line.
    at_line_start: bool,
    count: usize,
}

impl Default for SeriesCounter {
    fn default() -> Self {
        SeriesCounter {
            at_line_start: true,
            count: 0,
        }
    }
}

impl SeriesCounter {
    pub fn feed(&mut self, s: &str) {
        for &b in s.as_bytes() {
            if self.at_line_start && b != b'\n' && b != b'#' {
                self.count += 1;
            }
            self.at_line_start = b == b'\n';
        }
    }

    pub fn count(&self) -> usize {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;
    use std::io::Read as _;

    #[test]
    fn counts_series_lines_split_across_writes() {
        let mut c = SeriesCounter::default();
        for piece in [
            "# HELP a A.\n# TY",
            "PE a gauge\na",
            "{x=\"#\"} 1\n",
            "a{x=\"y\"} 2",
            "\n\n",
            "#",
            " EOF\n",
            "b",
            " 3\nc 4\n",
        ] {
            c.feed(piece);
        }
        // a{x="#"}, a{x="y"}, b, c; not the HELP, TYPE, EOF or empty lines.
        assert_eq!(c.count(), 4);
        // A piece ending in a newline leaves the next piece at a line start.
        let mut c = SeriesCounter::default();
        c.feed("x 1\n");
        c.feed("# c\n");
        c.feed("y 1\n");
        assert_eq!(c.count(), 2);
        assert_eq!(SeriesCounter::default().count(), 0);
    }

    #[test]
    fn gzips_everything_written_and_counts_it() {
        let text = "# TYPE a gauge\na 1\n# HELP b B.\nb 2\nc{l=\"v\"} 3\n";
        let mut w = GzipText::new();
        for chunk in text.as_bytes().chunks(3) {
            w.write_str(std::str::from_utf8(chunk).unwrap()).unwrap();
        }
        assert_eq!(w.series(), 3);
        let gz = w.finish().unwrap();
        let mut plain = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut plain)
            .unwrap();
        assert_eq!(plain, text);
    }
}
