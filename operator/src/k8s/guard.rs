//! Colo deletes only what it made: every delete in a member (and of an agency's bindings on
//! the hub) is of an object carrying Colo's labels for that agency, or that tenancy, checked
//! on the object just read, and made with the object's uid as a precondition, so a look-alike
//! made in between is never the one that goes.

use std::collections::BTreeMap;

use kube::api::{DeleteParams, Preconditions};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::keys::TenancyKey;
use super::labels::{
    AGENCY_LABEL, MANAGED_BY, MANAGED_BY_LABEL, TENANCY_LABEL, TENANCY_NAMESPACE_LABEL,
};
use super::plain;

/// Whose an object is, by its labels.
#[derive(Clone, Copy, Debug)]
pub enum Owner<'a> {
    /// An agency's: made by Colo, labelled for it (its member namespace, its bindings).
    Agency(&'a str),
    /// One tenancy's, of that agency (its Deployments, Services, budgets, policies).
    Tenancy(&'a str, &'a TenancyKey),
}

/// True when `labels` say Colo made the object for `owner`.
pub fn is_ours(labels: &BTreeMap<String, String>, owner: Owner<'_>) -> bool {
    let is = |k: &str, v: &str| labels.get(k).map(String::as_str) == Some(v);
    let agency = |a: &str| is(MANAGED_BY_LABEL, MANAGED_BY) && is(AGENCY_LABEL, a);
    match owner {
        Owner::Agency(a) => agency(a),
        Owner::Tenancy(a, key) => {
            agency(a) && is(TENANCY_LABEL, &key.name) && is(TENANCY_NAMESPACE_LABEL, &key.namespace)
        }
    }
}

/// The refusal to write into a namespace Colo did not make for `agency`, as the API error a
/// write there would have met (a conflict): it names the namespace and what it lacks.
pub fn not_ours(namespace: &str, agency: &str) -> kube::Error {
    let message = format!(
        "namespace {namespace} exists and was not made by Colo for agency {agency} (it lacks the labels {MANAGED_BY_LABEL}={MANAGED_BY} and {AGENCY_LABEL}={agency}); Colo writes nothing there"
    );
    kube::Error::Api(Box::new(
        kube::core::Status::failure(&message, "Conflict").with_code(409),
    ))
}

/// Delete parameters for exactly `object` (its uid), in the background.
pub fn exactly<K: Resource>(object: &K) -> DeleteParams {
    DeleteParams {
        preconditions: Some(Preconditions {
            uid: object.uid(),
            resource_version: None,
        }),
        ..DeleteParams::background()
    }
}

/// Deletes `object` if it is `owner`'s; true when it went now. Not Colo's: left alone, with
/// a warning; already gone, or replaced since it was read: false.
pub async fn delete<K>(api: &Api<K>, object: &K, owner: Owner<'_>) -> Result<bool, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    if !is_ours(object.labels(), owner) {
        tracing::warn!(object = %object.name_any(), ?owner, "not deleted: it does not carry Colo's labels for its owner");
        return Ok(false);
    }
    match api.delete(&object.name_any(), &exactly(object)).await {
        Ok(_) => Ok(true),
        Err(e) if plain::is_not_found(&e) || plain::is_conflict(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::labels::{agency_labels, workload_labels};

    #[test]
    fn only_what_carries_colos_labels_for_its_owner_is_colos() {
        let key = TenancyKey::new("dvla", "web");
        let theirs = workload_labels(&key, "dvla", "api");
        assert!(is_ours(&theirs, Owner::Tenancy("dvla", &key)));
        assert!(is_ours(&theirs, Owner::Agency("dvla")));
        assert!(!is_ours(&theirs, Owner::Agency("hmrc")));
        let other = TenancyKey::new("dvla-test", "web");
        assert!(!is_ours(&theirs, Owner::Tenancy("dvla", &other)));
        assert!(is_ours(&agency_labels("system"), Owner::Agency("system")));
        let mut made_by_someone = agency_labels("system");
        made_by_someone.remove(MANAGED_BY_LABEL);
        assert!(!is_ours(&made_by_someone, Owner::Agency("system")));
        assert!(!is_ours(&BTreeMap::new(), Owner::Agency("system")));
    }

    #[test]
    fn a_delete_names_the_uid_it_checked() {
        let mut ns = k8s_openapi::api::core::v1::Namespace::default();
        ns.metadata.uid = Some("u-1".into());
        let params = exactly(&ns);
        assert_eq!(params.preconditions.unwrap().uid.as_deref(), Some("u-1"));
    }
}
