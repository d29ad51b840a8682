//! Least privilege, proven by the real API servers: each write Colo's own identities should
//! never make is tried for real as them (`kubectl --as`), and refused: in a member, as the
//! ServiceAccount charts/colo/member/ binds and fences (a Deployment or a pod patch in
//! kube-system, deleting colo-system or another team's namespace, adopting a namespace by
//! labelling it); on the hub, as the chart's ServiceAccount (deleting ClusterRole
//! cluster-admin or a ClusterRoleBinding not Colo's, changing a ClusterRole not Colo's,
//! binding anyone in a namespace no agency owns). Each of these RBAC alone would allow. Colo's own work in its own
//! namespaces still passes (and the rest of the suite runs the operator as these identities).

use colo_e2e::*;

const MEMBER_IDENTITY: &str = "--as=system:serviceaccount:colo-system:colo-operator";
const HUB_IDENTITY: &str = "--as=system:serviceaccount:colo-system:colo";

fn as_colo(cluster: &str, identity: &str, args: &[&str], input: Option<&str>) -> Run {
    let mut all = args.to_vec();
    all.push(identity);
    kubectl_with_input(cluster, &all, input)
}

fn refused(run: &Run, what: &str) {
    let forbidden = run.stderr.contains("forbidden") || run.stderr.contains("Forbidden");
    assert!(
        !run.ok && forbidden,
        "{what} was not refused: ok={} {}{}",
        run.ok,
        run.stdout,
        run.stderr
    );
}

#[test]
fn colos_member_identity_writes_only_in_namespaces_it_made() {
    colo_is_running();
    for member in [MEMBERS[0], MEMBERS[1], THIRD_SITE] {
        let member_as =
            |args: &[&str], input: Option<&str>| as_colo(member, MEMBER_IDENTITY, args, input);
        let deployment = member_as(
            &[
                "-n",
                "kube-system",
                "create",
                "deployment",
                "lp-x",
                "--image=i",
            ],
            None,
        );
        refused(
            &deployment,
            &format!("{member}: a Deployment in kube-system"),
        );
        let pod = unique_name("lp-pod");
        kubectl_ok(
            member,
            &[
                "-n",
                "kube-system",
                "run",
                &pod,
                "--image=i",
                "--restart=Never",
            ],
        );
        let patch = member_as(
            &["-n", "kube-system", "label", "pod", &pod, "colo.dev/x=y"],
            None,
        );
        refused(&patch, &format!("{member}: a pod patch in kube-system"));
        kubectl_ok(
            member,
            &["-n", "kube-system", "delete", "pod", &pod, "--wait=false"],
        );
        let own = member_as(
            &["delete", "namespace", "colo-system", "--wait=false"],
            None,
        );
        refused(&own, &format!("{member}: deleting colo-system"));
        let team = unique_name("team");
        kubectl_ok(member, &["create", "namespace", &team]);
        let theirs = member_as(&["delete", "namespace", &team, "--wait=false"], None);
        refused(
            &theirs,
            &format!("{member}: deleting another team's namespace"),
        );
        let adopt = member_as(
            &[
                "label",
                "namespace",
                &team,
                "app.kubernetes.io/managed-by=colo",
                &format!("colo.dev/agency={team}"),
            ],
            None,
        );
        refused(
            &adopt,
            &format!("{member}: adopting another team's namespace"),
        );
        let config = member_as(
            &[
                "create",
                "clusterrolebinding",
                "lp-x",
                "--clusterrole=view",
                "--user=x",
            ],
            None,
        );
        refused(&config, &format!("{member}: a ClusterRoleBinding"));
        kubectl_ok(member, &["delete", "namespace", &team, "--wait=false"]);
        // Its own: an agency's namespace, made, written in, and removed.
        let agency = unique_name("lp");
        let space = format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: colo-{agency}, labels: {{app.kubernetes.io/managed-by: colo, colo.dev/agency: {agency}}}}}\n"
        );
        let made = member_as(&["apply", "-f", "-"], Some(&space));
        assert!(
            made.ok,
            "{member}: Colo could not make its own namespace: {}",
            made.stderr
        );
        let ns = format!("colo-{agency}");
        let work = member_as(
            &["-n", &ns, "create", "deployment", "web", "--image=i"],
            None,
        );
        assert!(
            work.ok,
            "{member}: Colo could not write in its own namespace: {}",
            work.stderr
        );
        let gone = member_as(&["delete", "namespace", &ns, "--wait=false"], None);
        assert!(
            gone.ok,
            "{member}: Colo could not remove its own namespace: {}",
            gone.stderr
        );
    }
}

#[test]
fn colos_hub_identity_changes_no_role_but_its_agencies() {
    colo_is_running();
    let hub_as = |args: &[&str], input: Option<&str>| as_colo(HUB, HUB_IDENTITY, args, input);
    refused(
        &hub_as(
            &["delete", "clusterrole", "cluster-admin", "--wait=false"],
            None,
        ),
        "deleting ClusterRole cluster-admin",
    );
    let other = unique_name("lp-other");
    kubectl_ok(
        HUB,
        &[
            "create",
            "clusterrolebinding",
            &other,
            "--clusterrole=view",
            "--user=nobody",
        ],
    );
    refused(
        &hub_as(
            &["delete", "clusterrolebinding", &other, "--wait=false"],
            None,
        ),
        "deleting a ClusterRoleBinding not Colo's",
    );
    let labelled = hub_as(
        &[
            "label",
            "clusterrolebinding",
            &other,
            "app.kubernetes.io/managed-by=colo",
            "colo.dev/agency=x",
        ],
        None,
    );
    refused(
        &labelled,
        "taking over a ClusterRoleBinding by labelling it",
    );
    kubectl_ok(HUB, &["delete", "clusterrolebinding", &other]);
    refused(
        &hub_as(
            &["label", "clusterrole", "colo-agency", "colo.dev/x=y"],
            None,
        ),
        "changing the chart's colo-agency role",
    );
    let binding = "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: colo-agency-x, namespace: kube-system, labels: {app.kubernetes.io/managed-by: colo, colo.dev/agency: x}}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: colo-agency}\nsubjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: x}]\n";
    refused(
        &hub_as(&["apply", "-f", "-"], Some(binding)),
        "binding people in a namespace no agency owns",
    );
    // Its own: an agency's people bound in the namespace labelled for it, then unbound.
    let (agency, ns) = new_agency("lp", "OFFICIAL");
    let own = binding
        .replace("namespace: kube-system", &format!("namespace: {ns}"))
        .replace("colo-agency-x", &format!("colo-agency-{agency}"))
        .replace("colo.dev/agency: x", &format!("colo.dev/agency: {agency}"));
    let bound = hub_as(
        &["apply", "--server-side", "--field-manager=colo", "-f", "-"],
        Some(&own),
    );
    assert!(
        bound.ok,
        "Colo could not bind its agency's people: {}",
        bound.stderr
    );
    kubectl_ok(HUB, &["delete", "agency", &agency, "--wait=true"]);
    let left = kubectl(
        HUB,
        &[
            "-n",
            &ns,
            "get",
            "rolebinding",
            &format!("colo-agency-{agency}"),
        ],
    );
    assert!(!left.ok, "the agency's binding outlived it");
}
