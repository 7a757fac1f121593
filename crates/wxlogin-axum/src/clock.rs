//! The clock a [`Verifier`](crate::Verifier) reads: token expiry, cache ages and the JWKS
//! refetch interval all depend on it, so tests move it instead of sleeping.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// Where a verifier gets the current time from.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> SystemTime;
}

/// The system's wall clock: the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to, for tests. Clones share one time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<SystemTime>>,
}

impl ManualClock {
    /// A clock standing at the current system time.
    pub fn new() -> Self {
        Self::at(SystemTime::now())
    }

    pub fn at(now: SystemTime) -> Self {
        Self {
            now: Arc::new(Mutex::new(now)),
        }
    }

    pub fn advance(&self, by: Duration) {
        // A poisoned lock still holds a valid time: a panicking test must not hide the cause.
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether `since` is at least `age` before `now`. A `since` in the future (the wall clock
/// went back) also counts: a cache entry or a rate limit must never outlive its bound
/// because of a clock step.
pub(crate) fn at_least(now: SystemTime, since: SystemTime, age: Duration) -> bool {
    now.duration_since(since)
        .map_or(true, |elapsed| elapsed >= age)
}

/// Seconds since the Unix epoch, negative before it.
pub(crate) fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// The time `secs` seconds after the Unix epoch (the epoch itself if negative).
pub(crate) fn from_unix_seconds(secs: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_step_back_counts_as_old_enough() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let second = Duration::from_secs(1);
        assert!(!at_least(now, now, second));
        assert!(at_least(now, now - second, second));
        assert!(at_least(now, now + second, second));
    }

    #[test]
    fn unix_seconds_round_trip() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        assert_eq!(unix_seconds(t), 1_767_225_600);
        assert_eq!(from_unix_seconds(1_767_225_600), t);
        assert_eq!(from_unix_seconds(-5), SystemTime::UNIX_EPOCH);
        assert_eq!(
            unix_seconds(SystemTime::UNIX_EPOCH - Duration::from_secs(3)),
            -3
        );
    }

    #[test]
    fn manual_clock_clones_share_time() {
        let clock = ManualClock::at(SystemTime::UNIX_EPOCH);
        let other = clock.clone();
        clock.advance(Duration::from_secs(30));
        assert_eq!(
            other.now(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(30)
        );
    }
}
