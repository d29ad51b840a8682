//! Accounting for finance on the local estate with simulated usage (e2e/operator.sh runs
//! accounting time 60 times faster, an hour a minute): Agency status, the report API, its CSV
//! (from Prometheus history) and the report page in Chromium agree to the cent; budgets raise
//! a condition, an Event and a metric; bad report parameters get a 400 that names them.

use std::process::Command;
use std::time::Duration;

use colo_e2e::accounting::{busy_agency, status_row, wait_cost};
use colo_e2e::*;

const FIELDS: [&str; 11] = [
    "cpuCoreHours",
    "memoryGiBHours",
    "kWh",
    "cost",
    "carbonKg",
    "standaloneKWh",
    "standaloneCost",
    "standaloneCarbonKg",
    "savings",
    "savingsPercent",
    "currency",
];

fn parse_csv(text: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|line| {
            // The test's agencies and cost centres carry no commas or quotes.
            header
                .iter()
                .zip(line.split(','))
                .map(|(k, v)| {
                    let value = v
                        .parse::<f64>()
                        .map(serde_json::Value::from)
                        .unwrap_or_else(|_| serde_json::Value::from(v));
                    (k.to_string(), value)
                })
                .collect()
        })
        .collect()
}

#[test]
fn status_api_csv_and_page_agree_to_the_cent() {
    colo_is_running();
    let (agency, _) = busy_agency("fin", "100000");
    wait_cost(&agency, 5.0);

    // The CSV (Prometheus history, everything to date) against the Agency's status to date,
    // taken when Prometheus has scraped the tick the status shows.
    let (csv_row, status) = wait_until(
        "the CSV and status see the same tick",
        Duration::from_secs(60),
        || {
            let status = status_row(&agency, "toDate");
            let until = chrono::DateTime::parse_from_rfc3339(status["to"].as_str().unwrap())
                .unwrap()
                .timestamp();
            let now = chrono::Utc::now().timestamp();
            let seen = prometheus_query(&format!(
                "max(last_over_time(colo_ledger_until_timestamp_seconds[1h] @ {now}))"
            ))?
            .first()
            .and_then(|s| s["value"][1].as_str()?.parse::<f64>().ok())
            .unwrap_or(0.0) as i64;
            if seen != until {
                return Err(format!("Prometheus at {seen}, status at {until}"));
            }
            let (code, body) = colo_get(&format!(
                "/api/v1/report?from=2000-01-01&to={now}&format=csv"
            ));
            if code != 200 {
                return Err(format!("{code}: {body}"));
            }
            assert!(body.starts_with("agency,costCentre,from,to,cpuCoreHours,memoryGiBHours,kWh,cost,carbonKg,standaloneKWh,standaloneCost,standaloneCarbonKg,savings,savingsPercent,currency,quality\n"), "{body}");
            let row = parse_csv(&body)
                .into_iter()
                .find(|r| r["agency"] == agency.as_str())
                .ok_or("no row for the agency")?;
            Ok((row, status))
        },
    );
    for field in FIELDS {
        // Numbers by value (the CSV's "4" and status's 4.0 are the same figure).
        match (csv_row[field].as_f64(), status[field].as_f64()) {
            (Some(a), Some(b)) => assert_eq!(a, b, "{field}: CSV {csv_row:?}, status {status}"),
            _ => assert_eq!(csv_row[field], status[field], "{field}"),
        }
    }
    assert_eq!(csv_row["costCentre"], format!("CC-{agency}").as_str());
    // The printer columns' fields: its one accepted tenancy, money with two decimals and
    // the currency.
    let agency_status = get_json(HUB, &["get", "agency", &agency])["status"].clone();
    assert_eq!(agency_status["tenancies"], 1, "{agency_status}");
    for field in ["monthCost", "monthSavings"] {
        let text = agency_status[field].as_str().unwrap_or_default();
        let (amount, currency) = text.split_once(' ').unwrap_or_default();
        let decimals = amount.split_once('.').map(|(_, d)| d.len());
        assert!(
            currency == "GBP" && decimals == Some(2) && amount.parse::<f64>().is_ok(),
            "{field}: {text:?}"
        );
    }
    // Its measured usage: 2 replicas using 2 cores and 4 GiB each (kwok simulates it).
    let cores = |q: &serde_json::Value| {
        let s = q.as_str().unwrap_or("0");
        s.strip_suffix('m').map_or_else(
            || s.parse::<f64>().unwrap_or(0.0),
            |m| m.parse::<f64>().unwrap_or(0.0) / 1000.0,
        )
    };
    // (The p95 of a pod's first minutes climbs to what it uses as its window fills.)
    let usage = wait_until(
        "measured usage of 4 cores",
        Duration::from_secs(120),
        || {
            let usage = get_json(HUB, &["get", "agency", &agency])["status"]["usage"].clone();
            if (3.8..=4.4).contains(&cores(&usage["now"]["cpu"])) {
                Ok(usage)
            } else {
                Err(format!("{usage}"))
            }
        },
    );
    let now = cores(&usage["now"]["cpu"]);
    assert!(
        cores(&usage["peakThisMonth"]["cpu"]) <= 4.4,
        "the peak is measured use, not the 8 cores requested: {usage}"
    );
    assert!(cores(&usage["peakThisMonth"]["cpu"]) >= now, "{usage}");
    assert_eq!(usage["now"]["memory"], "8Gi", "{usage}");
    assert_eq!(csv_row["quality"], "measured");
    assert!(csv_row["cost"].as_f64().unwrap() >= 0.05);
    assert!(
        csv_row["standaloneCost"].as_f64().unwrap() > csv_row["cost"].as_f64().unwrap(),
        "sharing costs less: {csv_row:?}"
    );

    // The API and the page against each other, at the same tick.
    let (api, page) = wait_until(
        "the API and the page show the same tick",
        Duration::from_secs(60),
        || {
            let api = colo_json("/api/v1/agencies");
            // As a sign-in proxy in front of Colo sends it (docs/operator.md).
            let page = in_chromium(
                "check.mjs",
                &[("COLO_TOKEN", finance_token())],
                &[&format!("{COLO_HTTP}/")],
                "report-page.png",
            );
            let to = api.as_array().unwrap()[0]["to"].clone();
            if page["asOf"] == to {
                Ok((api, page))
            } else {
                Err(format!("page at {}, API at {to}", page["asOf"]))
            }
        },
    );
    assert_eq!(page["status"], 200);
    assert_eq!(page["reader"], "finance-fiona", "the page names its reader");
    assert_eq!(
        page["estateLines"], true,
        "finance sees the estate's own lines"
    );
    // One clock, named: the operator runs at 60× here, and each output says so; its times
    // are the wall clock's, never ahead of it.
    let speed = csv_accounting_speed();
    assert_eq!(speed, "60", "the CSV names its accounting speed");
    for a in api.as_array().unwrap() {
        assert_eq!(a["accountingSpeed"], 60.0, "{a}");
        let to = chrono::DateTime::parse_from_rfc3339(a["to"].as_str().unwrap()).unwrap();
        assert!(
            to <= chrono::Utc::now(),
            "a time ahead of the wall clock: {a}"
        );
    }
    let demo = page["demo"].as_str().unwrap_or_default();
    assert!(
        demo.contains("accounts 60 seconds") && demo.contains("wall clock"),
        "the page says it is on demo time: {page}"
    );
    assert_eq!(
        page["externalRequests"], 0,
        "nothing fetched from elsewhere"
    );
    assert_eq!(
        page["overflowsLaptop"], false,
        "fits a 1366 px laptop screen"
    );
    let assumptions = page["assumptions"].as_array().unwrap();
    for source in ["Barroso", "LBNL", "NRDC", "OMB M-16-19"] {
        assert!(
            assumptions
                .iter()
                .any(|a| a.as_str().unwrap().contains(source)),
            "assumptions cite {source}"
        );
    }
    let rows = page["rows"].as_object().unwrap();
    let agencies = api.as_array().unwrap();
    assert_eq!(rows.len(), agencies.len(), "every agency on the page");
    for a in agencies {
        let name = a["agency"].as_str().unwrap();
        let row = &rows[name];
        for (field, decimals) in [
            ("kWh", 3),
            ("cost", 2),
            ("carbonKg", 3),
            ("standaloneKWh", 3),
            ("standaloneCost", 2),
            ("standaloneCarbonKg", 3),
            ("savings", 2),
        ] {
            let api_text = format!("{:.*}", decimals, a[field].as_f64().unwrap());
            assert_eq!(row[field], api_text.as_str(), "{name} {field}");
        }
        assert_eq!(row["quality"], a["quality"]);
    }
    // And the API against status this month.
    let ours = agencies
        .iter()
        .find(|a| a["agency"] == agency.as_str())
        .unwrap();
    let one = colo_get(&format!("/api/v1/agencies/{agency}"));
    assert_eq!(one.0, 200);
    let one: serde_json::Value = serde_json::from_str(&one.1).unwrap();
    assert!(
        one["cost"].as_f64().unwrap() >= ours["cost"].as_f64().unwrap(),
        "a later read never shows less: {one} {ours}"
    );
    assert_eq!(one["budget"], 100000.0);
    let screenshot = repo().join("target/e2e-artifacts/report-page.png");
    assert!(
        screenshot.exists(),
        "no screenshot at {}",
        screenshot.display()
    );

    // The finance dashboard's "Cost this month by agency" panel, as Grafana would run it.
    let finance: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("dashboards/finance.json")).unwrap(),
    )
    .unwrap();
    let panel = finance["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["title"] == "Cost this month by agency")
        .expect("the panel");
    let expr = panel["targets"][0]["expr"]
        .as_str()
        .unwrap()
        .replace("$agency", &agency)
        .replace("$currency", "GBP");
    let ledger_until = || -> Result<i64, String> {
        Ok(
            prometheus_query("max(colo_ledger_until_timestamp_seconds)")?
                .first()
                .and_then(|s| s["value"][1].as_str()?.parse::<f64>().ok())
                .unwrap_or(0.0) as i64,
        )
    };
    let (panel_cost, api_cost) = wait_until(
        "the dashboard and the API show the same tick",
        Duration::from_secs(60),
        || {
            let api = colo_json(&format!("/api/v1/agencies/{agency}"));
            let to = chrono::DateTime::parse_from_rfc3339(api["to"].as_str().unwrap())
                .unwrap()
                .timestamp();
            let before = ledger_until()?;
            let value = prometheus_query(&expr)?
                .first()
                .and_then(|s| s["value"][1].as_str()?.parse::<f64>().ok())
                .ok_or("no value")?;
            if before == to && ledger_until()? == to {
                Ok((value, api["cost"].as_f64().unwrap()))
            } else {
                Err(format!("Prometheus at {before}, API at {to}"))
            }
        },
    );
    assert_eq!(
        format!("{panel_cost:.2}"),
        format!("{api_cost:.2}"),
        "the dashboard's figure is the API's to the cent"
    );
}

#[test]
fn an_agency_over_its_budget_gets_a_condition_an_event_and_a_metric() {
    colo_is_running();
    let (agency, _) = busy_agency("budget", "0.05");
    let condition = wait_until("WithinBudget False", Duration::from_secs(180), || {
        let a = get_json(HUB, &["get", "agency", &agency]);
        let c = a["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "WithinBudget").cloned())
            .unwrap_or_default();
        if c["status"] == "False" {
            Ok(c)
        } else {
            Err(format!("{c}"))
        }
    });
    assert_eq!(condition["reason"], "OverBudget");
    let message = condition["message"].as_str().unwrap();
    assert!(
        message.contains("of the monthly budget 0.05 GBP"),
        "{message}"
    );
    let events = kubectl_ok(
        HUB,
        &[
            "get",
            "events",
            "-A",
            "--field-selector",
            &format!("reason=OverBudget,involvedObject.name={agency}"),
            "-o",
            "jsonpath={.items[*].message}",
        ],
    );
    assert!(
        events.contains("of the monthly budget"),
        "an Event: {events:?}"
    );
    wait_until(
        "colo_agency_over_budget = 1",
        Duration::from_secs(30),
        || {
            let q = format!("colo_agency_over_budget{{agency=\"{agency}\"}}");
            match prometheus_query(&q)?.first() {
                Some(s) if s["value"][1] == "1" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    );
    let a = colo_json(&format!("/api/v1/agencies/{agency}"));
    assert!(a["budgetUsedPercent"].as_f64().unwrap() > 100.0, "{a}");
}

#[test]
fn bad_report_parameters_get_a_400_naming_them() {
    colo_is_running();
    for (query, names) in [
        ("from=yesterday", "from: \\\"yesterday\\\" is not a time"),
        ("format=xml", "format: \\\"xml\\\" is not json or csv"),
        ("period=week", "period"),
        ("from=2026-11-02&to=2026-11-01", "must be before to"),
        ("form=2026-11-01", "unknown parameter"),
    ] {
        let (code, body) = colo_get(&format!("/api/v1/report?{query}"));
        assert_eq!(code, 400, "{query}: {body}");
        assert!(body.contains("\"error\""), "{query}: {body}");
        assert!(body.contains(names), "{query}: {body}");
    }
    let (code, body) = colo_get("/api/v1/agencies/no-such-agency");
    assert_eq!(code, 404, "{body}");
    // An unknown path says which paths there are.
    let (code, body) = colo_get("/api/v1/quote");
    assert_eq!(code, 404, "{body}");
    let listed: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
    assert!(
        listed["paths"]
            .as_array()
            .is_some_and(|p| p.iter().any(|x| x == "/api/v1/consolidation")),
        "{body}"
    );
    let (code, body) = colo_get("/api/v1/report?from=2000-01-01&period=day&format=json");
    assert_eq!(code, 400, "too many periods: {body}");
    // Days are rows: one per agency per day.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let (code, body) = colo_get(&format!("/api/v1/report?from={today}&period=day"));
    assert_eq!(code, 200, "{body}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert!(
        rows.iter()
            .all(|r| r["from"].as_str().unwrap().starts_with(&today))
    );
}

/// The `X-Colo-Accounting-Speed` header of the CSV report.
fn csv_accounting_speed() -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-o", "/dev/null", "-D", "-"])
        .args(["-H", &format!("Authorization: Bearer {}", finance_token())])
        .arg(format!("{COLO_HTTP}/api/v1/report?format=csv"))
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("x-colo-accounting-speed")
                .then(|| value.trim().to_string())
        })
        .unwrap_or_else(|| "no X-Colo-Accounting-Speed header".into())
}
