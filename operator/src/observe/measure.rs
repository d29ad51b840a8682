//! Measured usage from a cluster's Prometheus: the p95 (the cluster's percentile over its
//! window) of every tenancy pod, and of everything else per node.

use std::collections::HashMap;
use std::time::Instant;

use colo_api::SharedCluster;
use colo_api::cluster::PrometheusSpec;
use kube::ResourceExt;

use crate::k8s::labels::prom_selectors;
use crate::k8s::prom::{Prometheus, Sample};

/// CPU (milli-cores) and memory (bytes).
pub type Usage = (i64, i64);

/// Per pod of an agency's member namespace, by (namespace, pod).
pub type PodUsage = HashMap<(String, String), Usage>;

/// Per node, of everything that is not a tenancy.
pub type NodeUsage = HashMap<String, Usage>;

/// What one cluster's Prometheus said, and when.
#[derive(Clone, Debug)]
pub struct Measurement {
    pub taken: Instant,
    /// The Prometheus settings it was taken with (a change of them measures again).
    pub asked: Option<PrometheusSpec>,
    pub pods: PodUsage,
    /// Per pod: how many samples of its usage the window holds.
    pub samples: HashMap<(String, String), u32>,
    pub nodes: NodeUsage,
    /// Why there is no measurement, when there is none.
    pub result: Result<(), String>,
}

impl Measurement {
    fn failed(asked: Option<PrometheusSpec>, why: String) -> Self {
        Measurement {
            taken: Instant::now(),
            asked,
            pods: HashMap::new(),
            samples: HashMap::new(),
            nodes: HashMap::new(),
            result: Err(why),
        }
    }

    /// Nothing measured yet (a cluster that could not be reached).
    pub fn none() -> Self {
        Self::failed(None, "not measured".into())
    }
}

/// The PromQL of one measurement: `up`, then pod cpu and memory, then node cpu and memory,
/// then how many samples of each pod's cpu the window holds.
fn queries(spec: &PrometheusSpec, cluster: &str, rate: &str, operator_ns: &str) -> [String; 6] {
    let window = spec.window.clone().unwrap_or_else(|| "1h".into());
    let q = spec.percentile.unwrap_or(0.95);
    let s = prom_selectors(cluster, operator_ns);
    let cpu =
        |selector: &str| format!("rate(container_cpu_usage_seconds_total{{{selector}}}[{rate}])");
    let mem = |selector: &str| format!("container_memory_working_set_bytes{{{selector}}}");
    let p95 = |by: &str, series: String| {
        format!("quantile_over_time({q}, sum by ({by}) ({series})[{window}:])")
    };
    let other = |f: &dyn Fn(&str) -> String| format!("{} or {}", f(&s.other[0]), f(&s.other[1]));
    [
        format!("max(up{{cluster=\"{cluster}\"}})"),
        p95("namespace, pod", cpu(&s.tenancy)),
        p95("namespace, pod", mem(&s.tenancy)),
        p95("node", other(&cpu)),
        p95("node", other(&mem)),
        format!(
            "count_over_time(sum by (namespace, pod) ({})[{window}:])",
            cpu(&s.tenancy)
        ),
    ]
}

/// Measures a cluster now. Errors leave it empty: placement then goes by requests, and says so.
pub async fn take(cluster: &SharedCluster, rate: &str, operator_ns: &str) -> Measurement {
    let asked = cluster.spec.prometheus.clone();
    let Some(spec) = &asked else {
        return Measurement::failed(asked, "no Prometheus configured".into());
    };
    let prom = Prometheus::new(&spec.url);
    let name = cluster.name_any();
    let texts = queries(spec, &name, rate, operator_ns);
    let answers = futures::try_join!(
        prom.query(&texts[0]),
        prom.query(&texts[1]),
        prom.query(&texts[2]),
        prom.query(&texts[3]),
        prom.query(&texts[4]),
        prom.query(&texts[5]),
    );
    let (up, pod_cpu, pod_mem, node_cpu, node_mem, counts) = match answers {
        Ok(a) => a,
        Err(e) => return Measurement::failed(asked, e.to_string()),
    };
    if up.first().is_none_or(|s| s.value < 1.0) {
        let why = format!("Prometheus at {} has no fresh scrape of {name}", prom.url());
        return Measurement::failed(asked, why);
    }
    let pod = |s: &Sample| {
        let label = |l: &str| s.labels.get(l).cloned().unwrap_or_default();
        (label("namespace"), label("pod"))
    };
    let node = |s: &Sample| s.labels.get("node").cloned().unwrap_or_default();
    Measurement {
        taken: Instant::now(),
        samples: counts.iter().map(|s| (pod(s), s.value as u32)).collect(),
        pods: gather(&pod_cpu, &pod_mem, pod),
        nodes: gather(&node_cpu, &node_mem, node),
        asked,
        result: Ok(()),
    }
}

/// CPU samples (cores) and memory samples (bytes) by key, as milli-cores and bytes rounded up.
fn gather<K: std::hash::Hash + Eq>(
    cpu: &[Sample],
    memory: &[Sample],
    key: impl Fn(&Sample) -> K,
) -> HashMap<K, Usage> {
    let mut out: HashMap<K, Usage> = HashMap::new();
    for s in cpu {
        out.entry(key(s)).or_default().0 = (s.value * 1000.0).ceil() as i64;
    }
    for s in memory {
        out.entry(key(s)).or_default().1 = s.value.ceil() as i64;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn sample(labels: &[(&str, &str)], value: f64) -> Sample {
        Sample {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            value,
        }
    }

    #[test]
    fn samples_become_milli_cores_and_bytes_rounded_up() {
        let cpu = [sample(&[("node", "n1")], 0.0101)];
        let mem = [
            sample(&[("node", "n1")], 1000.2),
            sample(&[("node", "n2")], 5.0),
        ];
        let usage = gather(&cpu, &mem, |s| s.labels["node"].clone());
        assert_eq!(usage["n1"], (11, 1001));
        assert_eq!(usage["n2"], (0, 5));
    }

    #[test]
    fn queries_take_the_clusters_window_and_percentile() {
        let spec = PrometheusSpec {
            url: "http://p".into(),
            window: Some("2m".into()),
            percentile: Some(0.9),
        };
        let q = queries(&spec, "north-1", "20s", "colo-system");
        assert_eq!(q[0], r#"max(up{cluster="north-1"})"#);
        assert!(q[1].starts_with("quantile_over_time(0.9, sum by (namespace, pod) (rate("));
        assert!(q[1].ends_with("[20s]))[2m:])"), "{}", q[1]);
        assert!(q[3].contains(" or "), "{}", q[3]);
        assert!(
            q[5].starts_with("count_over_time(sum by (namespace, pod) (rate("),
            "{}",
            q[5]
        );
    }
}
