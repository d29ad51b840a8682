//! What a tenancy becomes in a member cluster (SPEC "In each member cluster"), applied with
//! server-side apply under one field manager (`k8s::apply`): the agency's member space
//! (`space`: namespace with Pod Security `restricted`, quota, limits, network policy, role
//! binding), and per tenancy its egress policy and per workload a Deployment, a Service when it
//! has ports and a disruption budget when it has two replicas or more (`workload`). Removal is
//! here: only objects Colo labelled for the tenancy, in the agency's member namespace.

mod space;
mod workload;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use kube::api::ListParams;
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

use crate::k8s::guard;
use crate::k8s::keys::TenancyKey;
use crate::k8s::labels;
pub use space::Space;
pub use workload::{Stamp, workloads};

pub(crate) fn quantity(text: &str) -> K8sQuantity {
    K8sQuantity(text.to_string())
}

/// Deletes the tenancy's Deployments, Services and disruption budgets in one member cluster
/// whose workload is not in `keep` (a workload that left this cluster while the tenancy
/// stays in it). Only objects carrying Colo's labels for the tenancy go (`guard`).
pub async fn remove_others(
    client: &Client,
    key: &TenancyKey,
    agency: &str,
    keep: &[&str],
) -> Result<(), kube::Error> {
    let gone = |labels: &BTreeMap<String, String>| {
        labels::workload_of(labels).is_some_and(|(_, w)| !keep.contains(&w.as_str()))
    };
    remove_where::<Deployment>(client, key, agency, gone).await?;
    remove_where::<Service>(client, key, agency, gone).await?;
    remove_where::<PodDisruptionBudget>(client, key, agency, gone).await
}

/// Deletes the tenancy's Deployments, Services, disruption budgets and egress policy in one
/// member cluster.
pub async fn remove(client: &Client, key: &TenancyKey, agency: &str) -> Result<(), kube::Error> {
    let all = |_: &BTreeMap<String, String>| true;
    remove_where::<Deployment>(client, key, agency, all).await?;
    remove_where::<Service>(client, key, agency, all).await?;
    remove_where::<PodDisruptionBudget>(client, key, agency, all).await?;
    remove_where::<NetworkPolicy>(client, key, agency, all).await
}

/// Deletes the objects of one kind that Colo made for the tenancy (in its agency's member
/// namespace, by its labels) and that `which` picks by their labels.
async fn remove_where<K>(
    client: &Client,
    key: &TenancyKey,
    agency: &str,
    which: impl Fn(&BTreeMap<String, String>) -> bool,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    remove_named::<K>(client, key, agency, "", which).await
}

/// As `remove_where`, sparing the object named `spare`.
pub(crate) async fn remove_named<K>(
    client: &Client,
    key: &TenancyKey,
    agency: &str,
    spare: &str,
    which: impl Fn(&BTreeMap<String, String>) -> bool,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), &labels::member_namespace(agency));
    let lp = ListParams::default().labels(&labels::tenancy_selector(key));
    let owner = guard::Owner::Tenancy(agency, key);
    for object in api.list(&lp).await?.items {
        if object.name_any() != spare && which(object.labels()) {
            guard::delete(&api, &object, owner).await?;
        }
    }
    Ok(())
}
