//! The threads that make one collector's per-domain calls. A call that hangs holds its thread
//! and nothing else: the dispatcher stops counting it at its deadline and hands the next calls
//! to other threads, started when no idle one is left. Threads that finish a call wait idle
//! for the next one, a few at most; the others end. So there are at most as many threads as
//! calls in parallel plus one per hanging call, and a hanging call is at most one per domain.

use super::state::CollectorState;
use crate::libvirt::{Domain, LibvirtError};
use crate::snapshot::DomainStats;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Instant, SystemTime};

/// One call to make: `domain`'s, for the collector of `state`.
pub struct Call {
    pub id: u64,
    pub uuid: String,
    pub domain: Domain,
    pub state: Arc<CollectorState>,
    /// Told when the call returned.
    pub done: Sender<super::dispatcher::Wake>,
}

impl Call {
    fn make(self) {
        let mut out = DomainStats {
            name: self.domain.name().unwrap_or_default(),
            uuid: self.uuid.clone(),
            id: self.domain.id(),
            ..DomainStats::default()
        };
        let at = SystemTime::now();
        let since = Instant::now();
        let collector = self.state.collector.as_ref();
        let result = catch_unwind(AssertUnwindSafe(|| {
            collector.collect(&self.domain, &mut out)
        }))
        .unwrap_or_else(|_| {
            Err(LibvirtError {
                call: "collect",
                code: -1,
                message: format!("the {} collector panicked", self.state.name),
            })
        });
        let end = self
            .state
            .end_call(&self.uuid, at, since, result.map(|()| out));
        let _ = self
            .done
            .send(super::dispatcher::Wake::Returned { id: self.id, end });
    }
}

/// Idle threads waiting for a call.
struct Idle {
    waiting: Vec<Sender<Call>>,
    closed: bool,
}

/// One collector's call threads.
pub struct CallPool {
    idle: Arc<Mutex<Idle>>,
    thread_name: String,
    /// Idle threads kept at most.
    keep: usize,
}

impl CallPool {
    pub fn new(collector: &str, keep: usize) -> Self {
        CallPool {
            idle: Arc::new(Mutex::new(Idle {
                waiting: Vec::new(),
                closed: false,
            })),
            thread_name: format!("slow-{collector}-call"),
            keep,
        }
    }

    /// Makes `call` on an idle thread, or on a new one.
    pub fn make(&self, call: Call) -> std::io::Result<()> {
        let mut call = call;
        loop {
            let waiting = self
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .waiting
                .pop();
            match waiting {
                Some(thread) => match thread.send(call) {
                    Ok(()) => return Ok(()),
                    // That thread ended meanwhile: try the next.
                    Err(mpsc::SendError(back)) => call = back,
                },
                None => break,
            }
        }
        let idle = self.idle.clone();
        let keep = self.keep;
        thread::Builder::new()
            .name(self.thread_name.clone())
            .spawn(move || call_thread(call, &idle, keep))
            .map(drop)
    }
}

impl Drop for CallPool {
    /// Ends the idle threads now and the busy ones when their call returns.
    fn drop(&mut self) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.closed = true;
        idle.waiting.clear();
    }
}

fn call_thread(first: Call, idle: &Mutex<Idle>, keep: usize) {
    let mut call = first;
    loop {
        call.make();
        let (tx, rx) = mpsc::channel();
        {
            let mut idle = idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.closed || idle.waiting.len() >= keep {
                return;
            }
            idle.waiting.push(tx);
        }
        match rx.recv() {
            Ok(next) => call = next,
            Err(_) => return,
        }
    }
}
