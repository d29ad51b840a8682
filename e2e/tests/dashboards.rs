//! The Grafana dashboards in dashboards/: the datasource is a variable (no hard-coded UIDs),
//! and every panel's PromQL returns data from the e2e Prometheus scraping a running operator.

use std::time::Duration;

use colo_e2e::*;

fn dashboards() -> Vec<(String, serde_json::Value)> {
    let dir = repo().join("dashboards");
    let mut out: Vec<(String, serde_json::Value)> = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("dashboards/") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
            out.push((path.file_name().unwrap().to_string_lossy().into(), json));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        out.iter().map(|d| d.0.as_str()).collect::<Vec<_>>(),
        ["finance.json", "platform.json"]
    );
    out
}

/// Every `uid` anywhere in the dashboard, and every datasource reference.
fn uids(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                if k == "uid" {
                    out.push(v.as_str().unwrap_or_default().to_string());
                }
                uids(v, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| uids(v, out)),
        _ => {}
    }
}

#[test]
fn dashboards_take_the_datasource_as_a_variable() {
    for (name, d) in dashboards() {
        let vars = d["templating"]["list"].as_array().unwrap();
        assert!(
            vars.iter()
                .any(|v| v["type"] == "datasource" && v["name"] == "datasource"),
            "{name}: a datasource variable"
        );
        let mut found = Vec::new();
        uids(&d, &mut found);
        assert!(!found.is_empty());
        assert!(
            found.iter().all(|u| u == "${datasource}"),
            "{name}: hard-coded uids {found:?}"
        );
        for p in d["panels"].as_array().unwrap() {
            assert_eq!(
                p["datasource"]["uid"], "${datasource}",
                "{name}: {}",
                p["title"]
            );
            assert!(
                !p["targets"].as_array().unwrap().is_empty(),
                "{}",
                p["title"]
            );
        }
    }
}

/// A panel's PromQL with Grafana's variables as a dashboard user would have them.
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__range", "1h")
        .replace("$agency", ".*")
        .replace("$cost_centre", ".*")
        .replace("$cluster", ".*")
        .replace("$currency", "GBP")
        .replace("$job", "colo")
}

#[test]
fn every_panel_query_returns_data_from_a_running_operator() {
    colo_is_running();
    // The example agencies (with budgets) and their tenancies, accounted for a while.
    for file in [
        "00-namespaces.yaml",
        "10-agencies.yaml",
        "30-tenancies.yaml",
    ] {
        let path = repo().join("examples").join(file);
        kubectl_ok(HUB, &["apply", "-f", path.to_str().unwrap()]);
    }
    wait_until(
        "Prometheus has a minute of Colo's accounting",
        Duration::from_secs(120),
        || {
            let q = "max(colo_ledger_until_timestamp_seconds) - min(colo_ledger_until_timestamp_seconds offset 1m)";
            match prometheus_query(q)?.first() {
                Some(_) => Ok(()),
                None => Err("no history yet".into()),
            }
        },
    );
    let mut failures = Vec::new();
    let mut checked = 0;
    for (name, d) in dashboards() {
        for p in d["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().unwrap() {
                let expr = substitute(t["expr"].as_str().unwrap());
                checked += 1;
                // A query may need a scrape or two of fresh series: wait, then judge.
                let answer = std::panic::catch_unwind(|| {
                    wait_until(&expr, Duration::from_secs(60), || {
                        let result = prometheus_query(&expr)?;
                        if result.is_empty() {
                            Err("empty result".into())
                        } else {
                            Ok(result)
                        }
                    })
                });
                if answer.is_err() {
                    failures.push(format!("{name} / {}: {expr}", p["title"]));
                }
            }
        }
    }
    assert!(checked >= 20, "only {checked} queries");
    assert!(
        failures.is_empty(),
        "panels without data:\n{}",
        failures.join("\n")
    );
}
