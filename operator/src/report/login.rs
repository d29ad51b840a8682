//! Where a request's token comes from, and signing in on the page. A proxy in front of Colo
//! (oauth2-proxy, docs/operator.md) sends `Authorization: Bearer …`; a person with only a
//! browser (e.g. through `kubectl port-forward`) pastes a token once and the page keeps it in
//! a cookie that scripts cannot read and other sites cannot send. `POST /login` and
//! `POST /logout` refuse a form another site sent (its `Sec-Fetch-Site`, or its `Origin` not
//! this host), before the form is read.

use std::collections::BTreeMap;

use warp::Filter;
use warp::http::{HeaderValue, StatusCode};

use super::http::{Response, Served, caught, html, status_of};

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

/// `POST /login` (a token from the page's form, kept in a cookie) and `POST /logout`. A form
/// from another site is refused before its body is read.
pub fn routes(
    served: Served,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let metrics = served.ctx.metrics.clone();
    let gate = served.gate.clone();
    let login = warp::post()
        .and(warp::path!("login"))
        .and(same_site())
        .and(warp::body::content_length_limit(16 * 1024))
        .and(warp::body::form::<BTreeMap<String, String>>())
        .and(warp::header::optional::<String>("x-forwarded-proto"))
        .then(
            move |form: BTreeMap<String, String>, proto: Option<String>| {
                let gate = gate.clone();
                let answer = async move {
                    let token = form.get("token").map(|t| t.trim()).unwrap_or_default();
                    let cookie = match keep(token, proto.as_deref() == Some("https")) {
                        Ok(cookie) => cookie,
                        Err(why) => return html(StatusCode::BAD_REQUEST, page(&why)),
                    };
                    match gate.viewer(Some(token)).await {
                        Ok(_) => to_page(&cookie),
                        Err(d) => html(status_of(&d), page(&d.to_string())),
                    }
                };
                caught(metrics.clone(), "POST /login", answer)
            },
        );
    let logout = warp::post()
        .and(warp::path!("logout"))
        .and(same_site())
        .map(|| to_page(&forget()));
    login.or(logout).unify().recover(cross_site).unify()
}

/// A form another site sent, refused with why.
#[derive(Debug)]
struct CrossSite(String);

impl warp::reject::Reject for CrossSite {}

async fn cross_site(rejection: warp::Rejection) -> Result<Response, warp::Rejection> {
    match rejection.find::<CrossSite>() {
        Some(CrossSite(why)) => Ok(html(StatusCode::FORBIDDEN, page(why))),
        None => Err(rejection),
    }
}

/// Passes a form from this page's own site, judged by the headers a browser sends with it (a
/// script or curl sends neither, and carries no browser's cookie to misuse); refuses others.
fn same_site() -> impl Filter<Extract = (), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("sec-fetch-site")
        .and(warp::header::optional::<String>("origin"))
        .and(warp::header::optional::<String>("x-forwarded-host"))
        .and(warp::header::optional::<String>("host"))
        .and_then(
            |site: Option<String>,
             origin: Option<String>,
             forwarded: Option<String>,
             host: Option<String>| async move {
                let host = forwarded.or(host);
                from_this_site(site.as_deref(), origin.as_deref(), host.as_deref())
                    .map_err(|why| warp::reject::custom(CrossSite(why)))
            },
        )
        .untuple_one()
}

/// Refuses a request a browser says another site sent: `Sec-Fetch-Site` other than
/// `same-origin` or `none` when it is given, else an `Origin` whose host is not `host` (the
/// proxy's `X-Forwarded-Host`, else `Host`).
pub fn from_this_site(
    site: Option<&str>,
    origin: Option<&str>,
    host: Option<&str>,
) -> Result<(), String> {
    let refused = |from: &str| {
        format!(
            "refused: this form was sent from {from}, not from Colo's own page; sign in on the page itself"
        )
    };
    // The browser's own judgement, when it gives one, is what counts.
    if let Some(site) = site {
        return match site {
            "same-origin" | "none" => Ok(()),
            other => Err(refused(&format!("another site (Sec-Fetch-Site: {other})"))),
        };
    }
    if let Some(origin) = origin {
        let from = origin.split_once("://").map_or(origin, |(_, rest)| rest);
        if host.is_none_or(|h| !from.eq_ignore_ascii_case(h)) {
            return Err(refused(origin));
        }
    }
    Ok(())
}

/// 303 to the page, setting `cookie`.
fn to_page(cookie: &str) -> Response {
    let mut r = Response::new(Default::default());
    *r.status_mut() = StatusCode::SEE_OTHER;
    r.headers_mut()
        .insert("location", HeaderValue::from_static("/"));
    if let Ok(c) = HeaderValue::from_str(cookie) {
        r.headers_mut().insert("set-cookie", c);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sign_in_or_out_from_another_site_is_refused_before_its_form_is_read() {
        let served = crate::report::http::served_for_tests;
        let big = vec![b'a'; 1 << 20];
        let login = warp::test::request()
            .method("POST")
            .path("/login")
            .header("host", "127.0.0.1:8080")
            .header("origin", "https://evil.example")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(big)
            .reply(&routes(served()))
            .await;
        // 403, not 413: refused before the body's size was looked at.
        assert_eq!(login.status(), 403);
        assert!(String::from_utf8_lossy(login.body()).contains("https://evil.example"));
        let logout = |site: &'static str| async move {
            let routes = routes(served());
            warp::test::request()
                .method("POST")
                .path("/logout")
                .header("sec-fetch-site", site)
                .reply(&routes)
                .await
        };
        assert_eq!(logout("cross-site").await.status(), 403);
        let out = logout("same-origin").await;
        assert_eq!(out.status(), 303);
        assert!(
            out.headers()["set-cookie"]
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
        let empty = warp::test::request()
            .method("POST")
            .path("/login")
            .header("sec-fetch-site", "same-origin")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("token=")
            .reply(&routes(served()))
            .await;
        assert_eq!(
            empty.status(),
            400,
            "passed the site check, refused as no token"
        );
    }

    #[test]
    fn a_form_from_another_site_is_refused() {
        let host = Some("127.0.0.1:8080");
        assert!(from_this_site(None, None, host).is_ok(), "curl");
        assert!(from_this_site(Some("same-origin"), Some("http://127.0.0.1:8080"), host).is_ok());
        // A proxy that rewrote Host: the browser's Sec-Fetch-Site is what counts.
        assert!(from_this_site(Some("same-origin"), Some("https://colo.example"), host).is_ok());
        assert!(
            from_this_site(Some("none"), None, host).is_ok(),
            "typed in the address bar"
        );
        for (site, origin) in [
            (Some("cross-site"), None),
            (Some("same-site"), None),
            (None, Some("https://evil.example")),
            (None, Some("null")),
            (None, Some("http://127.0.0.1:8081")),
            (Some("cross-site"), Some("http://127.0.0.1:8080")),
        ] {
            let why = from_this_site(site, origin, host).unwrap_err();
            assert!(why.starts_with("refused: this form was sent from"), "{why}");
        }
        assert!(from_this_site(None, Some("https://colo.example"), Some("colo.example")).is_ok());
        assert!(from_this_site(None, Some("https://colo.example"), None).is_err());
    }

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
