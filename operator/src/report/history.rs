//! Past windows, from Prometheus history of Colo's own counters: each period's rows are the
//! counters at its end minus at its start.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use colo_api::{Agency, ReportRow};
use kube::api::ListParams;
use kube::{Api, ResourceExt};

use super::ReportError;
use super::query::{ReportQuery, boundaries};
use crate::context::Context;
use crate::figures::row;
use crate::k8s::prom::Prometheus;
use crate::metrics::ledger_counters::{AGENCY_COUNTERS, CounterValues, figures_from};

/// How far back a counter's last sample is looked for at a boundary.
const LOOKBACK: &str = "1h";

/// Every agency's counters as they stood at `t` (the last sample at or before it).
async fn counters_at(
    prom: &Prometheus,
    t: DateTime<Utc>,
    currency: &str,
) -> Result<BTreeMap<String, CounterValues>, ReportError> {
    let queries = AGENCY_COUNTERS.iter().map(|c| {
        let metric = c.metric;
        let selector = if c.money {
            format!("{metric}{{currency=\"{currency}\"}}")
        } else {
            metric.to_string()
        };
        let text = format!("max by (agency) (last_over_time({selector}[{LOOKBACK}]))");
        async move { prom.query_at(&text, Some(t.timestamp())).await }
    });
    let results = futures::future::try_join_all(queries)
        .await
        .map_err(|e| ReportError::Unavailable(e.to_string()))?;
    let mut out: BTreeMap<String, CounterValues> = BTreeMap::new();
    for (counter, samples) in AGENCY_COUNTERS.iter().zip(results) {
        for s in samples {
            let agency = s.labels.get("agency").cloned().unwrap_or_default();
            out.entry(agency)
                .or_default()
                .insert(counter.metric, s.value);
        }
    }
    Ok(out)
}

/// Report rows for `q`, from Prometheus history: per period, each counter at its end minus
/// at its start (the counters only grow: they continue from the persisted ledger).
pub async fn history(ctx: &Context, q: &ReportQuery) -> Result<Vec<ReportRow>, ReportError> {
    let Some(url) = &ctx.config.history_prometheus else {
        return Err(ReportError::Unavailable(
            "no Prometheus for history: start the operator with --history-prometheus-url".into(),
        ));
    };
    let prom = Prometheus::new(url);
    let currency = &ctx.config.currency;
    let cuts = boundaries(q);
    let mut at = Vec::new();
    for t in &cuts {
        at.push(counters_at(&prom, *t, currency).await?);
    }
    let centres = cost_centres(ctx, &prom, q.to).await;
    let mut rows = Vec::new();
    for (i, pair) in cuts.windows(2).enumerate() {
        let (start, end) = (&at[i], &at[i + 1]);
        for (agency, e) in end {
            let before = |metric| start.get(agency).and_then(|s| s.get(metric)).copied();
            let d: CounterValues = e
                .iter()
                .map(|(&metric, &v)| (metric, (v - before(metric).unwrap_or(0.0)).max(0.0)))
                .collect();
            let centre = centres.get(agency).cloned().unwrap_or_default();
            let figures = figures_from(&d, centre);
            rows.push(row(agency, &figures, pair[0], pair[1], currency));
        }
    }
    Ok(rows)
}

/// Cost centres by agency: the hub's Agencies, else what `colo_agency_info` last said.
async fn cost_centres(
    ctx: &Context,
    prom: &Prometheus,
    at: DateTime<Utc>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Ok(samples) = prom
        .query_at(
            &format!("max by (agency, cost_centre) (last_over_time(colo_agency_info[{LOOKBACK}]))"),
            Some(at.timestamp()),
        )
        .await
    {
        for s in samples {
            if let (Some(a), Some(c)) = (s.labels.get("agency"), s.labels.get("cost_centre")) {
                out.insert(a.clone(), c.clone());
            }
        }
    }
    if let Ok(list) = Api::<Agency>::all(ctx.client.clone())
        .list(&ListParams::default())
        .await
    {
        for a in list.items {
            out.insert(a.name_any(), a.spec.cost_centre.clone());
        }
    }
    out
}
