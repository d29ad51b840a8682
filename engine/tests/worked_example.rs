//! The worked example of docs/energy-model.md, figure by figure. If this fails, either the
//! model changed (update the document with it) or the engine broke.

use colo_engine::{PlanOptions, plan_yaml};

fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() < 0.005,
        "{what}: got {got}, the document says {want}"
    );
}

#[test]
fn the_documented_month_is_what_the_engine_computes() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/snapshots/worked-example.yaml"
    ))
    .unwrap();
    let plan = plan_yaml(&text, PlanOptions::default()).unwrap();
    let alpha = plan.agencies.iter().find(|a| a.agency == "alpha").unwrap();
    let beta = plan.agencies.iter().find(|a| a.agency == "beta").unwrap();

    // Shared: both agencies reserve a quarter of n1 and burn 2 cores each.
    close(alpha.kwh_per_month, 61.9188, "alpha shared kWh");
    close(alpha.cost_per_month, 88.4797, "alpha shared cost");
    close(alpha.carbon_kg_per_month, 12.3838, "alpha shared carbon");
    close(
        alpha.unattributed_kwh_per_month,
        25.0310,
        "alpha's share of unattributed kWh",
    );
    close(beta.kwh_per_month, 61.9188, "beta shared kWh");

    // Standalone: two 16-core servers at 6.25% in a PUE 2.0 room; beta's own room differs.
    assert_eq!(alpha.standalone_servers, 2);
    close(
        alpha.standalone_kwh_per_month,
        511.9125,
        "alpha standalone kWh",
    );
    close(
        alpha.standalone_cost_per_month,
        327.9781,
        "alpha standalone cost",
    );
    close(
        alpha.standalone_carbon_kg_per_month,
        102.3825,
        "alpha standalone carbon",
    );
    close(alpha.savings_per_month, 239.4984, "alpha saving");
    close(
        beta.standalone_kwh_per_month,
        447.1706,
        "beta standalone kWh (32-core servers, PUE 1.8)",
    );
    close(
        beta.standalone_cost_per_month,
        311.7927,
        "beta standalone cost",
    );

    // The estate: n1 at 121.17 W, n2 in standby at 10 W, both × PUE 1.4 × 730 h.
    let s = &plan.summary;
    close(s.shared_kwh_per_month, 134.0577, "estate kWh");
    close(s.shared_cost_per_month, 325.5144, "estate cost");
    close(
        s.unattributed_kwh_per_month,
        50.0620,
        "unattributed kWh before spreading",
    );
    close(s.spare_kwh_per_month, 10.2200, "spare kWh");
    close(s.spare_cost_per_month, 148.5550, "spare cost");
    // Conservation: agencies and spare make the estate.
    close(
        alpha.kwh_per_month + beta.kwh_per_month + s.spare_kwh_per_month,
        s.shared_kwh_per_month,
        "kWh add up",
    );
    close(
        alpha.cost_per_month + beta.cost_per_month + s.spare_cost_per_month,
        s.shared_cost_per_month,
        "cost adds up",
    );
}

/// The live method: the same estate accounted minute by minute for a month (730 h) by the
/// ledger, with a restart (the ledger saved and read back) half way, gives the month above.
#[test]
fn a_live_month_of_the_documented_estate_adds_up_to_the_documented_month() {
    use colo_engine::ledger::Ledger;
    use colo_engine::{Estate, EstateSnapshot};
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/snapshots/worked-example.yaml"
    ))
    .unwrap();
    let estate = Estate::from_snapshot(&EstateSnapshot::from_yaml(&text).unwrap()).unwrap();
    let measured = vec![true; estate.clusters.len()];
    let start = 1_793_491_200; // 2026-11-01T00:00:00Z
    let mut ledger = Ledger::default();
    ledger
        .tick(&estate, &measured, start, "2026-11", 120)
        .unwrap();
    let minutes = 730 * 60;
    for minute in 1..=minutes {
        if minute == minutes / 2 {
            let saved = serde_json::to_string(&ledger).unwrap();
            ledger = serde_json::from_str(&saved).unwrap();
            // A second leader that read the same ledger cannot count the same minute again.
            assert!(
                ledger
                    .clone()
                    .tick(&estate, &measured, ledger.until, "2026-11", 120)
                    .is_err()
            );
        }
        ledger
            .tick(&estate, &measured, start + minute * 60, "2026-11", 120)
            .unwrap();
    }
    let alpha = &ledger.this_month.agencies["alpha"];
    close(alpha.shared.kwh(), 61.9188, "alpha shared kWh");
    close(alpha.shared.cost, 88.4797, "alpha shared cost");
    close(
        alpha.shared.grams / 1000.0,
        12.3838,
        "alpha shared carbon kg",
    );
    close(
        alpha.unattributed_share.kwh(),
        25.0310,
        "alpha's unattributed share",
    );
    close(alpha.standalone.kwh(), 511.9125, "alpha standalone kWh");
    close(alpha.standalone.cost, 327.9781, "alpha standalone cost");
    close(alpha.savings(), 239.4984, "alpha saving");
    close(
        alpha.cpu_core_seconds / 3600.0,
        2.0 * 730.0,
        "alpha core-hours",
    );
    close(
        alpha.memory_gib_seconds / 3600.0,
        8.0 * 730.0,
        "alpha GiB-hours",
    );
    assert_eq!(alpha.modelled_seconds, 0.0);
    close(alpha.now_cores, 2.0, "alpha uses 2 cores now");
    close(alpha.peak_cores, 2.0, "and at most 2 this month");
    close(alpha.measured_seconds / 3600.0, 730.0, "measured hours");
    // It ran something, measured, all month: the metered part (what a quote is compared with)
    // is the whole of it.
    close(alpha.metered.seconds / 3600.0, 730.0, "metered hours");
    close(alpha.metered.shared.cost, alpha.shared.cost, "metered cost");
    close(
        alpha.metered.cpu_core_seconds / 3600.0,
        2.0 * 730.0,
        "metered core-hours",
    );
    // A minute accounted but not metered: alpha pays for it, its metered month stays.
    let accounted_not_metered = |estate: &Estate, measured: &[bool]| {
        let mut next = ledger.clone();
        next.tick(estate, measured, ledger.until + 60, "2026-11", 120)
            .unwrap();
        let later = &next.this_month.agencies["alpha"];
        assert!(later.shared.cost > alpha.shared.cost);
        assert_eq!(later.metered, alpha.metered);
    };
    // A minute modelled from requests (no Prometheus).
    accounted_not_metered(&estate, &vec![false; estate.clusters.len()]);
    // A minute in which one of its workloads has no measured usage yet (a new pod).
    let mut starting = estate.clone();
    let alphas = starting.agencies.iter().position(|a| a.name == "alpha");
    let tenancy = starting
        .tenancies
        .iter_mut()
        .find(|t| Some(t.agency) == alphas);
    tenancy.unwrap().workloads[0].usage = None;
    accounted_not_metered(&starting, &measured);
    // The estate: two agencies and the spare node, nothing lost or added.
    close(ledger.this_month.total.kwh(), 134.0576, "estate kWh");
    close(ledger.this_month.total.cost, 325.5194, "estate cost");
    let sum: f64 = ledger
        .this_month
        .agencies
        .values()
        .map(|a| a.shared.cost)
        .sum::<f64>()
        + ledger.this_month.spare.cost
        + ledger.this_month.unassigned.cost;
    close(
        sum,
        ledger.this_month.total.cost,
        "agencies + spare = estate",
    );
    assert_eq!(ledger.to_date, ledger.this_month);

    // A gap (the operator down for an hour) counts at most the allowed two minutes...
    let before = ledger.to_date.total.cost;
    let until = ledger.until;
    ledger
        .tick(&estate, &measured, until + 3600, "2026-11", 120)
        .unwrap();
    close(
        ledger.to_date.total.cost - before,
        325.5194 * 120.0 / (730.0 * 3600.0),
        "a two-minute tick",
    );
    // ...and a new month starts this month's figures afresh, keeping those to date.
    ledger
        .tick(&estate, &measured, until + 3660, "2026-12", 120)
        .unwrap();
    close(
        ledger.this_month.total.cost,
        325.5194 * 60.0 / (730.0 * 3600.0),
        "December's first minute",
    );
    assert!(ledger.to_date.total.cost > 325.5);
    close(
        alpha_peak(&ledger),
        2.0,
        "December's peak so far: what alpha uses",
    );

    // Standalone rooms are sized for the measured peak: one busy minute (alpha at 8 cores a
    // replica, 32 in all: ceil(32 × 1.3 / 16) = 3 servers) keeps alpha's room at 3 servers
    // rather than 2 for the rest of the month, though it is back to 2 cores.
    let minute_alone = |ledger: &mut Ledger, estate: &Estate, at: i64| {
        let before = ledger.this_month.agencies["alpha"].standalone.cost;
        ledger.tick(estate, &measured, at, "2026-12", 120).unwrap();
        ledger.this_month.agencies["alpha"].standalone.cost - before
    };
    let quiet = minute_alone(&mut ledger, &estate, until + 3720);
    let mut busy = estate.clone();
    let alpha = busy
        .tenancies
        .iter_mut()
        .find(|t| t.key == "alpha/records")
        .unwrap();
    for w in &mut alpha.workloads {
        w.usage = w
            .usage
            .map(|u| colo_engine::estate::Res::new(u.cpu * 16, u.mem));
    }
    minute_alone(&mut ledger, &busy, until + 3780);
    close(alpha_peak(&ledger), 32.0, "the busy minute's peak");
    let after = minute_alone(&mut ledger, &estate, until + 3840);
    assert!(
        after > quiet * 1.3,
        "the room stays sized for the peak: {after} a minute against {quiet} before"
    );
}

fn alpha_peak(ledger: &colo_engine::ledger::Ledger) -> f64 {
    ledger.this_month.agencies["alpha"].peak_cores
}
