//! How current the slow per-domain collectors' data is, per domain and collector: when it was
//! taken and whether the latest call answered. Nothing at all without slow collectors.

use super::family::{emit, DomainSeriesCounter, Kind, Labels, Sink, Value};
use crate::snapshot::DomainStats;
use std::fmt;
use std::time::UNIX_EPOCH;

/// Every family this module writes, for the documentation test.
pub const FAMILIES: &[(&str, Kind)] = &[
    (
        "libvirt_exporter_slow_result_timestamp_seconds",
        Kind::Gauge,
    ),
    ("libvirt_exporter_slow_result_stale", Kind::Gauge),
];

fn labels(d: &DomainStats, collector: &str) -> Labels {
    vec![
        ("collector", collector.to_string()),
        ("domain", d.name.clone()),
    ]
}

pub fn encode(sink: &mut dyn Sink, domains: &[&DomainStats]) -> fmt::Result {
    emit(
        sink,
        "libvirt_exporter_slow_result_timestamp_seconds",
        Kind::Gauge,
        "When the data of a slow per-domain collector shown for the domain was taken (start of its call), as a Unix timestamp.",
        domains.iter().flat_map(|d| {
            d.slow.iter().filter_map(|r| {
                let at = r.taken_at?.duration_since(UNIX_EPOCH).ok()?;
                Some((labels(d, r.collector), Value::Float(at.as_secs_f64())))
            })
        }),
    )?;
    emit(
        sink,
        "libvirt_exporter_slow_result_stale",
        Kind::Gauge,
        "1 when the latest call of a slow per-domain collector for the domain failed or has not returned within its deadline, so its data (if shown) is from an earlier call.",
        domains.iter().flat_map(|d| {
            d.slow
                .iter()
                .map(|r| (labels(d, r.collector), Value::from(r.stale)))
        }),
    )
}

/// The series [`encode`] writes for `d`.
pub fn series(d: &DomainStats) -> usize {
    if d.slow.is_empty() {
        return 0;
    }
    let mut counter = DomainSeriesCounter::default();
    // Counting cannot fail: the counter's sink never returns an error.
    let _ = encode(&mut counter, &[d]);
    counter.per_domain.values().sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{encode as encode_snapshot, EncodeOptions};
    use crate::exposition::Format;
    use crate::snapshot::{SlowResult, Snapshot};
    use std::sync::Arc;
    use std::time::Duration;

    fn domain(name: &str, slow: Vec<SlowResult>) -> DomainStats {
        DomainStats {
            name: name.into(),
            slow,
            ..DomainStats::default()
        }
    }

    fn text(snapshot: Snapshot, max_series: Option<usize>) -> String {
        let e = encode_snapshot(
            Arc::new(snapshot),
            &[Format::Text],
            EncodeOptions { max_series },
        );
        String::from_utf8(e.plain(Format::Text).to_vec()).unwrap()
    }

    #[test]
    fn each_result_has_its_staleness_and_its_time_if_it_has_data() {
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_500);
        let web = domain(
            "web",
            vec![
                SlowResult {
                    collector: "agent",
                    taken_at: Some(at),
                    stale: false,
                },
                SlowResult {
                    collector: "disk_errors",
                    taken_at: None,
                    stale: true,
                },
            ],
        );
        assert_eq!(series(&web), 3);
        let snapshot = Snapshot {
            up: true,
            domains: vec![web, domain("db", vec![])],
            ..Snapshot::default()
        };
        let text = text(snapshot, None);
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("libvirt_exporter_slow_result"))
            .collect();
        assert_eq!(
            lines,
            [
                "libvirt_exporter_slow_result_timestamp_seconds{collector=\"agent\",domain=\"web\"} 1700000000.5",
                "libvirt_exporter_slow_result_stale{collector=\"agent\",domain=\"web\"} 0",
                "libvirt_exporter_slow_result_stale{collector=\"disk_errors\",domain=\"web\"} 1",
            ]
        );
    }

    #[test]
    fn the_series_cap_leaves_them_out_with_their_domain_and_counts_them() {
        let result = |stale| SlowResult {
            collector: "agent",
            taken_at: None,
            stale,
        };
        let snapshot = Snapshot {
            up: true,
            domains: vec![
                domain("a", vec![result(false)]),
                domain("b", vec![result(true)]),
            ],
            ..Snapshot::default()
        };
        let all = text(snapshot.clone(), None);
        let total = all.lines().filter(|l| !l.starts_with('#')).count();
        let capped = text(snapshot, Some(total - 1));
        assert!(
            capped.contains(
                "libvirt_exporter_slow_result_stale{collector=\"agent\",domain=\"a\"} 0\n"
            ),
            "{capped}"
        );
        assert!(!capped.contains("domain=\"b\""), "{capped}");
        // b's info series and its stale series.
        assert!(
            capped.contains("libvirt_exporter_dropped_series 2\n"),
            "{capped}"
        );
    }
}
