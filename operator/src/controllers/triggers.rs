//! Triggers: which tenancies and agencies a change on the hub makes reconcile again now. Pure
//! functions of the changed object and the hub's stores, so that whatever caused a rejection
//! triggers the tenancy when it changes (`tests` checks that against sequences of changes).

use std::collections::HashSet;
use std::sync::Arc;

use colo_api::{Agency, Tenancy};
use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use crate::k8s::keys::TenancyKey;
use crate::k8s::labels::{self, AGENCY_LABEL};

/// An Agency changed (created, edited, deleted): every tenancy that names it, and every
/// tenancy in a namespace it lists (a namespace it took from another by mistake, and gave
/// back, wakes the owner's tenancies there too).
pub fn on_agency(agency: &Agency, tenancies: &[Arc<Tenancy>]) -> Vec<TenancyKey> {
    let name = agency.name_any();
    tenancies
        .iter()
        .filter(|t| {
            t.spec.agency == name
                || agency
                    .spec
                    .namespaces
                    .contains(&t.namespace().unwrap_or_default())
        })
        .map(|t| TenancyKey::of(t))
        .collect()
}

/// A hub namespace changed (its `colo.dev/agency` label above all): the tenancies in it.
pub fn on_namespace(namespace: &Namespace, tenancies: &[Arc<Tenancy>]) -> Vec<TenancyKey> {
    let name = namespace.name_any();
    tenancies
        .iter()
        .filter(|t| t.namespace().as_deref() == Some(name.as_str()))
        .map(|t| TenancyKey::of(t))
        .collect()
}

/// A hub namespace changed: the Agencies that list it and the one its label names.
pub fn agencies_on_namespace(
    namespace: &Namespace,
    agencies: &[Arc<Agency>],
) -> Vec<ObjectRef<Agency>> {
    let name = namespace.name_any();
    let labelled = namespace.labels().get(AGENCY_LABEL);
    agencies
        .iter()
        .filter(|a| a.spec.namespaces.contains(&name) || labelled == Some(&a.name_any()))
        .map(|a| ObjectRef::from_obj(&**a))
        .collect()
}

/// A tenancy's spec changed or it went: the other tenancies of its agency that are rejected
/// (one refused because its member objects would have had this one's names may be accepted
/// now) or whose member objects share a name with its own (one of them is refused now).
pub fn on_tenancy(
    tenancy: &Tenancy,
    tenancies: &[Arc<Tenancy>],
    rejected: &HashSet<TenancyKey>,
) -> Vec<TenancyKey> {
    let key = TenancyKey::of(tenancy);
    let names = |t: &Tenancy| -> HashSet<String> {
        let name = t.name_any();
        t.spec
            .workloads
            .iter()
            .map(|w| labels::object_name(&name, &w.name))
            .collect()
    };
    let mine = names(tenancy);
    tenancies
        .iter()
        .filter(|t| t.spec.agency == tenancy.spec.agency)
        .map(|t| (t, TenancyKey::of(t)))
        .filter(|(t, k)| *k != key && (rejected.contains(k) || !names(t).is_disjoint(&mine)))
        .map(|(_, k)| k)
        .collect()
}

/// A SharedCluster appeared or changed: the tenancies pinned to it.
pub fn pinned_to(cluster: &str, tenancies: &[Arc<Tenancy>]) -> Vec<TenancyKey> {
    tenancies
        .iter()
        .filter(|t| t.spec.cluster.as_deref() == Some(cluster))
        .map(|t| TenancyKey::of(t))
        .collect()
}
