//! Where a request's token comes from, and signing in on the page. A proxy in front of Colo
//! (oauth2-proxy, docs/operator.md) sends `Authorization: Bearer …`; a person with only a
//! browser (e.g. through `kubectl port-forward`) pastes a token once and the page keeps it in
//! a cookie that scripts cannot read and other sites cannot send.

/// The cookie the page keeps a pasted token in.
pub const COOKIE: &str = "colo_token";

/// Hours a pasted token is kept (the token's own expiry applies too).
const KEPT_HOURS: u32 = 8;

/// The bearer token of a request: the Authorization header's, else the page's cookie.
pub fn credentials(authorization: Option<&str>, cookie: Option<&str>) -> Option<String> {
    if let Some(header) = authorization {
        let (scheme, token) = header.trim().split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string());
    }
    cookie.map(str::to_string)
}

/// The Set-Cookie header that keeps `token` for this browser; refuses what is not a token
/// (it would otherwise break the header).
pub fn keep(token: &str, over_https: bool) -> Result<String, String> {
    let token = token.trim();
    let fits = |c: char| c.is_ascii_alphanumeric() || "._-~+/=".contains(c);
    if token.is_empty() || !token.chars().all(fits) {
        return Err(
            "that is not a bearer token: tokens have only letters, digits and . _ - ~ + / =".into(),
        );
    }
    let secure = if over_https { "; Secure" } else { "" };
    Ok(format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        KEPT_HOURS * 3600
    ))
}

/// The Set-Cookie header that forgets the token.
pub fn forget() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The sign-in page, with why it is shown.
pub fn page(why: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Colo: sign in</title>
<style>body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 40rem; padding: 0 1rem; color: #0b0c0c; }}
textarea {{ width: 100%; font-family: monospace; }} #why {{ border-left: 4px solid #d4351c; padding: .2rem .8rem; }}</style>
</head><body>
<h1>Shared hosting report: sign in</h1>
<p id="why">{why}</p>
<form method="post" action="/login">
<p><label for="token">A bearer token the hub accepts: your own (e.g. <code>kubectl create token &lt;service-account&gt; -n &lt;namespace&gt;</code>) or the one your sign-in proxy gives.</label></p>
<textarea id="token" name="token" rows="4" required autocomplete="off"></textarea>
<p><button type="submit">Sign in</button></p>
</form>
<p>Colo asks the hub who holds the token and shows the agencies it lets you <code>get</code>. The token is kept in this browser for {KEPT_HOURS} hours, in a cookie scripts cannot read.</p>
</body></html>
"#,
        why = super::page::escape(why)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_wins_over_the_cookie() {
        assert_eq!(
            credentials(Some("Bearer abc.def"), Some("cookie")).as_deref(),
            Some("abc.def")
        );
        assert_eq!(
            credentials(Some("bearer  abc "), None).as_deref(),
            Some("abc")
        );
        assert_eq!(credentials(Some("Basic dXNlcg=="), Some("cookie")), None);
        assert_eq!(credentials(None, Some("t")).as_deref(), Some("t"));
        assert_eq!(credentials(None, None), None);
    }

    #[test]
    fn only_a_token_is_kept_and_never_readable_by_scripts() {
        let c = keep("eyJhbGciOi.J9-x_y", false).unwrap();
        assert!(c.starts_with("colo_token=eyJhbGciOi.J9-x_y; "), "{c}");
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict"),
            "{c}"
        );
        assert!(!c.contains("Secure"));
        assert!(keep("t", true).unwrap().ends_with("; Secure"));
        assert!(keep("a; Domain=evil", false).is_err());
        assert!(keep("", false).is_err());
        assert!(forget().contains("Max-Age=0"));
    }
}
