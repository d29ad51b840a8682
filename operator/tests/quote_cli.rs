//! `colo quote` as a prospective agency's IT team uses it, offline on a snapshot: the YAML
//! inventory and the spreadsheet's CSV give the same figures, the table says the verdict and
//! the saving, and a bad cell is exit code 2 naming its row and column.

use std::process::{Command, Output};

fn colo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_colo"))
        .args(args)
        .output()
        .unwrap()
}

fn example(name: &str) -> String {
    format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

const SNAPSHOT: &str = "snapshots/local-estate.yaml";

/// The flags that say, for the CSV, what the YAML's room and needs say.
const CSV_FLAGS: [&str; 10] = [
    "--agency",
    "fenland-council",
    "--resilience",
    "DualSite",
    "--regions",
    "uk-north,uk-south",
    "--pue",
    "1.9",
    "--energy-price",
    "0.27",
];

fn json(args: &[&str]) -> serde_json::Value {
    let out = colo(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "colo {args:?}: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn yaml_and_csv_inventories_quote_the_same() {
    let (snapshot, yaml) = (example(SNAPSHOT), example("quote/fenland-council.yaml"));
    let from_yaml = json(&[
        "quote",
        "--inventory",
        &yaml,
        "--snapshot",
        &snapshot,
        "--output",
        "json",
    ]);
    let csv = example("quote/fenland-council.csv");
    let mut args = vec![
        "quote",
        "--inventory",
        &csv,
        "--snapshot",
        &snapshot,
        "--output",
        "json",
    ];
    args.extend(CSV_FLAGS);
    let from_csv = json(&args);
    assert_eq!(from_yaml, from_csv);
    assert_eq!(from_yaml["fits"], true);
    assert!(from_yaml["savingPerMonth"].as_f64().unwrap() > 0.0);
}

#[test]
fn the_table_says_the_verdict_the_month_and_the_saving() {
    let out = colo(&[
        "quote",
        "--inventory",
        &example("quote/fenland-council.yaml"),
        "--snapshot",
        &example(SNAPSHOT),
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for wanted in [
        "Quote for fenland-council: fits: 11 replicas on north-1, south-1",
        "SERVER GROUP",
        "cost GBP",
        "Saving: ",
        "Assumptions:",
    ] {
        assert!(text.contains(wanted), "no {wanted:?} in:\n{text}");
    }
}

#[test]
fn a_bad_cell_is_exit_2_naming_its_row_and_column() {
    let dir = std::env::temp_dir().join(format!("colo-quote-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("inventory.csv");
    let text = std::fs::read_to_string(example("quote/fenland-council.csv")).unwrap();
    std::fs::write(
        &bad,
        text.replace("database,2,16,96,14,40", "database,2,16,96,14,4O"),
    )
    .unwrap();
    let bad = bad.display().to_string();
    let snapshot = example(SNAPSHOT);
    let mut args = vec!["quote", "--inventory", &bad, "--snapshot", &snapshot];
    args.extend(CSV_FLAGS);
    let out = colo(&args);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("row 3, column cpuP95Percent: \"4O\" is not a number"),
        "{stderr}"
    );
    // A CSV without the agency's name says which flag is missing.
    let out = colo(&[
        "quote",
        "--inventory",
        &example("quote/fenland-council.csv"),
        "--snapshot",
        &snapshot,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --agency"));
}

/// `--manifests`: the objects that onboard the quoted work, the Agency carrying the quote's
/// month so its bill is compared with it; nothing when the work does not fit.
#[test]
fn manifests_onboard_what_was_quoted() {
    let (snapshot, yaml) = (example(SNAPSHOT), example("quote/fenland-council.yaml"));
    let args = ["quote", "--inventory", &yaml, "--snapshot", &snapshot];
    let quote = json(&[&args[..], &["--output", "json"]].concat());
    let out = colo(&[&args[..], &["--manifests", "--namespace", "fenland"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let objects: Vec<serde_json::Value> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .collect();
    let [namespace, agency, tenancy] = &objects[..] else {
        panic!("three objects: {text}")
    };
    assert_eq!(namespace["metadata"]["name"], "fenland");
    assert_eq!(
        namespace["metadata"]["labels"]["colo.dev/agency"],
        "fenland-council"
    );
    assert_eq!(agency["spec"]["namespaces"][0], "fenland");
    assert_eq!(
        agency["spec"]["quote"]["monthlyCost"],
        quote["shared"]["cost"]
    );
    assert_eq!(agency["spec"]["standalone"]["pue"], 1.9);
    assert_eq!(tenancy["metadata"]["namespace"], "fenland");
    assert_eq!(tenancy["spec"]["resilience"], "DualSite");
    let workloads = tenancy["spec"]["workloads"].as_array().unwrap();
    let names: Vec<_> = workloads
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web-and-apps", "database", "file-and-print"]);
    let replicas: Vec<_> = workloads
        .iter()
        .map(|w| w["replicas"].as_i64().unwrap())
        .collect();
    assert_eq!(replicas, [6, 2, 3], "one replica a server");
    // p95 28% of 8 cores × 1.2, as the quote sized it.
    assert_eq!(workloads[0]["cpu"], "2688m");

    let unplaceable = std::env::temp_dir().join(format!("mars-{}.yaml", std::process::id()));
    let text = std::fs::read_to_string(&yaml).unwrap();
    std::fs::write(
        &unplaceable,
        text.replace("[uk-north, uk-south]", "[mars-north]"),
    )
    .unwrap();
    let path = unplaceable.display().to_string();
    let out = colo(&[
        "quote",
        "--inventory",
        &path,
        "--snapshot",
        &snapshot,
        "--manifests",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nothing to onboard"), "{stderr}");
    assert!(out.stdout.is_empty());
    // --namespace belongs to --manifests.
    let out = colo(&[&args[..], &["--namespace", "fenland"]].concat());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--manifests"));
}
