//! `rate_limit`: one limit for the whole server, as exporter-toolkit has: `burst` requests at
//! once, then one more per `interval` (governor's GCRA, which behaves as a token bucket of
//! `burst` tokens refilled one per `interval`). Requests beyond it get 429 before
//! authentication is even tried.

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::Quota;
use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

/// The longest `interval × burst` accepted: governor counts time in nanoseconds in 64 bits
/// (about 584 years), and the limit has to keep counting for as long as the exporter runs.
const LONGEST: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

pub(crate) struct RateLimiter<C: Clock = DefaultClock> {
    interval: Duration,
    burst: NonZeroU32,
    limiter: governor::RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<C::Instant>>,
}

impl RateLimiter {
    fn new(interval: Duration, burst: NonZeroU32) -> Self {
        Self::with_clock(interval, burst, DefaultClock::default())
    }
}

impl<C: Clock> RateLimiter<C> {
    fn with_clock(interval: Duration, burst: NonZeroU32, clock: C) -> Self {
        let quota = Quota::with_period(interval)
            .expect("from_file leaves out a zero interval")
            .allow_burst(burst);
        RateLimiter {
            interval,
            burst,
            limiter: governor::RateLimiter::direct_with_clock(quota, clock),
        }
    }

    /// Takes a token if one is left.
    pub(crate) fn allow(&self) -> bool {
        self.limiter.check().is_ok()
    }
}

impl<C: Clock> fmt::Debug for RateLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("interval", &self.interval)
            .field("burst", &self.burst)
            .finish_non_exhaustive()
    }
}

/// `interval` and `burst` of the file; `None` when the limit is off (no interval or `0s`).
pub(super) fn from_file(
    interval: Option<&str>,
    burst: Option<u32>,
) -> Result<Option<RateLimiter>, String> {
    let Some(text) = interval else {
        return match burst {
            Some(_) => Err(
                "rate_limit.burst is set without rate_limit.interval; add an interval such as 1s"
                    .into(),
            ),
            None => Ok(None),
        };
    };
    let interval = humantime::parse_duration(text.trim()).map_err(|e| {
        format!("rate_limit.interval: {text:?} is not a duration ({e}); use e.g. 1s or 100ms")
    })?;
    if interval.is_zero() {
        return Ok(None);
    }
    let burst = burst.and_then(NonZeroU32::new).ok_or(
        "rate_limit.burst must be at least 1 when rate_limit.interval is set, or every request would be refused",
    )?;
    if interval
        .checked_mul(burst.get())
        .is_none_or(|t| t > LONGEST)
    {
        return Err(format!(
            "rate_limit: interval {text} times burst {burst} is more than 100 years, longer than the rate limiter can count; use a shorter interval or a smaller burst"
        ));
    }
    Ok(Some(RateLimiter::new(interval, burst)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn limiter(
        interval: Duration,
        burst: u32,
    ) -> (RateLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let burst = NonZeroU32::new(burst).unwrap();
        (
            RateLimiter::with_clock(interval, burst, clock.clone()),
            clock,
        )
    }

    /// How many requests in a row are let through, up to `most`.
    fn allowed_in_a_row(r: &RateLimiter<FakeRelativeClock>, most: u32) -> u32 {
        (0..most).take_while(|_| r.allow()).count() as u32
    }

    #[test]
    fn burst_then_one_per_interval() {
        let (r, clock) = limiter(Duration::from_secs(1), 2);
        assert_eq!(allowed_in_a_row(&r, 10), 2);
        clock.advance(Duration::from_millis(500));
        assert!(!r.allow(), "half an interval brings no token back");
        clock.advance(Duration::from_millis(500));
        assert!(r.allow(), "a whole interval brings one back");
        assert!(!r.allow(), "and only one");
        clock.advance(Duration::from_millis(2500));
        assert_eq!(allowed_in_a_row(&r, 10), 2, "two and a half intervals: two");
        // Refills stop at the burst.
        clock.advance(Duration::from_secs(100));
        assert_eq!(allowed_in_a_row(&r, 10), 2);
    }

    #[test]
    fn refused_requests_take_nothing() {
        let (r, clock) = limiter(Duration::from_secs(10), 1);
        assert!(r.allow());
        for _ in 0..100 {
            assert!(!r.allow());
        }
        clock.advance(Duration::from_secs(10));
        assert!(
            r.allow(),
            "the refused requests did not push the refill back"
        );
    }

    #[test]
    fn file_values_are_checked() {
        assert!(from_file(None, None).unwrap().is_none());
        assert!(from_file(Some("0s"), Some(3)).unwrap().is_none());
        let r = from_file(Some("1m30s"), Some(3)).unwrap().unwrap();
        assert_eq!((r.interval, r.burst.get()), (Duration::from_secs(90), 3));
        // A real clock: the burst is there at once.
        assert!(r.allow() && r.allow() && r.allow());
        assert!(!r.allow());
        assert!(from_file(Some("1s"), Some(1_000_000)).unwrap().is_some());
        for (interval, burst, needle) in [
            (Some("fast"), Some(1), "\"fast\" is not a duration"),
            (Some("1s"), None, "burst must be at least 1"),
            (Some("1s"), Some(0), "burst must be at least 1"),
            (None, Some(5), "without rate_limit.interval"),
            (
                Some("1h"),
                Some(u32::MAX),
                "interval 1h times burst 4294967295 is more than 100 years",
            ),
            (Some("200years"), Some(1), "is more than 100 years"),
        ] {
            let err = from_file(interval, burst).unwrap_err();
            assert!(err.contains(needle), "{interval:?} {burst:?}: {err}");
        }
    }
}
