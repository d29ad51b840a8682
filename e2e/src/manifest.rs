//! Typed manifests for the tests: a Tenancy or an Agency built from Colo's own API types
//! (`colo-api` without its Kubernetes derives) and written as YAML for kubectl. A field renamed
//! in the API is a compile error here, not a test that quietly applies something else.
//!
//! Tests that send what Colo must refuse (unknown fields, bad values) write that YAML by hand
//! on purpose; everything else is built here.

use std::collections::BTreeMap;

use colo_api::{
    AgencySpec, Classification, Egress, EnvVar, Port, Protocol, Quantity, Resilience, Sizing,
    TenancySpec,
};

use crate::{HUB, apply_yaml};

/// A Tenancy: OFFICIAL, any site and region, sized as asked, until told otherwise.
#[derive(Clone, Debug)]
pub struct Tenancy {
    pub namespace: String,
    pub name: String,
    pub spec: TenancySpec,
}

impl Tenancy {
    pub fn new(namespace: &str, name: &str, agency: &str) -> Self {
        Tenancy {
            namespace: namespace.into(),
            name: name.into(),
            spec: TenancySpec {
                agency: agency.into(),
                classification: Classification::Official,
                regions: Vec::new(),
                resilience: Resilience::SingleSite,
                sizing: Sizing::Requested,
                cluster: None,
                workloads: Vec::new(),
                egress: Vec::new(),
            },
        }
    }

    pub fn classification(mut self, classification: Classification) -> Self {
        self.spec.classification = classification;
        self
    }

    /// Pinned to one SharedCluster.
    pub fn pinned(mut self, cluster: &str) -> Self {
        self.spec.cluster = Some(cluster.into());
        self
    }

    pub fn regions(mut self, regions: &[&str]) -> Self {
        self.spec.regions = regions.iter().map(|r| r.to_string()).collect();
        self
    }

    pub fn dual_site(mut self) -> Self {
        self.spec.resilience = Resilience::DualSite;
        self
    }

    pub fn resilience(mut self, resilience: Resilience) -> Self {
        self.spec.resilience = resilience;
        self
    }

    pub fn measured(mut self) -> Self {
        self.spec.sizing = Sizing::Measured;
        self
    }

    pub fn workload(mut self, workload: Workload) -> Self {
        self.spec.workloads.push(workload.0);
        self
    }

    /// Its pods may reach `cidr` on `ports` (every port when empty).
    pub fn egress(mut self, cidr: &str, ports: &[i32]) -> Self {
        self.spec.egress.push(Egress {
            cidr: cidr.into(),
            ports: ports.to_vec(),
        });
        self
    }

    pub fn yaml(&self) -> String {
        document(
            "Tenancy",
            serde_json::json!({"name": self.name, "namespace": self.namespace}),
            &self.spec,
        )
    }

    /// Applied on the hub as the cluster admin; the test fails with kubectl's message if refused.
    pub fn apply(&self) {
        apply_yaml(HUB, &self.yaml());
    }
}

/// One workload: image `i` (nothing is pulled on kwok nodes), no ports, until told otherwise.
#[derive(Clone, Debug)]
pub struct Workload(pub colo_api::Workload);

impl Workload {
    pub fn new(name: &str, replicas: i32, cpu: &str, memory: &str) -> Self {
        Workload(colo_api::Workload {
            name: name.into(),
            image: "i".into(),
            replicas,
            cpu: Quantity::new(cpu),
            memory: Quantity::new(memory),
            ports: Vec::new(),
            env: Vec::new(),
            pod_annotations: BTreeMap::new(),
            service_account_token: false,
        })
    }

    pub fn image(mut self, image: &str) -> Self {
        self.0.image = image.into();
        self
    }

    /// A TCP port, named or not.
    pub fn port(mut self, name: Option<&str>, port: i32) -> Self {
        self.0.ports.push(Port {
            name: name.map(str::to_string),
            port,
            protocol: Protocol::TCP,
        });
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.0.env.push(EnvVar {
            name: name.into(),
            value: value.into(),
        });
        self
    }

    pub fn pod_annotation(mut self, key: &str, value: &str) -> Self {
        self.0.pod_annotations.insert(key.into(), value.into());
        self
    }

    /// What kwok reports as each pod's use (its `kwok.x-k8s.io/usage-*` annotations).
    pub fn uses(self, cpu: &str, memory: &str) -> Self {
        self.pod_annotation("kwok.x-k8s.io/usage-cpu", cpu)
            .pod_annotation("kwok.x-k8s.io/usage-memory", memory)
    }
}

/// An Agency owning some hub namespaces, its people in `<name>-engineers`, cleared for
/// OFFICIAL, until told otherwise.
#[derive(Clone, Debug)]
pub struct Agency {
    pub name: String,
    pub spec: AgencySpec,
}

impl Agency {
    pub fn new(name: &str, namespaces: &[&str]) -> Self {
        Agency {
            name: name.into(),
            spec: AgencySpec {
                display_name: format!("Test {name}"),
                cost_centre: format!("CC-{name}"),
                namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
                groups: vec![format!("{name}-engineers")],
                max_classification: Classification::Official,
                budget: None,
                standalone: None,
                quote: None,
            },
        }
    }

    pub fn clearance(mut self, classification: Classification) -> Self {
        self.spec.max_classification = classification;
        self
    }

    pub fn groups(mut self, groups: &[&str]) -> Self {
        self.spec.groups = groups.iter().map(|g| g.to_string()).collect();
        self
    }

    pub fn yaml(&self) -> String {
        document("Agency", serde_json::json!({"name": self.name}), &self.spec)
    }

    /// Its namespaces, labelled for it as Colo's admission policy expects, then the Agency.
    pub fn with_namespaces_yaml(&self) -> String {
        let mut out = String::new();
        for ns in &self.spec.namespaces {
            out.push_str(&format!(
                "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}, labels: {{colo.dev/agency: {}}}}}\n---\n",
                self.name
            ));
        }
        out + &self.yaml()
    }
}

/// A clearance as the API spells it (`OFFICIAL`, `OFFICIAL-SENSITIVE`, `SECRET`).
pub fn classification(text: &str) -> Classification {
    serde_json::from_value(serde_json::Value::String(text.into()))
        .unwrap_or_else(|e| panic!("{text:?} is not a classification: {e}"))
}

fn document(kind: &str, metadata: serde_json::Value, spec: &impl serde::Serialize) -> String {
    let value = serde_json::json!({
        "apiVersion": "colo.dev/v1alpha1",
        "kind": kind,
        "metadata": metadata,
        "spec": spec,
    });
    serde_yaml_ng::to_string(&value).expect("a manifest is YAML")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenancy_is_the_yaml_an_agency_would_write() {
        let t = Tenancy::new("ns", "shop", "ag")
            .dual_site()
            .pinned("west-1")
            .workload(
                Workload::new("web", 2, "250m", "256Mi")
                    .port(Some("http"), 8080)
                    .uses("100m", "64Mi"),
            );
        let back: serde_json::Value = serde_yaml_ng::from_str(&t.yaml()).unwrap();
        assert_eq!(back["kind"], "Tenancy");
        assert_eq!(back["metadata"]["namespace"], "ns");
        assert_eq!(back["spec"]["resilience"], "DualSite");
        assert_eq!(back["spec"]["cluster"], "west-1");
        let w = &back["spec"]["workloads"][0];
        assert_eq!(w["cpu"], "250m");
        assert_eq!(w["ports"][0]["port"], 8080);
        assert_eq!(w["podAnnotations"]["kwok.x-k8s.io/usage-cpu"], "100m");
        assert!(w.get("serviceAccountToken").is_none());
    }

    #[test]
    fn an_agency_comes_with_its_labelled_namespaces() {
        let a = Agency::new("ag", &["ag", "ag-2"]).clearance(classification("SECRET"));
        let docs: Vec<serde_json::Value> = a
            .with_namespaces_yaml()
            .split("\n---\n")
            .map(|d| serde_yaml_ng::from_str(d).unwrap())
            .collect();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[1]["metadata"]["labels"]["colo.dev/agency"], "ag");
        assert_eq!(docs[2]["spec"]["maxClassification"], "SECRET");
        assert_eq!(docs[2]["spec"]["groups"][0], "ag-engineers");
    }
}
