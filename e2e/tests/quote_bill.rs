//! Quote and bill agree: the example inventory is quoted on the live estate, the same work is
//! onboarded with the objects `colo quote --manifests` writes (its pods using, through kwok,
//! what the inventory says each server uses on average), and once accounting has run, the
//! Agency's status, the report API and the page set the accounted month against the quote:
//! energy and cost within 10%, with the reasons for the difference.

use std::time::Duration;

use colo_e2e::accounting::status_row;
use colo_e2e::*;
use serde::Deserialize;

/// The tenancy, agency and namespace go however the test ends, freeing the estate.
struct Offboard {
    agency: String,
}
impl Drop for Offboard {
    fn drop(&mut self) {
        let ns = &self.agency;
        kubectl(HUB, &["-n", ns, "delete", "tenancy", "--all", "--wait"]);
        kubectl(HUB, &["delete", "agency", ns, "--ignore-not-found"]);
        kubectl(HUB, &["delete", "namespace", ns, "--ignore-not-found"]);
    }
}

/// Each server group's average use as kwok usage annotations, in the inventory's order.
fn average_use(inventory: &serde_json::Value) -> Vec<serde_json::Value> {
    let servers = inventory["servers"].as_array().expect("servers");
    servers
        .iter()
        .map(|s| {
            let cores = s["cores"].as_f64().unwrap() * s["cpuAveragePercent"].as_f64().unwrap();
            let mib = s["memoryGiB"].as_f64().unwrap() * 1024.0;
            let mib = mib * s["memoryAveragePercent"].as_f64().unwrap() / 100.0;
            serde_json::json!({
                "kwok.x-k8s.io/usage-cpu": format!("{}m", (cores * 10.0).round()),
                "kwok.x-k8s.io/usage-memory": format!("{}Mi", mib.round()),
            })
        })
        .collect()
}

/// Waits until no member node's CPU use moved within the clusters' measurement window. The quote
/// places and prices with the window's p95s; work that left minutes ago (another test's busy
/// pods) would still count in them, and the bill would then meter an estate the quote never saw.
fn wait_measurements_steady() {
    let shc = get_json(HUB, &["get", "sharedcluster", "north-1"]);
    let window = shc["spec"]["prometheus"]["window"].as_str().unwrap_or("1h");
    // kwok reports every node's use, an empty node's as zero: work that left shows as a fall.
    let per_node = "rate(node_cpu_usage_seconds_total[20s])";
    let over = |f: &str| format!("{f}_over_time({per_node}[{window}:])");
    let moved = format!("{} - {}", over("max"), over("min"));
    wait_until(
        &format!("every member node's CPU use steady over the last {window}"),
        Duration::from_secs(300),
        || {
            let moves: Vec<f64> = prometheus_query(&moved)?
                .iter()
                .filter_map(|s| s["value"][1].as_str()?.parse::<f64>().ok())
                .collect();
            // No node reported is not a steady estate: it is an unmeasured one.
            match moves.iter().copied().reduce(f64::max) {
                Some(m) if m < 0.25 => Ok(()),
                Some(m) => Err(format!("a node's CPU use moved by {m:.2} cores")),
                None => Err("Prometheus reports no node's CPU use".into()),
            }
        },
    );
}

/// `colo quote --manifests` for the inventory at `path`: its objects, as JSON.
fn onboarding(path: &str) -> Vec<serde_json::Value> {
    let yaml = colo(&[
        "quote",
        "--inventory",
        path,
        "--rate-window",
        "20s",
        "--manifests",
    ]);
    assert!(yaml.starts_with("# Onboards "), "{yaml}");
    serde_yaml_ng::Deserializer::from_str(&yaml)
        .map(|doc| serde_json::Value::deserialize(doc).expect("YAML objects"))
        .collect()
}

/// Waits until the Agency's status compares at least `hours` of measured use with its quote.
fn wait_compared(agency: &str, hours: f64) -> serde_json::Value {
    wait_until(
        &format!("{agency}'s quote compared over {hours} h of measured use"),
        Duration::from_secs(300),
        || {
            let quote = status_row(agency, "quote");
            match quote["accountedHours"].as_f64() {
                Some(h) if h >= hours => Ok(quote),
                _ => Err(format!("status.quote: {quote}")),
            }
        },
    )
}

fn within(quote: &serde_json::Value, field: &str, percent: f64) {
    let difference = quote[field].as_f64().unwrap_or(f64::INFINITY);
    assert!(
        difference.abs() <= percent,
        "{field} {difference}% is not within {percent}%: {quote:#}"
    );
}

#[test]
fn an_onboarded_quote_is_billed_within_ten_percent_of_it() {
    colo_is_running();
    let agency = unique_name("quoted");
    let example = repo().join("examples/quote/fenland-council.yaml");
    let example = std::fs::read_to_string(example).unwrap();
    let renamed = example.replace("agency: fenland-council", &format!("agency: {agency}"));
    let path = estate_dir().join(format!("{agency}.yaml"));
    std::fs::write(&path, &renamed).unwrap();
    let inventory: serde_json::Value = serde_yaml_ng::from_str(&renamed).unwrap();

    wait_measurements_steady();
    let mut objects = onboarding(path.to_str().unwrap());
    let kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Namespace", "Agency", "Tenancy"]);
    let quoted = objects[1]["spec"]["quote"].clone();
    assert!(quoted["monthlyKWh"].as_f64().unwrap() > 0.0, "{quoted}");
    let workloads = objects[2]["spec"]["workloads"].as_array_mut().unwrap();
    let usage = average_use(&inventory);
    assert_eq!(workloads.len(), usage.len(), "one workload a server group");
    for (workload, usage) in workloads.iter_mut().zip(usage) {
        workload["podAnnotations"] = usage;
    }
    let _offboard = Offboard {
        agency: agency.clone(),
    };
    let stream: Vec<String> = objects
        .iter()
        .map(|o| serde_yaml_ng::to_string(o).unwrap())
        .collect();
    apply_yaml(HUB, &stream.join("---\n"));
    wait_phase(&agency, "quoted-work", "Running", Duration::from_secs(180));

    // Two accounted hours at the demo's speed: two minutes of measured use.
    let status = wait_compared(&agency, 2.0);
    assert_eq!(status["quoted"]["kWh"], quoted["monthlyKWh"], "{status:#}");
    within(&status, "kWhDifferencePercent", 10.0);
    within(&status, "costDifferencePercent", 10.0);
    let message = status["message"].as_str().unwrap();
    assert!(message.starts_with("within 10% of the quote"), "{message}");
    assert!(message.contains("cores against the"), "{message}");

    // The report API and the page say the same to finance.
    let line = colo_json(&format!("/api/v1/agencies/{agency}"));
    assert_eq!(line["quote"]["quoted"], status["quoted"], "{line:#}");
    assert!(line["quote"]["accounted"]["kWh"].as_f64().unwrap() > 0.0);
    let (code, page) = colo_get_as(Some(&finance_token()), "/");
    assert_eq!(code, 200);
    let quotes = page.split(r#"<table id="quotes">"#).nth(1).expect(&page);
    assert!(
        quotes.contains(&format!(r#"data-agency="{agency}""#)),
        "{quotes}"
    );
    assert!(quotes.contains("within 10% of the quote"), "{quotes}");
}
