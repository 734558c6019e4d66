//! `rate_limit`: one token bucket for the whole server, as exporter-toolkit has. Requests
//! beyond it get 429 before authentication is even tried.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct RateLimiter {
    /// One token comes back per interval.
    interval: Duration,
    burst: u32,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    pub(super) fn new(interval: Duration, burst: u32) -> Self {
        RateLimiter {
            interval,
            burst,
            bucket: Mutex::new(Bucket {
                tokens: f64::from(burst),
                at: Instant::now(),
            }),
        }
    }

    /// Takes a token if one is left.
    pub(crate) fn allow(&self) -> bool {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> bool {
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let refill =
            now.saturating_duration_since(b.at).as_secs_f64() / self.interval.as_secs_f64();
        b.tokens = (b.tokens + refill).min(f64::from(self.burst));
        b.at = now.max(b.at);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
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
    match burst {
        Some(burst) if burst > 0 => Ok(Some(RateLimiter::new(interval, burst))),
        _ => Err("rate_limit.burst must be at least 1 when rate_limit.interval is set, or every request would be refused".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_one_per_interval() {
        let r = RateLimiter::new(Duration::from_secs(1), 2);
        let t0 = Instant::now();
        assert!(r.allow_at(t0));
        assert!(r.allow_at(t0));
        assert!(!r.allow_at(t0));
        assert!(!r.allow_at(t0 + Duration::from_millis(500)));
        assert!(r.allow_at(t0 + Duration::from_millis(1000)));
        assert!(!r.allow_at(t0 + Duration::from_millis(1000)));
        // Refills stop at the burst.
        let later = t0 + Duration::from_secs(100);
        assert!(r.allow_at(later) && r.allow_at(later) && !r.allow_at(later));
    }

    #[test]
    fn file_values_are_checked() {
        assert!(from_file(None, None).unwrap().is_none());
        assert!(from_file(Some("0s"), Some(3)).unwrap().is_none());
        assert!(from_file(Some("1m30s"), Some(3)).unwrap().is_some());
        for (interval, burst, needle) in [
            (Some("fast"), Some(1), "\"fast\" is not a duration"),
            (Some("1s"), None, "burst must be at least 1"),
            (Some("1s"), Some(0), "burst must be at least 1"),
            (None, Some(5), "without rate_limit.interval"),
        ] {
            let err = from_file(interval, burst).unwrap_err();
            assert!(err.contains(needle), "{interval:?} {burst:?}: {err}");
        }
    }
}
