//! What a plan was made for: the tenancies and their placement specs, every member's spec,
//! nodes and capacity, and which members answer. Not where pods run or which nodes are cordoned: a
//! plan's own moves change those. When the basis changes the plan is superseded.

use colo_engine::EstateSnapshot;

use crate::k8s::digest;

pub fn of(snapshot: &EstateSnapshot) -> String {
    let mut lines: Vec<String> = snapshot
        .tenancies
        .iter()
        .map(|t| {
            let ns = t.metadata.namespace.as_deref().unwrap_or_default();
            format!("t {ns}/{} {}", t.metadata.name, digest::placement(&t.spec))
        })
        .collect();
    for c in &snapshot.clusters {
        // Its spec too: a cordon, an accreditation or a headroom changes what may go where.
        let spec = serde_json::to_string(&c.spec).unwrap_or_default();
        lines.push(format!("c {} {} {spec}", c.metadata.name, c.nodes.len()));
        lines.extend(c.nodes.iter().map(|n| {
            format!(
                "n {}/{} {} {} {:?}",
                c.metadata.name, n.name, n.capacity.cpu, n.capacity.memory, n.pods
            )
        }));
    }
    lines.sort();
    digest::of(&lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(extra_tenancy: bool, cordoned: bool) -> EstateSnapshot {
        let power = if cordoned { "Standby" } else { "On" };
        let mut yaml = format!(
            r#"
apiVersion: colo.dev/v1alpha1
kind: EstateSnapshot
agencies: [{{metadata: {{name: a}}, spec: {{displayName: A, costCentre: c, namespaces: [ns], maxClassification: OFFICIAL}}}}]
clusters:
- metadata: {{name: c1}}
  spec: {{site: s, region: r, classification: OFFICIAL}}
  nodes: [{{name: n1, capacity: {{cpu: "32", memory: 128Gi}}, powerState: {power}}}]
tenancies:
- metadata: {{name: t, namespace: ns}}
  spec: {{agency: a, classification: OFFICIAL, workloads: [{{name: w, image: i, replicas: 1, cpu: 100m, memory: 64Mi}}]}}
  observed: {{assignments: [{{workload: w, cluster: c1, node: n1, replicas: 1}}]}}
"#
        );
        if extra_tenancy {
            yaml.push_str("- metadata: {name: u, namespace: ns}\n  spec: {agency: a, classification: OFFICIAL, workloads: [{name: w, image: i, replicas: 1, cpu: 100m, memory: 64Mi}]}\n");
        }
        EstateSnapshot::from_yaml(&yaml).expect("a snapshot")
    }

    #[test]
    fn a_new_tenancy_changes_the_basis_a_cordon_does_not() {
        let base = of(&snapshot(false, false));
        assert_eq!(
            base,
            of(&snapshot(false, true)),
            "cordons are the plan's own doing"
        );
        assert_ne!(base, of(&snapshot(true, false)));
    }
}
