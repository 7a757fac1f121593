//! The one source of "now" for wxlogin.
//!
//! Login codes, session_keys, access_tokens and our own sessions all expire. If components read
//! the system clock directly, the only way to test expiry would be to sleep. Instead every
//! component holds a [`SharedClock`] and asks it for the time, and tests (or a server started
//! with `--test-clock`) hand in an [`OffsetClock`] they can move forward on demand.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use time::OffsetDateTime;

/// Something that can tell the current time.
///
/// Implementations must be cheap: the token-verification hot path asks once per request.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant, in UTC.
    fn now(&self) -> OffsetDateTime;

    /// The current time as whole Unix seconds, the unit WeChat and our store speak.
    fn unix_seconds(&self) -> i64 {
        self.now().unix_timestamp()
    }
}

/// The clock shared across a process; cloning is cheap.
pub type SharedClock = Arc<dyn Clock>;

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

impl SystemClock {
    /// A [`SharedClock`] backed by the system clock.
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

/// The wall clock plus an offset that only ever grows.
///
/// This is what `--test-clock` and the simulator's `/sim/clock` use: time keeps flowing
/// normally (so timeouts and logs stay sane) but a test can jump ahead by hours to make codes,
/// keys and sessions expire. Going backwards is deliberately impossible: nothing in wxlogin is
/// written to survive time running backwards, and no test needs it.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_millis: AtomicI64,
}

impl OffsetClock {
    /// A clock that starts at the wall-clock time.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`, returning the new current time.
    pub fn advance(&self, by: Duration) -> OffsetDateTime {
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_millis.fetch_add(millis, Ordering::SeqCst);
        self.now()
    }

    /// How far this clock is ahead of the wall clock.
    pub fn offset(&self) -> Duration {
        Duration::from_millis(
            self.offset_millis
                .load(Ordering::SeqCst)
                .max(0)
                .unsigned_abs(),
        )
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> OffsetDateTime {
        let offset = time::Duration::milliseconds(self.offset_millis.load(Ordering::SeqCst));
        OffsetDateTime::now_utc().saturating_add(offset)
    }
}

/// A clock that stands still until told to move: for unit tests that need exact instants.
#[derive(Debug)]
pub struct FixedClock {
    unix_millis: AtomicI64,
}

impl FixedClock {
    /// A clock stopped at `start`.
    pub fn at(start: OffsetDateTime) -> Self {
        let millis = (start.unix_timestamp_nanos() / 1_000_000) as i64;
        Self {
            unix_millis: AtomicI64::new(millis),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.unix_millis.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        let nanos = i128::from(self.unix_millis.load(Ordering::SeqCst)) * 1_000_000;
        OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_clock_moves_forward_only_by_what_it_is_told() {
        let clock = OffsetClock::new();
        let before = clock.now();
        let after = clock.advance(Duration::from_secs(3600));
        let gained = after - before;
        assert!(gained >= time::Duration::seconds(3600));
        assert!(gained < time::Duration::seconds(3660), "gained {gained}");
        assert_eq!(clock.offset(), Duration::from_secs(3600));
    }

    #[test]
    fn fixed_clock_stands_still_until_advanced() {
        let start = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let clock = FixedClock::at(start);
        assert_eq!(clock.now(), start);
        assert_eq!(clock.unix_seconds(), 1_700_000_000);
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now(), start + time::Duration::milliseconds(1500));
    }
}
