//! An agency's member space in one cluster: its namespace (Pod Security `restricted`, the
//! agency label), the quota its tenancies request there, default requests, a network policy
//! that keeps pods to their namespace and DNS, and the role binding of the agency's groups.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use colo_api::{Agency, Quantity};
use k8s_openapi::api::core::v1::{
    LimitRange, LimitRangeItem, LimitRangeSpec, Namespace, ResourceQuota, ResourceQuotaSpec,
};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, ResourceExt};

use crate::k8s::guard;
use crate::k8s::labels;
use crate::state::Requests;

use super::quantity;
use crate::k8s::apply::apply;

/// An agency's member namespace and everything around it.
pub struct Space {
    namespace: Namespace,
    quota: ResourceQuota,
    limits: LimitRange,
    policy: NetworkPolicy,
    binding: RoleBinding,
}

impl Space {
    /// `quota` is the sum of the requests of all the agency's tenancies in this cluster.
    pub fn new(agency: &Agency, quota: Requests) -> Space {
        let name = agency.name_any();
        let ns = labels::member_namespace(&name);
        let mut ns_labels = labels::agency_labels(&name);
        ns_labels.insert(
            "pod-security.kubernetes.io/enforce".into(),
            "restricted".into(),
        );
        ns_labels.insert(
            "pod-security.kubernetes.io/enforce-version".into(),
            "latest".into(),
        );
        let meta = |object: &str| ObjectMeta {
            name: Some(object.into()),
            namespace: Some(ns.clone()),
            labels: Some(labels::agency_labels(&name)),
            ..Default::default()
        };
        Space {
            namespace: Namespace {
                metadata: ObjectMeta {
                    name: Some(ns.clone()),
                    labels: Some(ns_labels),
                    ..Default::default()
                },
                ..Default::default()
            },
            quota: ResourceQuota {
                metadata: meta(labels::QUOTA),
                spec: Some(quota_spec(quota)),
                ..Default::default()
            },
            limits: LimitRange {
                metadata: meta(labels::LIMIT_RANGE),
                spec: Some(default_requests()),
            },
            policy: NetworkPolicy {
                metadata: meta(labels::NETWORK_POLICY),
                spec: Some(same_namespace_only()),
            },
            binding: RoleBinding {
                metadata: meta(labels::ROLE_BINDING),
                role_ref: RoleRef {
                    api_group: Some("rbac.authorization.k8s.io".into()),
                    kind: "ClusterRole".into(),
                    name: "view".into(),
                },
                subjects: Some(agency.spec.groups.iter().map(|g| group(g)).collect()),
            },
        }
    }

    /// Identifies what would be applied (equal objects, equal fingerprint).
    pub fn fingerprint(&self) -> u64 {
        let text = serde_json::to_string(&(
            &self.namespace,
            &self.quota,
            &self.limits,
            &self.policy,
            &self.binding,
        ))
        .expect("objects serialise");
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut hasher);
        hasher.finish()
    }

    /// Applies the space; refused, with nothing written, when its namespace exists and Colo
    /// did not make it for this agency (an agency named after someone else's namespace).
    pub async fn apply(&self, client: &Client, manager: &str) -> Result<(), kube::Error> {
        let name = self.namespace.name_any();
        let namespaces = Api::<Namespace>::all(client.clone());
        let agency = self.namespace.labels()[labels::AGENCY_LABEL].clone();
        if let Some(existing) = namespaces.get_opt(&name).await?
            && !guard::is_ours(existing.labels(), guard::Owner::Agency(&agency))
        {
            return Err(guard::not_ours(&name, &agency));
        }
        namespaces
            .patch(
                &name,
                &PatchParams::apply(manager).force(),
                &Patch::Apply(&self.namespace),
            )
            .await?;
        apply(client, manager, &self.quota).await?;
        apply(client, manager, &self.limits).await?;
        apply(client, manager, &self.policy).await?;
        apply(client, manager, &self.binding).await
    }
}

fn quota_spec(quota: Requests) -> ResourceQuotaSpec {
    let cpu = Quantity::from_cpu_millis(quota.0.max(0) as u64);
    let memory = Quantity::from_bytes(quota.1.max(0) as u64);
    ResourceQuotaSpec {
        hard: Some(BTreeMap::from([
            ("requests.cpu".into(), quantity(cpu.as_str())),
            ("requests.memory".into(), quantity(memory.as_str())),
        ])),
        ..Default::default()
    }
}

/// Requests for containers that give none; no default limits (Colo's own containers set
/// theirs, and a default cpu limit below a request is refused).
fn default_requests() -> LimitRangeSpec {
    LimitRangeSpec {
        limits: vec![LimitRangeItem {
            type_: "Container".into(),
            default_request: Some(BTreeMap::from([
                ("cpu".into(), quantity("100m")),
                ("memory".into(), quantity("128Mi")),
            ])),
            ..Default::default()
        }],
    }
}

/// Traffic only from pods of the same namespace: no agency reaches another. Out, only to the
/// same namespace and DNS; each tenancy's `spec.egress` adds its own policy (`egress_policy`).
pub(super) fn same_namespace_only() -> NetworkPolicySpec {
    let same_namespace = || {
        Some(vec![NetworkPolicyPeer {
            pod_selector: Some(LabelSelector::default()),
            ..Default::default()
        }])
    };
    let dns = ["UDP", "TCP"].map(|protocol| NetworkPolicyPort {
        port: Some(IntOrString::Int(53)),
        protocol: Some(protocol.into()),
        ..Default::default()
    });
    NetworkPolicySpec {
        pod_selector: Some(LabelSelector::default()),
        policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
        ingress: Some(vec![NetworkPolicyIngressRule {
            from: same_namespace(),
            ..Default::default()
        }]),
        egress: Some(vec![
            NetworkPolicyEgressRule {
                to: same_namespace(),
                ..Default::default()
            },
            NetworkPolicyEgressRule {
                ports: Some(dns.to_vec()),
                ..Default::default()
            },
        ]),
    }
}

fn group(name: &str) -> Subject {
    Subject {
        api_group: Some("rbac.authorization.k8s.io".into()),
        kind: "Group".into(),
        name: name.to_string(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agency(groups: &[&str]) -> Agency {
        let spec = serde_json::from_value(serde_json::json!({
            "displayName": "D", "costCentre": "C", "namespaces": ["dvla"],
            "groups": groups, "maxClassification": "OFFICIAL"
        }))
        .unwrap();
        Agency::new("dvla", spec)
    }

    #[test]
    fn a_space_changes_its_fingerprint_with_its_quota_or_groups() {
        let a = Space::new(&agency(&["g"]), (1000, 1 << 30)).fingerprint();
        assert_eq!(
            a,
            Space::new(&agency(&["g"]), (1000, 1 << 30)).fingerprint()
        );
        assert_ne!(
            a,
            Space::new(&agency(&["g"]), (1001, 1 << 30)).fingerprint()
        );
        assert_ne!(
            a,
            Space::new(&agency(&["g", "h"]), (1000, 1 << 30)).fingerprint()
        );
    }
}
