//! `POST /api/v1/quote`: `colo quote` on the live estate as the operator sees it now. The body
//! is the inventory: YAML or JSON, or CSV (`Content-Type: text/csv`, with the agency, room and
//! needs as query parameters). Bad input is 400 naming the row and column, field or parameter.
//! docs/quote.md.

use std::collections::BTreeMap;

use bytes::Buf;
use colo_engine::quote::{self, Inventory, Quote, QuoteError};
use futures::TryStreamExt;
use warp::multipart::FormData;

use super::ReportError;
use crate::context::Context;
use crate::k8s::plain;

/// The largest inventory taken (a few thousand server groups).
pub const MAX_INVENTORY_BYTES: u64 = 1 << 20;

pub async fn quote(
    ctx: &Context,
    body: &[u8],
    csv: bool,
    settings: &BTreeMap<String, String>,
) -> Result<Quote, ReportError> {
    let inventory = inventory(body, csv, settings)?;
    let live = ctx
        .observer
        .observe(&[], &ctx.state.decided_nodes(), &ctx.state.rejected())
        .await
        .map_err(|e| {
            ReportError::Unavailable(format!(
                "cannot observe the estate: {}",
                plain::kube_error(&e)
            ))
        })?;
    quote::quote(&live.snapshot, &inventory).map_err(|e| match e {
        QuoteError::Inventory(e) => ReportError::BadRequest(e.to_string()),
        QuoteError::Snapshot(e) => ReportError::Unavailable(e),
    })
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
        let (agency, room, needs) = quote::inventory::csv_settings(settings).map_err(bad)?;
        return Inventory::from_csv(text, &agency, room, needs).map_err(bad);
    }
    if let Some(name) = settings.keys().next() {
        return Err(ReportError::BadRequest(format!(
            "{name}: query parameters are for a CSV inventory (Content-Type: text/csv); a YAML inventory holds its room and needs"
        )));
    }
    Inventory::from_yaml(text).map_err(bad)
}
