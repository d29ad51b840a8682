//! What an agency's people may do on the hub, kept from its Agency: in each hub namespace it
//! owns, a RoleBinding `colo-agency-<agency>` of its groups to the ClusterRole `colo-agency`
//! (the chart's: Tenancies there, and nothing else); and a ClusterRole and ClusterRoleBinding
//! `colo-agency-<agency>` letting them `get` their own Agency (its status, and through it
//! their figures in the report API). Nothing else of the hub is theirs. Every name carries
//! the agency's, so one agency's bindings can never overwrite another's.

use std::collections::BTreeSet;

use colo_api::Agency;
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};

use super::{guard, labels, plain};

/// The chart's ClusterRole bound in each agency namespace.
pub const AGENCY_CLUSTER_ROLE: &str = "colo-agency";

/// The name of everything `grant` makes for `agency`: its RoleBinding in each namespace it
/// owns, and the ClusterRole (and binding) that lets its groups read its Agency.
pub fn reader_name(agency: &str) -> String {
    format!("colo-agency-{agency}")
}

/// Binds the agency's groups in `namespaces` (those labelled for it) and to its own Agency,
/// and removes its bindings from everywhere else (a namespace it no longer owns, a binding
/// under an older name).
pub async fn grant(
    client: &Client,
    agency: &Agency,
    namespaces: &[String],
    manager: &str,
) -> Result<(), kube::Error> {
    let name = agency.name_any();
    let subjects = subjects(agency);
    let apply = PatchParams::apply(manager).force();
    let mut bound = BTreeSet::new();
    for ns in namespaces {
        let binding = namespace_binding(&name, ns, subjects.clone());
        let applied = Api::<RoleBinding>::namespaced(client.clone(), ns)
            .patch(&reader_name(&name), &apply, &Patch::Apply(&binding))
            .await;
        match applied {
            // Deleted since it was read: bound again when it is back (its watch wakes us).
            Err(e) if plain::is_not_found(&e) => {}
            other => {
                other?;
                bound.insert(ns.as_str());
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
    let own = reader_name(&name);
    remove_bindings(client, &name, |ns, binding| {
        !bound.contains(ns) || binding != own
    })
    .await
}

/// Removes everything `grant` made for `agency` (it was deleted): only objects that carry
/// Colo's labels for it, whatever their names.
pub async fn revoke(client: &Client, agency: &str) -> Result<(), kube::Error> {
    remove_bindings(client, agency, |_, _| true).await?;
    let reader = reader_name(agency);
    let owner = guard::Owner::Agency(agency);
    let bindings = Api::<ClusterRoleBinding>::all(client.clone());
    if let Some(b) = bindings.get_opt(&reader).await? {
        guard::delete(&bindings, &b, owner).await?;
    }
    let roles = Api::<ClusterRole>::all(client.clone());
    if let Some(r) = roles.get_opt(&reader).await? {
        guard::delete(&roles, &r, owner).await?;
    }
    Ok(())
}

/// Deletes the agency's RoleBindings (by Colo's labels for it) that `stale(namespace, name)`,
/// each only if it is still the one listed (its uid).
async fn remove_bindings(
    client: &Client,
    agency: &str,
    stale: impl Fn(&str, &str) -> bool,
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
        if stale(&ns, &binding.name_any()) {
            let api = Api::<RoleBinding>::namespaced(client.clone(), &ns);
            guard::delete(&api, &binding, guard::Owner::Agency(agency)).await?;
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
        metadata: meta(agency, &reader_name(agency), Some(ns)),
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
        assert_eq!(binding.metadata.name.as_deref(), Some("colo-agency-dvla"));
    }
}
