//! Quotes are bounded (issue: a 1.5 KB inventory once answered 14 MB of JSON): for any
//! inventory, the answer is a refusal that names the field, or a quote whose every figure is
//! finite, whose JSON is under a fixed size, and which comes within a fixed time (a hang
//! detector, far above what any quote takes; speed itself is in docs/benchmarks.md).

use std::time::{Duration, Instant};

use colo_engine::EstateSnapshot;
use colo_engine::quote::inventory::{MAX_GROUPS, MAX_NAME, MAX_SERVERS};
use colo_engine::quote::{Inventory, Needs, Room, ServerGroup, quote};
use proptest::prelude::*;

fn estate() -> EstateSnapshot {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/snapshots/local-estate.yaml"
    );
    EstateSnapshot::from_yaml(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Numbers as people type them, and as attackers do.
fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 0.0..100.0f64,
        1 => 0.0..1e6f64,
        1 => prop::sample::select(vec![
            -1.0, 0.0, 1e308, f64::MAX, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 5e-324,
        ]),
    ]
}

/// Group names, with the workload names the quote uses inside them.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9 ,-]{0,20}",
        (1usize..12).prop_map(|k| "group-1".repeat(k)),
        (1usize..5).prop_map(|k| format!("group-{}", "9".repeat(k * 5))),
        "[a-z]{60,70}",
    ]
}

fn group() -> impl Strategy<Value = ServerGroup> {
    (
        name(),
        prop_oneof![1u32..20, Just(0u32), Just(u32::MAX), 9_000u32..11_000],
        (number(), number()),
        (number(), number(), number(), number()),
        (
            proptest::option::of(number()),
            proptest::option::of(number()),
        ),
        proptest::option::of(number()),
    )
        .prop_map(
            |(name, count, (cores, memory_gib), (ca, cp, ma, mp), (idle, max), cost)| ServerGroup {
                name,
                count,
                cores,
                memory_gib,
                cpu_average_percent: ca,
                cpu_p95_percent: cp.max(ca),
                memory_average_percent: ma,
                memory_p95_percent: mp.max(ma),
                idle_watts: idle,
                max_watts: max,
                hardware_cost_per_year: cost,
            },
        )
}

fn inventory() -> impl Strategy<Value = Inventory> {
    (proptest::collection::vec(group(), 1..30), any::<bool>()).prop_map(|(servers, dual)| {
        Inventory {
            agency: "prospect".into(),
            display_name: None,
            room: Room::default(),
            needs: Needs {
                classification: colo_api::Classification::Official,
                regions: vec![],
                resilience: if dual {
                    colo_api::Resilience::DualSite
                } else {
                    colo_api::Resilience::SingleSite
                },
            },
            servers,
        }
    })
}

/// Every number in the answer is finite: JSON writes a NaN or an infinity as null.
fn no_nulls(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => false,
        serde_json::Value::Array(a) => a.iter().all(no_nulls),
        serde_json::Value::Object(o) => o.values().all(no_nulls),
        _ => true,
    }
}

const MOST_BYTES: usize = 4 << 20;
const MOST_TIME: Duration = Duration::from_secs(20);

/// The inventory as read back from YAML (what the API and `colo quote` take), quoted.
fn quoted(inv: &Inventory, estate: &EstateSnapshot) -> Result<serde_json::Value, String> {
    let yaml = serde_yaml_ng::to_string(inv).unwrap();
    let read = Inventory::from_yaml(&yaml).map_err(|e| e.to_string())?;
    let q = quote(estate, &read).map_err(|e| e.to_string())?;
    Ok(serde_json::to_value(&q).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn any_inventory_is_refused_by_field_or_quoted_finite_small_and_soon(inv in inventory()) {
        let estate = estate();
        let started = Instant::now();
        let answer = quoted(&inv, &estate);
        prop_assert!(started.elapsed() < MOST_TIME, "{:?}", started.elapsed());
        match answer {
            Err(why) => prop_assert!(why.contains(": "), "a refusal names its field: {why}"),
            Ok(q) => {
                prop_assert!(no_nulls(&q), "{q}");
                let size = q.to_string().len();
                prop_assert!(size < MOST_BYTES, "{size} bytes");
            }
        }
    }
}

/// Inventories every field of which is within its bounds (most random ones above are not, and
/// are refused): each is quoted, finite, small and soon.
fn admissible() -> impl Strategy<Value = Inventory> {
    let group = (
        "[a-z][a-z0-9 -]{0,40}",
        1u32..400,
        (0.5..64.0f64, 1.0..1024.0f64),
        (0.0..100.0f64, 0.0..100.0f64, 0.0..100.0f64, 0.0..100.0f64),
        proptest::option::of((0.0..500.0f64, 500.0..2000.0f64)),
        proptest::option::of(0.0..1_000_000.0f64),
    )
        .prop_map(
            |(name, count, (cores, memory_gib), (ca, cp, ma, mp), watts, cost)| ServerGroup {
                name,
                count,
                cores,
                memory_gib,
                cpu_average_percent: ca.min(cp),
                cpu_p95_percent: ca.max(cp),
                memory_average_percent: ma.min(mp),
                memory_p95_percent: ma.max(mp),
                idle_watts: watts.map(|w| w.0),
                max_watts: watts.map(|w| w.1),
                hardware_cost_per_year: cost,
            },
        );
    let room = (
        proptest::option::of(1.0..5.0f64),
        proptest::option::of(0.0..10.0f64),
        proptest::option::of(0.0..2000.0f64),
    );
    (proptest::collection::vec(group, 1..25), inventory(), room).prop_map(
        |(mut servers, mut inv, (pue, price, carbon))| {
            for (i, s) in servers.iter_mut().enumerate() {
                s.name = format!("{i}-{}", s.name);
            }
            inv.servers = servers;
            inv.room = Room {
                pue,
                energy_price_per_kwh: price,
                carbon_grams_per_kwh: carbon,
            };
            inv
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn any_admissible_inventory_is_quoted_finite_small_and_soon(inv in admissible()) {
        let estate = estate();
        let started = Instant::now();
        let q = quoted(&inv, &estate);
        prop_assert!(started.elapsed() < MOST_TIME, "{:?}", started.elapsed());
        let q = q.map_err(|e| TestCaseError::fail(format!("refused: {e}")))?;
        prop_assert!(no_nulls(&q), "{q}");
        prop_assert!(q.to_string().len() < MOST_BYTES);
    }
}

/// The largest inventory taken: 1,000 groups of the longest names, 10,000 servers, each name
/// the quote's own workload names over and over.
#[test]
fn the_largest_inventory_taken_is_quoted_within_the_bounds() {
    let name = |i: usize| {
        format!("{:0>63}", format!("group-{i}group-1"))
            .chars()
            .take(MAX_NAME)
            .collect::<String>()
    };
    let servers: Vec<ServerGroup> = (0..MAX_GROUPS)
        .map(|i| ServerGroup {
            name: name(i),
            count: (MAX_SERVERS / MAX_GROUPS as u64) as u32,
            cores: 4.0,
            memory_gib: 16.0,
            cpu_average_percent: 10.0,
            cpu_p95_percent: 30.0,
            memory_average_percent: 40.0,
            memory_p95_percent: 50.0,
            idle_watts: None,
            max_watts: None,
            hardware_cost_per_year: Some(1_000_000.0),
        })
        .collect();
    let inv = Inventory {
        agency: "prospect".into(),
        display_name: None,
        room: Room::default(),
        needs: Needs {
            classification: colo_api::Classification::Official,
            regions: vec![],
            resilience: colo_api::Resilience::DualSite,
        },
        servers,
    };
    let started = Instant::now();
    let q = quoted(&inv, &estate()).unwrap();
    assert!(started.elapsed() < MOST_TIME, "{:?}", started.elapsed());
    assert!(no_nulls(&q));
    let size = q.to_string().len();
    assert!(size < MOST_BYTES, "{size} bytes");
    let mut more = inv.clone();
    more.servers.push(more.servers[0].clone());
    more.servers.last_mut().unwrap().name = "one more".into();
    let why = quoted(&more, &estate()).unwrap_err();
    assert!(why.starts_with("servers: 1001 groups"), "{why}");
}

#[test]
fn each_bound_is_refused_naming_the_field() {
    let base = "agency: p\nneeds: {classification: OFFICIAL}\nservers:\n- {name: web, count: 2, cores: 8, memoryGiB: 32, cpuAveragePercent: 10, cpuP95Percent: 30, memoryAveragePercent: 40, memoryP95Percent: 50}\n";
    assert!(Inventory::from_yaml(base).is_ok());
    let twice = base.to_string()
        + "- {name: web, count: 1, cores: 8, memoryGiB: 32, cpuAveragePercent: 10, cpuP95Percent: 30, memoryAveragePercent: 40, memoryP95Percent: 50}\n";
    let cases = [
        (
            base.replace("count: 2", "count: 2147483648"),
            "servers[0].count: 2147483648 servers: at most 10000",
        ),
        (
            base.replace("count: 2", "count: 10001"),
            "servers[0].count: 10001 servers",
        ),
        (
            base.replace("cores: 8}", "cores: 8, hardwareCostPerYear: 1e308}")
                .replace("cores: 8,", "cores: 8, hardwareCostPerYear: 1e308,"),
            "servers[0].hardwareCostPerYear: ",
        ),
        (
            base.replace("cores: 8", "cores: .nan"),
            "servers[0].cores: NaN is not between",
        ),
        (
            base.replace("name: web", &format!("name: {}", "w".repeat(64))),
            "servers[0].name: more than 63 characters",
        ),
        (twice, "servers[1].name: \"web\" names an earlier group too"),
    ];
    for (yaml, want) in cases {
        let err = Inventory::from_yaml(&yaml).unwrap_err().to_string();
        assert!(err.starts_with(want), "{err} (wanted {want})");
    }
}
