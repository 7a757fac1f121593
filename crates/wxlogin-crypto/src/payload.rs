//! The decrypted payloads of §6.3, typed, with unknown fields kept.
//!
//! Each struct reads WeChat's field names, is strict on the types §6.3 documents, tolerant
//! of the fields the 2022 user-info changes stopped sending, and serialises back with the
//! same names — minus the watermark, which wxlogin checks and removes.

use std::fmt;
use std::str::FromStr;

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::json::{self, PayloadError, Reader, Span, Text};
use crate::object::{Extra, Object, read_object};

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
    pub fn parse(kind: PayloadKind, json: &str) -> Result<Decrypted, PayloadError> {
        Decrypted::read(kind, json.as_bytes().to_vec())
    }

    /// Parses a decrypted plaintext, which becomes the payload's text (or is wiped).
    pub(crate) fn read(kind: PayloadKind, plaintext: Vec<u8>) -> Result<Decrypted, PayloadError> {
        let mut reader = Reader::new(plaintext)?;
        // Built in place: the structs are a few hundred bytes, and each move of one costs.
        let mut payload = match kind {
            PayloadKind::UserInfo => Decrypted::UserInfo(UserInfo::default()),
            PayloadKind::Phone => Decrypted::Phone(PhoneNumber::default()),
            PayloadKind::Share => Decrypted::Share(ShareInfo::default()),
            PayloadKind::GroupEnter => Decrypted::GroupEnter(GroupEnterInfo::default()),
            PayloadKind::WeRun => Decrypted::WeRun(WeRunData::default()),
        };
        match &mut payload {
            Decrypted::UserInfo(p) => read_object(p, &mut reader)?,
            Decrypted::Phone(p) => read_object(p, &mut reader)?,
            Decrypted::Share(p) => read_object(p, &mut reader)?,
            Decrypted::GroupEnter(p) => read_object(p, &mut reader)?,
            Decrypted::WeRun(p) => read_object(p, &mut reader)?,
        }
        let text = reader.into_text()?;
        match &mut payload {
            Decrypted::UserInfo(p) => p.text = text,
            Decrypted::Phone(p) => p.text = text,
            Decrypted::Share(p) => p.text = text,
            Decrypted::GroupEnter(p) => p.text = text,
            // No string fields: nothing points into the text, which is wiped here.
            Decrypted::WeRun(_) => {}
        }
        Ok(payload)
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

/// Shows that an optional identifier is there without showing it.
fn redact_opt(v: Option<&str>) -> &'static str {
    if v.is_some() {
        "Some(<redacted>)"
    } else {
        "None"
    }
}

/// User info (§6.3 a). Fields the 2022 changes stopped filling may be absent: they read as
/// `0` / `""` then. `nickName` is always sent, so it is required (it also keeps a payload of
/// another kind from passing as user info).
///
/// The string fields borrow from the decrypted plaintext, which the payload owns and wipes
/// when dropped: one buffer instead of a `String` each (BENCHMARKS.md, crypto).
#[derive(Clone, Default)]
pub struct UserInfo {
    text: Text,
    open_id: Option<Span>,
    nick_name: Span,
    gender: i64,
    language: Span,
    city: Span,
    province: Span,
    country: Span,
    avatar_url: Span,
    union_id: Option<Span>,
    watermark: Option<Watermark>,
    extra: Extra,
}

impl UserInfo {
    /// `openId` (camelCase here); absent in getUserProfile payloads. Never trust it for
    /// identity: identity comes from jscode2session.
    pub fn open_id(&self) -> Option<&str> {
        self.open_id.map(|s| self.text.get(s))
    }

    /// `nickName`.
    pub fn nick_name(&self) -> &str {
        self.text.get(self.nick_name)
    }

    /// `gender`: 0 unknown, 1 male, 2 female.
    pub fn gender(&self) -> i64 {
        self.gender
    }

    /// `language`.
    pub fn language(&self) -> &str {
        self.text.get(self.language)
    }

    /// `city`.
    pub fn city(&self) -> &str {
        self.text.get(self.city)
    }

    /// `province`.
    pub fn province(&self) -> &str {
        self.text.get(self.province)
    }

    /// `country`.
    pub fn country(&self) -> &str {
        self.text.get(self.country)
    }

    /// `avatarUrl`.
    pub fn avatar_url(&self) -> &str {
        self.text.get(self.avatar_url)
    }

    /// `unionId`, only when the app is bound to an Open Platform account.
    pub fn union_id(&self) -> Option<&str> {
        self.union_id.map(|s| self.text.get(s))
    }

    /// The watermark (not serialised).
    pub fn watermark(&self) -> Option<&Watermark> {
        self.watermark.as_ref()
    }

    /// Fields wxlogin does not model, kept verbatim.
    pub fn extra(&self) -> &Extra {
        &self.extra
    }
}

impl Object for UserInfo {
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

    fn read_field(&mut self, i: usize, r: &mut Reader) -> json::Result<()> {
        match i {
            0 => self.open_id = Some(r.string()?),
            1 => self.nick_name = r.string()?,
            2 => self.gender = r.i64()?,
            3 => self.language = r.string()?,
            4 => self.city = r.string()?,
            5 => self.province = r.string()?,
            6 => self.country = r.string()?,
            7 => self.avatar_url = r.string()?,
            _ => self.union_id = Some(r.string()?),
        }
        Ok(())
    }

    fn finish(&mut self, watermark: Option<Watermark>, extra: Extra) {
        self.watermark = watermark;
        self.extra = extra;
    }
}

/// Equal when every field reads the same (not when the plaintexts are byte-equal).
impl PartialEq for UserInfo {
    fn eq(&self, other: &Self) -> bool {
        self.fields() == other.fields()
    }
}

impl UserInfo {
    /// Everything [`PartialEq`] compares.
    fn fields(&self) -> impl PartialEq + '_ {
        (
            (
                self.open_id(),
                self.nick_name(),
                self.gender,
                self.language(),
            ),
            (
                self.city(),
                self.province(),
                self.country(),
                self.avatar_url(),
            ),
            (self.union_id(), &self.watermark, &self.extra),
        )
    }
}

impl Serialize for UserInfo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(v) = self.open_id() {
            map.serialize_entry("openId", v)?;
        }
        map.serialize_entry("nickName", self.nick_name())?;
        map.serialize_entry("gender", &self.gender)?;
        map.serialize_entry("language", self.language())?;
        map.serialize_entry("city", self.city())?;
        map.serialize_entry("province", self.province())?;
        map.serialize_entry("country", self.country())?;
        map.serialize_entry("avatarUrl", self.avatar_url())?;
        if let Some(v) = self.union_id() {
            map.serialize_entry("unionId", v)?;
        }
        self.extra.serialize_into(&mut map)?;
        map.end()
    }
}

impl fmt::Debug for UserInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserInfo")
            .field("open_id", &format_args!("{}", redact_opt(self.open_id())))
            .field("nick_name", &self.nick_name())
            .field("gender", &self.gender)
            .field("language", &self.language())
            .field("city", &self.city())
            .field("province", &self.province())
            .field("country", &self.country())
            .field("avatar_url", &self.avatar_url())
            .field("union_id", &format_args!("{}", redact_opt(self.union_id())))
            .field("watermark", &self.watermark)
            .field("extra", &self.extra)
            .finish()
    }
}

/// Phone number, old button flow (§6.3 b). All three fields are required. The strings
/// borrow from the plaintext, as in [`UserInfo`].
#[derive(Clone, Default)]
pub struct PhoneNumber {
    text: Text,
    phone_number: Span,
    pure_phone_number: Span,
    country_code: Span,
    watermark: Option<Watermark>,
    extra: Extra,
}

impl PhoneNumber {
    /// `phoneNumber`, with the country code for foreign numbers.
    pub fn phone_number(&self) -> &str {
        self.text.get(self.phone_number)
    }

    /// `purePhoneNumber`, without the country code.
    pub fn pure_phone_number(&self) -> &str {
        self.text.get(self.pure_phone_number)
    }

    /// `countryCode`: read as a string or an integer, always handed on as a string.
    pub fn country_code(&self) -> &str {
        self.text.get(self.country_code)
    }

    /// The watermark (not serialised).
    pub fn watermark(&self) -> Option<&Watermark> {
        self.watermark.as_ref()
    }

    /// Fields wxlogin does not model, kept verbatim.
    pub fn extra(&self) -> &Extra {
        &self.extra
    }
}

impl Object for PhoneNumber {
    const FIELDS: &'static [&'static str] = &["phoneNumber", "purePhoneNumber", "countryCode"];
    const REQUIRED: u32 = 0b111;
    const HAS_WATERMARK: bool = true;

    fn read_field(&mut self, i: usize, r: &mut Reader) -> json::Result<()> {
        match i {
            0 => self.phone_number = r.string()?,
            1 => self.pure_phone_number = r.string()?,
            _ => self.country_code = r.string_or_integer()?,
        }
        Ok(())
    }

    fn finish(&mut self, watermark: Option<Watermark>, extra: Extra) {
        self.watermark = watermark;
        self.extra = extra;
    }
}

/// Equal when every field reads the same.
impl PartialEq for PhoneNumber {
    fn eq(&self, other: &Self) -> bool {
        self.fields() == other.fields()
    }
}

impl PhoneNumber {
    /// Everything [`PartialEq`] compares.
    fn fields(&self) -> impl PartialEq + '_ {
        (
            self.phone_number(),
            self.pure_phone_number(),
            self.country_code(),
            &self.watermark,
            &self.extra,
        )
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("phoneNumber", self.phone_number())?;
        map.serialize_entry("purePhoneNumber", self.pure_phone_number())?;
        map.serialize_entry("countryCode", self.country_code())?;
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
            .field("country_code", &self.country_code())
            .field("watermark", &self.watermark)
            .field("extra", &self.extra)
            .finish()
    }
}

/// Share info (§6.3 c). The string borrows from the plaintext, as in [`UserInfo`].
#[derive(Clone, Default)]
pub struct ShareInfo {
    text: Text,
    open_gid: Span,
    watermark: Option<Watermark>,
    extra: Extra,
}

impl ShareInfo {
    /// `openGId`: the group's id, unique per mini-program.
    pub fn open_gid(&self) -> &str {
        self.text.get(self.open_gid)
    }

    /// The watermark, if present (not serialised).
    pub fn watermark(&self) -> Option<&Watermark> {
        self.watermark.as_ref()
    }

    /// Fields wxlogin does not model, kept verbatim.
    pub fn extra(&self) -> &Extra {
        &self.extra
    }
}

impl Object for ShareInfo {
    const FIELDS: &'static [&'static str] = &["openGId"];
    const REQUIRED: u32 = 1;
    const HAS_WATERMARK: bool = true;

    fn read_field(&mut self, _: usize, r: &mut Reader) -> json::Result<()> {
        self.open_gid = r.string()?;
        Ok(())
    }

    fn finish(&mut self, watermark: Option<Watermark>, extra: Extra) {
        self.watermark = watermark;
        self.extra = extra;
    }
}

/// Equal when every field reads the same.
impl PartialEq for ShareInfo {
    fn eq(&self, other: &Self) -> bool {
        self.fields() == other.fields()
    }
}

impl ShareInfo {
    /// Everything [`PartialEq`] compares.
    fn fields(&self) -> impl PartialEq + '_ {
        (self.open_gid(), &self.watermark, &self.extra)
    }
}

impl Serialize for ShareInfo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("openGId", self.open_gid())?;
        self.extra.serialize_into(&mut map)?;
        map.end()
    }
}

impl fmt::Debug for ShareInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShareInfo")
            .field("open_gid", &self.open_gid())
            .field("watermark", &self.watermark)
            .field("extra", &self.extra)
            .finish()
    }
}

/// Group enter info (§6.3 d). `chat_type` is required; which ids are present depends on the
/// chat (a one-to-one chat has `open_single_roomid`, a group `opengid`). The strings borrow
/// from the plaintext, as in [`UserInfo`].
#[derive(Clone, Default)]
pub struct GroupEnterInfo {
    text: Text,
    opengid: Option<Span>,
    open_single_roomid: Option<Span>,
    group_openid: Option<Span>,
    chat_type: i64,
    watermark: Option<Watermark>,
    extra: Extra,
}

impl GroupEnterInfo {
    /// `opengid` (lowercase here): id of a multi-person chat.
    pub fn opengid(&self) -> Option<&str> {
        self.opengid.map(|s| self.text.get(s))
    }

    /// `open_single_roomid`: id of a one-to-one chat.
    pub fn open_single_roomid(&self) -> Option<&str> {
        self.open_single_roomid.map(|s| self.text.get(s))
    }

    /// `group_openid`: the user's id within this group.
    pub fn group_openid(&self) -> Option<&str> {
        self.group_openid.map(|s| self.text.get(s))
    }

    /// `chat_type`.
    pub fn chat_type(&self) -> i64 {
        self.chat_type
    }

    /// The watermark, if present (not serialised).
    pub fn watermark(&self) -> Option<&Watermark> {
        self.watermark.as_ref()
    }

    /// Fields wxlogin does not model, kept verbatim.
    pub fn extra(&self) -> &Extra {
        &self.extra
    }
}

impl Object for GroupEnterInfo {
    const FIELDS: &'static [&'static str] =
        &["opengid", "open_single_roomid", "group_openid", "chat_type"];
    const REQUIRED: u32 = 1 << 3;
    const HAS_WATERMARK: bool = true;

    fn read_field(&mut self, i: usize, r: &mut Reader) -> json::Result<()> {
        match i {
            0 => self.opengid = Some(r.string()?),
            1 => self.open_single_roomid = Some(r.string()?),
            2 => self.group_openid = Some(r.string()?),
            _ => self.chat_type = r.i64()?,
        }
        Ok(())
    }

    fn finish(&mut self, watermark: Option<Watermark>, extra: Extra) {
        self.watermark = watermark;
        self.extra = extra;
    }
}

/// Equal when every field reads the same.
impl PartialEq for GroupEnterInfo {
    fn eq(&self, other: &Self) -> bool {
        self.fields() == other.fields()
    }
}

impl GroupEnterInfo {
    /// Everything [`PartialEq`] compares.
    fn fields(&self) -> impl PartialEq + '_ {
        (
            (
                self.opengid(),
                self.open_single_roomid(),
                self.group_openid(),
            ),
            (self.chat_type, &self.watermark, &self.extra),
        )
    }
}

impl Serialize for GroupEnterInfo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(v) = self.opengid() {
            map.serialize_entry("opengid", v)?;
        }
        if let Some(v) = self.open_single_roomid() {
            map.serialize_entry("open_single_roomid", v)?;
        }
        if let Some(v) = self.group_openid() {
            map.serialize_entry("group_openid", v)?;
        }
        map.serialize_entry("chat_type", &self.chat_type)?;
        self.extra.serialize_into(&mut map)?;
        map.end()
    }
}

impl fmt::Debug for GroupEnterInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupEnterInfo")
            .field("opengid", &self.opengid())
            .field("open_single_roomid", &self.open_single_roomid())
            .field("group_openid", &self.group_openid())
            .field("chat_type", &self.chat_type)
            .field("watermark", &self.watermark)
            .field("extra", &self.extra)
            .finish()
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
    const FIELDS: &'static [&'static str] = &["stepInfoList"];
    const REQUIRED: u32 = 1;
    const HAS_WATERMARK: bool = true;

    fn read_field(&mut self, _: usize, r: &mut Reader) -> json::Result<()> {
        r.array(|r| {
            let mut step = StepInfo::default();
            read_object(&mut step, r)?;
            self.step_info_list.push(step);
            Ok(())
        })
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
    const FIELDS: &'static [&'static str] = &["timestamp", "step"];
    const REQUIRED: u32 = 0b11;
    const HAS_WATERMARK: bool = false;

    fn read_field(&mut self, i: usize, r: &mut Reader) -> json::Result<()> {
        match i {
            0 => self.timestamp = r.i64()?,
            _ => self.step = r.i64()?,
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
