use super::*;

fn example(file: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/");
    std::fs::read_to_string(format!("{path}{file}")).unwrap()
}

fn estate() -> EstateSnapshot {
    EstateSnapshot::from_yaml(&example("snapshots/local-estate.yaml")).unwrap()
}

fn fenland() -> Inventory {
    Inventory::from_yaml(&example("quote/fenland-council.yaml")).unwrap()
}

#[test]
fn the_example_fits_on_two_sites_and_costs_less_than_its_room() {
    let q = quote(&estate(), &fenland()).unwrap();
    assert!(q.fits, "{}: {:?}", q.verdict, q.limits);
    assert_eq!(q.sites.len(), 2, "DualSite: {:?}", q.placements);
    let replicas: u32 = q.placements.iter().map(|p| p.replicas).sum();
    assert_eq!(replicas, 6 + 2 + 3);
    assert!(q.shared.cost < q.standalone.cost, "{q:#?}");
    assert!(q.shared.kwh < q.standalone.kwh, "{q:#?}");
    // Busier (at the p95) costs more in both rooms; the range holds the central saving.
    assert!(q.shared_at_p95.kwh >= q.shared.kwh);
    assert!(q.standalone_at_p95.kwh > q.standalone.kwh);
    assert!(q.saving_low <= q.saving_per_month && q.saving_per_month <= q.saving_high);
    assert!(q.saving_percent > 0.0 && q.saving_percent < 100.0);
}

#[test]
fn the_spreadsheet_and_the_yaml_give_the_same_quote() {
    let yaml = fenland();
    let csv = Inventory::from_csv(
        &example("quote/fenland-council.csv"),
        &yaml.agency,
        yaml.room.clone(),
        yaml.needs.clone(),
    )
    .unwrap();
    let (mut a, b) = (
        quote(&estate(), &yaml).unwrap(),
        quote(&estate(), &csv).unwrap(),
    );
    a.agency.clone_from(&b.agency);
    assert_eq!(a, b);
}

/// Own room, figure by figure (docs/quote.md): the database pair at its average CPU.
#[test]
fn the_own_room_is_servers_at_their_utilisation_times_pue() {
    let inv = fenland();
    let one = Inventory {
        servers: vec![inv.servers[1].clone()],
        ..inv
    };
    let month = standalone(&one, Level::Average);
    // 2 × (180 + (450 − 180) × 0.14) W = 435.6 W; × 1.9 × 730 h = 604.18 kWh.
    assert_eq!(month.kwh, 604.18);
    // × 0.27 a kWh + 2 × 2400 / 12 a month.
    assert_eq!(month.cost, 563.13);
    // × 207 g.
    assert_eq!(month.carbon_kg, 125.06);
}

#[test]
fn a_server_larger_than_any_node_does_not_fit_and_says_so() {
    let mut inv = fenland();
    inv.servers[1].cores = 64.0;
    inv.servers[1].cpu_p95_percent = 90.0;
    let q = quote(&estate(), &inv).unwrap();
    assert!(!q.fits, "{q:#?}");
    assert!(q.verdict.starts_with("does not fit"), "{}", q.verdict);
    assert!(
        q.limits.iter().any(|l| l.starts_with("database")),
        "{:?}",
        q.limits
    );
}

#[test]
fn secret_work_goes_only_where_accredited_and_says_where_not() {
    let mut inv = fenland();
    inv.needs.classification = colo_api::Classification::Secret;
    inv.needs.resilience = colo_api::Resilience::SingleSite;
    let q = quote(&estate(), &inv).unwrap();
    assert!(q.fits, "{q:#?}");
    assert_eq!(q.clusters, ["south-1"]);
    assert!(
        q.limits.iter().any(|l| l.starts_with("north-1")),
        "{:?}",
        q.limits
    );
}

#[test]
fn an_agency_already_on_the_estate_is_not_quoted_over() {
    let mut inv = fenland();
    inv.agency = "dvla".into();
    let err = quote(&estate(), &inv).unwrap_err();
    assert!(err.to_string().contains("already an agency"), "{err}");
}

/// docs/quote.md's worked example, figure by figure: Fenland on examples/snapshots/local-estate.yaml.
#[test]
fn the_worked_example_of_docs_quote_md() {
    let q = quote(&estate(), &fenland()).unwrap();
    let sized: Vec<(f64, f64)> = q
        .sizing
        .iter()
        .map(|g| (g.cpu_per_replica, g.memory_gib_per_replica))
        .collect();
    // 8 cores × 28% × 1.2 and 32 GiB × 50% × 1.2; 16 × 40% × 1.2 and 96 GiB × 70% (68,812.8 MiB,
    // up to 68,813) × 1.2 (82,575.6, up to 82,576 MiB); 4 × 12% × 1.2 and 16 GiB × 30% (4,915.2
    // MiB, up to 4,916) × 1.2 (5,899.2, up to 5,900 MiB): sizes are whole MiB, as applied.
    assert_eq!(sized, [(2.688, 19.2), (7.68, 80.641), (0.576, 5.762)]);
    let m = |m: Month| (m.kwh, m.cost, m.carbon_kg);
    assert_eq!(m(q.standalone), (2368.44, 1814.48, 490.27));
    assert_eq!(m(q.standalone_at_p95), (2902.71, 1958.73, 600.86));
    assert_eq!(m(q.shared), (360.48, 604.17, 68.61));
    assert_eq!(m(q.shared_at_p95), (513.35, 663.88, 97.71));
    assert_eq!(
        (
            q.saving_per_month,
            q.saving_low,
            q.saving_high,
            q.saving_percent
        ),
        (1210.31, 1210.31, 1294.85, 66.7)
    );
}
