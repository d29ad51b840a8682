//! Accounting helpers: agencies with busy tenancies, and waiting on what the ledger shows.

use std::time::Duration;

use crate::*;

/// A new agency with a budget and one busy tenancy, Running.
pub fn busy_agency(prefix: &str, budget: &str) -> (String, String) {
    let (agency, ns) = new_agency(prefix, "OFFICIAL");
    kubectl_ok(
        HUB,
        &[
            "patch",
            "agency",
            &agency,
            "--type=merge",
            "-p",
            &format!(r#"{{"spec":{{"budget":{budget}}}}}"#),
        ],
    );
    Tenancy::new(&ns, "ledger", &agency)
        .workload(Workload::new("api", 2, "4", "8Gi").uses("2", "4Gi"))
        .apply();
    wait_phase(&ns, "ledger", "Running", Duration::from_secs(90));
    (agency, ns)
}

pub fn status_row(agency: &str, which: &str) -> serde_json::Value {
    get_json(HUB, &["get", "agency", agency])["status"][which].clone()
}

/// Waits until the agency's accounted cost this month reaches `cents`.
pub fn wait_cost(agency: &str, cents: f64) -> serde_json::Value {
    wait_until(
        &format!("{agency} accounted at least {cents} cents"),
        Duration::from_secs(180),
        || {
            let row = status_row(agency, "thisMonth");
            match row["cost"].as_f64() {
                Some(c) if c * 100.0 >= cents => Ok(row),
                other => Err(format!("cost {other:?}")),
            }
        },
    )
}
