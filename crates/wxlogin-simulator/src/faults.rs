//! Injected failures: the queue `POST /sim/faults` fills and every WeChat call drains.
//!
//! Precedence: faults are kept in the order they were added. For each call, the queue is walked
//! front to back and the **first** fault for that endpoint which fires is applied, and only that
//! one. A counted fault always fires (and is removed after its last use); a probabilistic fault
//! fires when its die says so, and otherwise the walk goes on to the next one. So two counted
//! faults run one after the other (`count` calls of the first, then the second), and a
//! probabilistic fault queued behind a counted one only starts once the counted one is used up.

use std::time::Duration;

use rand::Rng;

use crate::wechat::Endpoint;

/// What a fault does to the call it hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Only the delay: the call then runs normally (and consumes its code).
    Proceed,
    /// Answer this WeChat error instead of running the call.
    Errcode(i64),
    /// Truncated JSON with the JSON content type.
    Malformed,
    /// A gateway's HTML error page, status 502.
    Html,
    /// Close the connection without a complete response.
    Drop,
    /// Run the call normally, but any token it hands out is one every API refuses (40001);
    /// `stable_token` keeps handing that token out in normal mode until a forced refresh.
    BadToken,
}

/// A fault as queued.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fault {
    pub(crate) endpoint: Endpoint,
    pub(crate) delay: Option<Duration>,
    pub(crate) action: Action,
    /// Calls left to hit; `None` means unlimited (a probabilistic fault without a count).
    pub(crate) remaining: Option<u32>,
    /// Chance of hitting each call; `None` means every call.
    pub(crate) probability: Option<f64>,
}

/// What happens to one call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Fired {
    pub(crate) delay: Option<Duration>,
    pub(crate) action: Action,
}

/// The queue of faults.
#[derive(Debug, Default)]
pub(crate) struct FaultBook {
    queue: Vec<Fault>,
}

impl FaultBook {
    /// Queues a fault; returns how many are now queued.
    pub(crate) fn add(&mut self, fault: Fault) -> usize {
        self.queue.push(fault);
        self.queue.len()
    }

    pub(crate) fn clear(&mut self) {
        self.queue.clear();
    }

    /// Picks the fault (if any) for one call to `endpoint`, using it up.
    pub(crate) fn take(&mut self, endpoint: Endpoint, rng: &mut impl Rng) -> Option<Fired> {
        let index = self.queue.iter().position(|fault| {
            fault.endpoint == endpoint && fault.probability.is_none_or(|p| rng.random_bool(p))
        })?;
        let fault = &mut self.queue[index];
        let fired = Fired {
            delay: fault.delay,
            action: fault.action,
        };
        if let Some(left) = fault.remaining.as_mut() {
            *left -= 1;
            if *left == 0 {
                self.queue.remove(index);
            }
        }
        Some(fired)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn counted(action: Action, count: u32) -> Fault {
        Fault {
            endpoint: Endpoint::Jscode2Session,
            delay: None,
            action,
            remaining: Some(count),
            probability: None,
        }
    }

    #[test]
    fn counted_faults_apply_in_order_then_stop() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut book = FaultBook::default();
        book.add(counted(Action::Errcode(-1), 2));
        book.add(counted(Action::Html, 1));
        let mut actions = Vec::new();
        for _ in 0..4 {
            actions.push(
                book.take(Endpoint::Jscode2Session, &mut rng)
                    .map(|f| f.action),
            );
        }
        assert_eq!(
            actions,
            [
                Some(Action::Errcode(-1)),
                Some(Action::Errcode(-1)),
                Some(Action::Html),
                None
            ]
        );
    }

    #[test]
    fn probabilistic_faults_fire_about_as_often_as_asked_and_stay_queued() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut book = FaultBook::default();
        book.add(Fault {
            probability: Some(0.25),
            remaining: None,
            ..counted(Action::Drop, 1)
        });
        let hits = (0..4000)
            .filter(|_| book.take(Endpoint::Jscode2Session, &mut rng).is_some())
            .count();
        assert!(
            (800..1200).contains(&hits),
            "{hits} hits of 4000 at p = 0.25"
        );

        let mut never = FaultBook::default();
        never.add(Fault {
            probability: Some(0.0),
            remaining: None,
            ..counted(Action::Drop, 1)
        });
        never.add(counted(Action::Malformed, 1));
        let fired = never.take(Endpoint::Jscode2Session, &mut rng).unwrap();
        assert_eq!(
            fired.action,
            Action::Malformed,
            "a fault that does not fire is skipped"
        );
    }

    #[test]
    fn a_count_with_a_probability_caps_the_hits() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut book = FaultBook::default();
        book.add(Fault {
            probability: Some(0.5),
            ..counted(Action::Errcode(-1), 3)
        });
        let hits = (0..1000)
            .filter(|_| book.take(Endpoint::Jscode2Session, &mut rng).is_some())
            .count();
        assert_eq!(hits, 3);
    }

    #[test]
    fn clear_empties_the_queue_and_delays_travel_with_the_fault() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut book = FaultBook::default();
        book.add(Fault {
            delay: Some(Duration::from_millis(250)),
            ..counted(Action::Proceed, 1)
        });
        let fired = book.take(Endpoint::Jscode2Session, &mut rng).unwrap();
        assert_eq!(fired.delay, Some(Duration::from_millis(250)));
        assert_eq!(fired.action, Action::Proceed);
        book.add(counted(Action::Drop, 5));
        book.clear();
        assert_eq!(book.take(Endpoint::Jscode2Session, &mut rng), None);
    }
}
