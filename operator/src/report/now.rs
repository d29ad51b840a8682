//! The current month, from the ledger: each agency's figures with its budget and quote, the
//! agencies that left this month, and the estate's own lines.

use colo_api::{Agency, ReportRow};
use colo_engine::ledger::Ledger;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use serde::Serialize;

use super::{ReportError, auth};
use crate::context::Context;
use crate::figures::calendar::{month_of, unix};
use crate::figures::{agency_month, row};

/// One agency this month, as `/api/v1/agencies` gives it: the report fields plus budget,
/// tenancies and the part of its cost that is its share of what no one uses.
#[derive(Clone, Debug, Serialize)]
pub struct AgencyNow {
    #[serde(flatten)]
    pub row: ReportRow,
    #[serde(rename = "displayName")]
    pub display_name: String,
    pub budget: Option<f64>,
    #[serde(rename = "budgetUsedPercent")]
    pub budget_used_percent: Option<f64>,
    pub tenancies: i32,
    #[serde(rename = "unattributedKWh")]
    pub unattributed_kwh: f64,
    /// Seconds of use each second of the clock accounts: 1, but in demos (where figures
    /// grow faster; every time shown is the wall clock's).
    #[serde(rename = "accountingSpeed")]
    pub accounting_speed: f64,
    /// This month's bill against the quote it moved in on (`spec.quote`), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote: Option<colo_api::QuoteComparison>,
}

/// The estate this month: agencies, and the lines that are not theirs.
#[derive(Clone, Debug, Serialize)]
pub struct EstateNow {
    pub agencies: Vec<AgencyNow>,
    /// Agencies deleted this month: what they ran before they left is still theirs to pay.
    pub departed: Vec<ReportRow>,
    /// Nodes with no tenancy: the platform's own line (kWh, cost).
    #[serde(rename = "spareKWh")]
    pub spare_kwh: f64,
    #[serde(rename = "spareCost")]
    pub spare_cost: f64,
    /// What no agency could carry (a cluster with nothing of any agency on it).
    #[serde(rename = "unassignedKWh")]
    pub unassigned_kwh: f64,
    #[serde(rename = "unassignedCost")]
    pub unassigned_cost: f64,
    /// Idle and system share, already spread over the agencies above.
    #[serde(rename = "unattributedKWh")]
    pub unattributed_kwh: f64,
    #[serde(rename = "totalKWh")]
    pub total_kwh: f64,
    #[serde(rename = "totalCost")]
    pub total_cost: f64,
    pub currency: String,
    /// Up to when the ledger has accounted (RFC 3339).
    #[serde(rename = "asOf")]
    pub as_of: Option<String>,
    #[serde(rename = "accountingSpeed")]
    pub accounting_speed: f64,
    /// False when narrowed to some agencies: the estate's own lines are then not shown.
    #[serde(skip)]
    pub whole: bool,
}

impl EstateNow {
    /// Only what `scope` may see: its agencies, and the estate's own lines only to readers
    /// of every agency.
    pub fn only(mut self, scope: &auth::Scope) -> EstateNow {
        if *scope == auth::Scope::Everything {
            return self;
        }
        self.agencies.retain(|a| scope.allows(&a.row.agency));
        self.departed.retain(|r| scope.allows(&r.agency));
        self.whole = false;
        self
    }
}

/// The ledger as persisted (this process's copy when it leads; else read from the hub).
async fn ledger(ctx: &Context) -> Result<Ledger, ReportError> {
    if let Some(l) = ctx.state.ledger() {
        return Ok(l);
    }
    let api = Api::namespaced(ctx.client.clone(), &ctx.config.namespace);
    crate::k8s::ledger::load(&api)
        .await
        .map(|(l, _)| l)
        .map_err(|e| ReportError::Unavailable(e.to_string()))
}

pub async fn estate_now(ctx: &Context) -> Result<EstateNow, ReportError> {
    let ledger = ledger(ctx).await?;
    let agencies = Api::<Agency>::all(ctx.client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| ReportError::Unavailable(format!("cannot list agencies: {e}")))?
        .items;
    let currency = &ctx.config.currency;
    let out = agencies
        .iter()
        .map(|agency| agency_now(agency, &ledger, currency, ctx.config.accounting_speed))
        .collect();
    let m = &ledger.this_month;
    Ok(EstateNow {
        agencies: out,
        departed: departed(&agencies, &ledger, currency),
        spare_kwh: colo_api::report::thousandths(m.spare.kwh()),
        spare_cost: colo_api::report::cents(m.spare.cost),
        unassigned_kwh: colo_api::report::thousandths(m.unassigned.kwh()),
        unassigned_cost: colo_api::report::cents(m.unassigned.cost),
        unattributed_kwh: colo_api::report::thousandths(m.unattributed.kwh()),
        total_kwh: colo_api::report::thousandths(m.total.kwh()),
        total_cost: colo_api::report::cents(m.total.cost),
        currency: currency.clone(),
        accounting_speed: ctx.config.accounting_speed,
        as_of: (ledger.until > 0)
            .then(|| unix(ledger.until).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        whole: true,
    })
}

/// The names of the hub's Agencies (none when the hub cannot be listed: the caller has others).
pub async fn agency_names(ctx: &Context) -> Vec<String> {
    let listed = Api::<Agency>::all(ctx.client.clone())
        .list(&ListParams::default())
        .await;
    listed.map_or_else(
        |_| Vec::new(),
        |l| l.items.iter().map(|a| a.name_any()).collect(),
    )
}

/// This month's rows of agencies in the ledger that are no longer on the hub.
fn departed(agencies: &[Agency], ledger: &Ledger, currency: &str) -> Vec<ReportRow> {
    let on_hub: std::collections::HashSet<String> = agencies.iter().map(|a| a.name_any()).collect();
    let until = unix(ledger.until);
    let (_, month_start) = month_of(until);
    let from = month_start.max(unix(ledger.since));
    ledger
        .this_month
        .agencies
        .iter()
        .filter(|(name, _)| !on_hub.contains(*name))
        .map(|(name, figures)| row(name, figures, from, until, currency))
        .collect()
}

fn agency_now(agency: &Agency, ledger: &Ledger, currency: &str, speed: f64) -> AgencyNow {
    let month = agency_month(agency, ledger, currency);
    let (row, unattributed_kwh, quote) = match month {
        Some(m) => (m.this_month, m.unattributed_kwh, m.quote),
        None => {
            let empty = colo_engine::ledger::AgencyLedger {
                cost_centre: agency.spec.cost_centre.clone(),
                ..Default::default()
            };
            let (_, start) = month_of(unix(ledger.until));
            let until = unix(ledger.until);
            let quoted = agency
                .spec
                .quote
                .as_ref()
                .map(|q| colo_engine::quote::bill::compare(q, &Default::default()));
            (
                row(&agency.name_any(), &empty, start, until, currency),
                0.0,
                quoted,
            )
        }
    };
    let budget = agency.spec.budget;
    AgencyNow {
        budget_used_percent: budget
            .filter(|b| *b > 0.0)
            .map(|b| (row.cost / b * 1000.0).round() / 10.0),
        row,
        display_name: agency.spec.display_name.clone(),
        budget,
        tenancies: agency.status.as_ref().map_or(0, |s| s.tenancies),
        unattributed_kwh,
        accounting_speed: speed,
        quote,
    }
}
