//! The operator's two HTTP servers (warp). The report (the page `/`, `/api/v1/agencies`,
//! `/api/v1/agencies/{name}`, `/api/v1/estate`, `/api/v1/report`, `/api/v1/consolidation`)
//! answers only readers the hub authenticates, with what the hub lets each see (`auth`).
//! `/metrics`, `/healthz` and `/readyz` are on a port of their own, for Prometheus and the
//! kubelet, kept from everyone else by the chart's NetworkPolicy.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use warp::Filter;
use warp::Reply;
use warp::http::{HeaderValue, StatusCode};

use super::auth::{Denied, Gate, Scope, Viewer};
use super::{ReportError, login};
use crate::context::Context;

type Response = warp::reply::Response;

/// `/metrics`, `/healthz`, `/readyz`; `ready` turns true once this process leads and acts.
pub async fn serve_probes(
    addr: SocketAddr,
    ctx: Arc<Context>,
    ready: Arc<AtomicBool>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let healthz = warp::path!("healthz").map(|| text(StatusCode::OK, "ok"));
    let readyz = warp::path!("readyz").map(move || {
        if ready.load(Ordering::Relaxed) {
            text(StatusCode::OK, "ready")
        } else {
            text(StatusCode::SERVICE_UNAVAILABLE, "not leading yet")
        }
    });
    let metrics = warp::path!("metrics").map(move || {
        let mut r = Response::new(ctx.metrics.text().into());
        let kind = HeaderValue::from_static("text/plain; version=0.0.4");
        r.headers_mut().insert("content-type", kind);
        r
    });
    let routes = warp::get()
        .and(healthz.or(readyz).unify().or(metrics).unify())
        .or(warp::any().map(|| unknown_path(&PROBE_PATHS)))
        .unify();
    run(addr, routes, shutdown).await;
}

/// The report: its API, the page, and signing in and out of the page.
pub async fn serve_report(
    addr: SocketAddr,
    ctx: Arc<Context>,
    gate: Arc<Gate>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let served = Served { ctx, gate };
    let routes = warp::get()
        .and(api_routes(served.clone()))
        .or(warp::post().and(quote_route(served.clone())))
        .unify()
        .or(quote_page_routes(served.clone()))
        .unify()
        .or(warp::post().and(sign_in_routes(served.gate.clone())))
        .unify()
        .or(warp::any().map(|| unknown_path(&REPORT_PATHS)))
        .unify();
    run(addr, routes, shutdown).await;
}

async fn run<F>(
    addr: SocketAddr,
    routes: F,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) where
    F: Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static,
{
    warp::serve(routes)
        .bind(addr)
        .await
        .graceful(shutdown)
        .run()
        .await;
}

/// What the report's handlers share.
#[derive(Clone)]
struct Served {
    ctx: Arc<Context>,
    gate: Arc<Gate>,
}

fn with<T: Clone + Send + Sync + 'static>(
    value: T,
) -> impl Filter<Extract = (T,), Error = Infallible> + Clone {
    warp::any().map(move || value.clone())
}

/// Who sent a request: its bearer token (header, else the page's cookie), checked by the hub.
fn reader(
    gate: Arc<Gate>,
) -> impl Filter<Extract = (Result<Viewer, Denied>,), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and(warp::cookie::optional::<String>(login::COOKIE))
        .and(with(gate))
        .then(
            |header: Option<String>, cookie: Option<String>, gate: Arc<Gate>| async move {
                let token = login::credentials(header.as_deref(), cookie.as_deref());
                gate.viewer(token.as_deref()).await
            },
        )
}

/// The API's paths and the page, each behind `reader`.
fn api_routes(
    served: Served,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let who = reader(served.gate.clone());
    let s = with(served);
    let agencies = warp::path!("api" / "v1" / "agencies")
        .and(who.clone())
        .and(s.clone())
        .then(|v, s: Served| async move { reply(s.agencies(v).await) });
    let agency = warp::path!("api" / "v1" / "agencies" / String)
        .and(who.clone())
        .and(s.clone())
        .then(|name: String, v, s: Served| async move { reply(s.agency(v, &name).await) });
    let estate = warp::path!("api" / "v1" / "estate")
        .and(who.clone())
        .and(s.clone())
        .then(|v, s: Served| async move { reply(s.estate(v).await) });
    let report = warp::path!("api" / "v1" / "report")
        .and(warp::query::<BTreeMap<String, String>>())
        .and(who.clone())
        .and(s.clone())
        .then(|params, v, s: Served| async move { reply(s.report(v, params).await) });
    let consolidation = warp::path!("api" / "v1" / "consolidation")
        .and(who.clone())
        .and(s.clone())
        .then(|v, s: Served| async move { reply(s.consolidation(v).await) });
    let page = warp::path::end()
        .and(who)
        .and(s)
        .then(|v, s: Served| async move { s.page(v).await });
    agencies
        .or(agency)
        .unify()
        .or(estate)
        .unify()
        .or(report)
        .unify()
        .or(consolidation)
        .unify()
        .or(page)
        .unify()
}

impl Served {
    async fn agencies(&self, viewer: Result<Viewer, Denied>) -> Result<Response, ReportError> {
        let viewer = viewer?;
        let estate = super::estate_now(&self.ctx).await?;
        let scope = self.readable(&viewer, &estate).await?;
        Ok(json(&estate.only(&scope).agencies))
    }

    async fn agency(
        &self,
        viewer: Result<Viewer, Denied>,
        name: &str,
    ) -> Result<Response, ReportError> {
        // Asked before the agency is looked up: a refusal says nothing of whether it exists.
        self.gate.may_read_agency(&viewer?, name).await?;
        let estate = super::estate_now(&self.ctx).await?;
        let found = estate.agencies.iter().find(|a| a.row.agency == name);
        found
            .map(json)
            .ok_or_else(|| ReportError::NotFound(format!("no agency {name:?}")))
    }

    async fn estate(&self, viewer: Result<Viewer, Denied>) -> Result<Response, ReportError> {
        self.gate.may_read_estate(&viewer?).await?;
        Ok(json(&super::estate_now(&self.ctx).await?))
    }

    /// `/api/v1/report[?from&to&period&format=csv]`: past windows, as JSON or CSV.
    async fn report(
        &self,
        viewer: Result<Viewer, Denied>,
        params: BTreeMap<String, String>,
    ) -> Result<Response, ReportError> {
        let viewer = viewer?;
        let q = super::parse_query(&params, self.ctx.clock.now())?;
        let mut rows = super::history(&self.ctx, &q).await?;
        let mut names = super::agency_names(&self.ctx).await;
        names.extend(rows.iter().map(|r| r.agency.clone()));
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let scope = self.scope_of(&viewer, &names).await?;
        rows.retain(|r| scope.allows(&r.agency));
        if !q.csv {
            return Ok(json(&rows));
        }
        let mut r = Response::new(super::csv(&rows).into());
        let speed = self.ctx.config.accounting_speed.to_string();
        if let Ok(speed) = HeaderValue::from_str(&speed) {
            r.headers_mut().insert("x-colo-accounting-speed", speed);
        }
        let headers = r.headers_mut();
        let kind = HeaderValue::from_static("text/csv; charset=utf-8");
        headers.insert("content-type", kind);
        let file = HeaderValue::from_static("attachment; filename=\"colo-report.csv\"");
        headers.insert("content-disposition", file);
        Ok(r)
    }

    async fn consolidation(&self, viewer: Result<Viewer, Denied>) -> Result<Response, ReportError> {
        self.gate.may_read_plans(&viewer?).await?;
        Ok(json(&super::consolidation::list(&self.ctx).await?))
    }

    /// The page; without a token the reader is asked for one.
    async fn page(&self, viewer: Result<Viewer, Denied>) -> Response {
        let answer = async {
            let viewer = viewer?;
            let estate = super::estate_now(&self.ctx).await?;
            let scope = self.readable(&viewer, &estate).await?;
            Ok::<_, ReportError>(super::page::render(&estate.only(&scope), viewer.name()))
        };
        match answer.await {
            Ok(body) => html(StatusCode::OK, body),
            Err(ReportError::Denied(d)) => html(status_of(&d), login::page(&d.to_string())),
            Err(other) => reply(Err(other)),
        }
    }

    /// The agencies of `estate` that `viewer` may read; refused when none.
    async fn readable(
        &self,
        viewer: &Viewer,
        estate: &super::EstateNow,
    ) -> Result<Scope, ReportError> {
        let names: Vec<&str> = estate
            .agencies
            .iter()
            .map(|a| a.row.agency.as_str())
            .collect();
        self.scope_of(viewer, &names).await
    }

    async fn scope_of(&self, viewer: &Viewer, names: &[&str]) -> Result<Scope, ReportError> {
        let scope = self.gate.scope(viewer, names).await?;
        if scope == Scope::Agencies(Default::default()) {
            return Err(Denied::Forbidden(format!(
                "{} may read no agency's figures: that needs `get` on its Agency (an Agency binds the groups in its spec.groups), or the colo-finance ClusterRole for every agency",
                viewer.name()
            ))
            .into());
        }
        Ok(scope)
    }
}

/// `POST /api/v1/quote`: an inventory in, the quote on the live estate out (docs/quote.md).
fn quote_route(
    served: Served,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    warp::path!("api" / "v1" / "quote")
        .and(reader(served.gate.clone()))
        .and(warp::header::optional::<String>("content-type"))
        .and(warp::query::<BTreeMap<String, String>>())
        .and(warp::body::content_length_limit(
            super::quote::MAX_INVENTORY_BYTES,
        ))
        .and(warp::body::bytes())
        .and(with(served))
        .then(
            |v, kind: Option<String>, params, body: bytes::Bytes, s: Served| async move {
                let csv = kind.is_some_and(|k| k.starts_with("text/csv"));
                reply(s.quote(v, &body, csv, &params).await)
            },
        )
}

/// `GET /quote` (the form) and `POST /quote` (the form's inventory, quoted on one page).
fn quote_page_routes(
    served: Served,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let who = reader(served.gate.clone());
    let s = with(served);
    let form = warp::get()
        .and(warp::path!("quote"))
        .and(who.clone())
        .and(s.clone())
        .then(|v, s: Served| async move { s.quote_form(v).await });
    let quoted = warp::post()
        .and(warp::path!("quote"))
        .and(warp::body::content_length_limit(
            super::quote::MAX_INVENTORY_BYTES,
        ))
        .and(form_fields())
        .and(who)
        .and(s)
        .then(|fields, v, s: Served| async move { s.quote_page(v, fields).await });
    form.or(quoted).unify()
}

/// The quote form's fields: multipart (as the page sends it, a file perhaps uploaded) or
/// urlencoded (as a script might).
fn form_fields()
-> impl Filter<Extract = (Result<BTreeMap<String, String>, String>,), Error = warp::Rejection> + Clone
{
    let urlencoded = warp::body::form::<BTreeMap<String, String>>().map(Ok);
    let multipart = warp::multipart::form()
        .max_length(super::quote::MAX_INVENTORY_BYTES)
        .then(super::quote::form_fields);
    urlencoded.or(multipart).unify()
}

impl Served {
    /// Readers of every agency pass; others get the sign-in page saying why.
    async fn estate_reader(&self, viewer: Result<Viewer, Denied>) -> Result<(), Response> {
        let allowed = match viewer {
            Ok(v) => self.gate.may_read_estate(&v).await,
            Err(d) => Err(d),
        };
        allowed.map_err(|d| html(status_of(&d), login::page(&d.to_string())))
    }

    async fn quote_form(&self, viewer: Result<Viewer, Denied>) -> Response {
        match self.estate_reader(viewer).await {
            Ok(()) => html(StatusCode::OK, super::quote_page::form("", None)),
            Err(refused) => refused,
        }
    }

    /// The quote of the pasted inventory on one page; a problem shows the form again with it.
    async fn quote_page(
        &self,
        viewer: Result<Viewer, Denied>,
        fields: Result<BTreeMap<String, String>, String>,
    ) -> Response {
        if let Err(refused) = self.estate_reader(viewer).await {
            return refused;
        }
        let again = |pasted: &str, why: &str| {
            let page = super::quote_page::form(pasted, Some(why));
            html(StatusCode::BAD_REQUEST, page)
        };
        let mut fields = match fields {
            Ok(fields) => fields,
            Err(why) => return again("", &why),
        };
        let pasted = fields.remove("inventory").unwrap_or_default();
        if pasted.trim().is_empty() {
            return again("", "paste the inventory or choose its file");
        }
        fields.retain(|_, v| !v.trim().is_empty());
        let csv = super::quote::looks_like_csv(&pasted);
        let answer = super::quote::quote(&self.ctx, pasted.as_bytes(), csv, &fields).await;
        let currency = &self.ctx.config.currency;
        match answer {
            Ok(q) => html(StatusCode::OK, super::quote_page::render(&q, currency)),
            Err(e) => {
                let status = match e {
                    ReportError::BadRequest(_) => StatusCode::BAD_REQUEST,
                    _ => StatusCode::SERVICE_UNAVAILABLE,
                };
                html(
                    status,
                    super::quote_page::form(&pasted, Some(&e.to_string())),
                )
            }
        }
    }

    /// Quotes are for the platform team and finance: they show the estate's room.
    async fn quote(
        &self,
        viewer: Result<Viewer, Denied>,
        body: &[u8],
        csv: bool,
        params: &BTreeMap<String, String>,
    ) -> Result<Response, ReportError> {
        self.gate.may_read_estate(&viewer?).await?;
        let quote = super::quote::quote(&self.ctx, body, csv, params).await?;
        Ok(json(&quote))
    }
}

/// `POST /login` (a token from the page's form, kept in a cookie) and `POST /logout`.
fn sign_in_routes(
    gate: Arc<Gate>,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let login = warp::path!("login")
        .and(warp::body::content_length_limit(16 * 1024))
        .and(warp::body::form::<BTreeMap<String, String>>())
        .and(warp::header::optional::<String>("x-forwarded-proto"))
        .and(with(gate))
        .then(
            |form: BTreeMap<String, String>, proto: Option<String>, gate: Arc<Gate>| async move {
                let token = form.get("token").map(|t| t.trim()).unwrap_or_default();
                let over_https = proto.as_deref() == Some("https");
                let cookie = match login::keep(token, over_https) {
                    Ok(cookie) => cookie,
                    Err(why) => return html(StatusCode::BAD_REQUEST, login::page(&why)),
                };
                match gate.viewer(Some(token)).await {
                    Ok(_) => to_page(&cookie),
                    Err(d) => html(status_of(&d), login::page(&d.to_string())),
                }
            },
        );
    let logout = warp::path!("logout").map(|| to_page(&login::forget()));
    login.or(logout).unify()
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

/// The paths the report server answers.
pub const REPORT_PATHS: [&str; 10] = [
    "/",
    "/api/v1/agencies",
    "/api/v1/agencies/{name}",
    "/api/v1/consolidation",
    "/api/v1/estate",
    "/api/v1/report",
    "POST /api/v1/quote",
    "/quote",
    "POST /login",
    "POST /logout",
];

/// The paths the probe and metrics server answers.
pub const PROBE_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Any other path (or method): 404 with JSON that says what is here.
fn unknown_path(paths: &[&str]) -> Response {
    let body = serde_json::json!({
        "error": "no such path; GET one of the paths listed",
        "paths": paths,
    });
    warp::reply::with_status(warp::reply::json(&body), StatusCode::NOT_FOUND).into_response()
}

fn json<T: serde::Serialize>(value: &T) -> Response {
    warp::reply::json(value).into_response()
}

fn text(status: StatusCode, body: &'static str) -> Response {
    warp::reply::with_status(body, status).into_response()
}

fn html(status: StatusCode, body: String) -> Response {
    let mut r = warp::reply::with_status(body, status).into_response();
    let kind = HeaderValue::from_static("text/html; charset=utf-8");
    r.headers_mut().insert("content-type", kind);
    r
}

fn status_of(denied: &Denied) -> StatusCode {
    match denied {
        Denied::NoCredentials | Denied::BadToken(_) => StatusCode::UNAUTHORIZED,
        Denied::Forbidden(_) => StatusCode::FORBIDDEN,
        Denied::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// An answer, or the error as JSON `{"error": ...}` with its status: 400, 401, 403, 404, 503.
fn reply(answer: Result<Response, ReportError>) -> Response {
    let (status, message) = match answer {
        Ok(r) => return r,
        Err(ReportError::BadRequest(m)) => (StatusCode::BAD_REQUEST, m),
        Err(ReportError::NotFound(m)) => (StatusCode::NOT_FOUND, m),
        Err(ReportError::Unavailable(m)) => (StatusCode::SERVICE_UNAVAILABLE, m),
        Err(ReportError::Denied(d)) => (status_of(&d), d.to_string()),
    };
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        tracing::info!(%status, %message, "report request refused");
    }
    let body = warp::reply::json(&serde_json::json!({ "error": message }));
    let mut r = warp::reply::with_status(body, status).into_response();
    if status == StatusCode::UNAUTHORIZED {
        let challenge = HeaderValue::from_static("Bearer realm=\"colo\"");
        r.headers_mut().insert("www-authenticate", challenge);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDARY: &str = "colo-test-boundary";

    /// A multipart body as a browser sends the quote form: (field, filename, content).
    fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (name, file, content) in parts {
            let file = file.map_or(String::new(), |f| format!("; filename=\"{f}\""));
            body.extend(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n\r\n"
                )
                .bytes(),
            );
            body.extend_from_slice(content);
            body.extend(b"\r\n");
        }
        body.extend(format!("--{BOUNDARY}--\r\n").bytes());
        body
    }

    async fn fields(
        parts: &[(&str, Option<&str>, &[u8])],
    ) -> Result<BTreeMap<String, String>, String> {
        warp::test::request()
            .method("POST")
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(multipart(parts))
            .filter(&form_fields())
            .await
            .expect("the filter takes a multipart form")
    }

    #[tokio::test]
    async fn an_uploaded_inventory_takes_the_place_of_pasted_text() {
        let got = fields(&[
            ("inventory", None, b"pasted"),
            ("inventoryFile", Some("room.csv"), b"name,count\nweb,2\n"),
            ("agency", None, b"fenland-council"),
        ])
        .await
        .unwrap();
        assert_eq!(got["inventory"], "name,count\nweb,2\n");
        assert_eq!(got["agency"], "fenland-council");
        assert!(!got.contains_key("inventoryFile"));
        // No file chosen: the browser sends an empty part, and the pasted text stands.
        let got = fields(&[
            ("inventory", None, b"agency: x"),
            ("inventoryFile", Some(""), b""),
        ])
        .await
        .unwrap();
        assert_eq!(got["inventory"], "agency: x");
    }

    #[tokio::test]
    async fn a_file_that_is_not_text_is_refused_by_name() {
        let why = fields(&[("inventoryFile", Some("room.xlsx"), b"PK\x03\x04\xff\xfe")])
            .await
            .unwrap_err();
        assert!(
            why.starts_with("inventoryFile: the file is not text"),
            "{why}"
        );
    }
}
