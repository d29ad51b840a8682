//! What an agency's people may do on the hub, kept from its Agency: in each hub namespace it
//! owns, a RoleBinding of its groups to the ClusterRole `colo-agency` (the chart's: Tenancies
//! there, and nothing else); and a ClusterRole and ClusterRoleBinding letting them `get` their
//! own Agency (its status, and through it their figures in the report API). Nothing else of
//! the hub is theirs.

use std::collections::BTreeSet;

use colo_api::Agency;
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};

use super::{labels, plain};

/// The chart's ClusterRole bound in each agency namespace.
pub const AGENCY_CLUSTER_ROLE: &str = "colo-agency";
/// The RoleBinding's name in each agency namespace.
const BINDING: &str = "colo-agency";

/// The name of the ClusterRole (and its binding) that lets `agency`'s groups read it.
pub fn reader_name(agency: &str) -> String {
    format!("colo-agency-{agency}")
}

/// Binds the agency's groups in `namespaces` (those it owns) and to its own Agency, and
/// removes its bindings from namespaces it no longer owns. Returns the namespaces that do not
/// exist yet (bound once they do).
pub async fn grant(
    client: &Client,
    agency: &Agency,
    namespaces: &[String],
    manager: &str,
) -> Result<Vec<String>, kube::Error> {
    let name = agency.name_any();
    let subjects = subjects(agency);
    let apply = PatchParams::apply(manager).force();
    let mut missing = Vec::new();
    for ns in namespaces {
        let binding = namespace_binding(&name, ns, subjects.clone());
        let bound = Api::<RoleBinding>::namespaced(client.clone(), ns)
            .patch(BINDING, &apply, &Patch::Apply(&binding))
            .await;
        match bound {
            Err(e) if plain::is_not_found(&e) => missing.push(ns.clone()),
            other => {
                other?;
            }
        }
    }
    let reader = reader_name(&name);
    Api::<ClusterRole>::all(client.clone())
        .patch(&reader, &apply, &Patch::Apply(&agency_reader(&name)))
        .await?;
    let binding = reader_binding(&name, subjects);
    Api::<ClusterRoleBinding>::all(client.clone())
        .patch(&reader, &apply, &Patch::Apply(&binding))
        .await?;
    let keep: BTreeSet<&str> = namespaces.iter().map(String::as_str).collect();
    remove_bindings(client, &name, |ns| !keep.contains(ns)).await?;
    Ok(missing)
}

/// Removes everything `grant` made for `agency` (it was deleted).
pub async fn revoke(client: &Client, agency: &str) -> Result<(), kube::Error> {
    remove_bindings(client, agency, |_| true).await?;
    let reader = reader_name(agency);
    let gone = |r: Result<_, kube::Error>| match r {
        Err(e) if plain::is_not_found(&e) => Ok(()),
        other => other.map(|_| ()),
    };
    let dp = DeleteParams::default();
    gone(
        Api::<ClusterRoleBinding>::all(client.clone())
            .delete(&reader, &dp)
            .await
            .map(|_| ()),
    )?;
    gone(
        Api::<ClusterRole>::all(client.clone())
            .delete(&reader, &dp)
            .await
            .map(|_| ()),
    )
}

async fn remove_bindings(
    client: &Client,
    agency: &str,
    stale: impl Fn(&str) -> bool,
) -> Result<(), kube::Error> {
    let selector = format!(
        "{}={agency},{}={}",
        labels::AGENCY_LABEL,
        labels::MANAGED_BY_LABEL,
        labels::MANAGED_BY
    );
    let all = Api::<RoleBinding>::all(client.clone());
    for binding in all.list(&ListParams::default().labels(&selector)).await? {
        let ns = binding.namespace().unwrap_or_default();
        if stale(&ns) {
            Api::<RoleBinding>::namespaced(client.clone(), &ns)
                .delete(&binding.name_any(), &DeleteParams::default())
                .await?;
        }
    }
    Ok(())
}

fn subjects(agency: &Agency) -> Vec<Subject> {
    let group = |g: &String| Subject {
        api_group: Some("rbac.authorization.k8s.io".into()),
        kind: "Group".into(),
        name: g.clone(),
        namespace: None,
    };
    agency.spec.groups.iter().map(group).collect()
}

fn meta(agency: &str, name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: namespace.map(Into::into),
        labels: Some(labels::agency_labels(agency)),
        ..Default::default()
    }
}

fn namespace_binding(agency: &str, ns: &str, subjects: Vec<Subject>) -> RoleBinding {
    RoleBinding {
        metadata: meta(agency, BINDING, Some(ns)),
        role_ref: cluster_role(AGENCY_CLUSTER_ROLE),
        subjects: Some(subjects),
    }
}

fn agency_reader(agency: &str) -> ClusterRole {
    ClusterRole {
        metadata: meta(agency, &reader_name(agency), None),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![colo_api::GROUP.into()]),
            resources: Some(vec!["agencies".into(), "agencies/status".into()]),
            resource_names: Some(vec![agency.into()]),
            verbs: vec!["get".into()],
            ..Default::default()
        }]),
        ..Default::default()
    }
}

fn reader_binding(agency: &str, subjects: Vec<Subject>) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(agency, &reader_name(agency), None),
        role_ref: cluster_role(&reader_name(agency)),
        subjects: Some(subjects),
    }
}

fn cluster_role(name: &str) -> RoleRef {
    RoleRef {
        api_group: Some("rbac.authorization.k8s.io".into()),
        kind: "ClusterRole".into(),
        name: name.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agency_may_read_only_its_own_agency() {
        let role = agency_reader("dvla");
        let rules = role.rules.unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].resource_names, Some(vec!["dvla".to_string()]));
        assert_eq!(rules[0].verbs, vec!["get".to_string()]);
    }

    #[test]
    fn the_namespace_binding_names_the_agencys_groups_and_the_chart_role() {
        let agency: Agency = serde_json::from_value(serde_json::json!({
            "apiVersion": "colo.dev/v1alpha1", "kind": "Agency",
            "metadata": {"name": "dvla"},
            "spec": {"displayName": "D", "costCentre": "C", "namespaces": ["dvla"],
                     "groups": ["dvla-engineers"], "maxClassification": "OFFICIAL"}
        }))
        .unwrap();
        let binding = namespace_binding("dvla", "dvla", subjects(&agency));
        assert_eq!(binding.role_ref.name, AGENCY_CLUSTER_ROLE);
        let subjects = binding.subjects.unwrap();
        assert_eq!(subjects[0].kind, "Group");
        assert_eq!(subjects[0].name, "dvla-engineers");
        assert_eq!(binding.metadata.namespace.as_deref(), Some("dvla"));
    }
}
