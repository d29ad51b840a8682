//! What a tenancy becomes in a member cluster (SPEC "In each member cluster"), applied with
//! server-side apply under one field manager: the agency's namespace with Pod Security
//! `restricted`, its quota, limits, network policy and role binding; per tenancy its egress
//! policy; and per workload a Deployment (and a Service when it has ports).

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use colo_api::{Agency, Placement, Quantity, Tenancy, Workload};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EnvVar, LimitRange, LimitRangeItem, LimitRangeSpec,
    Namespace, PodSecurityContext, PodSpec, PodTemplateSpec, ResourceQuota, ResourceQuotaSpec,
    ResourceRequirements, SeccompProfile, SecurityContext, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::k8s::guard;
use crate::k8s::keys::TenancyKey;
use crate::k8s::labels;
use crate::state::Requests;

async fn apply<K>(client: &Client, manager: &str, object: &K) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    K: Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let meta = object.meta();
    let api: Api<K> = Api::namespaced(
        client.clone(),
        meta.namespace.as_deref().unwrap_or_default(),
    );
    let params = PatchParams::apply(manager).force();
    api.patch(
        meta.name.as_deref().unwrap_or_default(),
        &params,
        &Patch::Apply(object),
    )
    .await?;
    Ok(())
}

fn quantity(text: &str) -> K8sQuantity {
    K8sQuantity(text.to_string())
}

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
fn same_namespace_only() -> NetworkPolicySpec {
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

/// Where one tenancy's pods may connect besides their namespace and DNS: its `spec.egress`
/// (an empty list opens nothing: network policies only add).
fn egress_policy(tenancy: &Tenancy) -> NetworkPolicy {
    let key = TenancyKey::of(tenancy);
    let selector = labels::tenancy_labels(&key);
    let mut meta_labels = selector.clone();
    meta_labels.extend(labels::agency_labels(&tenancy.spec.agency));
    let rules = tenancy.spec.egress.iter().map(|e| {
        let ports = e.ports.iter().map(|p| NetworkPolicyPort {
            port: Some(IntOrString::Int(*p)),
            protocol: Some("TCP".into()),
            ..Default::default()
        });
        NetworkPolicyEgressRule {
            to: Some(vec![NetworkPolicyPeer {
                ip_block: Some(IPBlock {
                    cidr: e.cidr.clone(),
                    except: None,
                }),
                ..Default::default()
            }]),
            ports: (!e.ports.is_empty()).then(|| ports.collect()),
        }
    });
    NetworkPolicy {
        metadata: ObjectMeta {
            name: Some(labels::egress_policy_name(&key)),
            namespace: Some(labels::member_namespace(&tenancy.spec.agency)),
            labels: Some(meta_labels),
            ..Default::default()
        },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(selector),
                ..Default::default()
            }),
            policy_types: Some(vec!["Egress".into()]),
            egress: Some(rules.collect()),
            ..Default::default()
        }),
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

/// What member Deployments carry of the spec they were applied for.
pub struct Stamp {
    pub placement_spec: String,
    pub generation: Option<i64>,
    pub explanation: String,
}

/// The Deployments (and Services) of the tenancy's workloads placed in this cluster.
pub async fn workloads(
    client: &Client,
    manager: &str,
    tenancy: &Tenancy,
    here: &[&Placement],
    stamp: &Stamp,
) -> Result<(), kube::Error> {
    if !here.is_empty() {
        let policy = egress_policy(tenancy);
        apply(client, manager, &policy).await?;
        // One made under an older name (`<tenancy>-egress`) goes once this one is in place.
        let current = policy.metadata.name.clone().unwrap_or_default();
        let key = TenancyKey::of(tenancy);
        let older = |l: &BTreeMap<String, String>| l.get(labels::WORKLOAD_LABEL).is_none();
        let agency = &tenancy.spec.agency;
        remove_named::<NetworkPolicy>(client, &key, agency, &current, older).await?;
    }
    for placement in here {
        let Some(workload) = tenancy
            .spec
            .workloads
            .iter()
            .find(|w| w.name == placement.workload)
        else {
            continue;
        };
        apply(
            client,
            manager,
            &deployment(tenancy, workload, placement, stamp),
        )
        .await?;
        if !workload.ports.is_empty() {
            apply(client, manager, &service(tenancy, workload)).await?;
        }
        if placement.replicas >= 2 {
            apply(client, manager, &disruption_budget(tenancy, workload)).await?;
        }
    }
    Ok(())
}

/// At most one replica of a workload disrupted at a time (node drains, evictions); Colo's
/// own moves wait for the budget to allow one.
fn disruption_budget(tenancy: &Tenancy, workload: &Workload) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: workload_meta(tenancy, workload),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(labels::workload_selector(
                    &TenancyKey::of(tenancy),
                    &workload.name,
                )),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn workload_meta(tenancy: &Tenancy, workload: &Workload) -> ObjectMeta {
    let key = TenancyKey::of(tenancy);
    ObjectMeta {
        name: Some(labels::object_name(&key.name, &workload.name)),
        namespace: Some(labels::member_namespace(&tenancy.spec.agency)),
        labels: Some(labels::workload_labels(
            &key,
            &tenancy.spec.agency,
            &workload.name,
        )),
        ..Default::default()
    }
}

fn deployment(
    tenancy: &Tenancy,
    workload: &Workload,
    placement: &Placement,
    stamp: &Stamp,
) -> Deployment {
    let mut meta = workload_meta(tenancy, workload);
    let generation = stamp.generation.unwrap_or_default().to_string();
    meta.annotations = Some(BTreeMap::from([
        (
            labels::PLACEMENT_SPEC_ANNOTATION.to_string(),
            stamp.placement_spec.clone(),
        ),
        (labels::GENERATION_ANNOTATION.to_string(), generation),
        (
            labels::EXPLANATION_ANNOTATION.to_string(),
            stamp.explanation.chars().take(1024).collect(),
        ),
    ]));
    let selector = labels::workload_selector(&TenancyKey::of(tenancy), &workload.name);
    Deployment {
        spec: Some(DeploymentSpec {
            replicas: Some(placement.replicas),
            // Make-before-break: a new pod is available before an old one goes.
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: meta.labels.clone(),
                    annotations: (!workload.pod_annotations.is_empty())
                        .then(|| workload.pod_annotations.clone()),
                    ..Default::default()
                }),
                spec: Some(pod_spec(workload, placement)),
            },
            ..Default::default()
        }),
        metadata: meta,
        ..Default::default()
    }
}

fn service(tenancy: &Tenancy, workload: &Workload) -> Service {
    let ports = workload
        .ports
        .iter()
        .map(|p| ServicePort {
            name: p.name.clone().or_else(|| Some(format!("p{}", p.port))),
            port: p.port,
            protocol: Some(format!("{:?}", p.protocol)),
            ..Default::default()
        })
        .collect();
    Service {
        metadata: workload_meta(tenancy, workload),
        spec: Some(ServiceSpec {
            selector: Some(labels::workload_selector(
                &TenancyKey::of(tenancy),
                &workload.name,
            )),
            ports: Some(ports),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A pod that Pod Security `restricted` admits.
fn pod_spec(workload: &Workload, placement: &Placement) -> PodSpec {
    let requests = placement.requests.clone().unwrap_or(colo_api::Resources {
        cpu: workload.cpu.clone(),
        memory: workload.memory.clone(),
    });
    let ports = workload
        .ports
        .iter()
        .map(|p| ContainerPort {
            container_port: p.port,
            protocol: Some(format!("{:?}", p.protocol)),
            ..Default::default()
        })
        .collect::<Vec<_>>();
    let env = workload
        .env
        .iter()
        .map(|e| EnvVar {
            name: e.name.clone(),
            value: Some(e.value.clone()),
            ..Default::default()
        })
        .collect::<Vec<_>>();
    PodSpec {
        automount_service_account_token: Some(workload.service_account_token),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        containers: vec![Container {
            name: workload.name.clone(),
            image: Some(workload.image.clone()),
            ports: (!ports.is_empty()).then_some(ports),
            env: (!env.is_empty()).then_some(env),
            resources: Some(ResourceRequirements {
                requests: Some(BTreeMap::from([
                    ("cpu".into(), quantity(requests.cpu.as_str())),
                    ("memory".into(), quantity(requests.memory.as_str())),
                ])),
                // Memory is not compressible: cap it at what was asked for.
                limits: Some(BTreeMap::from([(
                    "memory".into(),
                    quantity(workload.memory.as_str()),
                )])),
                ..Default::default()
            }),
            security_context: Some(SecurityContext {
                allow_privilege_escalation: Some(false),
                run_as_non_root: Some(true),
                capabilities: Some(Capabilities {
                    drop: Some(vec!["ALL".into()]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    }
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
async fn remove_named<K>(
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

    #[test]
    fn pods_are_restricted_and_request_the_placed_size() {
        let tenancy: Tenancy = serde_json::from_value(serde_json::json!({
            "apiVersion": "colo.dev/v1alpha1", "kind": "Tenancy",
            "metadata": {"name": "shop", "namespace": "dvla"},
            "spec": {"agency": "dvla", "classification": "OFFICIAL", "workloads": [
                {"name": "web", "image": "i", "replicas": 2, "cpu": "500m", "memory": "1Gi",
                 "ports": [{"port": 80}]}]}
        }))
        .unwrap();
        let placement = Placement {
            cluster: "north-1".into(),
            site: "north-dc".into(),
            workload: "web".into(),
            replicas: 2,
            requests: Some(colo_api::Resources {
                cpu: Quantity::new("120m"),
                memory: Quantity::new("200Mi"),
            }),
        };
        let stamp = Stamp {
            placement_spec: "abc".into(),
            generation: Some(4),
            explanation: "Placed on north-1.".into(),
        };
        let d = deployment(&tenancy, &tenancy.spec.workloads[0], &placement, &stamp);
        let annotations = d.metadata.annotations.clone().unwrap();
        assert_eq!(annotations[labels::GENERATION_ANNOTATION], "4");
        assert_eq!(d.metadata.name.as_deref(), Some("shop-web"));
        assert_eq!(d.metadata.namespace.as_deref(), Some("colo-dvla"));
        let pod = d.spec.unwrap().template.spec.unwrap();
        let c = &pod.containers[0];
        let r = c.resources.as_ref().unwrap();
        assert_eq!(r.requests.as_ref().unwrap()["cpu"].0, "120m");
        assert_eq!(
            r.limits.as_ref().unwrap()["memory"].0,
            "1Gi",
            "limit is what was asked"
        );
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(pod.security_context.unwrap().run_as_non_root, Some(true));
        assert_eq!(pod.automount_service_account_token, Some(false), "no token");
        let s = service(&tenancy, &tenancy.spec.workloads[0]);
        assert_eq!(
            s.spec.unwrap().ports.unwrap()[0].name.as_deref(),
            Some("p80")
        );
    }

    #[test]
    fn pods_reach_only_their_namespace_dns_and_what_their_tenancy_lists() {
        let space = same_namespace_only();
        assert_eq!(
            space.policy_types,
            Some(vec!["Ingress".to_string(), "Egress".to_string()])
        );
        let out = space.egress.unwrap();
        assert_eq!(out.len(), 2, "own namespace, and DNS");
        assert!(out[1].to.is_none() && out[1].ports.as_ref().unwrap().len() == 2);
        let tenancy: Tenancy = serde_json::from_value(serde_json::json!({
            "apiVersion": "colo.dev/v1alpha1", "kind": "Tenancy",
            "metadata": {"name": "shop", "namespace": "dvla"},
            "spec": {"agency": "dvla", "classification": "OFFICIAL",
                     "workloads": [{"name": "web", "image": "i", "replicas": 1, "cpu": "1", "memory": "1Gi"}],
                     "egress": [{"cidr": "10.20.0.0/16", "ports": [5432]}, {"cidr": "192.0.2.7/32"}]}
        }))
        .unwrap();
        let policy = egress_policy(&tenancy);
        assert_eq!(policy.metadata.name.as_deref(), Some("egress.dvla.shop"));
        let spec = policy.spec.unwrap();
        let selects = spec.pod_selector.unwrap().match_labels.unwrap();
        assert_eq!(selects[labels::TENANCY_LABEL], "shop");
        assert!(
            !selects.contains_key(labels::WORKLOAD_LABEL),
            "every workload"
        );
        let rules = spec.egress.unwrap();
        let cidr = |i: usize| {
            rules[i].to.as_ref().unwrap()[0]
                .ip_block
                .clone()
                .unwrap()
                .cidr
        };
        assert_eq!(
            (cidr(0), cidr(1)),
            ("10.20.0.0/16".into(), "192.0.2.7/32".into())
        );
        assert_eq!(
            rules[0].ports.as_ref().unwrap()[0].port,
            Some(IntOrString::Int(5432))
        );
        assert!(rules[1].ports.is_none(), "every port");
        let mut closed = tenancy.clone();
        closed.spec.egress.clear();
        let none = egress_policy(&closed).spec.unwrap().egress.unwrap();
        assert!(none.is_empty(), "nothing listed opens nothing");
    }
}
