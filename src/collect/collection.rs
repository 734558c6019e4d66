//! Starting and stopping collection: one call, [`start`], wires the three kinds of
//! collection together and returns a [`Collection`] to stop them.
//!
//! - the bulk cycle: the worker (`worker`) owns the main libvirt connection and runs one
//!   domain cycle when the clock (`clock`) asks; the clock publishes every snapshot;
//! - the host collectors (`host_runner`), each on its own thread, calling through the
//!   worker's connection ([`SharedConnection`]);
//! - the slow per-domain collectors (`slow`), on their own threads and connection.
//!
//! The shared connection and the stop signal stay inside.

use super::clock::{Clock, ClockInput, ClockSources};
use super::config::CollectConfig;
use super::connector::Connector;
use super::domains::DomainSource;
use super::host_runner::{self, RunnerConfig};
use super::shared_connection::SharedConnection;
use super::slow::{self, SlowDomainCollector, SlowResults};
use super::stop::StopSignal;
use super::worker::Worker;
use super::{DomainCollector, HostCollector};
use crate::exposition::Published;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The enabled collectors of each kind.
#[derive(Default)]
pub struct Collectors {
    /// Read in the bulk cycle, in output order.
    pub domain: Vec<Box<dyn DomainCollector>>,
    /// Each on its own thread and interval.
    pub host: Vec<Box<dyn HostCollector>>,
    /// Slow per-domain calls, each collector on its own threads and interval.
    pub slow: Vec<Box<dyn SlowDomainCollector>>,
}

/// Collection running in the background; stops when [`Collection::stop`] is called or when
/// it is dropped.
pub struct Collection {
    stop: Arc<StopSignal>,
    clock: Sender<ClockInput>,
    slow: Arc<SlowResults>,
    threads: Vec<JoinHandle<()>>,
}

/// Starts collecting and publishing into `published`: the bulk cycle every
/// `config.interval`, and the host and slow collectors on their own intervals. Returns at
/// once; the first snapshot is published when the first cycle ends.
pub fn start(
    config: CollectConfig,
    collectors: Collectors,
    published: Arc<Published>,
) -> std::io::Result<Collection> {
    let stop = Arc::new(StopSignal::default());
    let connection = Arc::new(SharedConnection::default());
    let (clock_tx, clock_rx) = mpsc::channel::<ClockInput>();
    let mut collection = Collection {
        stop: stop.clone(),
        clock: clock_tx.clone(),
        slow: Arc::default(),
        threads: Vec::new(),
    };
    // From here on, an error drops `collection`, which stops what was started.
    let (host, threads) = host_runner::start(
        &RunnerConfig::from(&config),
        collectors.host,
        connection.clone(),
        stop.clone(),
    )?;
    collection.threads.extend(threads);
    let (slow, threads) = slow::start(&config, collectors.slow)?;
    collection.slow = slow.clone();
    collection.threads.extend(threads);
    let tx = clock_tx.clone();
    host.on_first_run(move || {
        let _ = tx.send(ClockInput::FirstRun);
    });
    let tx = clock_tx.clone();
    slow.on_first_run(move || {
        let _ = tx.send(ClockInput::FirstRun);
    });

    let (request_tx, request_rx) = mpsc::channel::<()>();
    let (event_tx, event_rx) = mpsc::channel();
    let subscribed = Arc::new(AtomicBool::new(false));
    let worker = Worker::new(
        Connector::new(config.libvirt_uri.clone(), config.read_only),
        DomainSource::new(collectors.domain, config.domains.clone()),
        connection,
        event_tx,
        subscribed.clone(),
    );
    let answers = clock_tx;
    collection
        .threads
        .push(
            thread::Builder::new()
                .name("libvirt-worker".into())
                .spawn(move || {
                    worker.run(request_rx, |result| {
                        answers.send(ClockInput::Cycle(result)).is_ok()
                    })
                })?,
        );
    let sources = ClockSources {
        host,
        slow,
        events: event_rx,
        subscribed,
    };
    let clock = Clock::new(config, published, sources);
    let clock_stop = stop.clone();
    collection.threads.push(
        thread::Builder::new()
            .name("collect-clock".into())
            .spawn(move || clock.run(request_tx, clock_rx, &clock_stop))?,
    );
    Ok(collection)
}

impl Collection {
    /// Asks every collection thread to stop, and wakes the ones waiting; returns at once.
    /// A thread in a libvirt call ends when the call returns.
    pub fn stop(&self) {
        self.stop.stop();
        let _ = self.clock.send(ClockInput::Stop);
        self.slow.stop();
    }

    /// Stops collection and waits at most `patience` for its threads to end. Returns the
    /// names of those still running then (in a libvirt call that has not returned).
    pub fn join(mut self, patience: Duration) -> Vec<String> {
        self.stop();
        let deadline = Instant::now() + patience;
        let threads = std::mem::take(&mut self.threads);
        let mut running = Vec::new();
        for thread in threads {
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                running.push(thread.thread().name().unwrap_or("unnamed").to_string());
            }
        }
        running
    }
}

impl Drop for Collection {
    fn drop(&mut self) {
        self.stop();
    }
}
