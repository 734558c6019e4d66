//! Shared helpers for the integration tests: run the real exporter binary, talk HTTP to it
//! (`http.rs`), parse its exposition (`exposition.rs`), and ask `virsh` for the reference
//! values.
#![allow(dead_code)]

pub mod exposition;
pub mod guest;
pub mod host;
pub mod http;
pub mod tls;

pub use exposition::Metrics;
pub use http::{http_get, Response};

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const BIN: &str = env!("CARGO_BIN_EXE_libvirt-exporter");

/// A running exporter, killed when dropped.
pub struct Exporter {
    child: Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<String>>,
}

impl Exporter {
    /// Starts the exporter on a free loopback port with `args` and waits until it listens.
    pub fn start(args: &[&str]) -> Exporter {
        Exporter::start_with_env(args, &[])
    }

    /// [`Exporter::start`] with extra environment variables (libvirt's logging, say).
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Exporter {
        let mut child = Command::new(BIN)
            .args(["--web.listen-address", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("exporter binary starts");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let log_writer = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let listening = ["listening on http://", "listening on https://"]
                    .iter()
                    .find_map(|marker| line.split(marker).nth(1));
                // into the log first: whoever learns the address may read the log at once
                {
                    let mut log = log_writer.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
                if let Some(rest) = listening {
                    let addr = rest.split('/').next().unwrap_or("").to_string();
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr.parse().expect("a socket address in the log"),
            Err(_) => {
                let _ = child.kill();
                panic!("exporter did not start; log:\n{}", log.lock().unwrap());
            }
        };
        Exporter { child, addr, log }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (e.g. "TERM") and waits up to 20 s for the exit status.
    pub fn stop_with(mut self, signal: &str) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        let status = poll_until(
            Duration::from_secs(20),
            Duration::from_millis(50),
            || self.child.try_wait().unwrap(),
            Option::is_some,
        );
        status.unwrap_or_else(|| panic!("no exit 20 s after SIG{signal}; log:\n{}", self.log()))
    }

    pub fn get(&self, path: &str) -> Response {
        http_get(self.addr, path, &[])
    }

    /// Scrapes the metrics until `ready` holds for the parsed exposition (60 s at most).
    pub fn wait_for(&self, what: &str, ready: impl Fn(&Metrics) -> bool) -> Metrics {
        let scrape = || {
            let r = self.get("/metrics");
            let m = (r.status == 200)
                .then(|| Metrics::parse(&r.text()))
                .filter(|m| ready(m));
            (r, m)
        };
        let (r, m) = poll_until(
            Duration::from_secs(60),
            Duration::from_millis(100),
            scrape,
            |(_, m)| m.is_some(),
        );
        m.unwrap_or_else(|| {
            panic!(
                "timed out waiting for {what}; last answer {}:\n{}\nlog:\n{}",
                r.status,
                r.text(),
                self.log()
            )
        })
    }

    /// Waits for a snapshot collected after now, so its values postdate any reading taken
    /// before this call.
    pub fn next_snapshot(&self) -> Metrics {
        let now = unix_now();
        self.wait_for("a collection after now", |m| {
            m.value("libvirt_exporter_last_collection_timestamp_seconds", &[])
                .is_some_and(|t| t >= now)
        })
    }
}

impl Exporter {
    /// Like [`Exporter::next_snapshot`], but waits for one in which no domain was skipped for
    /// being busy (other tests' `virsh` calls hold domain jobs that NOWAIT steps around), from
    /// a cycle that finished in time: stale data served with `libvirt_up 0` does not carry
    /// its cycle's busy count.
    pub fn next_complete_snapshot(&self) -> Metrics {
        let now = unix_now();
        self.wait_for("a complete collection after now", |m| {
            m.is_complete_since(now)
        })
    }

    /// Like [`Exporter::next_complete_snapshot`], and with the first results of every default
    /// host collector in: they run on threads of their own, so the first domain cycles can be
    /// published before the pools, volumes, networks and node are.
    pub fn next_complete_snapshot_with_host(&self) -> Metrics {
        let now = unix_now();
        self.wait_for(
            "a complete collection after now with every host collector's results",
            |m| m.is_complete_since(now) && m.host_collectors_succeeded(),
        )
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Calls `attempt` every `every` until `done` holds for what it returns or `timeout` has
/// passed, and returns the last answer either way (there is always at least one attempt).
/// Callers that need the answer panic with it (the last state is the useful context).
pub fn poll_until<T>(
    timeout: Duration,
    every: Duration,
    mut attempt: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let answer = attempt();
        if done(&answer) || Instant::now() >= deadline {
            return answer;
        }
        std::thread::sleep(every);
    }
}

pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

impl Metrics {
    /// Whether this snapshot's cycle started at or after `since`, reached libvirt in time and
    /// skipped no domain for being busy.
    pub fn is_complete_since(&self, since: f64) -> bool {
        self.value("libvirt_exporter_last_collection_timestamp_seconds", &[])
            .is_some_and(|t| t >= since)
            && self.value("libvirt_up", &[]) == Some(1.0)
            && self.value("libvirt_exporter_incomplete_domains", &[("reason", "busy")]) == Some(0.0)
    }

    /// Whether every default host collector (the exporter's own list) succeeded in its last
    /// run, which means it has run at least once.
    pub fn host_collectors_succeeded(&self) -> bool {
        use libvirt_exporter::collect::{all_host_collectors, HostOptions};
        all_host_collectors(&HostOptions::default())
            .iter()
            .filter(|c| c.enabled_by_default())
            .all(|c| {
                self.value(
                    "libvirt_exporter_collector_success",
                    &[("collector", c.name())],
                ) == Some(1.0)
            })
    }

    /// Asserts that every default domain collector (and the bulk call, `domains`) succeeded
    /// in this snapshot's cycle and reported how long it took: more than nothing, and all of
    /// them together no longer than the time from the cycle's start to now (they ran one
    /// after the other in that cycle, which ended before this snapshot was served). Which
    /// collectors are on by default is the exporter's own list (src/cli.rs pins it against
    /// the documentation). Call it at once on a fresh scrape.
    pub fn assert_default_collectors_succeeded(&self) {
        let since_start =
            unix_now() - self.get("libvirt_exporter_last_collection_timestamp_seconds", &[]);
        let defaults = libvirt_exporter::collect::all_domain_collectors()
            .into_iter()
            .filter(|c| c.enabled_by_default())
            .map(|c| c.name());
        let mut total = 0.0;
        for c in std::iter::once("domains").chain(defaults) {
            let by = [("collector", c)];
            assert_eq!(
                self.value("libvirt_exporter_collector_success", &by),
                Some(1.0),
                "{c}"
            );
            let took = self.get("libvirt_exporter_collector_duration_seconds", &by);
            assert!(took > 0.0, "{c} took {took} s");
            total += took;
        }
        assert!(
            total <= since_start,
            "the domain collectors took {total} s together, but the cycle started only \
             {since_start} s ago"
        );
    }
}

/// Writes a libvirt test-driver node file with the given (name, run state) domains, each with
/// a disk `vda` (source `/img/<index>.qcow2`) and a NIC `tap<index>` on network `default`;
/// domain `i` has `(i + 1)` MiB of memory. Connect with `test://<path>`.
pub fn write_test_node(domains: &[(String, u32)]) -> (tempfile::TempDir, std::path::PathBuf) {
    use std::fmt::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let mut xml = String::from("<node><cpu><mhz>2400</mhz><model>x86_64</model><active>8</active><nodes>1</nodes><sockets>1</sockets><cores>8</cores><threads>1</threads></cpu><memory>16777216</memory>\n");
    for (i, (name, state)) in domains.iter().enumerate() {
        writeln!(
            xml,
            "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'><name>{}</name><memory>{}</memory><vcpu>{}</vcpu><os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'><source file='/img/{i}.qcow2'/><target dev='vda' bus='virtio'/></disk><interface type='network'><mac address='52:54:00:00:{:02x}:{:02x}'/><source network='default'/><target dev='tap{i}'/></interface></devices><test:runstate>{state}</test:runstate></domain>",
            xml_escape(name),
            (i as u64 + 1) * 1024,
            1 + i % 4,
            i / 256,
            i % 256,
        )
        .unwrap();
    }
    xml.push_str("</node>\n");
    let path = dir.path().join("node.xml");
    std::fs::write(&path, xml).unwrap();
    (dir, path)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

/// The lab's variables (`LAB_URI`, `LAB_RUNNING`, `LAB_POOL`...) from the file
/// tests/lab/setup.sh writes; panics with what to do when the lab is not set up.
pub fn lab_env() -> BTreeMap<String, String> {
    let env = std::fs::read_to_string("/run/libvirt-exporter-lab/env")
        .expect("the lab is not set up: run `bash tests/lab/setup.sh` as root first");
    env.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

/// Runs `virsh -c uri args...` and returns its standard output.
pub fn virsh(uri: &str, args: &[&str]) -> String {
    let out = Command::new("virsh")
        .args(["-q", "-c", uri])
        .args(args)
        .output()
        .expect("virsh runs (apt-get install libvirt-clients)");
    assert!(
        out.status.success(),
        "virsh {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `virsh domstats --raw` of one domain as field → value.
pub fn domstats(uri: &str, domain: &str, groups: &[&str]) -> BTreeMap<String, String> {
    let mut args = vec!["domstats", "--raw"];
    args.extend_from_slice(groups);
    args.push(domain);
    virsh(uri, &args)
        .lines()
        .filter_map(|l| l.trim().split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Runs `promtool check metrics` on an exposition; returns its complaints.
pub fn promtool_check(exposition: &str) -> String {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (apt-get install prometheus)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let mut all = String::from_utf8_lossy(&out.stdout).into_owned();
    all.push_str(&String::from_utf8_lossy(&out.stderr));
    if !out.status.success() && all.trim().is_empty() {
        all = format!("promtool exited with {}", out.status);
    }
    all
}

/// Asserts that `promtool check metrics` has nothing to say about `exposition`.
pub fn assert_promtool_passes(exposition: &str) {
    let complaints = promtool_check(exposition);
    assert!(
        complaints.trim().is_empty(),
        "promtool check metrics:\n{complaints}"
    );
}

/// A real long job: `virsh dump --memory-only --live` of `domain` into a FIFO that a thread
/// reads slowly (about 1 MB/s) until [`SlowDump::finish`] or drop, then drains at full speed,
/// so the job always ends and never leaves the domain wedged.
pub struct SlowDump {
    virsh: Child,
    fast: Arc<std::sync::atomic::AtomicBool>,
    reader: Option<std::thread::JoinHandle<u64>>,
    _dir: tempfile::TempDir,
}

impl SlowDump {
    pub fn start(uri: &str, domain: &str) -> SlowDump {
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("dump.fifo");
        assert!(Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let virsh = Command::new("virsh")
            .args(["-q", "-c", uri, "dump", "--memory-only", "--live", domain])
            .arg(&fifo)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let fast = Arc::new(AtomicBool::new(false));
        let reader_fast = fast.clone();
        let reader = std::thread::spawn(move || {
            let mut file = std::fs::File::open(&fifo).unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            let (mut total, give_up) = (0u64, Instant::now() + Duration::from_secs(300));
            loop {
                let n = file.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    return total;
                }
                total += n as u64;
                if !reader_fast.load(Ordering::Relaxed) && Instant::now() < give_up {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        });
        SlowDump {
            virsh,
            fast,
            reader: Some(reader),
            _dir: dir,
        }
    }

    /// Whether the dump job is still going.
    pub fn running(&mut self) -> bool {
        self.virsh.try_wait().unwrap().is_none()
    }

    /// Drains the rest at full speed and waits for the job to end.
    pub fn finish(mut self) {
        self.drain();
    }

    fn drain(&mut self) {
        self.fast.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let _ = self.virsh.wait();
    }
}

impl Drop for SlowDump {
    fn drop(&mut self) {
        self.drain();
    }
}
