//! The operator's HTTP endpoints (warp): `/healthz`, `/readyz`, `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use warp::Filter;

use crate::context::Context;

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
    let metrics = warp::path!("metrics").map(move || {
        let encoder = prometheus::TextEncoder::new();
        let text = encoder
            .encode_to_string(&ctx.metrics.registry.gather())
            .unwrap_or_default();
        warp::reply::with_header(text, "content-type", "text/plain; version=0.0.4")
    });
    let routes = warp::get().and(healthz.or(readyz).or(metrics));
    warp::serve(routes)
        .bind(addr)
        .await
        .graceful(shutdown)
        .run()
        .await;
}
