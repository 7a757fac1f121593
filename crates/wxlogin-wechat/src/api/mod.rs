//! One module per WeChat endpoint. Each adds an `async fn` to [`WeChatClient`](crate::WeChatClient)
//! and owns its wire type (what WeChat sends, all fields optional) and its public result type
//! (what callers get, validated). Transport and envelope rules are shared and live elsewhere.

pub(crate) mod checksession;
pub(crate) mod getuserphonenumber;
pub(crate) mod jscode2session;
pub(crate) mod resetusersessionkey;
pub(crate) mod stable_token;
pub(crate) mod token;

/// Shows enough of a personal identifier (openid, unionid) to tell two apart in a log, not enough
/// to identify the person: the first 4 and last 2 characters.
pub(crate) fn mask(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn mask_keeps_only_the_ends() {
        assert_eq!(mask("oGZUI0egBJY1zhBYw2KhdUfwVJJE"), "oGZU…JE");
        assert_eq!(mask("short"), "*****");
        assert_eq!(mask(""), "");
    }
}
