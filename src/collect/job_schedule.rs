//! When the `job` collector asks a domain for its job. libvirt has no bulk group for jobs, so
//! every question is one call per domain; most domains have no job most of the time. A
//! domain is asked when it is new, restarted (new ID) or changed state (a dump, a save, the
//! end of a migration pause it), every cycle while it has a job, and otherwise once every
//! `--collector.job.interval` (spread over half the interval, so the calls do not come in
//! one burst). Between questions the last answer stands.

use crate::snapshot::{DomainState, JobStats};
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

/// `--collector.job.interval` unless the command line says otherwise.
pub const DEFAULT_JOB_INTERVAL: Duration = Duration::from_secs(60);

/// The last answer of each domain and when to ask again.
#[derive(Debug)]
pub struct JobSchedule {
    interval: Duration,
    domains: HashMap<String, Answer>,
}

#[derive(Debug)]
struct Answer {
    id: Option<u32>,
    state: Option<DomainState>,
    job: JobStats,
    next: Instant,
}

impl JobSchedule {
    pub fn new(interval: Duration) -> Self {
        JobSchedule {
            interval,
            domains: HashMap::new(),
        }
    }

    /// The last answer, if it still stands for this domain in this run and state at `now`;
    /// `None` means: ask.
    pub fn known(
        &self,
        uuid: &str,
        id: Option<u32>,
        state: Option<DomainState>,
        now: Instant,
    ) -> Option<&JobStats> {
        let a = self.domains.get(uuid)?;
        let no_job = a.job.job_type.is_none_or(|t| t == 0);
        (a.id == id && a.state == state && no_job && now < a.next).then_some(&a.job)
    }

    /// Keeps the answer just received. A domain first seen is asked again after between half
    /// and all of the interval, depending on its UUID: that spreads the questions (all asked in
    /// one cycle at start) over half an interval, and no domain is asked twice in quick
    /// succession.
    pub fn answered(
        &mut self,
        uuid: &str,
        id: Option<u32>,
        state: Option<DomainState>,
        job: &JobStats,
        now: Instant,
    ) {
        let wait = if self.domains.contains_key(uuid) {
            self.interval
        } else {
            self.interval.mul_f64(spread(uuid))
        };
        self.domains.insert(
            uuid.to_string(),
            Answer {
                id,
                state,
                job: job.clone(),
                next: now + wait,
            },
        );
    }

    /// Forgets the domains not in `seen` (gone, or no longer running).
    pub fn retain(&mut self, seen: &HashSet<String>) {
        self.domains.retain(|uuid, _| seen.contains(uuid));
    }

    pub fn clear(&mut self) {
        self.domains.clear();
    }
}

/// A share of the interval in [0.5, 1], fixed per UUID.
fn spread(uuid: &str) -> f64 {
    let mut h = DefaultHasher::new();
    uuid.hash(&mut h);
    0.5 + (h.finish() % 1001) as f64 / 2000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNNING: Option<DomainState> = Some(DomainState {
        state: 1,
        reason: 1,
    });
    const PAUSED_DUMP: Option<DomainState> = Some(DomainState {
        state: 3,
        reason: 8,
    });
    const MINUTE: Duration = Duration::from_secs(60);

    fn job(t: u32) -> JobStats {
        JobStats {
            job_type: Some(t),
            ..JobStats::default()
        }
    }

    #[test]
    fn a_new_domain_is_asked_and_its_answer_stands_until_the_interval_passed() {
        let mut s = JobSchedule::new(MINUTE);
        let t0 = Instant::now();
        assert_eq!(s.known("a", Some(1), RUNNING, t0), None, "never asked");
        s.answered("a", Some(1), RUNNING, &job(0), t0);
        assert_eq!(s.known("a", Some(1), RUNNING, t0), Some(&job(0)));
        // the first wait is half the interval or more; every later one the whole interval
        let first = (1..=60)
            .map(|s| t0 + Duration::from_secs(s))
            .find(|&t| s.known("a", Some(1), RUNNING, t).is_none())
            .expect("asked again within the interval");
        assert!(first >= t0 + MINUTE / 2, "{:?}", first - t0);
        s.answered("a", Some(1), RUNNING, &job(0), first);
        let just_before = first + MINUTE - Duration::from_millis(1);
        assert_eq!(s.known("a", Some(1), RUNNING, just_before), Some(&job(0)));
        assert_eq!(s.known("a", Some(1), RUNNING, first + MINUTE), None);
    }

    #[test]
    fn a_domain_with_a_job_is_asked_every_cycle() {
        let mut s = JobSchedule::new(MINUTE);
        let t0 = Instant::now();
        s.answered("a", Some(1), PAUSED_DUMP, &job(2), t0);
        assert_eq!(s.known("a", Some(1), PAUSED_DUMP, t0), None);
        // a driver without jobs answers nothing: that stands like "no job"
        s.answered("b", Some(2), RUNNING, &JobStats::default(), t0);
        assert_eq!(
            s.known("b", Some(2), RUNNING, t0),
            Some(&JobStats::default())
        );
    }

    #[test]
    fn a_state_change_or_a_restart_asks_at_once() {
        let mut s = JobSchedule::new(MINUTE);
        let t0 = Instant::now();
        s.answered("a", Some(1), RUNNING, &job(0), t0);
        assert_eq!(s.known("a", Some(1), PAUSED_DUMP, t0), None, "paused");
        assert_eq!(s.known("a", Some(7), RUNNING, t0), None, "restarted");
        assert!(s.known("a", Some(1), RUNNING, t0).is_some());
    }

    #[test]
    fn first_questions_are_spread_over_the_interval() {
        let mut s = JobSchedule::new(MINUTE);
        let t0 = Instant::now();
        let uuids: Vec<String> = (0..100).map(|i| format!("uuid-{i}")).collect();
        for u in &uuids {
            s.answered(u, Some(1), RUNNING, &job(0), t0);
        }
        let due_by = |secs: u64| {
            let t = t0 + Duration::from_secs(secs);
            uuids
                .iter()
                .filter(|u| s.known(u, Some(1), RUNNING, t).is_none())
                .count()
        };
        assert_eq!(due_by(29), 0, "none asked twice within half the interval");
        assert!((20..=80).contains(&due_by(45)), "{}", due_by(45));
        assert_eq!(due_by(60), 100);
    }

    #[test]
    fn gone_domains_are_forgotten() {
        let mut s = JobSchedule::new(MINUTE);
        let t0 = Instant::now();
        s.answered("a", Some(1), RUNNING, &job(0), t0);
        s.answered("b", Some(2), RUNNING, &job(0), t0);
        s.retain(&HashSet::from(["b".to_string()]));
        assert_eq!(s.known("a", Some(1), RUNNING, t0), None);
        assert!(s.known("b", Some(2), RUNNING, t0).is_some());
    }
}
