//! A quote on the live estate, three ways in with one answer: `colo quote` against the hub and
//! `POST /api/v1/quote` on the operator give the same figures for the same inventory (YAML, and
//! the spreadsheet's CSV); bad cells are 400 naming the row and column; only the platform team
//! and finance may ask (a quote shows the estate's room).

use std::time::Duration;

use colo_e2e::*;

/// POSTs `body` to /api/v1/quote with a bearer token: (status, body).
fn post_quote(token: &str, query: &str, content_type: &str, body: &str) -> (u16, String) {
    colo_post_as(token, &format!("/api/v1/quote{query}"), content_type, body)
}

/// The same quote from two observations of a live estate: every field equal, but the shared
/// month (and so the saving), which follows other tenancies' measured use, within 2%.
fn same_quote(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    let measured = [
        "shared",
        "sharedAtP95",
        "savingPerMonth",
        "savingLow",
        "savingHigh",
        "savingPercent",
    ];
    let strip = |v: &serde_json::Value| {
        let mut v = v.clone();
        for k in measured {
            v.as_object_mut().unwrap().remove(k);
        }
        v
    };
    let close = |x: &serde_json::Value, y: &serde_json::Value| {
        let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
        (x - y).abs() <= 0.02 * x.abs().max(y.abs()).max(1.0)
    };
    let shared = |v: &serde_json::Value, k: &str| v[k]["cost"].clone();
    strip(a) == strip(b)
        && ["shared", "sharedAtP95"]
            .iter()
            .all(|k| close(&shared(a, k), &shared(b, k)))
        && close(&a["savingPerMonth"], &b["savingPerMonth"])
}

const CSV_QUERY: &str = "?agency=fenland-council&resilience=DualSite&regions=uk-north,uk-south&pue=1.9&energyPricePerKWh=0.27";

#[test]
fn the_cli_and_the_api_quote_the_same_and_refuse_bad_cells_by_row_and_column() {
    colo_is_running();
    let yaml_path = repo().join("examples/quote/fenland-council.yaml");
    let yaml = std::fs::read_to_string(&yaml_path).unwrap();
    let csv = std::fs::read_to_string(repo().join("examples/quote/fenland-council.csv")).unwrap();
    let finance = finance_token();
    // Two observations of a live estate agree once nothing moves between them.
    let (api, cli) = wait_until("the API and the CLI agree", Duration::from_secs(90), || {
        let (code, api) = post_quote(&finance, "", "application/yaml", &yaml);
        if code != 200 {
            return Err(format!("{code}: {api}"));
        }
        // With the operator's rate window (e2e/operator.sh), so both measure alike.
        let path = yaml_path.to_str().unwrap();
        let cli = colo(&[
            "quote",
            "--inventory",
            path,
            "--rate-window",
            "20s",
            "--output",
            "json",
        ]);
        let api: serde_json::Value = serde_json::from_str(&api).unwrap();
        let cli: serde_json::Value = serde_json::from_str(&cli).unwrap();
        if same_quote(&api, &cli) {
            Ok((api, cli))
        } else {
            Err(format!("API {api}\nCLI {cli}"))
        }
    });
    assert!(same_quote(&api, &cli));
    assert!(api["fits"].is_boolean(), "{api}");
    assert!(api["standalone"]["cost"].as_f64().unwrap() > 0.0, "{api}");
    let (code, from_csv) = post_quote(&finance, CSV_QUERY, "text/csv", &csv);
    assert_eq!(code, 200, "{from_csv}");
    let from_csv: serde_json::Value = serde_json::from_str(&from_csv).unwrap();
    assert_eq!(
        from_csv["standalone"], api["standalone"],
        "the spreadsheet's room is the YAML's"
    );

    let bad = csv.replace("database,2,16,96,14,40", "database,2,16,96,14,4O");
    let (code, body) = post_quote(&finance, CSV_QUERY, "text/csv", &bad);
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("row 3, column cpuP95Percent: \\\"4O\\\" is not a number"),
        "{body}"
    );
    let (code, body) = post_quote(&finance, "?agency=x&pue=warm", "text/csv", &csv);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("pue: \\\"warm\\\" is not a number"), "{body}");

    // A quote shows the estate's room: not for an agency's people, nor for strangers.
    for person in ["dvla-dana", "stranger-sam"] {
        let (code, body) = post_quote(&person_token(person), "", "application/yaml", &yaml);
        assert_eq!(code, 403, "{person}: {body}");
    }
    let (code, _) = post_quote("made-up", "", "application/yaml", &yaml);
    assert_eq!(code, 401);
}

/// In Chromium: finance signs in, pastes the example inventory into the quote page and gets
/// the quote on one page, with the API's figures (and no script, nothing wider than a laptop).
#[test]
fn the_quote_page_prints_the_apis_figures() {
    colo_is_running();
    let inventory = repo().join("examples/quote/fenland-council.yaml");
    let yaml = std::fs::read_to_string(&inventory).unwrap();
    let (api, page) = wait_until(
        "the page and the API agree",
        Duration::from_secs(90),
        || {
            let page = in_chromium(
                "quote.mjs",
                &[("COLO_SIGN_IN_TOKEN", finance_token())],
                &[COLO_HTTP, inventory.to_str().unwrap()],
                "quote-page.png",
            );
            let (code, api) = post_quote(&finance_token(), "", "application/yaml", &yaml);
            assert_eq!(code, 200, "{api}");
            let api: serde_json::Value = serde_json::from_str(&api).unwrap();
            let f = &page["fields"];
            let same = f["shared.cost"] == api["shared"]["cost"]
                && f["standalone.kWh"] == api["standalone"]["kWh"]
                && f["savingPerMonth"] == api["savingPerMonth"];
            if same {
                Ok((api, page))
            } else {
                Err(format!("page {page}\nAPI {api}"))
            }
        },
    );
    assert_eq!(page["formStatus"], 200, "{page}");
    assert_eq!(page["status"], 200, "{page}");
    assert_eq!(page["agency"], "fenland-council");
    assert_eq!(page["verdict"], api["verdict"]);
    assert_eq!(page["fields"]["savingHigh"], api["savingHigh"]);
    assert!(page["assumptions"].as_u64().unwrap() >= 4, "{page}");
    assert_eq!(page["scripts"], 0, "{page}");
    assert_eq!(page["overflowsLaptop"], false, "{page}");

    // The spreadsheet's CSV uploaded as a file, its settings in the fields below it.
    let csv = repo().join("examples/quote/fenland-council.csv");
    let settings = serde_json::json!({
        "agency": "fenland-council", "resilience": "DualSite",
        "regions": "uk-north,uk-south", "pue": "1.9", "energyPricePerKWh": "0.27",
    });
    let uploaded = in_chromium(
        "quote.mjs",
        &[("COLO_SIGN_IN_TOKEN", finance_token())],
        &[
            COLO_HTTP,
            csv.to_str().unwrap(),
            "upload",
            &settings.to_string(),
        ],
        "quote-page-upload.png",
    );
    assert_eq!(uploaded["status"], 200, "{uploaded}");
    assert_eq!(uploaded["agency"], "fenland-council", "{uploaded}");
    let f = &uploaded["fields"];
    assert_eq!(
        f["standalone.kWh"], api["standalone"]["kWh"],
        "the room as the YAML's"
    );
}
