//! The OpenAPI 3.1 document served at `/openapi.json`.
//!
//! Written out by hand (a few routes do not justify a macro framework), except the error codes:
//! the `ErrorCode` schema is generated from the registry, with each code's status and summary,
//! so the document cannot drift from what the server sends. The JavaScript SDK's error types
//! are generated from this schema.

use serde_json::{Value, json};

use crate::ErrorCode;

/// The whole document.
pub fn document() -> Value {
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    let registry: Vec<Value> = ErrorCode::ALL
        .iter()
        .map(|c| json!({"code": c.as_str(), "status": c.status().as_u16(), "summary": c.summary()}))
        .collect();
    let bearer = json!([{"bearer": []}]);
    let error = |description: &str| json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "wxlogin", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Login server for WeChat mini-programs."},
        "paths": {
            "/v1/login": {"post": {
                "summary": "Exchange a wx.login() code for a token",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LoginRequest"}}}},
                "responses": {"200": {"description": "Logged in", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LoginResponse"}}}},
                              "default": error("invalid_request, unknown_appid, invalid_code, code_used, rate_limited, user_blocked, wechat_*, upstream_*")}}},
            "/v1/session": {"get": {
                "summary": "Who holds this token",
                "security": bearer,
                "parameters": [
                    {"name": "appid", "in": "query", "required": false, "schema": {"type": "string"}, "description": "A token of another app is refused"},
                    {"name": "X-WXLOGIN-APPID", "in": "header", "required": false, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "The session", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Session"}}}},
                              "401": error("missing_token or invalid_token")}}},
            "/v1/logout": {"post": {"summary": "End this session", "security": bearer,
                "responses": {"204": {"description": "Logged out"}, "401": error("missing_token or invalid_token")}}},
            "/v1/me": {"delete": {"summary": "Delete the user, their sessions and keys", "security": bearer,
                "responses": {"204": {"description": "Deleted"}, "401": error("missing_token or invalid_token")}}},
            "/v1/decrypt": {"post": {
                "summary": "Decrypt encryptedData with the user's session_key (current, then previous keys)",
                "security": bearer,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DecryptRequest"}}}},
                "responses": {"200": {"description": "The decrypted object, watermark checked and removed", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["data", "key"], "properties": {
                        "data": {"type": "object"}, "key": {"enum": ["current", "previous"]}}}}}},
                              "default": error("decrypt_failed, invalid_base64, invalid_iv, invalid_signature, identity_mismatch, rate_limited, invalid_token")}}},
            "/v1/phone": {"post": {
                "summary": "Exchange a getPhoneNumber button code for the user's phone number",
                "security": bearer,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}}}}},
                "responses": {"200": {"description": "The verified number", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Phone"}}}},
                              "default": error("invalid_code, rate_limited, wechat_*, upstream_*, invalid_token")}}},
            "/v1/session/check": {"get": {
                "summary": "Is the session_key held for this user still valid at WeChat (wxa/checksession)",
                "security": bearer,
                "responses": {"200": {"description": "WeChat's answer", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["session_key_valid"], "properties": {"session_key_valid": {"type": "boolean"}}}}}},
                              "default": error("rate_limited, wechat_*, upstream_*, invalid_token")}}},
            "/healthz": {"get": {"summary": "The process is up", "responses": {"200": {"description": "Up"}}}},
            "/readyz": {"get": {"summary": "The store is reachable", "responses": {"200": {"description": "Ready"}, "503": error("unavailable")}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "LoginRequest": {"type": "object", "required": ["code"], "properties": {
                    "code": {"type": "string", "description": "From wx.login()"},
                    "appid": {"type": "string", "description": "Optional only when one app is configured"}}},
                "LoginResponse": {"type": "object", "required": ["token", "token_type", "expires_in", "expires_at", "user"], "properties": {
                    "token": {"type": "string"}, "token_type": {"const": "Bearer"},
                    "expires_in": {"type": "integer"}, "expires_at": {"type": "string", "format": "date-time"},
                    "user": {"type": "object", "required": ["id", "appid", "new"], "properties": {
                        "id": {"type": "string"}, "appid": {"type": "string"}, "new": {"type": "boolean"}}}}},
                "Session": {"type": "object", "required": ["user_id", "session_id", "appid", "openid", "issued_at", "expires_at"], "properties": {
                    "user_id": {"type": "string"}, "session_id": {"type": "string"}, "appid": {"type": "string"},
                    "openid": {"type": "string"}, "unionid": {"type": ["string", "null"]},
                    "issued_at": {"type": "string", "format": "date-time"}, "expires_at": {"type": "string", "format": "date-time"},
                    "phone": {"description": "Only when store_phone_numbers is on", "oneOf": [{"$ref": "#/components/schemas/Phone"}, {"type": "null"}]}}},
                "DecryptRequest": {"type": "object", "required": ["kind", "encrypted_data", "iv"], "properties": {
                    "kind": {"enum": ["user_info", "phone", "share", "group_enter", "werun"]},
                    "encrypted_data": {"type": "string"}, "iv": {"type": "string"},
                    "raw_data": {"type": "string"}, "signature": {"type": "string"}}},
                "Phone": {"type": "object", "required": ["phone_number", "pure_phone_number", "country_code"], "properties": {
                    "phone_number": {"type": "string"}, "pure_phone_number": {"type": "string"}, "country_code": {"type": "string"}}},
                "ErrorCode": {"type": "string", "enum": codes, "x-registry": registry},
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message", "request_id"], "properties": {
                        "code": {"$ref": "#/components/schemas/ErrorCode"},
                        "message": {"type": "string"},
                        "request_id": {"type": "string"},
                        "wechat_errcode": {"type": "integer"}}}}},
            }
        }
    })
}
