//! The operator's HTTP endpoints (warp): `/healthz`, `/readyz`, `/metrics`, the report API
//! (`/api/v1/agencies`, `/api/v1/agencies/{name}`, `/api/v1/report`) and the report page `/`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use warp::Filter;
use warp::Reply;
use warp::http::StatusCode;

use crate::context::Context;
use crate::report::{self, ReportError};

/// `ready` turns true once this process leads and its controllers run.
pub async fn serve(
    addr: SocketAddr,
    ctx: Arc<Context>,
    ready: Arc<AtomicBool>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let healthz = warp::path!("healthz")
        .map(|| warp::reply::with_status("ok".to_string(), warp::http::StatusCode::OK));
    let readyz = warp::path!("readyz").map(move || {
        if ready.load(Ordering::Relaxed) {
            warp::reply::with_status("ready".to_string(), warp::http::StatusCode::OK)
        } else {
            warp::reply::with_status(
                "not leading yet".to_string(),
                warp::http::StatusCode::SERVICE_UNAVAILABLE,
            )
        }
    });
    let ctx_api = ctx.clone();
    let metrics = warp::path!("metrics").map(move || {
        warp::reply::with_header(
            ctx.metrics.text(),
            "content-type",
            "text/plain; version=0.0.4",
        )
    });
    let api = api_routes(ctx_api);
    let routes = warp::get()
        .and(healthz.or(readyz).or(metrics).or(api))
        .or(warp::any().map(unknown_path));
    warp::serve(routes)
        .bind(addr)
        .await
        .graceful(shutdown)
        .run()
        .await;
}

/// `/api/v1/agencies[/{name}]`, `/api/v1/report` and the report page `/`.
fn api_routes(
    ctx: Arc<Context>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let report = report_route(ctx.clone());
    let with_ctx = warp::any().map(move || ctx.clone());
    let agencies = warp::path!("api" / "v1" / "agencies")
        .and(with_ctx.clone())
        .then(|ctx: Arc<Context>| async move {
            reply(report::estate_now(&ctx).await.map(|e| json(&e.agencies)))
        });
    let estate = warp::path!("api" / "v1" / "estate")
        .and(with_ctx.clone())
        .then(|ctx: Arc<Context>| async move {
            reply(report::estate_now(&ctx).await.map(|e| json(&e)))
        });
    let agency = warp::path!("api" / "v1" / "agencies" / String)
        .and(with_ctx.clone())
        .then(|name: String, ctx: Arc<Context>| async move {
            reply(report::estate_now(&ctx).await.and_then(|e| {
                e.agencies
                    .iter()
                    .find(|a| a.row.agency == name)
                    .map(json)
                    .ok_or_else(|| ReportError::NotFound(format!("no agency {name:?}")))
            }))
        });
    let consolidation = warp::path!("api" / "v1" / "consolidation")
        .and(with_ctx.clone())
        .then(|ctx: Arc<Context>| async move {
            reply(super::consolidation::list(&ctx).await.map(|c| json(&c)))
        });
    let page = warp::path::end()
        .and(with_ctx)
        .then(|ctx: Arc<Context>| async move {
            reply(report::estate_now(&ctx).await.map(|e| {
                let mut r = warp::reply::Response::new(super::page::render(&e).into());
                r.headers_mut().insert(
                    "content-type",
                    warp::http::HeaderValue::from_static("text/html; charset=utf-8"),
                );
                r
            }))
        });
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

/// `/api/v1/report[?from&to&agency&format=csv]`: past windows, as JSON or CSV.
fn report_route(
    ctx: Arc<Context>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let with_ctx = warp::any().map(move || ctx.clone());
    warp::path!("api" / "v1" / "report")
        .and(warp::query::<BTreeMap<String, String>>())
        .and(with_ctx.clone())
        .then(
            |params: BTreeMap<String, String>, ctx: Arc<Context>| async move {
                let answer = async {
                    let q = report::parse_query(&params, ctx.clock.now())?;
                    let rows = report::history(&ctx, &q).await?;
                    Ok(if q.csv {
                        let mut r = warp::reply::Response::new(report::csv(&rows).into());
                        let speed = ctx.config.accounting_speed.to_string();
                        if let Ok(speed) = warp::http::HeaderValue::from_str(&speed) {
                            r.headers_mut().insert("x-colo-accounting-speed", speed);
                        }
                        r.headers_mut().insert(
                            "content-type",
                            warp::http::HeaderValue::from_static("text/csv; charset=utf-8"),
                        );
                        r.headers_mut().insert(
                            "content-disposition",
                            warp::http::HeaderValue::from_static(
                                "attachment; filename=\"colo-report.csv\"",
                            ),
                        );
                        r
                    } else {
                        json(&rows)
                    })
                };
                reply(answer.await)
            },
        )
}

/// The paths this server answers.
pub const PATHS: [&str; 9] = [
    "/",
    "/api/v1/agencies",
    "/api/v1/agencies/{name}",
    "/api/v1/consolidation",
    "/api/v1/estate",
    "/api/v1/report",
    "/healthz",
    "/readyz",
    "/metrics",
];

/// Any other path (or method): 404 with JSON that says what is here.
fn unknown_path() -> warp::reply::Response {
    let body = serde_json::json!({
        "error": "no such path; GET one of the paths listed",
        "paths": PATHS,
    });
    warp::reply::with_status(warp::reply::json(&body), StatusCode::NOT_FOUND).into_response()
}

fn json<T: serde::Serialize>(value: &T) -> warp::reply::Response {
    warp::reply::json(value).into_response()
}

/// An answer, or the error as JSON `{"error": ...}` with its status: 400, 404 or 503.
fn reply(answer: Result<warp::reply::Response, ReportError>) -> warp::reply::Response {
    let (status, message) = match answer {
        Ok(r) => return r,
        Err(ReportError::BadRequest(m)) => (StatusCode::BAD_REQUEST, m),
        Err(ReportError::NotFound(m)) => (StatusCode::NOT_FOUND, m),
        Err(ReportError::Unavailable(m)) => (StatusCode::SERVICE_UNAVAILABLE, m),
    };
    warp::reply::with_status(
        warp::reply::json(&serde_json::json!({ "error": message })),
        status,
    )
    .into_response()
}
