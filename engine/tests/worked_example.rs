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
    close(alpha.k_wh_per_month, 61.9188, "alpha shared kWh");
    close(alpha.cost_per_month, 88.4797, "alpha shared cost");
    close(alpha.carbon_kg_per_month, 12.3838, "alpha shared carbon");
    close(
        alpha.unattributed_k_wh_per_month,
        25.0310,
        "alpha's share of unattributed kWh",
    );
    close(beta.k_wh_per_month, 61.9188, "beta shared kWh");

    // Standalone: two 16-core servers at 6.25% in a PUE 2.0 room; beta's own room differs.
    assert_eq!(alpha.standalone_servers, 2);
    close(
        alpha.standalone_k_wh_per_month,
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
        beta.standalone_k_wh_per_month,
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
    close(s.shared_k_wh_per_month, 134.0577, "estate kWh");
    close(s.shared_cost_per_month, 325.5144, "estate cost");
    close(
        s.unattributed_k_wh_per_month,
        50.0620,
        "unattributed kWh before spreading",
    );
    close(s.spare_k_wh_per_month, 10.2200, "spare kWh");
    close(s.spare_cost_per_month, 148.5550, "spare cost");
    // Conservation: agencies and spare make the estate.
    close(
        alpha.k_wh_per_month + beta.k_wh_per_month + s.spare_k_wh_per_month,
        s.shared_k_wh_per_month,
        "kWh add up",
    );
    close(
        alpha.cost_per_month + beta.cost_per_month + s.spare_cost_per_month,
        s.shared_cost_per_month,
        "cost adds up",
    );
}
