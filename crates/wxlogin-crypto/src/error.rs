//! The one error type of the decrypt path, and its mapping to WeChat's codes.

use std::fmt;

/// Which input field held text that is not base64, even after the repairs of §6.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// The session_key (24-character base64 text from jscode2session).
    SessionKey,
    /// The `iv` the client API returned with the payload.
    Iv,
    /// The `encryptedData` the client API returned.
    EncryptedData,
}

impl Field {
    /// The field's name as the HTTP API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::SessionKey => "session_key",
            Field::Iv => "iv",
            Field::EncryptedData => "encrypted_data",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why decryption failed.
///
/// Only inputs that cannot even be decoded get their own variant. Everything that happens
/// after the AES step — bad padding, invalid UTF-8, not JSON, a payload of the wrong shape,
/// a missing or foreign watermark — is the single opaque [`DecryptError::DecryptFailed`]:
/// telling those apart would hand a caller a CBC padding oracle, with which anyone holding a
/// session could forge "WeChat-verified" data under their own session_key. The detail is
/// only ever written to a `tracing` debug event, never into this value.
///
/// Neither `Display` nor `Debug` ever contains a key, IV, ciphertext or plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DecryptError {
    /// A field is not base64 (standard alphabet), even after the repairs. -41004.
    #[error("{field} is not valid base64")]
    InvalidBase64 {
        /// The field that could not be decoded.
        field: Field,
    },
    /// The session_key does not decode to 16 bytes. -41001.
    #[error("session_key does not decode to 16 bytes")]
    InvalidKey,
    /// The iv does not decode to 16 bytes. -41002.
    #[error("iv does not decode to 16 bytes")]
    InvalidIv,
    /// Anything after decoding failed. -41003. Deliberately carries nothing.
    #[error("decryption failed")]
    DecryptFailed,
}

impl DecryptError {
    /// The error code of Tencent's WXBizDataCrypt samples, under wxlogin's mapping (§6.2).
    pub fn errcode(&self) -> i64 {
        match self {
            DecryptError::InvalidBase64 { .. } => -41004,
            DecryptError::InvalidKey => -41001,
            DecryptError::InvalidIv => -41002,
            DecryptError::DecryptFailed => -41003,
        }
    }

    /// wxlogin's stable machine code for the HTTP API and the CLI.
    pub fn code(&self) -> &'static str {
        match self {
            DecryptError::InvalidBase64 { .. } => "invalid_base64",
            DecryptError::InvalidKey => "invalid_session_key",
            DecryptError::InvalidIv => "invalid_iv",
            DecryptError::DecryptFailed => "decrypt_failed",
        }
    }

    /// True for the malformed-input classes (-41001, -41002, -41004): they do not depend on
    /// the key being right, so trying another key of a ring cannot help.
    pub fn is_malformed_input(&self) -> bool {
        !matches!(self, DecryptError::DecryptFailed)
    }
}
