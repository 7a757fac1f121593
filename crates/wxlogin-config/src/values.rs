//! Lenient decoders for values that arrive as text from the environment.
//!
//! An environment variable has no types: `WXLOGIN_WECHAT__TIMEOUT=5` reaches us as a number,
//! `="5s"` as a string, and an all-digit secret as a number. These helpers accept what a person
//! would reasonably write.

use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, de};

#[derive(Deserialize)]
#[serde(untagged)]
enum DurationText {
    Seconds(f64),
    Text(String),
}

/// A duration written as seconds (`5`, `0.5`) or in human units (`"500ms"`, `"7days"`).
pub fn deserialize_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    match DurationText::deserialize(d)? {
        DurationText::Seconds(secs) => Duration::try_from_secs_f64(secs)
            .map_err(|_| de::Error::custom(format!("{secs} is not a valid number of seconds"))),
        DurationText::Text(text) => humantime::parse_duration(text.trim()).map_err(|e| {
            de::Error::custom(format!(
                "`{text}` is not a duration ({e}); write seconds or e.g. \"500ms\", \"5s\", \"7days\""
            ))
        }),
    }
}

/// As [`deserialize_duration`], for an optional setting.
pub fn deserialize_optional_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    deserialize_duration(d).map(Some)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SecretText {
    Text(String),
    Integer(u64),
}

/// An optional secret that may have been parsed as a number from the environment.
pub fn deserialize_optional_secret<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<SecretString>, D::Error> {
    let text = match Option::<SecretText>::deserialize(d)
        .map_err(|_| de::Error::custom("a secret must be a string"))?
    {
        None => return Ok(None),
        Some(SecretText::Text(text)) => text,
        Some(SecretText::Integer(n)) => n.to_string(),
    };
    if text.is_empty() {
        return Err(de::Error::custom("a secret must not be empty"));
    }
    Ok(Some(SecretString::from(text)))
}
