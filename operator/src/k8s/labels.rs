//! Every name Colo gives things: labels, annotations, the finalizer, object and namespace
//! names in member clusters, and the PromQL selectors built from them. Nothing else spells
//! these out.

use std::collections::BTreeMap;

pub use colo_api::{AGENCY_LABEL, TENANCY_LABEL};

use super::keys::TenancyKey;

/// The hub namespace of the tenancy a member object belongs to.
pub const TENANCY_NAMESPACE_LABEL: &str = "colo.dev/tenancy-namespace";
pub const WORKLOAD_LABEL: &str = "colo.dev/workload";
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "colo";
/// Holds a deleted Tenancy (or Agency) until its member objects are gone.
pub const FINALIZER: &str = "colo.dev/member-cleanup";
/// On member Deployments: the placement digest (`digest::placement`) and the Tenancy
/// generation they were applied for, so a restarted operator knows what runs where without
/// trusting any status.
pub const PLACEMENT_DIGEST_ANNOTATION: &str = "colo.dev/placement-spec";
pub const GENERATION_ANNOTATION: &str = "colo.dev/tenancy-generation";
/// On member Deployments: why the tenancy was placed there (its status says it again).
pub const EXPLANATION_ANNOTATION: &str = "colo.dev/explanation";
/// On member nodes Colo cordoned: `draining` while a consolidation empties them, `true` once
/// empty (standby, woken by a placement that needs them). Nodes cordoned by anyone else are
/// never uncordoned by Colo.
pub const STANDBY_LABEL: &str = "colo.dev/standby";
pub const STANDBY: &str = "true";
pub const DRAINING: &str = "draining";
/// On member nodes: the ConsolidationPlan that cordoned them.
pub const PLAN_ANNOTATION: &str = "colo.dev/consolidation-plan";
/// On member Deployments' pod templates: the plan that last rolled them off nodes being freed
/// (set with its own field manager, as `kubectl rollout restart` does).
pub const MOVED_BY_ANNOTATION: &str = "colo.dev/moved-by";
/// The field manager of that annotation and of node cordons.
pub const CONSOLIDATION_MANAGER: &str = "colo-consolidation";
/// kube-controller-manager removes pods with the lowest cost first when it scales down.
pub const DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";
/// Member namespaces are this prefix and the agency's name.
const MEMBER_NAMESPACE_PREFIX: &str = "colo-";
/// Objects around an agency's member namespace.
pub const QUOTA: &str = "colo-quota";
pub const LIMIT_RANGE: &str = "colo-defaults";
pub const NETWORK_POLICY: &str = "colo-same-namespace-only";
pub const ROLE_BINDING: &str = "colo-agency-view";
/// The leader Lease, in the operator's namespace.
pub const LEASE: &str = "colo-operator";
/// The ConfigMap (in the operator's namespace) that holds the ledger, and its key.
pub const LEDGER_CONFIGMAP: &str = "colo-ledger";
pub const LEDGER_KEY: &str = "ledger.json";

/// The namespace an agency's work runs in, in every member cluster.
pub fn member_namespace(agency: &str) -> String {
    format!("{MEMBER_NAMESPACE_PREFIX}{agency}")
}

/// Deployments and Services of a workload in a member cluster.
pub fn object_name(tenancy: &str, workload: &str) -> String {
    format!("{tenancy}-{workload}")
}

/// A tenancy's egress NetworkPolicy: `egress.<hub namespace>.<tenancy>`. Neither part can
/// hold a dot, so no two tenancies (same-named ones of one agency in two namespaces among
/// them) share it.
pub fn egress_policy_name(key: &TenancyKey) -> String {
    format!("egress.{}.{}", key.namespace, key.name)
}

/// `managed-by=colo`, on everything Colo creates.
pub fn managed_by_colo() -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY}")
}

/// The labels of a member namespace's surrounding objects.
pub fn agency_labels(agency: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (AGENCY_LABEL.to_string(), agency.to_string()),
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string()),
    ])
}

/// What selects one tenancy's pods: its name and hub namespace.
pub fn tenancy_labels(key: &TenancyKey) -> BTreeMap<String, String> {
    BTreeMap::from([
        (TENANCY_LABEL.to_string(), key.name.clone()),
        (TENANCY_NAMESPACE_LABEL.to_string(), key.namespace.clone()),
    ])
}

/// What selects one workload's pods: its tenancy, the tenancy's hub namespace, the workload.
pub fn workload_selector(key: &TenancyKey, workload: &str) -> BTreeMap<String, String> {
    let mut labels = tenancy_labels(key);
    labels.insert(WORKLOAD_LABEL.to_string(), workload.to_string());
    labels
}

/// Every label of a workload's member objects: its selector, the agency, managed-by.
pub fn workload_labels(key: &TenancyKey, agency: &str, workload: &str) -> BTreeMap<String, String> {
    let mut all = workload_selector(key, workload);
    all.extend(agency_labels(agency));
    all
}

/// A label selector for every member object of one tenancy.
pub fn tenancy_selector(key: &TenancyKey) -> String {
    format!(
        "{TENANCY_LABEL}={},{TENANCY_NAMESPACE_LABEL}={}",
        key.name, key.namespace
    )
}

/// The tenancy and workload a member object (a pod, a Deployment) belongs to, from its labels.
pub fn workload_of(labels: &BTreeMap<String, String>) -> Option<(TenancyKey, String)> {
    Some((
        TenancyKey::new(
            labels.get(TENANCY_NAMESPACE_LABEL)?,
            labels.get(TENANCY_LABEL)?,
        ),
        labels.get(WORKLOAD_LABEL)?.clone(),
    ))
}

/// PromQL label matchers for the pods of agencies' member namespaces (`tenancy`), and for
/// everything else (`other`), in one cluster. The operator's own namespace has the member
/// prefix but is not an agency's, so it counts as other.
pub struct PromSelectors {
    pub tenancy: String,
    /// Two selectors whose union is everything else (PromQL has no "or" inside one selector).
    pub other: [String; 2],
}

pub fn prom_selectors(cluster: &str, operator_namespace: &str) -> PromSelectors {
    let members = format!("{MEMBER_NAMESPACE_PREFIX}.+");
    PromSelectors {
        tenancy: format!(
            r#"cluster="{cluster}",namespace=~"{members}",namespace!="{operator_namespace}""#
        ),
        other: [
            format!(r#"cluster="{cluster}",namespace!~"{members}""#),
            format!(r#"cluster="{cluster}",namespace="{operator_namespace}""#),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workloads_labels_name_it_back() {
        let key = TenancyKey::new("dvla", "licensing");
        let labels = workload_labels(&key, "dvla", "api");
        assert_eq!(workload_of(&labels), Some((key.clone(), "api".into())));
        assert_eq!(
            tenancy_selector(&key),
            "colo.dev/tenancy=licensing,colo.dev/tenancy-namespace=dvla"
        );
        assert_eq!(member_namespace("dvla"), "colo-dvla");
        assert_eq!(egress_policy_name(&key), "egress.dvla.licensing");
        let (a, b) = (TenancyKey::new("a-b", "c"), TenancyKey::new("a", "b-c"));
        assert_ne!(egress_policy_name(&a), egress_policy_name(&b));
    }

    #[test]
    fn the_operators_namespace_is_not_an_agencys() {
        let s = prom_selectors("north-1", "colo-system");
        assert!(s.tenancy.contains(r#"namespace!="colo-system""#));
        assert!(s.other[1].contains(r#"namespace="colo-system""#));
    }
}
