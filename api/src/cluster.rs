//! `SharedCluster` (cluster-scoped): one member cluster in a data centre.

use serde::{Deserialize, Serialize};

use crate::common::{Classification, Condition, Resources};

/// A member cluster Colo places workloads on: where it stands, what it is accredited for,
/// how to reach it and its metrics, and what its power and machines cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(kube::CustomResource, kube::KubeSchema))]
#[cfg_attr(
    feature = "crd",
    kube(
        group = "colo.dev",
        version = "v1alpha1",
        kind = "SharedCluster",
        shortname = "shc",
        category = "colo",
        status = "SharedClusterStatus",
        printcolumn = r#"{"name":"Site","type":"string","jsonPath":".spec.site"}"#,
        printcolumn = r#"{"name":"Region","type":"string","jsonPath":".spec.region"}"#,
        printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
        printcolumn = r#"{"name":"Nodes","type":"integer","jsonPath":".status.nodes.active"}"#,
        printcolumn = r#"{"name":"Standby","type":"integer","jsonPath":".status.nodes.standby","priority":1}"#,
        printcolumn = r#"{"name":"CPU Used","type":"string","jsonPath":".status.measuredCpu"}"#,
        printcolumn = r#"{"name":"Cordoned","type":"boolean","jsonPath":".spec.cordoned","priority":1}"#,
        printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SharedClusterSpec {
    /// Failure domain: a building. DualSite tenancies spread over at least two.
    #[cfg_attr(feature = "crd", schemars(length(min = 1, max = 63)))]
    pub site: String,
    /// Data residency region, matched against a Tenancy's `regions`.
    #[cfg_attr(feature = "crd", schemars(length(min = 1, max = 63)))]
    pub region: String,
    /// Highest classification the cluster is accredited for.
    pub classification: Classification,
    /// Secret on the hub holding the member's kubeconfig; absent, the hub is the member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig_secret_ref: Option<SecretKeyRef>,
    /// Where measured utilisation comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusSpec>,
    /// Power model and prices of the site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<PowerSpec>,
    /// What the machines cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostSpec>,
    /// Fraction of each node's capacity never planned (default 0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 0.0, max = 0.9)))]
    pub headroom: Option<f64>,
    /// No new placements while true; running tenancies stay.
    #[serde(default)]
    pub cordoned: bool,
}

/// A key of a Secret on the hub.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretKeyRef {
    #[cfg_attr(feature = "crd", schemars(length(min = 1, max = 253)))]
    pub name: String,
    /// Namespace of the Secret (default: the operator's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(length(min = 1, max = 63)))]
    pub namespace: Option<String>,
    /// Key within the Secret (default `kubeconfig`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(length(min = 1, max = 253)))]
    pub key: Option<String>,
}

/// The Prometheus that measures this cluster, and how usage is summarised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(kube::KubeSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusSpec {
    /// Base URL, e.g. http://prometheus.monitoring:9090.
    #[cfg_attr(feature = "crd", schemars(length(min = 1, max = 512)))]
    #[cfg_attr(feature = "crd", x_kube(validation = Rule::new("self.startsWith('http://') || self.startsWith('https://')").message("must be an http:// or https:// URL")))]
    pub url: String,
    /// Look-back window of the percentile, as a Prometheus duration (default 1h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "crd",
        schemars(length(max = 16), regex(pattern = r"^([0-9]+(ms|s|m|h|d|w|y))+$"))
    )]
    pub window: Option<String>,
    /// Percentile of usage that counts as "measured", 0–1 (default 0.95).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 0.5, max = 1.0)))]
    pub percentile: Option<f64>,
}

impl PrometheusSpec {
    /// The measurement window (default 1h); None when `window` is not a Prometheus duration.
    pub fn window_duration(&self) -> Option<std::time::Duration> {
        parse_prometheus_duration(self.window.as_deref().unwrap_or("1h"))
    }
}

/// A Prometheus duration such as `90s`, `1h30m` or `7d`.
pub fn parse_prometheus_duration(text: &str) -> Option<std::time::Duration> {
    const UNITS: [(&str, u64); 7] = [
        ("ms", 1),
        ("s", 1_000),
        ("m", 60_000),
        ("h", 3_600_000),
        ("d", 86_400_000),
        ("w", 604_800_000),
        ("y", 31_536_000_000),
    ];
    let mut rest = text;
    let mut millis: u64 = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, size) = UNITS.iter().find(|(u, _)| rest.starts_with(u))?;
        rest = &rest[unit.len()..];
        millis = millis.checked_add(number.checked_mul(*size)?)?;
    }
    Some(std::time::Duration::from_millis(millis))
}

/// Linear node power model and the site's energy prices.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(kube::KubeSchema))]
#[cfg_attr(feature = "crd", x_kube(validation = Rule::new("!has(self.idleWatts) || !has(self.maxWatts) || self.idleWatts <= self.maxWatts").message("idleWatts must not exceed maxWatts").field_path(".idleWatts")))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PowerSpec {
    /// Power usage effectiveness of the site (default 1.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 1.0, max = 5.0)))]
    pub pue: Option<f64>,
    /// Node power idle, watts (default 0.25 × maxWatts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 0.0, max = 100000.0)))]
    pub idle_watts: Option<f64>,
    /// Node power at full CPU, watts (default 330).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 1.0, max = 100000.0)))]
    pub max_watts: Option<f64>,
    /// Node power in standby, watts (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 0.0, max = 100000.0)))]
    pub standby_watts: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 0.0)))]
    #[serde(rename = "energyPricePerKWh")]
    pub energy_price_per_kwh: Option<f64>,
    /// Grid intensity, g CO2e per kWh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 0.0, max = 2000.0)))]
    #[serde(rename = "carbonGramsPerKWh")]
    pub carbon_grams_per_kwh: Option<f64>,
}

/// Machine cost: either a rate per node-hour, or capital spread over a lifetime.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(kube::KubeSchema))]
#[cfg_attr(feature = "crd", x_kube(validation = Rule::new("!(has(self.perNodeHour) && has(self.capitalPerNode))").message("give either perNodeHour or capitalPerNode (with lifetimeYears), not both")))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CostSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 0.0)))]
    pub per_node_hour: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 0.0)))]
    pub capital_per_node: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 1.0, max = 30.0)))]
    pub lifetime_years: Option<f64>,
}

/// Health, size and load of the member cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SharedClusterStatus {
    /// `Reachable`, `MetricsFresh`, `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<NodeCounts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Resources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<Resources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<Resources>,
    /// Measured CPU as a share of capacity, e.g. "23%".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_cpu: Option<String>,
    #[serde(default)]
    pub tenancies: i32,
    /// IT power its nodes draw now, watts (before PUE): the linear power model at each node's
    /// measured CPU, standby nodes at `standbyWatts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_watts: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
pub struct NodeCounts {
    pub active: i32,
    pub standby: i32,
}

#[cfg(test)]
mod duration_tests {
    use super::parse_prometheus_duration as parse;
    use std::time::Duration;

    #[test]
    fn prometheus_durations() {
        assert_eq!(parse("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse("7d"), Some(Duration::from_secs(7 * 86400)));
        for bad in ["", "2", "m", "2x", "1h-3m", "99999999999999999999y"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
