//! A fast, strict JSON-object reader for the payload structs.
//!
//! `#[serde(flatten)]` into a map buffers every field into serde's generic `Content` and
//! then re-deserialises it, which roughly doubles the parse time of a payload. Instead each
//! payload struct lists its JSON field names; one generic visitor reads keys as borrowed
//! `&str` where the input allows, fills the known fields with their strict types, reads the
//! watermark, and keeps every other field verbatim as a [`RawValue`] so it serialises back
//! byte for byte.
//!
//! Duplicate keys are refused (a known field, the watermark, or an unknown key twice):
//! WeChat never sends them, and "last one wins" would let two readers of the same plaintext
//! disagree.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap};
use serde_json::value::RawValue;

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

/// A payload struct readable by [`deserialize_object`].
pub(crate) trait Object: Default {
    /// What the visitor says it expected, for error messages.
    const EXPECTING: &'static str;
    /// The JSON names of the known fields; a field's index is its bit in the "seen" mask.
    const FIELDS: &'static [&'static str];
    /// Mask of the fields that must be present.
    const REQUIRED: u32;
    /// Whether a `watermark` key is read as the watermark (else it is just unknown).
    const HAS_WATERMARK: bool;

    /// Reads the value of known field number `index` into `self`.
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        index: usize,
        map: &mut A,
    ) -> Result<(), A::Error>;

    /// Stores what the visitor collected besides the known fields.
    fn finish(&mut self, watermark: Option<Watermark>, extra: Extra);
}

/// Deserialises a payload struct from a JSON object (anything else is an error).
pub(crate) fn deserialize_object<'de, T: Object, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    deserializer.deserialize_map(ObjectVisitor(PhantomData))
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Object> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut out = T::default();
        let mut seen: u32 = 0;
        let mut watermark: Option<Watermark> = None;
        let mut extra = Extra::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if let Some(index) = T::FIELDS.iter().position(|f| *f == key) {
                let bit = 1u32 << index;
                if seen & bit != 0 {
                    return Err(de::Error::duplicate_field(T::FIELDS[index]));
                }
                seen |= bit;
                out.read_field(index, &mut map)?;
            } else if T::HAS_WATERMARK && key == "watermark" {
                if watermark.is_some() {
                    return Err(de::Error::duplicate_field("watermark"));
                }
                watermark = Some(map.next_value()?);
            } else {
                let value: Box<RawValue> = map.next_value()?;
                if !extra.insert(key, value) {
                    return Err(de::Error::custom("duplicate key"));
                }
            }
        }
        let missing = T::REQUIRED & !seen;
        if missing != 0 {
            return Err(de::Error::missing_field(
                T::FIELDS[missing.trailing_zeros() as usize],
            ));
        }
        out.finish(watermark, extra);
        Ok(out)
    }
}

/// An object key, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// `countryCode` arrives as a string in the old phone payload and as a number elsewhere;
/// wxlogin always hands it on as a string.
pub(crate) struct StringOrInteger(pub(crate) String);

impl<'de> Deserialize<'de> for StringOrInteger {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StringOrInteger;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an integer")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StringOrInteger, E> {
                Ok(StringOrInteger(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<StringOrInteger, E> {
                Ok(StringOrInteger(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StringOrInteger, E> {
                Ok(StringOrInteger(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StringOrInteger, E> {
                Ok(StringOrInteger(v.to_string()))
            }
        }
        deserializer.deserialize_any(V)
    }
}
