//! The isolation matrix, decided by the real API servers (RBAC and admission), asked as each
//! agency's people with `kubectl --as iso-a-alice --as-group iso-a-engineers`: for every
//! ordered pair of agencies, every verb on the other's Tenancies and Agency, and on its objects
//! in the member clusters, is denied, and so are its figures in Colo's report (read with the
//! same people's real bearer tokens, which the estate's API servers know); nobody but the
//! operator reads a member kubeconfig Secret or writes status; and each agency can do its own
//! work and read its own figures.

use std::time::Duration;

use colo_e2e::*;

const VERBS: [&str; 7] = [
    "get", "list", "watch", "create", "update", "patch", "delete",
];

struct Agency {
    name: String,
    ns: String,
    /// Its people's prefix in e2e/estate.sh: `<people>-alice` in group `<people>-engineers`.
    people: &'static str,
}

impl Agency {
    /// kubectl arguments that act as one of this agency's engineers.
    fn acting(&self) -> [String; 2] {
        [
            format!("--as={}-alice", self.people),
            format!("--as-group={}-engineers", self.people),
        ]
    }

    /// The same engineer's bearer token, for Colo's report.
    fn token(&self) -> String {
        person_token(&format!("{}-alice", self.people))
    }

    /// GET from Colo's report as this agency's engineer.
    fn report(&self, path: &str) -> (u16, String) {
        colo_get_as(Some(&self.token()), path)
    }

    /// `kubectl auth can-i` as this agency, on `cluster`.
    fn can(&self, cluster: &str, verb: &str, resource: &str, ns: Option<&str>) -> bool {
        let who = self.acting();
        // `resource` may carry a name (`agencies/dvla`) or flags (`--subresource=status`).
        let mut args = vec!["auth", "can-i", verb];
        args.extend(resource.split(' '));
        args.extend([who[0].as_str(), who[1].as_str()]);
        if let Some(ns) = ns {
            args.extend(["-n", ns]);
        }
        let run = kubectl(cluster, &args);
        match run.stdout.trim() {
            "yes" => true,
            "no" => false,
            other => panic!(
                "can-i {verb} {resource} on {cluster}: {other} {}",
                run.stderr
            ),
        }
    }

    /// A real request as this agency; its stderr when refused.
    fn try_kubectl(&self, cluster: &str, args: &[&str]) -> Run {
        let who = self.acting();
        let mut all: Vec<&str> = args.to_vec();
        all.extend([who[0].as_str(), who[1].as_str()]);
        kubectl(cluster, &all)
    }
}

/// A tenancy that may reach one database range on 5432, and nothing else outside.
fn tenancy(ns: &str, name: &str, agency: &str) -> String {
    colo_e2e::Tenancy::new(ns, name, agency)
        .workload(Workload::new("api", 1, "100m", "64Mi"))
        .egress("10.20.0.0/16", &[5432])
        .yaml()
}

fn forbidden(run: &Run, what: &str) {
    assert!(
        !run.ok && (run.stderr.contains("Forbidden") || run.stderr.contains("forbidden")),
        "{what} was not forbidden: ok={} {}{}",
        run.ok,
        run.stdout,
        run.stderr
    );
}

#[test]
fn no_agency_sees_or_touches_another_agencys_work() {
    colo_is_running();
    let agencies: Vec<Agency> = ["iso-a", "iso-b", "iso-c"]
        .into_iter()
        .map(|people| {
            let group = format!("{people}-engineers");
            let (name, ns) = new_agency_of(people, "OFFICIAL", Some(&group));
            Agency { name, ns, people }
        })
        .collect();
    each_does_its_own_work(&agencies);
    let checked: usize = agencies
        .iter()
        .map(|a| {
            let others = agencies.iter().filter(|b| b.name != a.name);
            others.map(|b| denied_everything_of(a, b)).sum::<usize>()
        })
        .sum();
    assert_eq!(checked, 6 * VERBS.len(), "every ordered pair, every verb");
    report_figures_only_to_their_agency(&agencies);
    strangers_read_nothing(&agencies[0]);
    signing_in_on_the_page_shows_only_ones_own(&agencies);
    for a in &agencies {
        no_secrets_no_status(a);
        for b in &agencies {
            no_injection(a, b);
        }
    }
    host_access_refused(&format!("colo-{}", agencies[0].name));
    for a in &agencies {
        kubectl_ok(
            HUB,
            &["-n", &a.ns, "delete", "tenancy", "web", "--wait=true"],
        );
        kubectl_ok(HUB, &["delete", "agency", &a.name, "--wait=true"]);
        // Its people's roles go with it.
        let binding = format!("colo-agency-{}", a.name);
        let left = kubectl(HUB, &["-n", &a.ns, "get", "rolebinding", &binding]);
        assert!(!left.ok, "the agency's RoleBinding outlived it");
        let reader = format!("colo-agency-{}", a.name);
        let left = kubectl(HUB, &["get", "clusterrole", &reader]);
        assert!(!left.ok, "the agency's ClusterRole outlived it");
    }
}

/// Each agency applies its own tenancy as itself (the operator has bound its groups), reads
/// its own Agency and sees its own work in the member that runs it.
fn each_does_its_own_work(agencies: &[Agency]) {
    for a in agencies {
        let yaml = tenancy(&a.ns, "web", &a.name);
        wait_until(
            &format!("{} may create tenancies in {}", a.name, a.ns),
            Duration::from_secs(60),
            || match a.can(HUB, "create", "tenancies", Some(&a.ns)) {
                true => Ok(()),
                false => Err("not yet bound".into()),
            },
        );
        let who = a.acting();
        let args = ["apply", "-f", "-", who[0].as_str(), who[1].as_str()];
        let run = kubectl_with_input(HUB, &args, Some(&yaml));
        assert!(
            run.ok,
            "{} could not apply its own tenancy: {}",
            a.name, run.stderr
        );
    }
    for a in agencies {
        let placed = wait_phase(&a.ns, "web", "Running", Duration::from_secs(120));
        let own = a.try_kubectl(HUB, &["get", "agency", &a.name]);
        assert!(
            own.ok,
            "{} cannot read its own Agency: {}",
            a.name, own.stderr
        );
        assert!(
            !a.can(HUB, "list", "agencies", None),
            "{} lists agencies",
            a.name
        );
        let member = placed["status"]["placements"][0]["cluster"]
            .as_str()
            .unwrap();
        let space = format!("colo-{}", a.name);
        let own = a.try_kubectl(member, &["-n", &space, "get", "deployments", "-o", "name"]);
        assert!(
            own.ok,
            "{} cannot see its own work in {member}: {}",
            a.name, own.stderr
        );
        assert!(own.stdout.contains("deployment"), "{}", own.stdout);
        egress_only_where_asked_and_no_token(member, &space);
    }
}

/// In the member: the namespace lets pods out only to itself and DNS, the tenancy's own
/// policy adds its database range, and its pods get no API token.
fn egress_only_where_asked_and_no_token(member: &str, space: &str) {
    let policies = get_json(member, &["-n", space, "get", "networkpolicies"]);
    let policies = policies["items"].as_array().unwrap();
    let named = |n: &str| policies.iter().find(|p| p["metadata"]["name"] == n);
    let space_policy = named("colo-same-namespace-only").expect("the namespace's policy");
    let types = &space_policy["spec"]["policyTypes"];
    assert!(types.to_string().contains("Egress"), "{types}");
    let policy = format!("egress.{}.web", space.trim_start_matches("colo-"));
    let egress = named(&policy).expect("the tenancy's egress policy");
    let rule = &egress["spec"]["egress"][0];
    assert_eq!(rule["to"][0]["ipBlock"]["cidr"], "10.20.0.0/16", "{egress}");
    assert_eq!(rule["ports"][0]["port"], 5432, "{egress}");
    let deployment = get_json(member, &["-n", space, "get", "deployment", "web-api"]);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], false, "{pod}");
}

/// Everything of `b`'s is denied to `a`: every verb on its Tenancies and its Agency on the
/// hub, and on its Deployments, pods and Services in every member. Returns the verbs checked.
fn denied_everything_of(a: &Agency, b: &Agency) -> usize {
    let mut checked = 0;
    for verb in VERBS {
        assert!(
            !a.can(HUB, verb, "tenancies", Some(&b.ns)),
            "{} may {verb} {}'s tenancies",
            a.name,
            b.name
        );
        assert!(
            !a.can(HUB, verb, &format!("agencies/{}", b.name), None),
            "{} may {verb} agency {}",
            a.name,
            b.name
        );
        let space = format!("colo-{}", b.name);
        for member in MEMBERS {
            for resource in ["deployments", "pods", "services"] {
                assert!(
                    !a.can(member, verb, resource, Some(&space)),
                    "{} may {verb} {resource} of {} in {member}",
                    a.name,
                    b.name
                );
            }
        }
        checked += 1;
    }
    forbidden(
        &a.try_kubectl(HUB, &["-n", &b.ns, "get", "tenancy", "web"]),
        "reading another's tenancy",
    );
    let theirs = tenancy(&b.ns, "intruder", &a.name);
    let who = a.acting();
    let args = ["apply", "-f", "-", who[0].as_str(), who[1].as_str()];
    forbidden(
        &kubectl_with_input(HUB, &args, Some(&theirs)),
        "a tenancy in another's namespace",
    );
    forbidden(
        &a.try_kubectl(HUB, &["get", "agency", &b.name]),
        "reading another's Agency",
    );
    forbidden(
        &a.try_kubectl(
            MEMBERS[0],
            &["-n", &format!("colo-{}", b.name), "get", "pods"],
        ),
        "reading another's pods in a member",
    );
    checked
}

/// Colo's report, read with each agency's real token: its own figures, none of the others' (by
/// name, in the list, in the history as JSON and CSV); no estate totals and no plans. Finance
/// reads all three and the estate; the platform team the consolidation plans.
fn report_figures_only_to_their_agency(agencies: &[Agency]) {
    let names: Vec<&str> = agencies.iter().map(|a| a.name.as_str()).collect();
    // History has rows once accounting has counted each tenancy and Prometheus scraped it.
    wait_until(
        "finance's report has every agency",
        Duration::from_secs(90),
        || {
            let rows = colo_json("/api/v1/report");
            let seen = rows.to_string();
            match names.iter().find(|n| !seen.contains(&format!("\"{n}\""))) {
                None => Ok(()),
                Some(missing) => Err(format!("no row of {missing} yet")),
            }
        },
    );
    let listed = colo_json("/api/v1/agencies").to_string();
    assert!(
        names.iter().all(|n| listed.contains(n)),
        "finance: {listed}"
    );
    assert_eq!(
        colo_get("/api/v1/estate").0,
        200,
        "finance reads the estate"
    );
    let platform = person_token("platform-pat");
    let plans = colo_get_as(Some(&platform), "/api/v1/consolidation");
    assert_eq!(plans.0, 200, "the platform team reads plans: {}", plans.1);
    for a in agencies {
        let (code, own) = a.report(&format!("/api/v1/agencies/{}", a.name));
        assert_eq!(code, 200, "{} reads its own figures: {own}", a.name);
        for path in [
            "/api/v1/agencies",
            "/api/v1/report",
            "/api/v1/report?format=csv",
        ] {
            let (code, body) = a.report(path);
            assert_eq!(code, 200, "{} GET {path}: {body}", a.name);
            assert!(body.contains(&a.name), "{} GET {path}: {body}", a.name);
            for b in agencies.iter().filter(|b| b.name != a.name) {
                assert!(
                    !body.contains(&b.name),
                    "{} sees {} in {path}: {body}",
                    a.name,
                    b.name
                );
            }
        }
        for b in agencies.iter().filter(|b| b.name != a.name) {
            let (code, body) = a.report(&format!("/api/v1/agencies/{}", b.name));
            assert_eq!(code, 403, "{} GET {}'s figures: {body}", a.name, b.name);
            assert!(body.contains("may not read agency"), "{body}");
        }
        for path in ["/api/v1/estate", "/api/v1/consolidation"] {
            let (code, body) = a.report(path);
            assert_eq!(code, 403, "{} GET {path}: {body}", a.name);
        }
    }
}

/// No token, a token the hub does not know, or a known person in no agency's groups: nothing.
fn strangers_read_nothing(a: &Agency) {
    let stranger = person_token("stranger-sam");
    let own = format!("/api/v1/agencies/{}", a.name);
    for path in [
        "/",
        "/api/v1/agencies",
        own.as_str(),
        "/api/v1/report",
        "/api/v1/estate",
    ] {
        let (code, body) = colo_get_as(None, path);
        assert_eq!(code, 401, "no token, GET {path}: {body}");
        let (code, body) = colo_get_as(Some("not-a-token-the-hub-knows"), path);
        assert_eq!(code, 401, "a made-up token, GET {path}: {body}");
        assert!(body.contains("does not accept this token"), "{body}");
        let (code, body) = colo_get_as(Some(&stranger), path);
        assert_eq!(code, 403, "stranger-sam, GET {path}: {body}");
        assert!(
            body.contains("stranger-sam may"),
            "the refusal names who asked: {body}"
        );
    }
}

/// In Chromium, with no proxy: the page asks for a token; iso-a's engineer pastes hers and
/// sees iso-a's row only, without the estate's own lines.
fn signing_in_on_the_page_shows_only_ones_own(agencies: &[Agency]) {
    let a = &agencies[0];
    let page = in_chromium(
        "check.mjs",
        &[("COLO_SIGN_IN_TOKEN", a.token())],
        &[&format!("{COLO_HTTP}/")],
        "report-page-signed-in.png",
    );
    assert_eq!(page["signIn"]["status"], 401, "{page}");
    assert!(
        page["signIn"]["why"]
            .as_str()
            .unwrap()
            .contains("no credentials"),
        "{page}"
    );
    assert_eq!(page["status"], 200, "{page}");
    assert_eq!(page["reader"], "iso-a-alice", "{page}");
    let rows = page["rows"].as_object().unwrap();
    assert!(rows.contains_key(&a.name), "{page}");
    for b in &agencies[1..] {
        assert!(
            !rows.contains_key(&b.name),
            "{} sees {} on the page",
            a.name,
            b.name
        );
    }
    assert_eq!(
        page["estateLines"], false,
        "the estate's own lines are finance's: {page}"
    );
}

/// Nobody but the operator reads kubeconfigs or writes status; no agency writes namespaces.
fn no_secrets_no_status(a: &Agency) {
    for secret in ["north-1-kubeconfig", "south-1-kubeconfig"] {
        let named = format!("secrets/{secret}");
        assert!(!a.can(HUB, "get", &named, Some("colo-system")));
        forbidden(
            &a.try_kubectl(HUB, &["-n", "colo-system", "get", "secret", secret]),
            "reading a member kubeconfig",
        );
    }
    for verb in ["update", "patch"] {
        let own = a.can(HUB, verb, "tenancies --subresource=status", Some(&a.ns));
        assert!(!own, "{} may {verb} its own status", a.name);
    }
    let forge = [
        "-n",
        &a.ns,
        "patch",
        "tenancy",
        "web",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Running"}}"#,
    ];
    forbidden(
        &a.try_kubectl(HUB, &forge),
        "an agency writing its tenancy's status",
    );
    assert!(!a.can(HUB, "update", "namespaces", None));
    assert!(!a.can(HUB, "list", "secrets", Some(&a.ns)));
}

/// What multi-tenancy projects were broken through (Capsule's advisories), tried by `a` on
/// what is `b`'s (its own when `b` is `a`): the namespace's `status` and `finalize`
/// subresources, labels and annotations injected on namespaces and on Colo's objects, owner
/// references and finalizers removed. Every one Forbidden, by RBAC or by the chart's
/// admission policies.
fn no_injection(a: &Agency, b: &Agency) {
    let whose = if a.name == b.name {
        "its own"
    } else {
        "another's"
    };
    let space = format!("colo-{}", b.name);
    let tenancy = get_json(HUB, &["-n", &b.ns, "get", "tenancy", "web"]);
    let member = tenancy["status"]["placements"][0]["cluster"]
        .as_str()
        .unwrap_or(MEMBERS[0])
        .to_string();
    let label = format!("colo.dev/agency=taken-by-{}", a.name);
    let finalize = format!(
        r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{}"}},"spec":{{"finalizers":[]}}}}"#,
        b.ns
    );
    let cases: Vec<(&str, Vec<String>, Option<String>)> = vec![
        (
            "hub",
            vec!["label", "namespace", &b.ns, &label, "--overwrite"]
                .into_iter()
                .map(String::from)
                .collect(),
            None,
        ),
        (
            "hub",
            vec!["annotate", "namespace", &b.ns, "colo.dev/x=y"]
                .into_iter()
                .map(String::from)
                .collect(),
            None,
        ),
        (
            "hub",
            vec![
                "patch",
                "namespace",
                &b.ns,
                "--subresource=status",
                "--type=merge",
                "-p",
                r#"{"status":{"phase":"Terminating"}}"#,
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            None,
        ),
        (
            "hub",
            vec![
                "replace",
                "--raw",
                &format!("/api/v1/namespaces/{}/finalize", b.ns),
                "-f",
                "-",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            Some(finalize),
        ),
        (
            "hub",
            vec![
                "-n",
                &b.ns,
                "label",
                "rolebinding",
                &format!("colo-agency-{}", b.name),
                "colo.dev/x=y",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            None,
        ),
        (
            "hub",
            vec![
                "-n",
                &b.ns,
                "patch",
                "tenancy",
                "web",
                "--type=json",
                "-p",
                r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            None,
        ),
        (
            "member",
            vec!["label", "namespace", &space, &label, "--overwrite"]
                .into_iter()
                .map(String::from)
                .collect(),
            None,
        ),
        (
            "member",
            vec!["annotate", "namespace", &space, "colo.dev/x=y"]
                .into_iter()
                .map(String::from)
                .collect(),
            None,
        ),
        (
            "member",
            vec![
                "patch",
                "namespace",
                &space,
                "--subresource=status",
                "--type=merge",
                "-p",
                r#"{"status":{"phase":"Terminating"}}"#,
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            None,
        ),
        (
            "member",
            vec![
                "-n",
                &space,
                "label",
                "deployment",
                "web-api",
                "colo.dev/tenancy=other",
                "--overwrite",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            None,
        ),
        (
            "member",
            vec![
                "-n",
                &space,
                "annotate",
                "deployment",
                "web-api",
                "colo.dev/placement-spec=x",
                "--overwrite",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            None,
        ),
        (
            "member",
            vec![
                "-n",
                &space,
                "patch",
                "deployment",
                "web-api",
                "--type=json",
                "-p",
                r#"[{"op":"remove","path":"/metadata/labels/app.kubernetes.io~1managed-by"}]"#,
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            None,
        ),
    ];
    for (where_, args, input) in cases {
        let cluster = if where_ == "hub" {
            HUB
        } else {
            member.as_str()
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let who = a.acting();
        let mut all = args.clone();
        all.extend([who[0].as_str(), who[1].as_str()]);
        let run = kubectl_with_input(cluster, &all, input.as_deref());
        forbidden(
            &run,
            &format!(
                "{} on {whose} ({cluster}): kubectl {}",
                a.name,
                args.join(" ")
            ),
        );
    }
    let rs = kubectl_ok(&member, &["-n", &space, "get", "replicasets", "-o", "name"]);
    if let Some(rs) = rs.lines().next() {
        let remove = [
            "-n",
            &space,
            "patch",
            rs,
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/metadata/ownerReferences"}]"#,
        ];
        forbidden(
            &a.try_kubectl(&member, &remove),
            "removing a ReplicaSet's owner",
        );
    }
}

/// A privileged pod, one running as root, one on the host's network or one with a host path
/// is refused in an agency's member namespace (Pod Security `restricted`), even from an
/// administrator.
fn host_access_refused(space: &str) {
    let container = "containers: [{name: c, image: i}]";
    for (what, spec) in [
        (
            "privileged",
            "containers: [{name: c, image: i, securityContext: {privileged: true}}]".to_string(),
        ),
        ("root", container.to_string()),
        ("host-network", format!("hostNetwork: true\n  {container}")),
        (
            "host-path",
            format!("volumes: [{{name: h, hostPath: {{path: /}}}}]\n  {container}"),
        ),
    ] {
        let pod = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: bad-{what}, namespace: {space}}}\nspec:\n  {spec}\n"
        );
        let args = ["apply", "--dry-run=server", "-f", "-"];
        let run = kubectl_with_input(MEMBERS[0], &args, Some(&pod));
        // The estate's API servers also refuse privileged containers outright
        // (--allow-privileged is off), before Pod Security is asked.
        let refused = run.stderr.contains("violates PodSecurity \"restricted")
            || (what == "privileged" && run.stderr.contains("disallowed by cluster policy"));
        assert!(
            !run.ok && refused,
            "a {what} pod was not refused: {}",
            run.stderr
        );
    }
}
