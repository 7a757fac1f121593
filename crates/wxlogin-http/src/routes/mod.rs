//! One module per group of routes; [`crate::app`] is the single place they are mounted.

pub(crate) mod auth;
pub(crate) mod jwt;
pub(crate) mod login;
pub(crate) mod oauth;
pub(crate) mod open_data;
pub(crate) mod ops;
pub(crate) mod session;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// RFC 3339 in UTC, whole seconds: how every time in the API is written.
pub(crate) fn rfc3339(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(at)
        .format(&Rfc3339)
        .unwrap_or_default()
}
