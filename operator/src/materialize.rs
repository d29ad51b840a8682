//! What a tenancy becomes in a member cluster (SPEC "In each member cluster"), applied with
//! server-side apply under one field manager: the agency's namespace with Pod Security
//! `restricted`, its quota, limits, network policy and role binding, and per workload a
//! Deployment (and a Service when it has ports).

use std::collections::BTreeMap;

use colo_api::{AGENCY_LABEL, Agency, Placement, Quantity, TENANCY_LABEL, Tenancy, Workload};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EnvVar, LimitRange, LimitRangeItem, LimitRangeSpec,
    Namespace, Pod, PodSecurityContext, PodSpec, PodTemplateSpec, ResourceQuota, ResourceQuotaSpec,
    ResourceRequirements, SeccompProfile, SecurityContext, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicySpec,
};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::observe::{TENANCY_NAMESPACE_LABEL, WORKLOAD_LABEL};

pub fn member_namespace(agency: &str) -> String {
    format!("colo-{agency}")
}

pub fn object_name(tenancy: &str, workload: &str) -> String {
    format!("{tenancy}-{workload}")
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn apply<K>(
    client: &Client,
    namespace: Option<&str>,
    manager: &str,
    object: &K,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace.unwrap_or_default());
    let name = object.meta().name.clone().unwrap_or_default();
    api.patch(
        &name,
        &PatchParams::apply(manager).force(),
        &Patch::Apply(object),
    )
    .await?;
    Ok(())
}

/// The agency's namespace and everything around it; `quota` is the sum of the requests of
/// all its tenancies placed in this cluster.
pub async fn agency_space(
    client: &Client,
    manager: &str,
    agency: &Agency,
    quota: (i64, i64),
) -> Result<(), kube::Error> {
    let name = agency.name_any();
    let ns = member_namespace(&name);
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(ns.clone()),
            labels: Some(labels(&[
                (AGENCY_LABEL, &name),
                ("pod-security.kubernetes.io/enforce", "restricted"),
                ("pod-security.kubernetes.io/enforce-version", "latest"),
                ("app.kubernetes.io/managed-by", "colo"),
            ])),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .patch(
            &ns,
            &PatchParams::apply(manager).force(),
            &Patch::Apply(&namespace),
        )
        .await?;
    let meta = |object: &str| ObjectMeta {
        name: Some(object.into()),
        namespace: Some(ns.clone()),
        labels: Some(labels(&[
            (AGENCY_LABEL, &name),
            ("app.kubernetes.io/managed-by", "colo"),
        ])),
        ..Default::default()
    };
    let q = |s: &str| K8sQuantity(s.to_string());
    let quota = ResourceQuota {
        metadata: meta("colo-quota"),
        spec: Some(ResourceQuotaSpec {
            hard: Some(BTreeMap::from([
                (
                    "requests.cpu".into(),
                    q(Quantity::from_cpu_millis(quota.0 as u64).as_str()),
                ),
                (
                    "requests.memory".into(),
                    q(Quantity::from_bytes(quota.1 as u64).as_str()),
                ),
            ])),
            ..Default::default()
        }),
        ..Default::default()
    };
    apply(client, Some(&ns), manager, &quota).await?;
    let limits = LimitRange {
        metadata: meta("colo-defaults"),
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".into(),
                // Requests for containers that give none; no default limits (Colo's own
                // containers set theirs, and a default cpu limit below a request is refused).
                default_request: Some(BTreeMap::from([
                    ("cpu".into(), q("100m")),
                    ("memory".into(), q("128Mi")),
                ])),
                ..Default::default()
            }],
        }),
    };
    apply(client, Some(&ns), manager, &limits).await?;
    // Traffic only from pods of the same namespace: no agency reaches another.
    let policy = NetworkPolicy {
        metadata: meta("colo-same-namespace-only"),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![NetworkPolicyPeer {
                    pod_selector: Some(LabelSelector::default()),
                    ..Default::default()
                }]),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    };
    apply(client, Some(&ns), manager, &policy).await?;
    let binding = RoleBinding {
        metadata: meta("colo-agency-view"),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: "view".into(),
        },
        subjects: Some(
            agency
                .spec
                .groups
                .iter()
                .map(|g| Subject {
                    api_group: Some("rbac.authorization.k8s.io".into()),
                    kind: "Group".into(),
                    name: g.clone(),
                    ..Default::default()
                })
                .collect(),
        ),
    };
    apply(client, Some(&ns), manager, &binding).await
}

/// The Deployments (and Services) of the tenancy's workloads placed in this cluster.
pub async fn workloads(
    client: &Client,
    manager: &str,
    tenancy: &Tenancy,
    here: &[&Placement],
) -> Result<(), kube::Error> {
    let ns = member_namespace(&tenancy.spec.agency);
    let hub_ns = tenancy.namespace().unwrap_or_default();
    for placement in here {
        let Some(workload) = tenancy
            .spec
            .workloads
            .iter()
            .find(|w| w.name == placement.workload)
        else {
            continue;
        };
        let name = object_name(&tenancy.name_any(), &workload.name);
        let selector = labels(&[
            (TENANCY_LABEL, &tenancy.name_any()),
            (TENANCY_NAMESPACE_LABEL, &hub_ns),
            (WORKLOAD_LABEL, &workload.name),
        ]);
        let mut all = selector.clone();
        all.insert(AGENCY_LABEL.into(), tenancy.spec.agency.clone());
        all.insert("app.kubernetes.io/managed-by".into(), "colo".into());
        let meta = ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            labels: Some(all.clone()),
            ..Default::default()
        };
        let deployment = Deployment {
            metadata: meta.clone(),
            spec: Some(DeploymentSpec {
                replicas: Some(placement.replicas),
                selector: LabelSelector {
                    match_labels: Some(selector.clone()),
                    ..Default::default()
                },
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(all.clone()),
                        annotations: (!workload.pod_annotations.is_empty())
                            .then(|| workload.pod_annotations.clone()),
                        ..Default::default()
                    }),
                    spec: Some(pod_spec(workload, placement)),
                },
                ..Default::default()
            }),
            ..Default::default()
        };
        apply(client, Some(&ns), manager, &deployment).await?;
        if !workload.ports.is_empty() {
            let service = Service {
                metadata: meta,
                spec: Some(ServiceSpec {
                    selector: Some(selector),
                    ports: Some(
                        workload
                            .ports
                            .iter()
                            .map(|p| ServicePort {
                                name: p.name.clone().or_else(|| Some(format!("p{}", p.port))),
                                port: p.port,
                                protocol: Some(format!("{:?}", p.protocol)),
                                ..Default::default()
                            })
                            .collect(),
                    ),
                    ..Default::default()
                }),
                ..Default::default()
            };
            apply(client, Some(&ns), manager, &service).await?;
        }
    }
    Ok(())
}

/// A pod that Pod Security `restricted` admits.
fn pod_spec(workload: &Workload, placement: &Placement) -> PodSpec {
    let requests = placement.requests.clone().unwrap_or(colo_api::Resources {
        cpu: workload.cpu.clone(),
        memory: workload.memory.clone(),
    });
    let q = |v: &Quantity| K8sQuantity(v.as_str().to_string());
    PodSpec {
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
            ports: (!workload.ports.is_empty()).then(|| {
                workload
                    .ports
                    .iter()
                    .map(|p| ContainerPort {
                        container_port: p.port,
                        protocol: Some(format!("{:?}", p.protocol)),
                        ..Default::default()
                    })
                    .collect()
            }),
            env: (!workload.env.is_empty()).then(|| {
                workload
                    .env
                    .iter()
                    .map(|e| EnvVar {
                        name: e.name.clone(),
                        value: Some(e.value.clone()),
                        ..Default::default()
                    })
                    .collect()
            }),
            resources: Some(ResourceRequirements {
                requests: Some(BTreeMap::from([
                    ("cpu".into(), q(&requests.cpu)),
                    ("memory".into(), q(&requests.memory)),
                ])),
                // Memory is not compressible: cap it at what was asked for.
                limits: Some(BTreeMap::from([("memory".into(), q(&workload.memory))])),
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

/// Deletes the tenancy's Deployments and Services in one member cluster.
pub async fn remove(client: &Client, tenancy: &Tenancy) -> Result<(), kube::Error> {
    let ns = member_namespace(&tenancy.spec.agency);
    let lp = of_tenancy(tenancy);
    let dp = DeleteParams::background();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    for d in deployments.list(&lp).await?.items {
        deployments.delete(&d.name_any(), &dp).await?;
    }
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    for s in services.list(&lp).await?.items {
        services.delete(&s.name_any(), &dp).await?;
    }
    Ok(())
}

/// Available replicas per workload of the tenancy in one member cluster.
pub async fn available(
    client: &Client,
    tenancy: &Tenancy,
) -> Result<BTreeMap<String, Availability>, kube::Error> {
    let ns = member_namespace(&tenancy.spec.agency);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let mut out = BTreeMap::new();
    for d in deployments.list(&of_tenancy(tenancy)).await?.items {
        let workload = d.labels().get(WORKLOAD_LABEL).cloned().unwrap_or_default();
        let ready = d
            .status
            .as_ref()
            .and_then(|s| s.available_replicas)
            .unwrap_or(0);
        let current =
            d.status.as_ref().and_then(|s| s.observed_generation) == d.metadata.generation;
        // A replica set that cannot create pods (quota, admission) says so here.
        let failure = d
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
            })
            .map(|c| {
                format!(
                    "{}: {}",
                    d.name_any(),
                    c.message.clone().unwrap_or_default()
                )
            });
        out.insert(
            workload,
            Availability {
                ready,
                current,
                failure,
            },
        );
    }
    Ok(out)
}

/// Pods of the tenancy still Pending in one member, with the first one's scheduling message.
pub async fn pending_pods(client: &Client, tenancy: &Tenancy) -> Option<String> {
    let ns = member_namespace(&tenancy.spec.agency);
    let pods = Api::<Pod>::namespaced(client.clone(), &ns)
        .list(&of_tenancy(tenancy).fields("status.phase=Pending"))
        .await
        .ok()?;
    let pending = pods.items.len();
    let first = pods.items.iter().find_map(|p| {
        p.status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
            .and_then(|c| c.message.clone())
    });
    match (pending, first) {
        (0, _) => None,
        (n, Some(message)) => Some(format!("{n} pod(s) pending: {message}")),
        (n, None) => Some(format!("{n} pod(s) pending")),
    }
}

/// Available replicas of one member Deployment, and whether its controller has seen the
/// spec Colo applied last (else the replicas counted may be of the previous spec).
#[derive(Clone, Debug, Default)]
pub struct Availability {
    pub ready: i32,
    pub current: bool,
    /// Why the Deployment cannot create its pods, when it cannot.
    pub failure: Option<String>,
}

/// The tenancy's objects in a member cluster, by label.
fn of_tenancy(tenancy: &Tenancy) -> ListParams {
    ListParams::default().labels(&format!(
        "{TENANCY_LABEL}={},{TENANCY_NAMESPACE_LABEL}={}",
        tenancy.name_any(),
        tenancy.namespace().unwrap_or_default()
    ))
}
