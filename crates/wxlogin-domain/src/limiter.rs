//! Fixed-window counters for abuse limits (failed logins per IP, and later per-user limits).
//!
//! Why not a token bucket crate: the login limit counts *failures* only, so the check ("is this
//! key over its limit?") and the charge ("this attempt failed") are separate steps, which token
//! buckets do not offer; and time must come from our [`Clock`](wxlogin_clock::Clock) so tests
//! can move it. A fixed window allows at most twice the limit across a window boundary, which
//! is fine for abuse control.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

/// A limit of `max` events per `window`; `max == 0` disables it.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max: u32,
    pub window: Duration,
}

/// Counts events per key in fixed windows of the clock's time.
///
/// A std `Mutex` is right here: the critical section is a hash-map update with no `.await`.
#[derive(Debug)]
pub struct WindowCounter<K> {
    limit: Limit,
    windows: Mutex<HashMap<K, Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started_ms: i64,
    count: u32,
}

/// The answer to "may this key go on?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Over the limit; retry after this many seconds.
    Limited {
        retry_after_secs: u64,
    },
}

impl<K: Eq + Hash + Clone> WindowCounter<K> {
    pub fn new(limit: Limit) -> Self {
        Self {
            limit,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn window_ms(&self) -> i64 {
        i64::try_from(self.limit.window.as_millis())
            .unwrap_or(i64::MAX)
            .max(1)
    }

    /// Whether `key` is still under its limit at `now_ms` (Unix milliseconds), without counting.
    pub fn check(&self, key: &K, now_ms: i64) -> Verdict {
        if self.limit.max == 0 {
            return Verdict::Allowed;
        }
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        match windows.get(key) {
            Some(w) if now_ms - w.started_ms < self.window_ms() && w.count >= self.limit.max => {
                let remaining_ms = self.window_ms() - (now_ms - w.started_ms);
                Verdict::Limited {
                    retry_after_secs: (remaining_ms as u64).div_ceil(1000).max(1),
                }
            }
            _ => Verdict::Allowed,
        }
    }

    /// Counts one event for `key` at `now_ms`.
    pub fn record(&self, key: &K, now_ms: i64) {
        if self.limit.max == 0 {
            return;
        }
        let window_ms = self.window_ms();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let w = windows.entry(key.clone()).or_insert(Window {
            started_ms: now_ms,
            count: 0,
        });
        if now_ms - w.started_ms >= window_ms {
            *w = Window {
                started_ms: now_ms,
                count: 0,
            };
        }
        w.count = w.count.saturating_add(1);
    }

    /// Counts one event and says whether it was within the limit (for limits on every call).
    pub fn charge(&self, key: &K, now_ms: i64) -> Verdict {
        match self.check(key, now_ms) {
            Verdict::Allowed => {
                self.record(key, now_ms);
                Verdict::Allowed
            }
            limited => limited,
        }
    }

    /// Drops finished windows so memory stays bounded by the keys active in one window.
    pub fn forget_expired(&self, now_ms: i64) {
        let window_ms = self.window_ms();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.retain(|_, w| now_ms - w.started_ms < window_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(max: u32) -> WindowCounter<&'static str> {
        WindowCounter::new(Limit {
            max,
            window: Duration::from_secs(60),
        })
    }

    #[test]
    fn limits_after_max_events_until_the_window_ends() {
        let c = counter(3);
        for _ in 0..3 {
            assert_eq!(c.check(&"ip", 1_000), Verdict::Allowed);
            c.record(&"ip", 1_000);
        }
        assert_eq!(
            c.check(&"ip", 11_000),
            Verdict::Limited {
                retry_after_secs: 50
            }
        );
        assert_eq!(c.check(&"other", 11_000), Verdict::Allowed);
        assert_eq!(c.check(&"ip", 61_000), Verdict::Allowed);
    }

    #[test]
    fn zero_disables_the_limit() {
        let c = counter(0);
        for _ in 0..100 {
            assert_eq!(c.charge(&"app", 0), Verdict::Allowed);
        }
    }

    #[test]
    fn charge_counts_only_allowed_events() {
        let c = counter(2);
        assert_eq!(c.charge(&"u", 0), Verdict::Allowed);
        assert_eq!(c.charge(&"u", 0), Verdict::Allowed);
        assert!(matches!(c.charge(&"u", 0), Verdict::Limited { .. }));
        c.forget_expired(60_000);
        assert_eq!(c.charge(&"u", 60_000), Verdict::Allowed);
    }
}
