//! A restart of the operator changes no total: the ledger persisted before shutdown is where
//! the next leader carries on, the gap it was down is not guessed at beyond two intervals,
//! and Colo's counters never go back (Prometheus sees no reset). Its own test binary: it
//! stops the operator, and cargo runs test binaries one after another.

use std::time::Duration;

use colo_e2e::*;

/// The persisted ledger: (until, this agency's cost to date), from the hub.
fn ledger(agency: &str) -> (i64, f64) {
    let text = kubectl_ok(
        HUB,
        &[
            "-n",
            "colo-system",
            "get",
            "configmap",
            "colo-ledger",
            "-o",
            "jsonpath={.data.ledger\\.json}",
        ],
    );
    let l: serde_json::Value = serde_json::from_str(&text).expect("the ledger is JSON");
    (
        l["until"].as_i64().unwrap(),
        l["toDate"]["agencies"][agency]["shared"]["cost"]
            .as_f64()
            .unwrap_or(0.0),
    )
}

fn next_ledger(agency: &str, after: i64) -> (i64, f64) {
    wait_until("the ledger's next tick", Duration::from_secs(60), || {
        let l = ledger(agency);
        if l.0 > after {
            Ok(l)
        } else {
            Err(format!("until {}", l.0))
        }
    })
}

#[test]
fn a_restart_of_the_operator_changes_no_total() {
    colo_is_running();
    let (agency, ns) = new_agency("restart", "OFFICIAL");
    Tenancy::new(&ns, "steady", &agency)
        .workload(Workload::new("api", 2, "4", "8Gi").uses("2", "4Gi"))
        .apply();
    wait_phase(&ns, "steady", "Running", Duration::from_secs(90));
    // Two normal ticks give the agency's rate (cost per accounted second).
    let first = next_ledger(&agency, 0);
    let a = next_ledger(&agency, first.0);
    let b = next_ledger(&agency, a.0);
    let rate = (b.1 - a.1) / (b.0 - a.0) as f64;
    assert!(rate > 0.0, "the agency is accounted: {a:?} {b:?}");

    operator("stop");
    let stopped = ledger(&agency);
    let status = get_json(HUB, &["get", "agency", &agency])["status"]["toDate"].clone();
    assert!(
        status["cost"].as_f64().unwrap() <= (stopped.1 * 100.0).round() / 100.0,
        "what was published is in the ledger: status {status}, ledger {stopped:?}"
    );
    operator("start");
    let resumed = next_ledger(&agency, stopped.0);
    let gap = resumed.0 - stopped.0;
    assert!(gap > 0);
    // A tick counts at most two intervals (2 × 5 s of the clock, e2e/operator.sh); a longer
    // gap, the operator down, is not guessed at.
    let counted = gap.min(10);
    // The tick after it gives the rate now (usage and neighbours change slowly).
    let after = next_ledger(&agency, resumed.0);
    let rate_now = (after.1 - resumed.1) / (after.0 - resumed.0) as f64;
    let added = resumed.1 - stopped.1;
    let expected = rate_now * counted as f64;
    assert!(
        (added - expected).abs() <= expected * 0.10 + 1e-9,
        "the first tick after the restart adds {counted} s once: {added} against {expected}"
    );
    // Prometheus saw the counter carry on, never reset.
    wait_until(
        "Prometheus scrapes the restarted operator",
        Duration::from_secs(60),
        || {
            let q = format!("colo_agency_cost_total{{agency=\"{agency}\"}}");
            match prometheus_query(&q)?.first() {
                Some(s)
                    if s["value"][1].as_str().unwrap().parse::<f64>().unwrap()
                        >= resumed.1 - 1e-9 =>
                {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        },
    );
    let resets = prometheus_query(&format!(
        "resets(colo_agency_cost_total{{agency=\"{agency}\"}}[10m])"
    ))
    .unwrap();
    assert_eq!(resets[0]["value"][1], "0", "no counter reset: {resets:?}");
}
