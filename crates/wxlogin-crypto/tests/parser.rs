//! The payload reader against serde_json. An oracle written with serde_json applies the same
//! rules (strict types, duplicates refused, unknown fields kept verbatim, watermark read and
//! removed); on valid, mutated and token-soup payloads, `Decrypted::parse` must accept exactly
//! what the oracle accepts and hand on exactly the JSON the oracle builds.

use std::collections::HashSet;
use std::fmt;

use proptest::prelude::*;
use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::value::RawValue;
use wxlogin_crypto::{Decrypted, PayloadKind, Watermark};

/// What a known field takes.
#[derive(Clone, Copy)]
enum Ty {
    Str,
    I64,
    StrOrInt,
    Steps,
}

/// A known field: name, type, and what is written when it is absent (`None`: nothing; a
/// required field has no absent case).
type Field = (&'static str, Ty, Absent);

#[derive(Clone, Copy)]
enum Absent {
    Required,
    Omitted,
    Default(&'static str),
}

const USER_INFO: &[Field] = &[
    ("openId", Ty::Str, Absent::Omitted),
    ("nickName", Ty::Str, Absent::Required),
    ("gender", Ty::I64, Absent::Default("0")),
    ("language", Ty::Str, Absent::Default("\"\"")),
    ("city", Ty::Str, Absent::Default("\"\"")),
    ("province", Ty::Str, Absent::Default("\"\"")),
    ("country", Ty::Str, Absent::Default("\"\"")),
    ("avatarUrl", Ty::Str, Absent::Default("\"\"")),
    ("unionId", Ty::Str, Absent::Omitted),
];
const PHONE: &[Field] = &[
    ("phoneNumber", Ty::Str, Absent::Required),
    ("purePhoneNumber", Ty::Str, Absent::Required),
    ("countryCode", Ty::StrOrInt, Absent::Required),
];
const SHARE: &[Field] = &[("openGId", Ty::Str, Absent::Required)];
const GROUP_ENTER: &[Field] = &[
    ("opengid", Ty::Str, Absent::Omitted),
    ("open_single_roomid", Ty::Str, Absent::Omitted),
    ("group_openid", Ty::Str, Absent::Omitted),
    ("chat_type", Ty::I64, Absent::Required),
];
const WERUN: &[Field] = &[("stepInfoList", Ty::Steps, Absent::Required)];
const STEP: &[Field] = &[
    ("timestamp", Ty::I64, Absent::Required),
    ("step", Ty::I64, Absent::Required),
];

fn fields(kind: PayloadKind) -> &'static [Field] {
    match kind {
        PayloadKind::UserInfo => USER_INFO,
        PayloadKind::Phone => PHONE,
        PayloadKind::Share => SHARE,
        PayloadKind::GroupEnter => GROUP_ENTER,
        PayloadKind::WeRun => WERUN,
    }
}

/// An object's entries in order, duplicates kept, values as their raw text.
struct Entries(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The oracle: what wxlogin must hand on (the payload's JSON without the watermark) and the
/// watermark, or `None` if the payload must be refused.
fn oracle(kind: PayloadKind, text: &str) -> Option<(String, Option<Watermark>)> {
    let Entries(entries) = serde_json::from_str(text).ok()?;
    object(fields(kind), true, entries)
}

fn object(
    fields: &[Field],
    has_watermark: bool,
    entries: Vec<(String, Box<RawValue>)>,
) -> Option<(String, Option<Watermark>)> {
    let mut known: Vec<Option<String>> = vec![None; fields.len()];
    let mut watermark = None;
    let mut extra: Vec<String> = Vec::new();
    let mut extra_keys = HashSet::new();
    for (key, raw) in entries {
        let raw = raw.get();
        if let Some(i) = fields.iter().position(|f| f.0 == key) {
            if known[i].is_some() {
                return None;
            }
            known[i] = Some(match fields[i].1 {
                Ty::Str => {
                    serde_json::to_string(&serde_json::from_str::<String>(raw).ok()?).ok()?
                }
                Ty::I64 => serde_json::from_str::<i64>(raw).ok()?.to_string(),
                Ty::StrOrInt => serde_json::to_string(&string_or_int(raw)?).ok()?,
                Ty::Steps => {
                    let items: Vec<Box<RawValue>> = serde_json::from_str(raw).ok()?;
                    let mut steps = Vec::new();
                    for item in items {
                        let Entries(e) = serde_json::from_str(item.get()).ok()?;
                        steps.push(object(STEP, false, e)?.0);
                    }
                    format!("[{}]", steps.join(","))
                }
            });
        } else if has_watermark && key == "watermark" {
            // serde's derive would also take `["wx…", 1]`; wxlogin wants the object.
            if watermark.is_some() || !raw.starts_with('{') {
                return None;
            }
            watermark = Some(serde_json::from_str::<Watermark>(raw).ok()?);
        } else {
            if !extra_keys.insert(key.clone()) {
                return None;
            }
            extra.push(format!("{}:{raw}", serde_json::to_string(&key).ok()?));
        }
    }
    let mut parts = Vec::new();
    for (field, value) in fields.iter().zip(known) {
        let name = serde_json::to_string(field.0).ok()?;
        match (value, field.2) {
            (Some(v), _) => parts.push(format!("{name}:{v}")),
            (None, Absent::Required) => return None,
            (None, Absent::Omitted) => {}
            (None, Absent::Default(d)) => parts.push(format!("{name}:{d}")),
        }
    }
    parts.extend(extra);
    Some((format!("{{{}}}", parts.join(",")), watermark))
}

/// `countryCode`: a string, or an integer serde_json reads as u64 or i64.
fn string_or_int(raw: &str) -> Option<String> {
    if let Ok(s) = serde_json::from_str::<String>(raw) {
        return Some(s);
    }
    match serde_json::from_str::<serde_json::Number>(raw).ok()? {
        n if n.is_u64() || n.is_i64() => Some(n.to_string()),
        _ => None,
    }
}

/// What wxlogin does with the same text.
fn ours(kind: PayloadKind, text: &str) -> Option<(String, Option<Watermark>)> {
    let d = Decrypted::parse(kind, text).ok()?;
    Some((d.to_json(), d.watermark().cloned()))
}

fn template(kind: PayloadKind) -> &'static str {
    match kind {
        PayloadKind::UserInfo => {
            r#"{"openId":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/aSKcBB/0","unionId":"ocMvos6NjeKLIBqg5Mr9QjxrP1FA","is_demote":true,"watermark":{"timestamp":1477314187,"appid":"wx4f4bc4dec97d474b"}}"#
        }
        PayloadKind::Phone => {
            r#"{"phoneNumber":"+1 5550100","purePhoneNumber":"5550100","countryCode":"1","watermark":{"timestamp":1,"appid":"wx0123456789abcdef"}}"#
        }
        PayloadKind::Share => {
            r#"{"openGId":"tG0000SIMU","x":[1,{"a":null}],"watermark":{"appid":"wx0123456789abcdef","timestamp":1}}"#
        }
        PayloadKind::GroupEnter => {
            r#"{"opengid":"g","group_openid":"o","chat_type":3,"watermark":{"timestamp":1,"appid":"wx0123456789abcdef"}}"#
        }
        PayloadKind::WeRun => {
            r#"{"stepInfoList":[{"timestamp":1699977600,"step":1234},{"timestamp":1700064000,"step":5678,"x":"y"}],"watermark":{"timestamp":1700000000,"appid":"wx0123456789abcdef"}}"#
        }
    }
}

/// The template with whitespace around every token (keys reordered: still a payload).
fn pretty_template(kind: PayloadKind) -> String {
    let value: serde_json::Value =
        serde_json::from_str(template(kind)).expect("templates are JSON");
    serde_json::to_string_pretty(&value).expect("a value serialises")
}

/// Pieces that make interesting JSON when spliced in anywhere.
const PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    " ",
    "\n",
    "\t",
    "\u{1}",
    "\u{7f}",
    "0",
    "-",
    "-0",
    "01",
    "1.5",
    "1e2",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "true",
    "null",
    "fals",
    "\\u00e9",
    "\\ud83d\\ude00",
    "\\ud800",
    "\\udc00",
    "\\u12G4",
    "\\x",
    "\\/",
    "微",
    "😀",
    "\"nickName\":\"n\"",
    "\"watermark\"",
    "\"appid\":\"wx0123456789abcdef\"",
    "\"timestamp\":1",
    "\"countryCode\":86",
    "\"nick\\u004eame\"",
    "\"x\":1",
    "\"chat_type\":3",
    "[[[]]]",
    "{\"a\":{}}",
];

#[derive(Debug, Clone)]
enum Edit {
    Insert(prop::sample::Index, &'static str),
    Delete(prop::sample::Index, usize),
    Replace(prop::sample::Index, &'static str),
}

fn edit() -> impl Strategy<Value = Edit> {
    let piece = prop::sample::select(PIECES);
    prop_oneof![
        (any::<prop::sample::Index>(), piece.clone()).prop_map(|(i, p)| Edit::Insert(i, p)),
        (any::<prop::sample::Index>(), 1usize..6).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<prop::sample::Index>(), piece).prop_map(|(i, p)| Edit::Replace(i, p)),
    ]
}

/// Applies edits at character positions, so the text stays a `str`.
fn mutate(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<String> = text.chars().map(String::from).collect();
    for e in edits {
        let len = chars.len() + 1;
        match e {
            Edit::Insert(i, p) => chars.insert(i.index(len), (*p).to_owned()),
            Edit::Delete(i, n) => {
                let at = i.index(len).min(chars.len());
                let end = (at + n).min(chars.len());
                chars.drain(at..end);
            }
            Edit::Replace(i, p) if !chars.is_empty() => {
                let at = i.index(chars.len());
                chars[at] = (*p).to_owned();
            }
            Edit::Replace(..) => {}
        }
    }
    chars.concat()
}

fn kind() -> impl Strategy<Value = PayloadKind> {
    prop::sample::select(PayloadKind::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn mutated_payloads_agree_with_serde_json(
        kind in kind(),
        pretty in any::<bool>(),
        edits in prop::collection::vec(edit(), 0..4),
    ) {
        let text = if pretty { pretty_template(kind) } else { template(kind).to_owned() };
        let text = mutate(&text, &edits);
        prop_assert_eq!(ours(kind, &text), oracle(kind, &text), "{}", text);
    }

    #[test]
    fn token_soup_agrees_with_serde_json(
        kind in kind(),
        pieces in prop::collection::vec(prop::sample::select(PIECES), 0..24),
    ) {
        let text = format!("{{{}}}", pieces.concat());
        prop_assert_eq!(ours(kind, &text), oracle(kind, &text), "{}", text);
    }
}

#[test]
fn the_templates_are_accepted() {
    for kind in PayloadKind::ALL {
        for text in [template(kind).to_owned(), pretty_template(kind)] {
            assert!(ours(kind, &text).is_some(), "{kind}: {text}");
            assert_eq!(ours(kind, &text), oracle(kind, &text), "{kind}");
        }
    }
}

#[test]
fn whitespace_and_escapes_everywhere_agree() {
    let text = " {\n\t\"nick\\u004eame\" : \"B\\u00e9nd \\ud83d\\ude00\\n\" ,\r\"watermark\": { \"appid\" :\"wx0123456789abcdef\", \"x\": [ ] , \"timestamp\" : -1 } , \"\" : { } } \n";
    let got = ours(PayloadKind::UserInfo, text);
    assert!(got.is_some());
    assert_eq!(got, oracle(PayloadKind::UserInfo, text));
}
