//! The operator's two HTTP servers (warp). The report (the page `/`, `/api/v1/agencies`,
//! `/api/v1/agencies/{name}`, `/api/v1/estate`, `/api/v1/report`, `/api/v1/consolidation`;
//! the quote, `quote_http`; signing in, `login`) answers only readers the hub authenticates,
//! with what the hub lets each see (`auth`). A handler that panics is answered 500 and
//! counted (`colo_http_panics_total`); the connection and the server go on.
//! `/metrics`, `/healthz` and `/readyz` are on a port of their own, for Prometheus and the
//! kubelet, kept from everyone else by the chart's NetworkPolicy.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::FutureExt;
use warp::Filter;
use warp::Reply;
use warp::http::{HeaderValue, StatusCode};

use super::auth::{Denied, Gate, Scope, Viewer};
use super::quote::Quoting;
use super::{ReportError, login, quote_http};
use crate::context::Context;
use crate::metrics::Metrics;

pub(super) type Response = warp::reply::Response;

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
    let served = Served {
        ctx,
        gate,
        quoting: Arc::new(Quoting::default()),
    };
    let routes = warp::get()
        .and(api_routes(served.clone()))
        .or(quote_http::routes(served.clone()))
        .unify()
        .or(login::routes(served.clone()))
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
pub(super) struct Served {
    pub ctx: Arc<Context>,
    pub gate: Arc<Gate>,
    /// Quotes in progress: one at a time, off the async runtime (`quote`).
    pub quoting: Arc<Quoting>,
}

/// Runs one handler; a panic in it is answered 500 (the reader learns nothing of why) and
/// counted by path, and the server goes on.
pub(super) async fn caught(
    metrics: Arc<Metrics>,
    path: &'static str,
    handler: impl Future<Output = Response>,
) -> Response {
    match AssertUnwindSafe(handler).catch_unwind().await {
        Ok(response) => response,
        Err(_) => {
            tracing::error!(path, "a report handler panicked; answered 500");
            metrics.http_panics.with_label_values(&[path]).inc();
            reply(Err(ReportError::Internal(
                "Colo could not answer this request (a fault in Colo, logged and counted); try again or tell the platform team".into(),
            )))
        }
    }
}

pub(super) fn with<T: Clone + Send + Sync + 'static>(
    value: T,
) -> impl Filter<Extract = (T,), Error = Infallible> + Clone {
    warp::any().map(move || value.clone())
}

/// Who sent a request: its bearer token (header, else the page's cookie), checked by the hub.
pub(super) fn reader(
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
    let metrics = served.ctx.metrics.clone();
    let m = metrics.clone();
    let s = with(served);
    let agencies = warp::path!("api" / "v1" / "agencies")
        .and(who.clone())
        .and(s.clone())
        .then(move |v, s: Served| {
            caught(m.clone(), "/api/v1/agencies", async move {
                reply(s.agencies(v).await)
            })
        });
    let m = metrics.clone();
    let agency = warp::path!("api" / "v1" / "agencies" / String)
        .and(who.clone())
        .and(s.clone())
        .then(move |name: String, v, s: Served| {
            let answer = async move { reply(s.agency(v, &name).await) };
            caught(m.clone(), "/api/v1/agencies/{name}", answer)
        });
    let m = metrics.clone();
    let estate = warp::path!("api" / "v1" / "estate")
        .and(who.clone())
        .and(s.clone())
        .then(move |v, s: Served| {
            caught(m.clone(), "/api/v1/estate", async move {
                reply(s.estate(v).await)
            })
        });
    let m = metrics.clone();
    let report = warp::path!("api" / "v1" / "report")
        .and(warp::query::<BTreeMap<String, String>>())
        .and(who.clone())
        .and(s.clone())
        .then(move |params, v, s: Served| {
            let answer = async move { reply(s.report(v, params).await) };
            caught(m.clone(), "/api/v1/report", answer)
        });
    let m = metrics.clone();
    let consolidation = warp::path!("api" / "v1" / "consolidation")
        .and(who.clone())
        .and(s.clone())
        .then(move |v, s: Served| {
            let answer = async move { reply(s.consolidation(v).await) };
            caught(m.clone(), "/api/v1/consolidation", answer)
        });
    let m = metrics.clone();
    let page = warp::path::end()
        .and(who)
        .and(s)
        .then(move |v, s: Served| caught(m.clone(), "/", async move { s.page(v).await }));
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

pub(super) fn json<T: serde::Serialize>(value: &T) -> Response {
    warp::reply::json(value).into_response()
}

fn text(status: StatusCode, body: &'static str) -> Response {
    warp::reply::with_status(body, status).into_response()
}

pub(super) fn html(status: StatusCode, body: String) -> Response {
    let mut r = warp::reply::with_status(body, status).into_response();
    let kind = HeaderValue::from_static("text/html; charset=utf-8");
    r.headers_mut().insert("content-type", kind);
    r
}

pub(super) fn status_of(denied: &Denied) -> StatusCode {
    match denied {
        Denied::NoCredentials | Denied::BadToken(_) => StatusCode::UNAUTHORIZED,
        Denied::Forbidden(_) => StatusCode::FORBIDDEN,
        Denied::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// An answer, or the error as JSON `{"error": ...}` with its status: 400, 401, 403, 404,
/// 500, 503.
pub(super) fn reply(answer: Result<Response, ReportError>) -> Response {
    let (status, message) = match answer {
        Ok(r) => return r,
        Err(ReportError::BadRequest(m)) => (StatusCode::BAD_REQUEST, m),
        Err(ReportError::Internal(m)) => (StatusCode::INTERNAL_SERVER_ERROR, m),
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

/// What the routes are served with in unit tests: a hub client that is never asked (no
/// request there gets as far as the hub).
#[cfg(test)]
pub(super) fn served_for_tests() -> Served {
    use crate::config::Config;
    use crate::context::Wiring;
    let (service, _handle) = tower_test::mock::pair::<
        http::Request<kube::client::Body>,
        http::Response<kube::client::Body>,
    >();
    let client = kube::Client::new(service, "default");
    let wiring = Wiring {
        identity: "test".into(),
        watch_hub: false,
        fence: crate::k8s::fence::Fence::open(),
    };
    Served {
        ctx: Arc::new(Context::new(client.clone(), Config::default(), wiring)),
        gate: Arc::new(Gate::new(client, std::time::Duration::from_secs(1))),
        quoting: Arc::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_handler_that_panics_is_answered_500_and_counted() {
        let metrics = Arc::new(Metrics::new());
        let answer = caught(metrics.clone(), "/api/v1/report", async {
            let dates: Vec<u8> = Vec::new();
            let _ = dates[3];
            text(StatusCode::OK, "unreached")
        })
        .await;
        assert_eq!(answer.status(), 500);
        assert!(
            metrics
                .text()
                .contains(r#"colo_http_panics_total{path="/api/v1/report"} 1"#),
            "{}",
            metrics.text()
        );
        let fine = caught(metrics, "/", async { text(StatusCode::OK, "ok") }).await;
        assert_eq!(fine.status(), 200);
    }
}
