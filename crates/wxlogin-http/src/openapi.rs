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
    let basic = json!([{"basic": []}]);
    let token_form = json!({"required": true, "content": {"application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/TokenForm"}}}});
    let identity_headers: serde_json::Map<String, Value> = [
        ("X-WX-OPENID", "The user's openid in the token's app"),
        ("X-WX-APPID", "The token's app"),
        ("X-WX-UNIONID", "The user's unionid; only when known"),
        ("X-WXLOGIN-USER-ID", "wxlogin's user id"),
        ("X-WXLOGIN-SESSION-ID", "The token's session"),
    ]
    .into_iter()
    .map(|(name, description)| {
        let header = json!({"description": description, "schema": {"type": "string"}});
        (name.to_owned(), header)
    })
    .collect();
    let error = |description: &str| json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let mut doc = json!({
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
            "/v1/auth": {"get": {
                "summary": "Forward-auth for gateways (nginx auth_request, Traefik ForwardAuth, Caddy forward_auth): verifies the token as /v1/session does, renewal included",
                "description": "The token is the Bearer one; only without an Authorization header, the header named by forward_auth.token_header (off by default). With X-WXLOGIN-APPID, a token of another app is a 401; without it, a token of any app served here is accepted.",
                "security": bearer,
                "parameters": [
                    {"name": "X-WXLOGIN-APPID", "in": "header", "required": false, "schema": {"type": "string"}, "description": "Set by the gateway's configuration: the app whose tokens are accepted"}],
                "responses": {"200": {"description": "Valid: empty body, the identity in headers (WeChat Cloud Run's names plus ours)", "headers": identity_headers},
                              "401": error("missing_token or invalid_token, with WWW-Authenticate: Bearer"),
                              "503": error("unavailable, with Retry-After")}}},
            "/oauth2/introspect": {"post": {
                "summary": "Token introspection (RFC 7662) for service clients; never renews the session",
                "security": basic,
                "requestBody": token_form,
                "responses": {"200": {"description": "Active: the fields below. Inactive, unknown, or of an app outside the client's appids: exactly {\"active\": false}. Sent with Cache-Control: no-store",
                                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Introspection"}}}},
                              "400": error("invalid_request"),
                              "401": error("invalid_client, with WWW-Authenticate: Basic realm=\"wxlogin\""),
                              "415": error("unsupported_media_type"),
                              "503": error("unavailable, with Retry-After")}}},
            "/oauth2/revoke": {"post": {
                "summary": "Token revocation (RFC 7009) for service clients: ends the session as /v1/logout does",
                "description": "200 whether or not the token existed; a token of an app outside the client's appids is left alone.",
                "security": basic,
                "requestBody": token_form,
                "responses": {"200": {"description": "Done (empty body)"},
                              "400": error("invalid_request"),
                              "401": error("invalid_client, with WWW-Authenticate: Basic realm=\"wxlogin\""),
                              "415": error("unsupported_media_type"),
                              "503": error("unavailable, with Retry-After")}}},
            "/healthz": {"get": {"summary": "The process is up", "responses": {"200": {"description": "Up"}}}},
            "/readyz": {"get": {"summary": "The store is reachable", "responses": {"200": {"description": "Ready"}, "503": error("unavailable")}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                "basic": {"type": "http", "scheme": "basic", "description": "A service client of [[introspection.clients]]"}},
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
                "TokenForm": {"type": "object", "required": ["token"], "properties": {
                    "token": {"type": "string"},
                    "token_type_hint": {"type": "string", "description": "Accepted and ignored"}}},
                "Introspection": {"oneOf": [
                    {"type": "object", "required": ["active", "sub", "client_id", "exp", "iat", "openid", "token_type"], "properties": {
                        "active": {"const": true}, "sub": {"type": "string", "description": "wxlogin's user id"},
                        "client_id": {"type": "string", "description": "The token's appid"},
                        "exp": {"type": "integer", "description": "Unix seconds: the session's current expiry"},
                        "iat": {"type": "integer", "description": "Unix seconds: the session's creation"},
                        "openid": {"type": "string"}, "unionid": {"type": "string", "description": "Only when known"},
                        "token_type": {"const": "Bearer"}}},
                    {"type": "object", "required": ["active"], "additionalProperties": false, "properties": {"active": {"const": false}}}]},
                "ErrorCode": {"type": "string", "enum": codes, "x-registry": registry},
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message", "request_id"], "properties": {
                        "code": {"$ref": "#/components/schemas/ErrorCode"},
                        "message": {"type": "string"},
                        "request_id": {"type": "string"},
                        "wechat_errcode": {"type": "integer"}}}}},
            }
        }
    });
    add_jwt_mode(&mut doc, &error);
    doc
}

/// JWT mode's routes and fields (kept apart: one `json!` literal of everything overflows the
/// macro's recursion limit).
fn add_jwt_mode(doc: &mut Value, error: &dyn Fn(&str) -> Value) {
    let paths = &mut doc["paths"];
    paths["/v1/token/refresh"] = json!({"post": {
        "summary": "JWT mode: rotate the refresh token, get a new access JWT",
        "description": "The refresh token (the login's `token`) as Bearer. The same token again within jwt.refresh_grace of its rotation answers the same new refresh token (and a fresh access JWT); later, it revokes the whole session. 404 when JWT mode is off.",
        "security": [{"bearer": []}],
        "responses": {"200": {"description": "The new pair (Cache-Control: no-store)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LoginResponse"}}}},
                      "401": error("missing_token or invalid_token (unknown, expired, an access JWT, or replayed after the grace)"),
                      "404": error("not_found: JWT mode is off")}}});
    paths["/.well-known/jwks.json"] = json!({"get": {
        "summary": "JWT mode: the public keys (Ed25519, RFC 8037) that verify access JWTs",
        "description": "The current key, the previous one until jwt.access_ttl after the change, and the next one during the last jwt.access_ttl of a key period. 404 when JWT mode is off.",
        "responses": {"200": {"description": "A JWK set", "content": {"application/json": {"schema": {
            "type": "object", "required": ["keys"], "properties": {"keys": {"type": "array", "items": {
                "type": "object", "required": ["kty", "crv", "x", "kid", "alg", "use"], "properties": {
                    "kty": {"const": "OKP"}, "crv": {"const": "Ed25519"}, "x": {"type": "string"},
                    "kid": {"type": "string"}, "alg": {"const": "EdDSA"}, "use": {"const": "sig"}}}}}}}}},
                      "404": error("not_found: JWT mode is off")}}});
    paths["/.well-known/openid-configuration"] = json!({"get": {
        "summary": "JWT mode: discovery metadata (issuer, jwks_uri, token, introspection and revocation endpoints)",
        "responses": {"200": {"description": "OpenID Connect Discovery-style metadata", "content": {"application/json": {"schema": {"type": "object"}}}},
                      "404": error("not_found: JWT mode is off")}}});
    let login = &mut doc["components"]["schemas"]["LoginResponse"];
    login["description"] = json!(
        "In JWT mode `token` is the refresh token and the answer also carries `access_token` and `access_expires_in`; a refresh's answer has no `user.new`."
    );
    login["properties"]["access_token"] = json!({"type": "string", "description": "JWT mode only: the access JWT (EdDSA; claims iss, sub, aud, exp, iat, jti, sid, openid, unionid when known)"});
    login["properties"]["access_expires_in"] = json!({"type": "integer", "description": "JWT mode only: seconds until the access JWT expires"});
    if let Some(required) = login["properties"]["user"]["required"].as_array_mut() {
        required.retain(|field| field != "new");
    }
}
