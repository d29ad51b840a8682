//! A tenancy's objects in a member cluster: its egress policy (what `spec.egress` lists), and
//! per workload placed there a Deployment stamped with the spec it was applied for, a Service
//! when it has ports, and a disruption budget when it has two replicas or more.

use std::collections::BTreeMap;

use colo_api::{Placement, Tenancy, Workload};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EnvVar, PodSecurityContext, PodSpec, PodTemplateSpec,
    ResourceRequirements, SeccompProfile, SecurityContext, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Client;

use crate::k8s::keys::TenancyKey;
use crate::k8s::labels;

use super::{quantity, remove_named};
use crate::k8s::apply::apply;

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

/// What member Deployments carry of the spec they were applied for.
pub struct Stamp {
    pub placement_digest: String,
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
            labels::PLACEMENT_DIGEST_ANNOTATION.to_string(),
            stamp.placement_digest.clone(),
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

#[cfg(test)]
mod tests {
    use super::super::space::same_namespace_only;
    use super::*;
    use colo_api::Quantity;

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
            placement_digest: "abc".into(),
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
