//! Reading a payload object: known fields into their typed slots, the watermark, and every
//! other field kept verbatim in [`Extra`].
//!
//! Each payload struct lists its JSON field names; one generic loop over the object's keys
//! ([`read_object`]) fills the known fields with their strict types, reads the watermark, and
//! keeps every other field as a [`RawValue`] so it serialises back byte for byte.
//!
//! Duplicate keys are refused (a known field, the watermark, or an unknown key twice):
//! WeChat never sends them, and "last one wins" would let two readers of the same plaintext
//! disagree.

use std::fmt;

use serde::ser::{Serialize, SerializeMap};
use serde_json::value::RawValue;

use crate::json::{self, Problem, Reader};
use crate::payload::Watermark;

/// The fields of a payload object that wxlogin does not model, in arrival order, each kept
/// as the exact JSON text WeChat sent. They serialise back unchanged.
#[derive(Clone, Default)]
pub struct Extra(Vec<(String, Box<RawValue>)>);

impl Extra {
    /// The raw JSON of an unknown field.
    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| &**v)
    }

    /// Unknown fields in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), &**v))
    }

    /// How many unknown fields there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when every field was a known one.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds an unknown field; `false` (and nothing added) if the key is already present.
    pub fn insert(&mut self, key: impl Into<String>, value: Box<RawValue>) -> bool {
        let key = key.into();
        if self.get(&key).is_some() {
            return false;
        }
        self.0.push((key, value));
        true
    }

    /// Writes the unknown fields into a map being serialised.
    pub(crate) fn serialize_into<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        Ok(())
    }
}

impl PartialEq for Extra {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(&other.0)
                .all(|((ka, va), (kb, vb))| ka == kb && va.get() == vb.get())
    }
}

/// Only the keys: unknown values may be personal data.
impl fmt::Debug for Extra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.0.iter().map(|(k, _)| k))
            .finish()
    }
}

impl Serialize for Extra {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        self.serialize_into(&mut map)?;
        map.end()
    }
}

/// A payload struct readable by [`read_object`].
pub(crate) trait Object: Default {
    /// The JSON names of the known fields; a field's index is its bit in the "seen" mask.
    const FIELDS: &'static [&'static str];
    /// Mask of the fields that must be present.
    const REQUIRED: u32;
    /// Whether a `watermark` key is read as the watermark (else it is just unknown).
    const HAS_WATERMARK: bool;

    /// Reads the value of known field number `index` into `self`.
    fn read_field(&mut self, index: usize, reader: &mut Reader) -> json::Result<()>;

    /// Stores what the loop collected besides the known fields.
    fn finish(&mut self, watermark: Option<Watermark>, extra: Extra);
}

/// Reads a payload struct from a JSON object (anything else is an error) into `out`, which
/// starts as `T::default()`.
pub(crate) fn read_object<T: Object>(out: &mut T, reader: &mut Reader) -> json::Result<()> {
    let mut seen: u32 = 0;
    let mut watermark: Option<Watermark> = None;
    let mut extra = Extra::default();
    reader.object(|reader, key| {
        let name = reader.bytes_at(key);
        if let Some(index) = T::FIELDS.iter().position(|f| f.as_bytes() == name) {
            let bit = 1u32 << index;
            if seen & bit != 0 {
                return Err(reader.error(Problem::Duplicate));
            }
            seen |= bit;
            out.read_field(index, reader)
        } else if T::HAS_WATERMARK && name == b"watermark" {
            if watermark.is_some() {
                return Err(reader.error(Problem::Duplicate));
            }
            watermark = Some(read_watermark(reader)?);
            Ok(())
        } else {
            let key = reader.string_at(key)?;
            let raw = reader.raw_value()?;
            // serde_json checks the text again: a value it would not accept is refused.
            let value = RawValue::from_string(reader.string_at(raw)?)
                .map_err(|_| reader.error(Problem::Syntax))?;
            if extra.insert(key, value) {
                Ok(())
            } else {
                Err(reader.error(Problem::Duplicate))
            }
        }
    })?;
    if T::REQUIRED & !seen != 0 {
        return Err(reader.error(Problem::Missing));
    }
    out.finish(watermark, extra);
    Ok(())
}

/// `{"appid": string, "timestamp": integer}`; other keys are validated and ignored, as
/// serde's derive does. Unlike the derive, the array form (`["wx…", 1]`) is not accepted.
fn read_watermark(reader: &mut Reader) -> json::Result<Watermark> {
    let (mut appid, mut timestamp) = (None, None);
    reader.object(|reader, key| {
        match reader.bytes_at(key) {
            b"appid" if appid.is_none() => {
                let span = reader.string()?;
                appid = Some(reader.string_at(span)?);
            }
            b"timestamp" if timestamp.is_none() => timestamp = Some(reader.i64()?),
            b"appid" | b"timestamp" => return Err(reader.error(Problem::Duplicate)),
            _ => {
                reader.raw_value()?;
            }
        }
        Ok(())
    })?;
    match (appid, timestamp) {
        (Some(appid), Some(timestamp)) => Ok(Watermark { appid, timestamp }),
        _ => Err(reader.error(Problem::Missing)),
    }
}
