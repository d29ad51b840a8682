//! `colo plan` as people and scripts use it: both output forms on the examples, and bad
//! input answered with exit code 2 and a message that says where the problem is.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn colo(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_colo"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn example(name: &str) -> String {
    format!(
        "{}/../examples/snapshots/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn snapshots() -> Vec<String> {
    let dir = format!("{}/../examples/snapshots", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_snapshot_plans_as_json_in_the_spec_shape() {
    assert!(
        snapshots().len() >= 3,
        "two or three example snapshots are expected"
    );
    for file in snapshots() {
        for extra in [&[][..], &["--consolidate"][..]] {
            let mut args = vec!["plan", "--snapshot", &file, "--output", "json"];
            args.extend_from_slice(extra);
            let out = colo(&args, None);
            assert!(
                out.status.success(),
                "{file}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            for key in ["assignments", "unplaced", "moves", "summary", "agencies"] {
                assert!(plan.get(key).is_some(), "{file}: no {key}");
            }
            for key in [
                "activeNodes",
                "lowerBoundNodes",
                "clustersUsed",
                "sharedKWhPerMonth",
                "standaloneKWhPerMonth",
            ] {
                assert!(
                    plan["summary"].get(key).is_some(),
                    "{file}: summary has no {key}"
                );
            }
            for a in plan["assignments"].as_array().unwrap() {
                for key in [
                    "tenancy",
                    "workload",
                    "cluster",
                    "site",
                    "node",
                    "replicas",
                    "cpuMillis",
                    "memoryBytes",
                ] {
                    assert!(a.get(key).is_some(), "{file}: assignment has no {key}: {a}");
                }
            }
            for a in plan["agencies"].as_array().unwrap() {
                for key in [
                    "agency",
                    "costPerMonth",
                    "standaloneCostPerMonth",
                    "kWhPerMonth",
                    "standaloneKWhPerMonth",
                    "carbonKgPerMonth",
                    "standaloneCarbonKgPerMonth",
                ] {
                    assert!(a.get(key).is_some(), "{file}: agency figures have no {key}");
                }
            }
        }
    }
}

#[test]
fn the_table_shows_clusters_agencies_and_decisions() {
    let out = colo(&["plan", "--snapshot", &example("local-estate.yaml")], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    for part in [
        "ACTIVE/TOTAL",
        "REQUESTED CPU",
        "MEASURED CPU",
        "STANDALONE",
        "SAVING",
        "DECISIONS",
        "north-1",
        "dvla",
    ] {
        assert!(table.contains(part), "table lacks {part}:\n{table}");
    }
}

#[test]
fn consolidation_prints_moves_in_order() {
    let out = colo(
        &[
            "plan",
            "--snapshot",
            &example("running-estate.yaml"),
            "--consolidate",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("MOVES (in order"), "{table}");
}

fn refused(text: &str, expected: &[&str]) {
    let out = colo(&["plan", "--snapshot", "-"], Some(text));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "exit code 2 for bad input; stderr: {stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing printed on stdout for bad input"
    );
    for want in expected {
        assert!(stderr.contains(want), "message lacks {want:?}: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

const HEAD: &str = "apiVersion: colo.dev/v1alpha1\nkind: EstateSnapshot\n";

#[test]
fn bad_input_is_refused_with_exit_code_2_naming_where() {
    refused(
        "apiVersion: colo.dev/v1alpha1\nkind: Tenancy\nspec: {}\n",
        &["not an EstateSnapshot", "Tenancy"],
    );
    refused("just: [unclosed\n", &["not YAML"]);
    refused(
        &format!("{HEAD}agencies: []\nclustrs: []\n"),
        &["unknown field `clustrs`"],
    );
    refused(
        &format!(
            "{HEAD}clusters:\n- metadata: {{name: c}}\n  spec: {{site: s, region: r, classification: OFFICIAL}}\n  nodes:\n  - {{name: n, capacity: {{cpu: lots, memory: 1Gi}}}}\n"
        ),
        &["clusters[0]", "nodes[0]", "not a quantity"],
    );
    refused(
        &format!(
            "{HEAD}clusters:\n- metadata: {{name: c}}\n  spec: {{site: s, region: r, classification: OFFICIAL}}\n- metadata: {{name: c}}\n  spec: {{site: s, region: r, classification: OFFICIAL}}\n"
        ),
        &["clusters[1]", "a second cluster named \"c\""],
    );
    refused(
        &format!(
            "{HEAD}tenancies:\n- metadata: {{name: t, namespace: ns}}\n  spec:\n    agency: ghost\n    classification: OFFICIAL\n    workloads: [{{name: w, image: i, replicas: 1, cpu: 1, memory: 1Gi}}]\n"
        ),
        &[
            "tenancies[0] (ns/t).spec.agency",
            "no agency named \"ghost\"",
        ],
    );
    let missing = colo(&["plan", "--snapshot", "/no/such/file.yaml"], None);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read /no/such/file.yaml"));
}

#[test]
fn the_plan_asks_exactly_what_the_user_wrote() {
    let snapshot = format!(
        "{HEAD}agencies:\n- metadata: {{name: a}}\n  spec: {{displayName: A, costCentre: A, namespaces: [ns], maxClassification: OFFICIAL}}\nclusters:\n- metadata: {{name: c}}\n  spec: {{site: s, region: r, classification: OFFICIAL}}\n  nodes:\n  - {{name: n, capacity: {{cpu: 32, memory: 128Gi}}}}\ntenancies:\n- metadata: {{name: t, namespace: ns}}\n  spec:\n    agency: a\n    classification: OFFICIAL\n    workloads:\n    - {{name: w, image: i, replicas: 1, cpu: 1275m, memory: 0.1Gi}}\n"
    );
    let out = colo(
        &["plan", "--snapshot", "-", "--output", "json"],
        Some(&snapshot),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let a = &plan["assignments"][0];
    assert_eq!(a["cpuMillis"], 1275, "1275m, not 1276m: {a}");
    assert_eq!(
        a["memoryBytes"], 107_374_183,
        "0.1Gi rounded up to a whole byte: {a}"
    );
}

#[test]
fn a_request_past_the_bounds_is_refused_with_the_range() {
    let snapshot = format!(
        "{HEAD}agencies:\n- metadata: {{name: a}}\n  spec: {{displayName: A, costCentre: A, namespaces: [ns], maxClassification: OFFICIAL}}\ntenancies:\n- metadata: {{name: t, namespace: ns}}\n  spec:\n    agency: a\n    classification: OFFICIAL\n    workloads:\n    - {{name: w, image: i, replicas: 1, cpu: 10P, memory: 1Gi}}\n"
    );
    refused(
        &snapshot,
        &[
            "tenancies[0] (ns/t).spec.workloads[0].cpu",
            "10P is too large",
        ],
    );
    refused(
        &snapshot.replace("10P", "5000"),
        &["spec.workloads[0].cpu", "at most 4096 cores"],
    );
}
