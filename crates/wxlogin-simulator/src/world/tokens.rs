//! access_tokens: the two isolated families of §3.1 (classic) and §3.2 (stable), their
//! lifetimes, handovers, forced refreshes, quotas, and the check every `wxa/*` API makes.
//!
//! A token dies of whichever comes first: its lifetime (`expires_at`, then 42001) or an event
//! (`dies_at`: superseded, force-refreshed, revoked; then 40001). Tokens are never forgotten,
//! so a dead one keeps answering with the code of its death; their number is bounded by the
//! daily quotas.

use std::collections::HashMap;

use rand::Rng;
use time::{Duration, OffsetDateTime};

use super::Window;
use super::{day_index, minute_index};
use crate::ids;

/// How long a superseded classic token keeps working (§3.1: "5 minutes").
pub(crate) const CLASSIC_GRACE: Duration = Duration::seconds(300);
/// A stable token with less than this left is replaced on the next normal fetch (§3.2).
pub(crate) const STABLE_RENEW_BEFORE: Duration = Duration::seconds(300);
/// Forced refreshes closer together than this are ignored (§3.2: "≥ 30 s apart").
pub(crate) const FORCE_GAP: Duration = Duration::seconds(30);
/// Longer than any token WeChat issues (§3.1 says reserve 512): anything longer is malformed.
const MAX_TOKEN_LEN: usize = 512;

/// The figures §13 item 7 wants configurable.
#[derive(Debug, Clone)]
pub(crate) struct TokenRules {
    pub(crate) lifetime: Duration,
    pub(crate) classic_daily: u32,
    pub(crate) stable_per_minute: u32,
    pub(crate) stable_daily: u32,
    pub(crate) forced_daily: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Classic,
    Stable,
}

#[derive(Debug)]
struct Token {
    appid: String,
    family: Family,
    expires_at: OffsetDateTime,
    /// When an event killed (or will kill) it; `None` while nothing has.
    dies_at: Option<OffsetDateTime>,
    /// Minted by the `bad_token` fault: handed out as valid, refused by every API (40001).
    rejected: bool,
}

impl Token {
    /// `Ok` while usable, else the errcode an API answers.
    fn state(&self, now: OffsetDateTime) -> Result<(), i64> {
        match self.dies_at {
            Some(death) if death < self.expires_at && now >= death => Err(40001),
            _ if now >= self.expires_at => Err(42001),
            _ if self.rejected => Err(40001),
            _ => Ok(()),
        }
    }

    /// Alive as far as WeChat's own bookkeeping goes (a `rejected` token counts as alive:
    /// WeChat keeps handing it out, which is the point of that fault).
    fn alive(&self, now: OffsetDateTime) -> bool {
        now < self.expires_at && self.dies_at.is_none_or(|death| now < death)
    }

    fn kill(&mut self, at: OffsetDateTime) {
        self.dies_at = Some(self.dies_at.map_or(at, |death| death.min(at)));
    }
}

/// One app's token bookkeeping.
#[derive(Debug, Default)]
struct AppTokens {
    classic_current: Option<String>,
    stable_current: Option<String>,
    classic_day: Window,
    stable_minute: Window,
    stable_day: Window,
    forced_day: Window,
    last_forced: Option<OffsetDateTime>,
}

/// A token handed out: `{"access_token", "expires_in"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issued {
    pub(crate) token: String,
    pub(crate) expires_in: i64,
}

/// Every token ever issued, and each app's counters.
#[derive(Debug, Default)]
pub(crate) struct TokenBook {
    tokens: HashMap<String, Token>,
    apps: HashMap<String, AppTokens>,
}

impl TokenBook {
    /// `cgi-bin/token` for an app whose credentials checked out: a new token per call, the
    /// previous current one dying [`CLASSIC_GRACE`] later; 45009 past the daily quota.
    pub(crate) fn classic(
        &mut self,
        appid: &str,
        rules: &TokenRules,
        rng: &mut impl Rng,
        bad: bool,
        now: OffsetDateTime,
    ) -> Result<Issued, i64> {
        let app = self.apps.entry(appid.to_owned()).or_default();
        if app.classic_day.hit(day_index(now)) > rules.classic_daily {
            return Err(45009);
        }
        let previous = app.classic_current.take();
        if let Some(token) = previous.and_then(|t| self.tokens.get_mut(&t)) {
            token.kill(now + CLASSIC_GRACE);
        }
        let issued = self.mint(appid, Family::Classic, rules, rng, bad, now);
        self.app(appid).classic_current = Some(issued.token.clone());
        Ok(issued)
    }

    /// `cgi-bin/stable_token` for an app whose credentials checked out (§3.2, §13 item 6).
    pub(crate) fn stable(
        &mut self,
        appid: &str,
        force_refresh: bool,
        rules: &TokenRules,
        rng: &mut impl Rng,
        bad: bool,
        now: OffsetDateTime,
    ) -> Result<Issued, i64> {
        let app = self.apps.entry(appid.to_owned()).or_default();
        if app.stable_day.hit(day_index(now)) > rules.stable_daily {
            return Err(45009);
        }
        if app.stable_minute.hit(minute_index(now)) > rules.stable_per_minute {
            return Err(45011);
        }
        let forcing = force_refresh && app.last_forced.is_none_or(|at| now - at >= FORCE_GAP);
        if forcing {
            if app.forced_day.count(day_index(now)) >= rules.forced_daily {
                return Err(45009);
            }
            app.forced_day.hit(day_index(now));
            app.last_forced = Some(now);
            app.stable_current = None;
            for token in self.tokens.values_mut() {
                if token.appid == appid && token.family == Family::Stable {
                    token.kill(now);
                }
            }
        } else if !bad
            && let Some(current) = app.stable_current.as_ref().and_then(|t| {
                self.tokens
                    .get(t)
                    .filter(|token| token.alive(now))
                    .map(|token| (t, token))
            })
        {
            let left = current.1.expires_at - now;
            if left >= STABLE_RENEW_BEFORE {
                return Ok(Issued {
                    token: current.0.clone(),
                    expires_in: left.whole_seconds(),
                });
            }
            // Handover: the old token stays valid until its own expiry.
        }
        let issued = self.mint(appid, Family::Stable, rules, rng, bad, now);
        self.app(appid).stable_current = Some(issued.token.clone());
        Ok(issued)
    }

    /// The check every API taking `access_token` makes (§3.4): the token's appid, or
    /// 41001 missing, 40014 malformed, 40001 unknown / superseded / revoked, 42001 expired.
    pub(crate) fn check(&self, token: Option<&str>, now: OffsetDateTime) -> Result<&str, i64> {
        let token = token.ok_or(41001)?;
        if is_malformed(token) {
            return Err(40014);
        }
        let record = self.tokens.get(token).ok_or(40001)?;
        record.state(now)?;
        Ok(&record.appid)
    }

    /// Every token of `appid` stops working now, as after an AppSecret reset. Returns how many
    /// were still working.
    pub(crate) fn revoke(&mut self, appid: &str, now: OffsetDateTime) -> usize {
        if let Some(app) = self.apps.get_mut(appid) {
            app.classic_current = None;
            app.stable_current = None;
        }
        let mut revoked = 0;
        for token in self.tokens.values_mut() {
            if token.appid == appid && token.state(now).is_ok() {
                revoked += 1;
            }
            if token.appid == appid {
                token.kill(now);
            }
        }
        revoked
    }

    fn app(&mut self, appid: &str) -> &mut AppTokens {
        self.apps.entry(appid.to_owned()).or_default()
    }

    fn mint(
        &mut self,
        appid: &str,
        family: Family,
        rules: &TokenRules,
        rng: &mut impl Rng,
        rejected: bool,
        now: OffsetDateTime,
    ) -> Issued {
        let token = loop {
            let token = ids::access_token(rng);
            if !self.tokens.contains_key(&token) {
                break token;
            }
        };
        let record = Token {
            appid: appid.to_owned(),
            family,
            expires_at: now.saturating_add(rules.lifetime),
            dies_at: None,
            rejected,
        };
        self.tokens.insert(token.clone(), record);
        Issued {
            token,
            expires_in: rules.lifetime.whole_seconds(),
        }
    }
}

/// "Obviously malformed" (40014): longer than any token, or a character outside the token
/// alphabet `[0-9A-Za-z_-]`. Anything else that is unknown is "invalid" (40001).
fn is_malformed(token: &str) -> bool {
    token.len() > MAX_TOKEN_LEN
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    const APP: &str = "wx0000000000000001";

    fn rules() -> TokenRules {
        TokenRules {
            lifetime: Duration::seconds(7200),
            classic_daily: 2000,
            stable_per_minute: 10_000,
            stable_daily: 500_000,
            forced_daily: 20,
        }
    }

    fn t0() -> OffsetDateTime {
        // 2023-11-14 22:13:20 UTC: not near a Beijing midnight.
        OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
    }

    fn secs(s: i64) -> Duration {
        Duration::seconds(s)
    }

    #[test]
    fn a_classic_token_is_superseded_after_five_minutes_and_expires_after_its_lifetime() {
        let (mut book, mut rng) = (TokenBook::default(), StdRng::seed_from_u64(1));
        let first = book.classic(APP, &rules(), &mut rng, false, t0()).unwrap();
        assert_eq!(first.expires_in, 7200);
        assert_eq!(book.check(Some(&first.token), t0()), Ok(APP));
        let second = book
            .classic(APP, &rules(), &mut rng, false, t0() + secs(100))
            .unwrap();
        assert_ne!(first.token, second.token);
        assert_eq!(book.check(Some(&first.token), t0() + secs(399)), Ok(APP));
        assert_eq!(book.check(Some(&first.token), t0() + secs(400)), Err(40001));
        assert_eq!(book.check(Some(&second.token), t0() + secs(7299)), Ok(APP));
        assert_eq!(
            book.check(Some(&second.token), t0() + secs(7300)),
            Err(42001)
        );
    }

    #[test]
    fn a_superseded_token_near_its_end_expires_rather_than_being_invalidated() {
        let (mut book, mut rng) = (TokenBook::default(), StdRng::seed_from_u64(1));
        let first = book.classic(APP, &rules(), &mut rng, false, t0()).unwrap();
        book.classic(APP, &rules(), &mut rng, false, t0() + secs(7000))
            .unwrap();
        assert_eq!(
            book.check(Some(&first.token), t0() + secs(7200)),
            Err(42001)
        );
    }

    #[test]
    fn malformed_missing_and_unknown_tokens() {
        let book = TokenBook::default();
        assert_eq!(book.check(None, t0()), Err(41001));
        assert_eq!(book.check(Some("has space"), t0()), Err(40014));
        assert_eq!(book.check(Some("a+b/c="), t0()), Err(40014));
        assert_eq!(book.check(Some(&"a".repeat(513)), t0()), Err(40014));
        assert_eq!(book.check(Some("dummy"), t0()), Err(40001));
        assert_eq!(book.check(Some("86_abcDEF-_"), t0()), Err(40001));
    }

    #[test]
    fn the_classic_daily_quota_resets_at_beijing_midnight() {
        let rules = TokenRules {
            classic_daily: 2,
            ..rules()
        };
        let (mut book, mut rng) = (TokenBook::default(), StdRng::seed_from_u64(1));
        // 15:59:00 UTC is 23:59 in Beijing.
        let evening = OffsetDateTime::from_unix_timestamp(1_700_063_940).unwrap();
        assert!(book.classic(APP, &rules, &mut rng, false, evening).is_ok());
        assert!(book.classic(APP, &rules, &mut rng, false, evening).is_ok());
        assert_eq!(
            book.classic(APP, &rules, &mut rng, false, evening),
            Err(45009)
        );
        assert!(
            book.classic(APP, &rules, &mut rng, false, evening + secs(60))
                .is_ok()
        );
    }

    #[test]
    fn stable_normal_mode_returns_the_same_token_until_the_handover() {
        let (mut book, mut rng) = (TokenBook::default(), StdRng::seed_from_u64(1));
        let first = book
            .stable(APP, false, &rules(), &mut rng, false, t0())
            .unwrap();
        assert_eq!(first.expires_in, 7200);
        let again = book
            .stable(APP, false, &rules(), &mut rng, false, t0() + secs(6900))
            .unwrap();
        assert_eq!(again.token, first.token);
        assert_eq!(again.expires_in, 300);
        let renewed = book
            .stable(APP, false, &rules(), &mut rng, false, t0() + secs(6901))
            .unwrap();
        assert_ne!(renewed.token, first.token);
        assert_eq!(renewed.expires_in, 7200);
        assert_eq!(book.check(Some(&first.token), t0() + secs(7199)), Ok(APP));
        assert_eq!(
            book.check(Some(&first.token), t0() + secs(7200)),
            Err(42001)
        );
    }

    #[test]
    fn families_are_isolated() {
        let (mut book, mut rng) = (TokenBook::default(), StdRng::seed_from_u64(1));
        let stable = book
            .stable(APP, false, &rules(), &mut rng, false, t0())
            .unwrap();
        for _ in 0..3 {
            book.classic(APP, &rules(), &mut rng, false, t0()).unwrap();
        }
        assert_eq!(book.check(Some(&stable.token), t0() + secs(1000)), Ok(APP));
        let classic = book.classic(APP, &rules(), &mut rng, false, t0()).unwrap();
        book.stable(APP, true, &rules(), &mut rng, false, t0())
            .unwrap();
        assert_eq!(book.check(Some(&classic.token), t0()), Ok(APP));
    }

    #[test]
    fn force_refresh_kills_at_once_is_ignored_within_30s_and_capped_per_day() {
        let rules = TokenRules {
            forced_daily: 2,
            ..rules()
        };
        let (mut book, mut rng) = (TokenBook::default(), StdRng::seed_from_u64(1));
        let normal = book
            .stable(APP, false, &rules, &mut rng, false, t0())
            .unwrap();
        let forced = book
            .stable(APP, true, &rules, &mut rng, false, t0() + secs(1))
            .unwrap();
        assert_ne!(forced.token, normal.token);
        assert_eq!(book.check(Some(&normal.token), t0() + secs(1)), Err(40001));
        let ignored = book
            .stable(APP, true, &rules, &mut rng, false, t0() + secs(30))
            .unwrap();
        assert_eq!(
            ignored,
            Issued {
                token: forced.token.clone(),
                expires_in: 7171
            }
        );
        let second = book
            .stable(APP, true, &rules, &mut rng, false, t0() + secs(31))
            .unwrap();
        assert_ne!(second.token, forced.token);
        assert_eq!(
            book.stable(APP, true, &rules, &mut rng, false, t0() + secs(100)),
            Err(45009),
            "the third effective force of the day"
        );
        assert_eq!(book.check(Some(&second.token), t0() + secs(100)), Ok(APP));
    }

    #[test]
    fn stable_rate_limits_per_minute_and_per_day() {
        let rules = TokenRules {
            stable_per_minute: 2,
            stable_daily: 3,
            ..rules()
        };
        let (mut book, mut rng) = (TokenBook::default(), StdRng::seed_from_u64(1));
        let minute = OffsetDateTime::from_unix_timestamp(1_700_000_040).unwrap();
        let mut fetch = |at| book.stable(APP, false, &rules, &mut rng, false, at);
        assert!(fetch(minute).is_ok());
        assert!(fetch(minute + secs(59)).is_ok());
        assert_eq!(fetch(minute + secs(59)), Err(45011));
        assert_eq!(fetch(minute + secs(60)), Err(45009), "4th call of the day");
    }

    #[test]
    fn a_bad_token_is_handed_out_again_until_a_force_refresh() {
        let (mut book, mut rng) = (TokenBook::default(), StdRng::seed_from_u64(1));
        let good = book
            .stable(APP, false, &rules(), &mut rng, false, t0())
            .unwrap();
        let bad = book
            .stable(APP, false, &rules(), &mut rng, true, t0())
            .unwrap();
        assert_ne!(bad.token, good.token);
        assert_eq!(book.check(Some(&bad.token), t0()), Err(40001));
        assert_eq!(
            book.check(Some(&good.token), t0()),
            Ok(APP),
            "a normal handover"
        );
        let again = book
            .stable(APP, false, &rules(), &mut rng, false, t0() + secs(5))
            .unwrap();
        assert_eq!(again.token, bad.token, "the same failing token comes back");
        let forced = book
            .stable(APP, true, &rules(), &mut rng, false, t0() + secs(6))
            .unwrap();
        assert_eq!(book.check(Some(&forced.token), t0() + secs(6)), Ok(APP));
    }

    #[test]
    fn revoking_kills_every_token_of_the_app_only() {
        let (mut book, mut rng) = (TokenBook::default(), StdRng::seed_from_u64(1));
        let classic = book.classic(APP, &rules(), &mut rng, false, t0()).unwrap();
        let stable = book
            .stable(APP, false, &rules(), &mut rng, false, t0())
            .unwrap();
        let other = book
            .classic("wx0000000000000002", &rules(), &mut rng, false, t0())
            .unwrap();
        assert_eq!(book.revoke(APP, t0() + secs(10)), 2);
        assert_eq!(
            book.check(Some(&classic.token), t0() + secs(10)),
            Err(40001)
        );
        assert_eq!(book.check(Some(&stable.token), t0() + secs(10)), Err(40001));
        assert_eq!(
            book.check(Some(&other.token), t0() + secs(10)),
            Ok("wx0000000000000002")
        );
        let fresh = book
            .stable(APP, false, &rules(), &mut rng, false, t0() + secs(11))
            .unwrap();
        assert_ne!(
            fresh.token, stable.token,
            "a revoked token is not handed out again"
        );
    }
}
