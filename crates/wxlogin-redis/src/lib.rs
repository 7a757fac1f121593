//! Cluster coordination on Redis: the [`Coordinator`] the domain asks for, and nothing more.
//!
//! Redis holds no session and nothing that must survive it: locks, counters and "seen" marks
//! that all expire by themselves, and a pub/sub channel of hints. Flushing it, restarting it
//! or losing it loses no data; the domain falls back to per-instance behaviour while it is
//! away (see `wxlogin_domain::coordination`).
//!
//! Every command is bounded by the configured command timeout, and a timeout is reported like
//! a disconnect: a frozen Redis (SIGSTOP keeps its sockets open, so nothing ever fails by
//! itself) must not freeze a login. The connection is (re)made lazily, so a server started
//! while Redis is down works and picks Redis up when it appears.
//!
//! Keys (all under the configured prefix, `wxlogin:` by default):
//! `lock:NAME` (holder token, PX ttl), `once:KEY` (PX ttl), `rate:KEY:WINDOW` (counter,
//! expires after two windows), and the channel `events`.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::broadcast;
use tracing::{debug, info, warn};
use wxlogin_domain::{ClusterEvent, CoordinationError, Coordinator};

/// How the coordinator talks to Redis.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// Longest wait for any one command; past it the command counts as failed.
    pub command_timeout: Duration,
    /// Longest wait for a (re)connection.
    pub connect_timeout: Duration,
    /// Prefix of every key and channel.
    pub key_prefix: String,
}

/// Releases a lock only if the caller still holds it.
const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// Events kept for slow subscribers; older ones are dropped (they are hints).
const EVENT_BUFFER: usize = 1024;
/// Pause before re-subscribing after the event connection broke.
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(500);

/// The Redis coordinator. Cheap to share behind an `Arc`.
pub struct RedisCoordinator {
    client: redis::Client,
    settings: RedisSettings,
    connection: Mutex<Option<ConnectionManager>>,
    events: broadcast::Sender<ClusterEvent>,
    unlock: redis::Script,
}

impl fmt::Debug for RedisCoordinator {
    // The URL may hold a password: never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCoordinator")
            .field("key_prefix", &self.settings.key_prefix)
            .finish_non_exhaustive()
    }
}

fn unavailable(what: &str, error: &redis::RedisError) -> CoordinationError {
    // The error's Display can include the address; keep only its kind.
    CoordinationError(format!("{what}: {:?}", error.kind()))
}

impl RedisCoordinator {
    /// Parses `url` and starts the event subscriber. Does not need Redis to be up: the
    /// connection is made on first use and remade after failures.
    pub fn start(url: &str, settings: RedisSettings) -> Result<Arc<Self>, CoordinationError> {
        let client = redis::Client::open(url)
            .map_err(|_| CoordinationError("redis_url is not a valid Redis URL".into()))?;
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let coordinator = Arc::new(Self {
            client,
            settings,
            connection: Mutex::new(None),
            events,
            unlock: redis::Script::new(UNLOCK),
        });
        tokio::spawn(Self::relay_events(Arc::downgrade(&coordinator)));
        Ok(coordinator)
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}:{name}", self.settings.key_prefix)
    }

    fn channel(&self) -> String {
        format!("{}events", self.settings.key_prefix)
    }

    /// The shared connection, connecting if there is none.
    async fn connection(&self) -> Result<ConnectionManager, CoordinationError> {
        if let Some(connection) = self
            .connection
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Ok(connection);
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.settings.connect_timeout))
            .set_response_timeout(Some(self.settings.command_timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let connecting = self.client.get_connection_manager_with_config(config);
        let connection = tokio::time::timeout(self.settings.connect_timeout, connecting)
            .await
            .map_err(|_| CoordinationError("connecting to Redis timed out".into()))?
            .map_err(|e| unavailable("connecting to Redis", &e))?;
        info!("connected to Redis");
        *self.connection.lock().unwrap_or_else(|e| e.into_inner()) = Some(connection.clone());
        Ok(connection)
    }

    /// Runs one command under the command timeout.
    async fn run<T: redis::FromRedisValue>(
        &self,
        what: &str,
        command: &redis::Cmd,
    ) -> Result<T, CoordinationError> {
        let mut connection = self.connection().await?;
        match tokio::time::timeout(
            self.settings.command_timeout,
            command.query_async(&mut connection),
        )
        .await
        {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(unavailable(what, &error)),
            Err(_) => Err(CoordinationError(format!(
                "{what}: Redis did not answer in time"
            ))),
        }
    }

    /// Forwards messages of the events channel to subscribers until the coordinator is
    /// dropped, re-subscribing after every failure. After each (re)subscription it emits
    /// `SessionsEnded`: messages may have been missed meanwhile, and that one makes every
    /// listener re-read the store.
    async fn relay_events(this: std::sync::Weak<Self>) {
        loop {
            let Some(coordinator) = this.upgrade() else {
                return;
            };
            let channel = coordinator.channel();
            let client = coordinator.client.clone();
            let timeout = coordinator.settings.connect_timeout;
            let events = coordinator.events.clone();
            drop(coordinator);
            match tokio::time::timeout(timeout, client.get_async_pubsub()).await {
                Ok(Ok(mut pubsub)) => match pubsub.subscribe(&channel).await {
                    Ok(()) => {
                        debug!("subscribed to cluster events");
                        let _ = events.send(ClusterEvent::SessionsEnded);
                        let mut messages = pubsub.into_on_message();
                        while let Some(message) = messages.next().await {
                            if this.strong_count() == 0 {
                                return;
                            }
                            let payload: String = message.get_payload().unwrap_or_default();
                            match parse_event(&payload) {
                                Some(event) => {
                                    let _ = events.send(event);
                                }
                                None => debug!("ignoring an unknown cluster event"),
                            }
                        }
                        warn!("cluster event subscription ended; re-subscribing");
                    }
                    Err(error) => {
                        debug!(kind = ?error.kind(), "cannot subscribe to cluster events")
                    }
                },
                Ok(Err(error)) => debug!(kind = ?error.kind(), "cannot connect for cluster events"),
                Err(_) => debug!("connecting for cluster events timed out"),
            }
            tokio::time::sleep(RESUBSCRIBE_DELAY).await;
        }
    }
}

fn encode_event(event: &ClusterEvent) -> String {
    match event {
        ClusterEvent::SessionsEnded => "sessions-ended".to_owned(),
        ClusterEvent::KeyRingChanged(user_id) => format!("key-ring:{user_id}"),
    }
}

fn parse_event(payload: &str) -> Option<ClusterEvent> {
    if payload == "sessions-ended" {
        return Some(ClusterEvent::SessionsEnded);
    }
    let user_id = payload.strip_prefix("key-ring:")?;
    uuid::Uuid::parse_str(user_id)
        .ok()
        .map(ClusterEvent::KeyRingChanged)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

#[async_trait]
impl Coordinator for RedisCoordinator {
    async fn try_lock(
        &self,
        name: &str,
        ttl: Duration,
    ) -> Result<Option<String>, CoordinationError> {
        let holder = uuid::Uuid::new_v4().simple().to_string();
        let mut command = redis::cmd("SET");
        command
            .arg(self.key("lock", name))
            .arg(&holder)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl));
        let taken: Option<String> = self.run("lock", &command).await?;
        Ok(taken.map(|_| holder))
    }

    async fn unlock(&self, name: &str, holder: &str) -> Result<(), CoordinationError> {
        let mut connection = self.connection().await?;
        let mut invocation = self.unlock.key(self.key("lock", name));
        invocation.arg(holder);
        match tokio::time::timeout(
            self.settings.command_timeout,
            invocation.invoke_async::<i64>(&mut connection),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(unavailable("unlock", &error)),
            Err(_) => Err(CoordinationError(
                "unlock: Redis did not answer in time".into(),
            )),
        }
    }

    async fn mark_once(&self, key: &str, ttl: Duration) -> Result<bool, CoordinationError> {
        let mut command = redis::cmd("SET");
        command
            .arg(self.key("once", key))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl));
        let set: Option<String> = self.run("mark", &command).await?;
        Ok(set.is_some())
    }

    async fn count(
        &self,
        key: &str,
        window: Duration,
        now_ms: i64,
    ) -> Result<u64, CoordinationError> {
        let window_ms = millis(window);
        let index = u64::try_from(now_ms).unwrap_or(0) / window_ms;
        let counter = self.key("rate", &format!("{key}:{index}"));
        let mut connection = self.connection().await?;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .incr(&counter, 1u64)
            .cmd("PEXPIRE")
            .arg(&counter)
            .arg(window_ms.saturating_mul(2))
            .ignore();
        match tokio::time::timeout(
            self.settings.command_timeout,
            pipe.query_async::<(u64,)>(&mut connection),
        )
        .await
        {
            Ok(Ok((count,))) => Ok(count),
            Ok(Err(error)) => Err(unavailable("count", &error)),
            Err(_) => Err(CoordinationError(
                "count: Redis did not answer in time".into(),
            )),
        }
    }

    async fn peek(
        &self,
        key: &str,
        window: Duration,
        now_ms: i64,
    ) -> Result<u64, CoordinationError> {
        let index = u64::try_from(now_ms).unwrap_or(0) / millis(window);
        let mut command = redis::cmd("GET");
        command.arg(self.key("rate", &format!("{key}:{index}")));
        let count: Option<u64> = self.run("peek", &command).await?;
        Ok(count.unwrap_or(0))
    }

    async fn publish(&self, event: ClusterEvent) -> Result<(), CoordinationError> {
        let mut command = redis::cmd("PUBLISH");
        command.arg(self.channel()).arg(encode_event(&event));
        let _receivers: u64 = self.run("publish", &command).await?;
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<ClusterEvent> {
        self.events.subscribe()
    }

    async fn ping(&self) -> Result<(), CoordinationError> {
        let _: String = self.run("ping", &redis::cmd("PING")).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_junk_is_ignored() {
        let user = uuid::Uuid::from_u128(7);
        for event in [
            ClusterEvent::SessionsEnded,
            ClusterEvent::KeyRingChanged(user),
        ] {
            assert_eq!(parse_event(&encode_event(&event)), Some(event));
        }
        assert_eq!(parse_event("key-ring:not-a-uuid"), None);
        assert_eq!(parse_event(""), None);
    }

    #[tokio::test]
    async fn debug_never_shows_the_url() {
        let coordinator = RedisCoordinator::start(
            "redis://:pw-secret@127.0.0.1:1/0",
            RedisSettings {
                command_timeout: Duration::from_millis(100),
                connect_timeout: Duration::from_millis(100),
                key_prefix: "t:".into(),
            },
        )
        .unwrap();
        assert!(!format!("{coordinator:?}").contains("pw-secret"));
        // Nothing listens on port 1: an error, quickly, without the password.
        let error = coordinator.ping().await.unwrap_err();
        assert!(!error.to_string().contains("pw-secret"));
    }
}
