//! Many scrapes at once against the real binary on loopback: all answered under the
//! `--web.max-requests` limit, 503 at once above it, memory bounded either way.

mod common;

use common::{http_get, Exporter};
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

fn big_node(domains: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let list: Vec<(String, u32)> = (0..domains).map(|i| (format!("load-{i:04}"), 1)).collect();
    common::write_test_node(&list)
}

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    kib * 1024
}

/// Sends `count` scrapes at once, each on its own connection; returns their statuses.
fn burst(exporter: &Exporter, count: usize) -> Vec<u16> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..count)
            .map(|_| s.spawn(|| exporter.get("/metrics").status))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn hundreds_of_concurrent_scrapes_under_the_limit_are_all_answered_in_bounded_memory() {
    let (_dir, path) = big_node(100);
    let uri = format!("test://{}", path.display());
    let exporter = Exporter::start(&["--libvirt.uri", &uri, "--web.max-requests", "1000"]);
    exporter.next_snapshot();
    let first = burst(&exporter, 300);
    assert!(
        first.iter().all(|s| *s == 200),
        "statuses: {:?}",
        first.iter().filter(|s| **s != 200).collect::<Vec<_>>()
    );
    let rss_after_first = rss_bytes(exporter.pid());
    for _ in 0..3 {
        let statuses = burst(&exporter, 300);
        assert!(statuses.iter().all(|s| *s == 200));
    }
    let rss_after_more = rss_bytes(exporter.pid());
    assert!(
        rss_after_more <= rss_after_first + 16 * 1024 * 1024,
        "memory grew from {rss_after_first} to {rss_after_more} bytes over three more bursts"
    );
    assert!(rss_after_more < 200 * 1024 * 1024, "RSS {rss_after_more}");
}

/// Opens a connection, asks for the metrics and never reads the answer: once the socket
/// buffers are full, the request stays in flight.
fn stalled_scrape(exporter: &Exporter) -> TcpStream {
    let mut stream = TcpStream::connect(exporter.addr).unwrap();
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    stream
}

#[test]
fn above_the_limit_scrapes_get_503_at_once_and_nothing_else_breaks() {
    // Large enough (several MB) that an unread answer cannot fit in the socket buffers.
    let (_dir, path) = big_node(2000);
    let uri = format!("test://{}", path.display());
    let exporter = Exporter::start(&[
        "--libvirt.uri",
        &uri,
        "--web.max-requests",
        "4",
        "--collect.interval",
        "5s",
    ]);
    let body = exporter.next_snapshot();
    assert!(
        body.samples.len() > 50_000,
        "{} samples",
        body.samples.len()
    );
    let stalled: Vec<TcpStream> = (0..4).map(|_| stalled_scrape(&exporter)).collect();
    std::thread::sleep(Duration::from_millis(500));
    let over = http_get(exporter.addr, "/metrics", &[]);
    assert_eq!(over.status, 503, "a scrape above the limit");
    assert_eq!(
        exporter.get("/healthz").status,
        200,
        "health checks are not limited"
    );
    drop(stalled);
    let mut statuses = Vec::new();
    for _ in 0..50 {
        statuses.push(exporter.get("/metrics").status);
        if statuses.last() == Some(&200) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        statuses.last(),
        Some(&200),
        "the limit frees once the stalled clients leave: {statuses:?}"
    );
    assert!(!exporter.log().contains("panicked"));
}
