//! wxlogin's HTTP API.

mod client_ip;
mod error;
mod error_codes;
mod extract;

pub use client_ip::TrustedProxies;
pub use error::{ApiError, ErrorCode, REQUEST_ID_HEADER, render_errors};
pub use extract::{ApiJson, Bearer};
