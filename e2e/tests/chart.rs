//! The Helm chart (charts/colo): it lints, its values are checked by its schema, everything it
//! renders is accepted by the estate's real hub API server (server-side dry run), its roles are
//! least privilege, and its admission policies refuse what they promise to refuse.

use colo_e2e::*;
use serde_json::Value;

fn chart() -> String {
    repo().join("charts/colo").to_str().unwrap().to_string()
}

/// helm from the estate's binaries (built from the Go module proxy by e2e/build.sh), told the
/// estate's Kubernetes version (the chart needs 1.30 or later).
fn helm(args: &[&str]) -> Run {
    let versions = std::fs::read_to_string(repo().join("e2e/versions.env")).unwrap();
    let kube = versions
        .lines()
        .find_map(|l| l.strip_prefix("K8S_VERSION="));
    let mut cmd = std::process::Command::new(estate_dir().join("bin/helm"));
    cmd.args(args).args([
        "--kube-version",
        kube.expect("K8S_VERSION in e2e/versions.env"),
    ]);
    cmd.stdin(std::process::Stdio::null());
    cmd.output().expect("helm runs").into()
}

/// The chart rendered with `sets`, as the objects it holds.
fn render(sets: &[&str]) -> (String, Vec<Value>) {
    let mut args = vec!["template", "colo", "", "--namespace", "colo-system"];
    let chart = chart();
    args[2] = &chart;
    for s in sets {
        args.extend(["--set", s]);
    }
    let run = helm(&args);
    assert!(run.ok, "helm template failed:\n{}", run.stderr);
    let objects = run
        .stdout
        .split("\n---")
        .filter_map(|doc| serde_yaml_ng::from_str::<Value>(doc).ok())
        .filter(|v| v.is_object())
        .collect();
    (run.stdout, objects)
}

const MEMBERS_SET: &str = "members.kubeconfigSecrets={north-1-kubeconfig,south-1-kubeconfig}";

#[test]
fn the_chart_lints_and_its_schema_refuses_bad_values_naming_them() {
    let run = helm(&["lint", "--strict", &chart(), "--set", MEMBERS_SET]);
    assert!(run.ok, "helm lint:\n{}{}", run.stdout, run.stderr);
    for (set, names) in [
        ("operator.consolidation.mode=sometimes", "consolidation"),
        ("replicas=0", "replicas"),
        ("operator.currency=pounds", "currency"),
        ("no.such.value=1", "no"),
    ] {
        let run = helm(&["template", "colo", &chart(), "--set", set]);
        assert!(!run.ok, "{set} was accepted");
        assert!(
            run.stderr
                .contains("values don't meet the specifications of the schema")
                && run.stderr.contains(names),
            "{set}: the error does not name {names}:\n{}",
            run.stderr
        );
    }
}

#[test]
fn everything_the_chart_renders_is_accepted_by_the_hub_api_server() {
    install_crds();
    let sets = [
        MEMBERS_SET,
        "rbac.platformGroups={platform-team}",
        "rbac.financeGroups={finance}",
        "dashboards.enabled=true",
    ];
    let (text, objects) = render(&sets);
    let kinds: std::collections::BTreeSet<&str> =
        objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    for kind in [
        "Deployment",
        "ServiceAccount",
        "ClusterRole",
        "Role",
        "Service",
        "NetworkPolicy",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ConfigMap",
        "PodDisruptionBudget",
        "FlowSchema",
        "PriorityLevelConfiguration",
    ] {
        assert!(
            kinds.contains(kind),
            "the chart renders no {kind}: {kinds:?}"
        );
    }
    // The release namespace exists on the hub (e2e/operator.sh made it).
    let run = kubectl_with_input(
        HUB,
        &["apply", "--server-side", "--dry-run=server", "-f", "-"],
        Some(&text),
    );
    assert!(
        run.ok,
        "the hub refused the rendered chart:\n{}",
        run.stderr
    );
    // With the trailing slash: the chart's crds/ is a link to the repository's crds/.
    let crds = format!("{}/", repo().join("charts/colo/crds").display());
    let crds = crds.as_str();
    let args = ["apply", "--server-side", "--dry-run=server", "-f", crds];
    kubectl_ok(HUB, &args);
    // The ServiceMonitor needs prometheus-operator's CRD, which the estate has not: rendered only.
    let (_, objects) = render(&["serviceMonitor.enabled=true"]);
    let monitor = objects.iter().find(|o| o["kind"] == "ServiceMonitor");
    let monitor = monitor.expect("a ServiceMonitor");
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
}

#[test]
fn the_operator_runs_non_root_read_only_with_no_capabilities_and_limits() {
    let (_, objects) = render(&[MEMBERS_SET]);
    let deployment = objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let container = &pod["containers"][0];
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                container["resources"][kind][resource].is_string(),
                "no {kind}.{resource}: {}",
                container["resources"]
            );
        }
    }
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(args.contains(&"--namespace=colo-system"), "{args:?}");
    assert!(args.contains(&"--consolidation-mode=propose"), "{args:?}");
    // Probes and /metrics on their own port; the report's port asks every reader for a token.
    assert_eq!(container["readinessProbe"]["httpGet"]["port"], "metrics");
    assert_eq!(container["livenessProbe"]["httpGet"]["port"], "metrics");
}

#[test]
fn metrics_are_open_only_to_prometheus_and_the_report_only_to_token_holders() {
    let prometheus = "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.name=monitoring";
    let (_, objects) = render(&[MEMBERS_SET, prometheus]);
    let policy = objects
        .iter()
        .find(|o| o["kind"] == "NetworkPolicy")
        .unwrap();
    let rules = policy["spec"]["ingress"].as_array().unwrap();
    let port_of = |r: &Value| r["ports"][0]["port"].clone();
    let report = rules
        .iter()
        .find(|r| port_of(r) == "report")
        .expect("{policy}");
    assert_eq!(
        report["from"],
        serde_json::json!([{"podSelector": {}}]),
        "{policy}"
    );
    let metrics = rules
        .iter()
        .find(|r| port_of(r) == "metrics")
        .expect("{policy}");
    let from = &metrics["from"][0]["namespaceSelector"]["matchLabels"]["name"];
    assert_eq!(from, "monitoring", "{policy}");
    // Without metricsFrom, nobody reaches /metrics (it holds every agency's counters).
    let (_, objects) = render(&[MEMBERS_SET]);
    let policy = objects
        .iter()
        .find(|o| o["kind"] == "NetworkPolicy")
        .unwrap();
    let rules = policy["spec"]["ingress"].as_array().unwrap();
    assert!(rules.iter().all(|r| port_of(r) == "report"), "{policy}");
    // The operator may ask the hub who holds a token and what they may read.
    let role = objects
        .iter()
        .find(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == "colo-operator")
        .unwrap();
    for review in ["tokenreviews", "subjectaccessreviews"] {
        let rule = role["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resources"] == serde_json::json!([review]));
        let rule = rule.unwrap_or_else(|| panic!("no {review} rule: {role}"));
        assert_eq!(rule["verbs"], serde_json::json!(["create"]), "{rule}");
    }
    let service = objects.iter().find(|o| o["kind"] == "Service").unwrap();
    let ports = service["spec"]["ports"].to_string();
    assert!(
        ports.contains("\"report\"") && ports.contains("\"metrics\""),
        "{ports}"
    );
}

#[test]
fn every_role_lists_its_verbs_and_reads_secrets_only_by_name() {
    let (_, objects) = render(&[MEMBERS_SET, "rbac.platformGroups={p}"]);
    let member = std::fs::read_to_string(repo().join("charts/colo/member/rbac.yaml")).unwrap();
    let member = member
        .split("\n---")
        .find(|d| d.contains("kind: ClusterRole\n"));
    let member: Value = serde_yaml_ng::from_str(member.unwrap()).unwrap();
    let roles = objects
        .iter()
        .filter(|o| o["kind"] == "ClusterRole" || o["kind"] == "Role")
        .chain([&member]);
    let mut secret_rules = 0;
    for role in roles {
        let name = role["metadata"]["name"].as_str().unwrap();
        for rule in role["rules"].as_array().unwrap() {
            for field in ["apiGroups", "resources", "verbs"] {
                let words = rule[field].as_array().unwrap();
                assert!(
                    !words.iter().any(|w| w.as_str().unwrap_or("").contains('*')),
                    "{name}: a wildcard in {field}: {rule}"
                );
            }
            let resources = rule["resources"].as_array().unwrap();
            if resources.iter().any(|r| r == "secrets") {
                secret_rules += 1;
                assert_eq!(rule["verbs"], serde_json::json!(["get"]), "{name}: {rule}");
                assert_eq!(
                    rule["resourceNames"],
                    serde_json::json!(["north-1-kubeconfig", "south-1-kubeconfig"]),
                    "{name}: Secrets not by name: {rule}"
                );
            }
        }
    }
    assert_eq!(secret_rules, 1, "one rule reads the member kubeconfigs");
    for binding in objects.iter().filter(|o| o["kind"] == "ClusterRoleBinding") {
        assert_ne!(binding["roleRef"]["name"], "cluster-admin", "{binding}");
    }
    // No member Secrets listed: no rule on Secrets at all (an empty name list means all).
    let (_, objects) = render(&[]);
    let role = objects.iter().find(|o| o["kind"] == "Role").unwrap();
    assert!(
        !role.to_string().contains("secrets"),
        "a Secrets rule without names: {role}"
    );
}

/// What the hub answers to `yaml` applied as `--dry-run=server` (admission runs, nothing is
/// stored), once the policies are in force (they are loaded a moment after they are applied).
fn refusal(yaml: &str, wants: &[&str]) -> String {
    wait_until(
        "the API server refuses it",
        std::time::Duration::from_secs(30),
        || {
            let args = ["apply", "--dry-run=server", "-f", "-"];
            let run = kubectl_with_input(HUB, &args, Some(yaml));
            if run.ok {
                return Err(format!("accepted: {}", run.stdout));
            }
            match wants.iter().find(|w| !run.stderr.contains(*w)) {
                Some(w) => Err(format!("refused without {w:?}: {}", run.stderr)),
                None => Ok(run.stderr),
            }
        },
    )
}

#[test]
fn admission_policies_refuse_a_tenancy_outside_its_agencys_namespace_and_foreign_secrets() {
    colo_is_running();
    let (agency, ns) = new_agency("owner", "OFFICIAL");
    let tenancy = |ns: &str, agency: &str| {
        Tenancy::new(ns, "t", agency)
            .workload(Workload::new("a", 1, "100m", "64Mi"))
            .yaml()
    };
    // Its own namespace: admitted.
    let run = kubectl_with_input(
        HUB,
        &["apply", "--dry-run=server", "-f", "-"],
        Some(&tenancy(&ns, &agency)),
    );
    assert!(run.ok, "{}", run.stderr);
    // Another agency's name in it.
    let (other, other_ns) = new_agency("other", "OFFICIAL");
    refusal(
        &tenancy(&ns, &other),
        &[
            "spec.agency",
            &format!("belongs to agency {agency}, not {other}"),
        ],
    );
    // A namespace no agency owns.
    let stray = unique_name("stray");
    kubectl_ok(HUB, &["create", "namespace", &stray]);
    refusal(
        &tenancy(&stray, &agency),
        &["spec.agency", "belongs to no agency"],
    );
    let _ = kubectl(HUB, &["delete", "namespace", &stray, "--wait=false"]);
    let _ = other_ns;
    // A member kubeconfig Secret outside the operator's namespace.
    refusal(
        "apiVersion: colo.dev/v1alpha1\nkind: SharedCluster\nmetadata: {name: east-9}\nspec:\n  site: east-dc\n  region: uk-east\n  classification: OFFICIAL\n  kubeconfigSecretRef: {name: east-9-kubeconfig, namespace: default}\n",
        &["spec.kubeconfigSecretRef.namespace", "must be colo-system"],
    );
}

#[test]
fn only_the_operator_writes_status() {
    colo_is_running();
    let (agency, ns) = new_agency("status", "OFFICIAL");
    Tenancy::new(&ns, "t", &agency)
        .workload(Workload::new("a", 1, "100m", "64Mi"))
        .apply();
    let placed = wait_phase(&ns, "t", "Running", std::time::Duration::from_secs(90));
    let patch = r#"{"status":{"phase":"Degraded"}}"#;
    for (kind, name, namespaced) in [("tenancy", "t", true), ("agency", agency.as_str(), false)] {
        let mut args = vec![
            "patch",
            kind,
            name,
            "--subresource=status",
            "--type=merge",
            "-p",
            patch,
        ];
        if namespaced {
            args.extend(["-n", &ns]);
        }
        let run = kubectl(HUB, &args);
        assert!(!run.ok, "{kind} status written by the test's admin");
        assert!(
            run.stderr.contains("written by Colo's operator only"),
            "{kind}: {}",
            run.stderr
        );
    }
    let now = get_json(HUB, &["-n", &ns, "get", "tenancy", "t"]);
    assert_eq!(now["status"]["phase"], placed["status"]["phase"]);
    kubectl_ok(HUB, &["-n", &ns, "delete", "tenancy", "t", "--wait=true"]);
}

/// The hub's API Priority and Fairness puts the operator's Lease in the chart's leader level
/// and the rest of what it asks in its bulk level: the API server names the FlowSchema it
/// chose in each response (`X-Kubernetes-PF-FlowSchema-UID`), asked here with Colo's own token.
#[test]
fn the_operators_lease_has_a_priority_level_of_its_own() {
    colo_is_running();
    let uid = |schema: &str| {
        let run = kubectl(
            HUB,
            &[
                "get",
                "flowschema",
                schema,
                "-o",
                "jsonpath={.metadata.uid}",
            ],
        );
        assert!(run.ok, "no FlowSchema {schema}: {}", run.stderr);
        run.stdout
    };
    let (leader, bulk) = (uid("colo-leader"), uid("colo-bulk"));
    let as_colo = |args: &[&str]| {
        let dir = estate_dir();
        let out = std::process::Command::new(dir.join("bin/kubectl"))
            .arg("--kubeconfig")
            .arg(dir.join("operator.kubeconfig"))
            .args(args)
            .arg("-v=8")
            .output()
            .expect("kubectl runs");
        let run: Run = out.into();
        assert!(run.ok, "{args:?} as Colo: {}", run.stderr);
        run.stderr.to_lowercase()
    };
    let lease = as_colo(&["-n", "colo-system", "get", "lease", "colo-operator"]);
    assert!(
        lease.contains("x-kubernetes-pf-flowschema-uid") && lease.contains(&leader),
        "the Lease was not classified under colo-leader ({leader}):\n{lease}"
    );
    let listed = as_colo(&["get", "tenancies", "--all-namespaces"]);
    assert!(
        listed.contains(&bulk),
        "a list of tenancies was not classified under colo-bulk ({bulk}):\n{listed}"
    );
}
