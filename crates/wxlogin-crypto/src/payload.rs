//! The decrypted payloads of §6.3, typed, with unknown fields kept.
//!
//! Each struct reads WeChat's field names, is strict on the types §6.3 documents, tolerant
//! of the fields the 2022 user-info changes stopped sending, and serialises back with the
//! same names — minus the watermark, which wxlogin checks and removes.

use std::fmt;
use std::str::FromStr;

use serde::de::{Deserialize, Deserializer, MapAccess};
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::object::{Extra, Object, StringOrInteger, deserialize_object};

/// Which client API produced the encryptedData; decides the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadKind {
    /// `wx.getUserInfo` / `wx.getUserProfile` / the getUserInfo button.
    UserInfo,
    /// The old phone-number button flow (`bindgetphonenumber`).
    Phone,
    /// `wx.getShareInfo`.
    Share,
    /// `wx.getGroupEnterInfo`.
    GroupEnter,
    /// `wx.getWeRunData`.
    WeRun,
}

impl PayloadKind {
    /// Every kind, in documentation order.
    pub const ALL: [PayloadKind; 5] = [
        PayloadKind::UserInfo,
        PayloadKind::Phone,
        PayloadKind::Share,
        PayloadKind::GroupEnter,
        PayloadKind::WeRun,
    ];

    /// The API's name for the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadKind::UserInfo => "user_info",
            PayloadKind::Phone => "phone",
            PayloadKind::Share => "share",
            PayloadKind::GroupEnter => "group_enter",
            PayloadKind::WeRun => "werun",
        }
    }

    /// Whether a payload of this kind without a watermark is refused (§6.3: required for user
    /// info and phone, tolerated for share, group-enter and WeRun, whose docs omit it).
    pub fn requires_watermark(self) -> bool {
        matches!(self, PayloadKind::UserInfo | PayloadKind::Phone)
    }
}

impl fmt::Display for PayloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of `user_info`, `phone`, `share`, `group_enter`, `werun`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown payload kind (expected user_info, phone, share, group_enter or werun)")]
pub struct UnknownKind;

impl FromStr for PayloadKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, UnknownKind> {
        PayloadKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(UnknownKind)
    }
}

/// `{"appid", "timestamp"}`: which app the data was produced for, and when (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Watermark {
    /// The mini-program's appid.
    pub appid: String,
    /// When WeChat produced the data, in Unix seconds.
    pub timestamp: i64,
}

/// A decrypted, validated payload. Serialises as the payload object without its watermark.
#[derive(Debug, Clone, PartialEq)]
pub enum Decrypted {
    /// §6.3 (a).
    UserInfo(UserInfo),
    /// §6.3 (b).
    Phone(PhoneNumber),
    /// §6.3 (c).
    Share(ShareInfo),
    /// §6.3 (d).
    GroupEnter(GroupEnterInfo),
    /// §6.3 (e).
    WeRun(WeRunData),
}

impl Decrypted {
    /// Parses a plaintext as `kind` (no watermark check: see [`crate::decrypt`]).
    pub fn parse(kind: PayloadKind, json: &str) -> Result<Decrypted, serde_json::Error> {
        Ok(match kind {
            PayloadKind::UserInfo => Decrypted::UserInfo(serde_json::from_str(json)?),
            PayloadKind::Phone => Decrypted::Phone(serde_json::from_str(json)?),
            PayloadKind::Share => Decrypted::Share(serde_json::from_str(json)?),
            PayloadKind::GroupEnter => Decrypted::GroupEnter(serde_json::from_str(json)?),
            PayloadKind::WeRun => Decrypted::WeRun(serde_json::from_str(json)?),
        })
    }

    /// The kind this payload was parsed as.
    pub fn kind(&self) -> PayloadKind {
        match self {
            Decrypted::UserInfo(_) => PayloadKind::UserInfo,
            Decrypted::Phone(_) => PayloadKind::Phone,
            Decrypted::Share(_) => PayloadKind::Share,
            Decrypted::GroupEnter(_) => PayloadKind::GroupEnter,
            Decrypted::WeRun(_) => PayloadKind::WeRun,
        }
    }

    /// The watermark, if the payload had one (always, after a successful
    /// [`crate::decrypt`] of a user-info or phone payload).
    pub fn watermark(&self) -> Option<&Watermark> {
        match self {
            Decrypted::UserInfo(p) => p.watermark.as_ref(),
            Decrypted::Phone(p) => p.watermark.as_ref(),
            Decrypted::Share(p) => p.watermark.as_ref(),
            Decrypted::GroupEnter(p) => p.watermark.as_ref(),
            Decrypted::WeRun(p) => p.watermark.as_ref(),
        }
    }

    /// The payload as compact JSON, without the watermark: the API's `data`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("payloads always serialise")
    }
}

impl Serialize for Decrypted {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Decrypted::UserInfo(p) => p.serialize(serializer),
            Decrypted::Phone(p) => p.serialize(serializer),
            Decrypted::Share(p) => p.serialize(serializer),
            Decrypted::GroupEnter(p) => p.serialize(serializer),
            Decrypted::WeRun(p) => p.serialize(serializer),
        }
    }
}

/// Implements `Deserialize` through the shared object visitor.
macro_rules! deserialize_via_object {
    ($($t:ty),*) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserialize_object(deserializer)
            }
        }
    )*};
}
deserialize_via_object!(
    UserInfo,
    PhoneNumber,
    ShareInfo,
    GroupEnterInfo,
    WeRunData,
    StepInfo
);

/// Shows that an optional identifier is there without showing it.
fn redact_opt(v: &Option<String>) -> &'static str {
    if v.is_some() {
        "Some(<redacted>)"
    } else {
        "None"
    }
}

/// User info (§6.3 a). Fields the 2022 changes stopped filling may be absent: they read as
/// `0` / `""` then. `nickName` is always sent, so it is required (it also keeps a payload of
/// another kind from passing as user info).
#[derive(Clone, Default, PartialEq)]
pub struct UserInfo {
    /// `openId` (camelCase here); absent in getUserProfile payloads. Never trust it for
    /// identity: identity comes from jscode2session.
    pub open_id: Option<String>,
    /// `nickName`.
    pub nick_name: String,
    /// `gender`: 0 unknown, 1 male, 2 female.
    pub gender: i64,
    /// `language`.
    pub language: String,
    /// `city`.
    pub city: String,
    /// `province`.
    pub province: String,
    /// `country`.
    pub country: String,
    /// `avatarUrl`.
    pub avatar_url: String,
    /// `unionId`, only when the app is bound to an Open Platform account.
    pub union_id: Option<String>,
    /// The watermark (not serialised).
    pub watermark: Option<Watermark>,
    /// Fields wxlogin does not model, kept verbatim.
    pub extra: Extra,
}

impl Object for UserInfo {
    const EXPECTING: &'static str = "a user info object";
    const FIELDS: &'static [&'static str] = &[
        "openId",
        "nickName",
        "gender",
        "language",
        "city",
        "province",
        "country",
        "avatarUrl",
        "unionId",
    ];
    const REQUIRED: u32 = 1 << 1;
    const HAS_WATERMARK: bool = true;

    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        i: usize,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match i {
            0 => self.open_id = Some(map.next_value()?),
            1 => self.nick_name = map.next_value()?,
            2 => self.gender = map.next_value()?,
            3 => self.language = map.next_value()?,
            4 => self.city = map.next_value()?,
            5 => self.province = map.next_value()?,
            6 => self.country = map.next_value()?,
            7 => self.avatar_url = map.next_value()?,
            _ => self.union_id = Some(map.next_value()?),
        }
        Ok(())
    }

    fn finish(&mut self, watermark: Option<Watermark>, extra: Extra) {
        self.watermark = watermark;
        self.extra = extra;
    }
}

impl Serialize for UserInfo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(v) = &self.open_id {
            map.serialize_entry("openId", v)?;
        }
        map.serialize_entry("nickName", &self.nick_name)?;
        map.serialize_entry("gender", &self.gender)?;
        map.serialize_entry("language", &self.language)?;
        map.serialize_entry("city", &self.city)?;
        map.serialize_entry("province", &self.province)?;
        map.serialize_entry("country", &self.country)?;
        map.serialize_entry("avatarUrl", &self.avatar_url)?;
        if let Some(v) = &self.union_id {
            map.serialize_entry("unionId", v)?;
        }
        self.extra.serialize_into(&mut map)?;
        map.end()
    }
}

impl fmt::Debug for UserInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserInfo")
            .field("open_id", &format_args!("{}", redact_opt(&self.open_id)))
            .field("nick_name", &self.nick_name)
            .field("gender", &self.gender)
            .field("language", &self.language)
            .field("city", &self.city)
            .field("province", &self.province)
            .field("country", &self.country)
            .field("avatar_url", &self.avatar_url)
            .field("union_id", &format_args!("{}", redact_opt(&self.union_id)))
            .field("watermark", &self.watermark)
            .field("extra", &self.extra)
            .finish()
    }
}

/// Phone number, old button flow (§6.3 b). All three fields are required.
#[derive(Clone, Default, PartialEq)]
pub struct PhoneNumber {
    /// `phoneNumber`, with the country code for foreign numbers.
    pub phone_number: String,
    /// `purePhoneNumber`, without the country code.
    pub pure_phone_number: String,
    /// `countryCode`: read as a string or a number, always written as a string.
    pub country_code: String,
    /// The watermark (not serialised).
    pub watermark: Option<Watermark>,
    /// Fields wxlogin does not model, kept verbatim.
    pub extra: Extra,
}

impl Object for PhoneNumber {
    const EXPECTING: &'static str = "a phone number object";
    const FIELDS: &'static [&'static str] = &["phoneNumber", "purePhoneNumber", "countryCode"];
    const REQUIRED: u32 = 0b111;
    const HAS_WATERMARK: bool = true;

    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        i: usize,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match i {
            0 => self.phone_number = map.next_value()?,
            1 => self.pure_phone_number = map.next_value()?,
            _ => self.country_code = map.next_value::<StringOrInteger>()?.0,
        }
        Ok(())
    }

    fn finish(&mut self, watermark: Option<Watermark>, extra: Extra) {
        self.watermark = watermark;
        self.extra = extra;
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("phoneNumber", &self.phone_number)?;
        map.serialize_entry("purePhoneNumber", &self.pure_phone_number)?;
        map.serialize_entry("countryCode", &self.country_code)?;
        self.extra.serialize_into(&mut map)?;
        map.end()
    }
}

/// The numbers are personal data: Debug shows only the country code.
impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoneNumber")
            .field("phone_number", &format_args!("<redacted>"))
            .field("pure_phone_number", &format_args!("<redacted>"))
            .field("country_code", &self.country_code)
            .field("watermark", &self.watermark)
            .field("extra", &self.extra)
            .finish()
    }
}

/// Share info (§6.3 c).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShareInfo {
    /// `openGId`: the group's id, unique per mini-program.
    pub open_gid: String,
    /// The watermark, if present (not serialised).
    pub watermark: Option<Watermark>,
    /// Fields wxlogin does not model, kept verbatim.
    pub extra: Extra,
}

impl Object for ShareInfo {
    const EXPECTING: &'static str = "a share info object";
    const FIELDS: &'static [&'static str] = &["openGId"];
    const REQUIRED: u32 = 1;
    const HAS_WATERMARK: bool = true;

    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        _: usize,
        map: &mut A,
    ) -> Result<(), A::Error> {
        self.open_gid = map.next_value()?;
        Ok(())
    }

    fn finish(&mut self, watermark: Option<Watermark>, extra: Extra) {
        self.watermark = watermark;
        self.extra = extra;
    }
}

impl Serialize for ShareInfo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("openGId", &self.open_gid)?;
        self.extra.serialize_into(&mut map)?;
        map.end()
    }
}

/// Group enter info (§6.3 d). `chat_type` is required; which ids are present depends on the
/// chat (a one-to-one chat has `open_single_roomid`, a group `opengid`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupEnterInfo {
    /// `opengid` (lowercase here): id of a multi-person chat.
    pub opengid: Option<String>,
    /// `open_single_roomid`: id of a one-to-one chat.
    pub open_single_roomid: Option<String>,
    /// `group_openid`: the user's id within this group.
    pub group_openid: Option<String>,
    /// `chat_type`.
    pub chat_type: i64,
    /// The watermark, if present (not serialised).
    pub watermark: Option<Watermark>,
    /// Fields wxlogin does not model, kept verbatim.
    pub extra: Extra,
}

impl Object for GroupEnterInfo {
    const EXPECTING: &'static str = "a group enter info object";
    const FIELDS: &'static [&'static str] =
        &["opengid", "open_single_roomid", "group_openid", "chat_type"];
    const REQUIRED: u32 = 1 << 3;
    const HAS_WATERMARK: bool = true;

    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        i: usize,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match i {
            0 => self.opengid = Some(map.next_value()?),
            1 => self.open_single_roomid = Some(map.next_value()?),
            2 => self.group_openid = Some(map.next_value()?),
            _ => self.chat_type = map.next_value()?,
        }
        Ok(())
    }

    fn finish(&mut self, watermark: Option<Watermark>, extra: Extra) {
        self.watermark = watermark;
        self.extra = extra;
    }
}

impl Serialize for GroupEnterInfo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(v) = &self.opengid {
            map.serialize_entry("opengid", v)?;
        }
        if let Some(v) = &self.open_single_roomid {
            map.serialize_entry("open_single_roomid", v)?;
        }
        if let Some(v) = &self.group_openid {
            map.serialize_entry("group_openid", v)?;
        }
        map.serialize_entry("chat_type", &self.chat_type)?;
        self.extra.serialize_into(&mut map)?;
        map.end()
    }
}

/// WeRun data (§6.3 e): the last 31 days of steps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WeRunData {
    /// `stepInfoList`.
    pub step_info_list: Vec<StepInfo>,
    /// The watermark, if present (not serialised).
    pub watermark: Option<Watermark>,
    /// Fields wxlogin does not model, kept verbatim.
    pub extra: Extra,
}

impl Object for WeRunData {
    const EXPECTING: &'static str = "a WeRun object";
    const FIELDS: &'static [&'static str] = &["stepInfoList"];
    const REQUIRED: u32 = 1;
    const HAS_WATERMARK: bool = true;

    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        _: usize,
        map: &mut A,
    ) -> Result<(), A::Error> {
        self.step_info_list = map.next_value()?;
        Ok(())
    }

    fn finish(&mut self, watermark: Option<Watermark>, extra: Extra) {
        self.watermark = watermark;
        self.extra = extra;
    }
}

impl Serialize for WeRunData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("stepInfoList", &self.step_info_list)?;
        self.extra.serialize_into(&mut map)?;
        map.end()
    }
}

/// One day of WeRun steps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepInfo {
    /// `timestamp`, Unix seconds (the start of the day).
    pub timestamp: i64,
    /// `step`.
    pub step: i64,
    /// Fields wxlogin does not model, kept verbatim.
    pub extra: Extra,
}

impl Object for StepInfo {
    const EXPECTING: &'static str = "a step info object";
    const FIELDS: &'static [&'static str] = &["timestamp", "step"];
    const REQUIRED: u32 = 0b11;
    const HAS_WATERMARK: bool = false;

    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        i: usize,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match i {
            0 => self.timestamp = map.next_value()?,
            _ => self.step = map.next_value()?,
        }
        Ok(())
    }

    fn finish(&mut self, _: Option<Watermark>, extra: Extra) {
        self.extra = extra;
    }
}

impl Serialize for StepInfo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("timestamp", &self.timestamp)?;
        map.serialize_entry("step", &self.step)?;
        self.extra.serialize_into(&mut map)?;
        map.end()
    }
}
