//! `POST /api/v1/quote`: `colo quote` on the live estate as the operator sees it now. The body
//! is the inventory: YAML or JSON, or CSV (`Content-Type: text/csv`, with the agency, room and
//! needs as query parameters). Bad input is 400 naming the row and column, field or parameter.
//! The inventory is read and quoted off the async runtime, one quote at a time, within a time
//! budget: a reader cannot stall the operator's controllers or its Lease. docs/quote.md.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Buf;
use colo_engine::quote::{self, Inventory, Quote, QuoteError};
use futures::TryStreamExt;
use warp::multipart::FormData;

use super::ReportError;
use crate::context::Context;
use crate::k8s::plain;

/// The largest inventory taken (its 1,000 server groups, `engine::quote::inventory`).
pub const MAX_INVENTORY_BYTES: u64 = 1 << 20;

/// How long a quote may take before the reader is told to try again (the largest inventory
/// takes well under a second: docs/benchmarks.md).
pub const BUDGET: Duration = Duration::from_secs(20);

/// Quotes under way: at most one at a time, each on a blocking thread.
pub struct Quoting {
    permits: Arc<tokio::sync::Semaphore>,
    budget: Duration,
}

impl Default for Quoting {
    fn default() -> Self {
        Quoting {
            permits: Arc::new(tokio::sync::Semaphore::new(1)),
            budget: BUDGET,
        }
    }
}

pub async fn quote(
    ctx: &Context,
    quoting: &Quoting,
    body: &[u8],
    csv: bool,
    settings: &BTreeMap<String, String>,
) -> Result<Quote, ReportError> {
    // Held by the work itself: a quote past its budget still holds it until it ends.
    let permit = quoting.permits.clone().try_acquire_owned().map_err(|_| {
        ReportError::Unavailable(
            "another quote is being worked out; try again in a few seconds".into(),
        )
    })?;
    let live = ctx
        .observer
        .as_placement_sees_it(&ctx.state, &[])
        .await
        .map_err(|e| {
            ReportError::Unavailable(format!(
                "cannot observe the estate: {}",
                plain::kube_error(&e)
            ))
        })?;
    let (body, settings) = (body.to_vec(), settings.clone());
    let work = tokio::task::spawn_blocking(move || {
        let _held = permit;
        let inventory = inventory(&body, csv, &settings)?;
        quote::quote(&live.snapshot, &inventory).map_err(|e| match e {
            QuoteError::Inventory(e) => ReportError::BadRequest(e.to_string()),
            QuoteError::Snapshot(e) => ReportError::Unavailable(e),
        })
    });
    match tokio::time::timeout(quoting.budget, work).await {
        Ok(Ok(answer)) => answer,
        // A panic in the quote is the handler's: answered 500 and counted (`http::caught`).
        Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Ok(Err(_)) => Err(ReportError::Internal("the quote was stopped".into())),
        Err(_) => Err(ReportError::Unavailable(format!(
            "the quote took longer than {} s; try a smaller inventory, or again later",
            quoting.budget.as_secs()
        ))),
    }
}

/// The quote page's file input: an uploaded inventory takes the place of pasted text.
pub const FILE_FIELD: &str = "inventoryFile";

/// The quote page's fields from its multipart form, an uploaded file (when one was chosen) as
/// `inventory`. Err says what could not be read.
pub async fn form_fields(form: FormData) -> Result<BTreeMap<String, String>, String> {
    let parts: Vec<(String, Vec<u8>)> = form
        .and_then(|part| async move {
            let name = part.name().to_string();
            let bytes = part
                .stream()
                .try_fold(Vec::new(), |mut all, chunk| async move {
                    all.extend_from_slice(chunk.chunk());
                    Ok(all)
                })
                .await?;
            Ok((name, bytes))
        })
        .try_collect()
        .await
        .map_err(|e| format!("the form could not be read: {e}"))?;
    let mut fields = BTreeMap::new();
    for (name, bytes) in parts {
        let text = String::from_utf8(bytes)
            .map_err(|_| format!("{name}: the file is not text (UTF-8): save it as CSV or YAML"))?;
        fields.insert(name, text);
    }
    match fields.remove(FILE_FIELD) {
        Some(file) if !file.trim().is_empty() => {
            fields.insert("inventory".into(), file);
        }
        _ => {}
    }
    Ok(fields)
}

/// Whether pasted text is a CSV inventory (its first line a header of columns) or YAML.
pub fn looks_like_csv(text: &str) -> bool {
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    first.contains(',') && !first.contains(':') && !first.trim_start().starts_with('#')
}

fn inventory(
    body: &[u8],
    csv: bool,
    settings: &BTreeMap<String, String>,
) -> Result<Inventory, ReportError> {
    let bad = |e: quote::InventoryError| ReportError::BadRequest(e.to_string());
    let text = std::str::from_utf8(body)
        .map_err(|_| ReportError::BadRequest("the inventory is not UTF-8 text".into()))?;
    if csv {
        let (agency, room, needs) = quote::csv::csv_settings(settings).map_err(bad)?;
        return Inventory::from_csv(text, &agency, room, needs).map_err(bad);
    }
    if let Some(name) = settings.keys().next() {
        return Err(ReportError::BadRequest(format!(
            "{name}: query parameters are for a CSV inventory (Content-Type: text/csv); a YAML inventory holds its room and needs"
        )));
    }
    Inventory::from_yaml(text).map_err(bad)
}
