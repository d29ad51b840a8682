//! The estate's month adds up: every agency's figures, those of agencies that left this
//! month, the spare capacity and the unassigned line make the total, and an agency deleted
//! mid-month still has its month. Its own test binary: it deletes an agency, which would race
//! the page-against-API comparison of accounting.rs.

use std::time::Duration;

use colo_e2e::accounting::{busy_agency, wait_cost};
use colo_e2e::*;

#[test]
fn the_estate_adds_up_and_an_agency_that_left_still_pays_for_its_month() {
    colo_is_running();
    let (agency, ns) = busy_agency("left", "100000");
    wait_cost(&agency, 2.0);
    kubectl_ok(
        HUB,
        &["-n", &ns, "delete", "tenancy", "--all", "--timeout=60s"],
    );
    kubectl_ok(HUB, &["delete", "agency", &agency, "--timeout=60s"]);
    let estate = wait_until(
        "the departed agency in the estate's figures",
        Duration::from_secs(60),
        || {
            let estate = colo_json("/api/v1/estate");
            let departed = estate["departed"].as_array().cloned().unwrap_or_default();
            match departed.iter().find(|r| r["agency"] == agency.as_str()) {
                Some(row) => Ok((estate.clone(), row.clone())),
                None => Err(estate.to_string()),
            }
        },
    );
    let (estate, row) = estate;
    assert!(row["cost"].as_f64().unwrap() >= 0.02, "{row}");
    let listed = |field: &str| -> Vec<f64> {
        let rows = estate["agencies"].as_array().unwrap().iter();
        let rows = rows.chain(estate["departed"].as_array().unwrap());
        rows.map(|r| r[field].as_f64().unwrap()).collect()
    };
    // Every line is rounded (cost to the penny, energy to the watt-hour): the sum may differ
    // from the rounded total by half a unit per line.
    for (field, spare, unassigned, total, unit) in [
        ("cost", "spareCost", "unassignedCost", "totalCost", 0.01),
        ("kWh", "spareKWh", "unassignedKWh", "totalKWh", 0.001),
    ] {
        let lines = listed(field);
        let sum = lines.iter().sum::<f64>()
            + estate[spare].as_f64().unwrap()
            + estate[unassigned].as_f64().unwrap();
        let total = estate[total].as_f64().unwrap();
        let slack = unit / 2.0 * (lines.len() + 3) as f64;
        assert!(
            (sum - total).abs() <= slack,
            "{field}: agencies, departed, spare and unassigned add to {sum}, the total is {total}"
        );
    }
}
