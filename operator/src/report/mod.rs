//! What finance reads: the current month per agency (from the ledger) and past windows (from
//! Prometheus history of Colo's own counters), as report rows; served by `http` as JSON, CSV
//! and the page (`page`).

pub mod auth;
pub mod consolidation;
pub mod http;
mod login;
mod page;
pub mod query;
pub mod quote;
mod quote_http;
mod quote_page;

mod history;
mod now;

use colo_api::ReportRow;

pub use history::history;
pub use now::{EstateNow, agency_names, estate_now};
pub use query::parse_query;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The request is wrong: 400 with this message.
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// Who is asking is unknown (401) or may not see this (403).
    #[error(transparent)]
    Denied(#[from] auth::Denied),
    /// Something Colo depends on is missing or down, or busy: 503.
    #[error("{0}")]
    Unavailable(String),
    /// A fault in Colo itself (a handler panicked): 500.
    #[error("{0}")]
    Internal(String),
}

/// Rows as CSV with the SPEC's header.
pub fn csv(rows: &[ReportRow]) -> String {
    let mut out = String::from(colo_api::REPORT_CSV_HEADER);
    out.push('\n');
    for r in rows {
        out.push_str(&r.to_csv());
        out.push('\n');
    }
    out
}
