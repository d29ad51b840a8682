//! `Tenancy` (namespaced, applied by an agency): a request to run workloads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::common::{Classification, Condition, Resources};
use crate::quantity::Quantity;

/// A request by an agency to run workloads on the shared estate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(kube::CustomResource, kube::KubeSchema))]
#[cfg_attr(
    feature = "crd",
    kube(
        group = "colo.dev",
        version = "v1alpha1",
        kind = "Tenancy",
        plural = "tenancies",
        namespaced,
        shortname = "tn",
        category = "colo",
        status = "TenancyStatus",
        printcolumn = r#"{"name":"Agency","type":"string","jsonPath":".spec.agency"}"#,
        printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
        printcolumn = r#"{"name":"Clusters","type":"string","jsonPath":".status.clusters"}"#,
        printcolumn = r#"{"name":"Resilience","type":"string","jsonPath":".spec.resilience","priority":1}"#,
        printcolumn = r#"{"name":"Explanation","type":"string","jsonPath":".status.explanation","priority":1}"#,
        printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    )
)]
#[cfg_attr(
    feature = "crd",
    x_kube(validation = Rule::new("!has(self.resilience) || self.resilience != 'DualSite' || self.workloads.all(w, w.replicas >= 2)")
        .message("a DualSite tenancy needs replicas >= 2 in every workload, so that each site runs at least one")
        .field_path(".workloads"))
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenancySpec {
    /// The Agency this tenancy belongs to; it must own the Tenancy's namespace. Fixed once
    /// set: moving work between agencies is a new Tenancy.
    #[cfg_attr(feature = "crd", schemars(length(min = 1, max = 40)))]
    #[cfg_attr(feature = "crd", x_kube(validation = Rule::new("self == oldSelf").message("spec.agency cannot be changed; create a new Tenancy for the other agency")))]
    pub agency: String,
    /// Classification of the data handled; only clusters accredited at least this high qualify.
    pub classification: Classification,
    /// Allowed residency regions; empty means any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(
        feature = "crd",
        schemars(length(max = 16), inner(length(min = 1, max = 63)))
    )]
    #[cfg_attr(feature = "crd", schemars(extend("x-kubernetes-list-type" = "set")))]
    pub regions: Vec<String>,
    #[serde(default)]
    pub resilience: Resilience,
    #[serde(default)]
    pub sizing: Sizing,
    /// Pin to one SharedCluster by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(length(min = 1, max = 63)))]
    pub cluster: Option<String>,
    /// What to run: each becomes a Deployment (and a Service when it has ports).
    #[cfg_attr(feature = "crd", schemars(length(min = 1, max = 32)))]
    #[cfg_attr(feature = "crd", schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"])))]
    #[cfg_attr(feature = "crd", x_kube(validation = Rule::new("self.all(w, self.exists_one(x, x.name == w.name))").message("workload names must be unique within a tenancy")))]
    pub workloads: Vec<Workload>,
    /// Where its pods may open connections outside the agency's member namespace, besides
    /// DNS: nowhere unless listed here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "crd", schemars(length(max = 32)))]
    pub egress: Vec<Egress>,
}

/// Addresses a tenancy's pods may reach.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(kube::KubeSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Egress {
    /// An address range, e.g. `10.20.0.0/16` (one address: `/32`).
    #[cfg_attr(feature = "crd", schemars(length(min = 1, max = 64)))]
    #[cfg_attr(feature = "crd", x_kube(validation = Rule::new("isCIDR(self)").message("egress cidr must be an address range such as 10.20.0.0/16")))]
    pub cidr: String,
    /// TCP ports there; empty means every port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(
        feature = "crd",
        schemars(length(max = 16), inner(range(min = 1, max = 65535)))
    )]
    pub ports: Vec<i32>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
pub enum Resilience {
    /// Any one site.
    #[default]
    SingleSite,
    /// Replicas split over at least two sites, none holding more than ceil(replicas/2).
    DualSite,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
pub enum Sizing {
    /// Place and request exactly what was asked.
    #[default]
    Requested,
    /// After the measurement window, request measured p95 × 1.2, never above what was asked.
    Measured,
}

/// One workload of a tenancy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(kube::KubeSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Workload {
    /// DNS label, unique within the tenancy.
    #[cfg_attr(
        feature = "crd",
        schemars(
            length(min = 1, max = 32),
            regex(pattern = r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
        )
    )]
    pub name: String,
    /// Container image.
    #[cfg_attr(feature = "crd", schemars(length(min = 1, max = 512)))]
    pub image: String,
    #[cfg_attr(feature = "crd", schemars(range(min = 1, max = 1000)))]
    pub replicas: i32,
    /// CPU per replica: more than 0, at most 4096 cores.
    #[cfg_attr(feature = "crd", x_kube(
        validation = Rule::new("!isQuantity(string(self)) || quantity(string(self)).isGreaterThan(quantity('0'))").message("cpu must be a positive quantity, e.g. 250m or 2"),
        validation = Rule::new("!isQuantity(string(self)) || quantity(string(self)).compareTo(quantity('4096')) <= 0").message("cpu must be at most 4096 (cores per replica)"),
    ))]
    pub cpu: Quantity,
    /// Memory per replica: more than 0, at most 64Ti.
    #[cfg_attr(feature = "crd", x_kube(
        validation = Rule::new("!isQuantity(string(self)) || quantity(string(self)).isGreaterThan(quantity('0'))").message("memory must be a positive quantity, e.g. 512Mi or 2Gi"),
        validation = Rule::new("!isQuantity(string(self)) || quantity(string(self)).compareTo(quantity('64Ti')) <= 0").message("memory must be at most 64Ti per replica"),
    ))]
    pub memory: Quantity,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "crd", schemars(length(max = 16)))]
    #[cfg_attr(feature = "crd", x_kube(validation = Rule::new("self.all(p, self.exists_one(q, q.port == p.port))").message("port numbers must be unique within a workload")))]
    pub ports: Vec<Port>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "crd", schemars(length(max = 64)))]
    pub env: Vec<EnvVar>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "crd", schemars(extend("maxProperties" = 32)))]
    pub pod_annotations: BTreeMap<String, String>,
    /// Mount a Kubernetes API token in its pods (off unless true: most workloads never call
    /// the member's API server, and a token there is one more thing to steal).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub service_account_token: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Port {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "crd",
        schemars(
            length(min = 1, max = 15),
            regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
        )
    )]
    pub name: Option<String>,
    #[cfg_attr(feature = "crd", schemars(range(min = 1, max = 65535)))]
    pub port: i32,
    #[serde(default)]
    pub protocol: Protocol,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
#[allow(clippy::upper_case_acronyms)]
pub enum Protocol {
    #[default]
    TCP,
    UDP,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EnvVar {
    #[cfg_attr(
        feature = "crd",
        schemars(
            length(min = 1, max = 128),
            regex(pattern = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
        )
    )]
    pub name: String,
    #[serde(default)]
    #[cfg_attr(feature = "crd", schemars(length(max = 4096)))]
    pub value: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
pub enum Phase {
    #[default]
    Pending,
    Placed,
    Running,
    Degraded,
    Rejected,
}

/// Where a tenancy runs and why.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct TenancyStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// `Accepted`, `Placed`, `Available`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placements: Vec<Placement>,
    /// The clusters in use, comma-separated, for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<String>,
    /// One sentence: why there, and why not the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// Measured p95 per replica, by workload.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub measured: BTreeMap<String, Resources>,
    /// For `sizing: Measured`: per workload, what was asked and what member clusters are asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sizing: Vec<WorkloadSizing>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// What one workload asked for per replica, and what Colo requests for it in member clusters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSizing {
    pub workload: String,
    pub asked: Resources,
    pub applied: Resources,
    /// Why `applied` is what it is.
    pub basis: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    pub cluster: String,
    pub site: String,
    pub workload: String,
    pub replicas: i32,
    /// What each replica requests in the member cluster (may be below what was asked when
    /// sizing is Measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<Resources>,
}
