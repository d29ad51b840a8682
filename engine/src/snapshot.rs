//! The `EstateSnapshot`: the engine's input, as `colo snapshot` writes it and `colo plan` reads it.

use std::collections::BTreeMap;

use colo_api::{AgencySpec, Resources, SharedClusterSpec, TenancySpec};
use serde::{Deserialize, Serialize};

pub const KIND: &str = "EstateSnapshot";
pub const API_VERSION: &str = "colo.dev/v1alpha1";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EstateSnapshot {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub agencies: Vec<AgencyEntry>,
    #[serde(default)]
    pub clusters: Vec<ClusterEntry>,
    #[serde(default)]
    pub tenancies: Vec<TenancyEntry>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgencyEntry {
    pub metadata: Metadata,
    pub spec: AgencySpec,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterEntry {
    pub metadata: Metadata,
    pub spec: SharedClusterSpec,
    #[serde(default)]
    pub nodes: Vec<NodeEntry>,
    /// Why it takes no placement now (`unreachable (…)`, `has no Ready node`); absent when
    /// it does. Explanations say this rather than guessing from an empty node list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeEntry {
    pub name: String,
    /// Allocatable cpu and memory.
    pub capacity: Resources,
    /// Measured p95 of what is not a tenancy (system pods); absent means none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Resources>,
    /// Allocatable pods (kubelet's `maxPods`); absent means 110.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<u32>,
    /// Pods running there that are not tenancies' (each takes a pod slot); absent means none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_pods: Option<u32>,
    #[serde(default)]
    pub power_state: PowerState,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PowerState {
    #[default]
    On,
    /// Emptied and powered down (Colo's standby): takes work only by being woken.
    Standby,
    /// Cordoned for another reason (a plan draining it, maintenance, not Ready): keeps what
    /// runs there, takes nothing new, and is never woken.
    Cordoned,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenancyEntry {
    pub metadata: Metadata,
    pub spec: TenancySpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<Observed>,
}

/// What is running now: measured p95 per replica, what each replica is asked for in the
/// members, and where replicas are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observed {
    #[serde(default)]
    pub usage: BTreeMap<String, Resources>,
    /// Per workload, the requests its replicas were applied with (`sizing: Measured` may
    /// have lowered them): a placed workload is counted at this, as kube-scheduler counts it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, Resources>,
    #[serde(default)]
    pub assignments: Vec<ObservedAssignment>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservedAssignment {
    pub workload: String,
    pub cluster: String,
    pub node: String,
    pub replicas: i32,
}

/// Why a snapshot could not be read, with where: a YAML path and line, or an object path.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SnapshotError {
    #[error("{0}")]
    Syntax(String),
    #[error("not an EstateSnapshot: {0}")]
    NotASnapshot(String),
    #[error("{at}: {problem}")]
    Invalid { at: String, problem: String },
}

impl EstateSnapshot {
    /// Reads a snapshot from YAML (or JSON, which is YAML).
    pub fn from_yaml(text: &str) -> Result<Self, SnapshotError> {
        // Check the kind first, so that a Tenancy or a kubeconfig gets a clear answer rather
        // than a complaint about its first unknown field.
        let head: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
            .map_err(|e| SnapshotError::Syntax(format!("not YAML: {e}")))?;
        let kind = head.get("kind").and_then(|k| k.as_str());
        if kind != Some(KIND) {
            return Err(SnapshotError::NotASnapshot(match kind {
                Some(kind) => format!("its kind is {kind:?}; expected kind: {KIND}"),
                None => format!("it has no `kind: {KIND}`"),
            }));
        }
        let snapshot: EstateSnapshot =
            serde_yaml_ng::from_str(text).map_err(|e| SnapshotError::Syntax(e.to_string()))?;
        if snapshot.api_version != API_VERSION {
            return Err(SnapshotError::Invalid {
                at: "apiVersion".into(),
                problem: format!(
                    "is {:?}; this colo reads {API_VERSION}",
                    snapshot.api_version
                ),
            });
        }
        Ok(snapshot)
    }

    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).expect("a snapshot always serialises")
    }
}
