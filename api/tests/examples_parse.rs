//! Every Colo object in examples/ reads into the Rust types, so the offline planner and the
//! operator see exactly what the API server accepted.

use colo_api::{AgencySpec, ConsolidationPlanSpec, SharedClusterSpec, TenancySpec};
use serde::Deserialize;

#[derive(Deserialize)]
struct Object {
    kind: String,
    spec: Option<serde_yaml_ng::Value>,
}

#[test]
fn every_example_object_reads_into_its_spec_type() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut kinds = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for document in serde_yaml_ng::Deserializer::from_str(&text) {
            let object = Object::deserialize(document).unwrap();
            let spec = object.spec.unwrap_or(serde_yaml_ng::Value::Null);
            let result = match object.kind.as_str() {
                "Agency" => serde_yaml_ng::from_value::<AgencySpec>(spec).map(drop),
                "SharedCluster" => serde_yaml_ng::from_value::<SharedClusterSpec>(spec).map(drop),
                "Tenancy" => serde_yaml_ng::from_value::<TenancySpec>(spec).map(drop),
                "ConsolidationPlan" => {
                    serde_yaml_ng::from_value::<ConsolidationPlanSpec>(spec).map(drop)
                }
                _ => Ok(()),
            };
            result.unwrap_or_else(|e| {
                panic!("{}: {} does not read: {e}", path.display(), object.kind)
            });
            kinds.push(object.kind);
        }
    }
    for kind in ["Agency", "SharedCluster", "Tenancy", "ConsolidationPlan"] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "no {kind} among the examples"
        );
    }
}

#[test]
fn the_types_refuse_what_the_schema_refuses() {
    let unknown = "agency: a\nclassification: OFFICIAL\nworkloads: []\nreplicaCount: 3\n";
    let err = serde_yaml_ng::from_str::<TenancySpec>(unknown)
        .unwrap_err()
        .to_string();
    assert!(err.contains("replicaCount"), "{err}");
    let bad_cpu = "agency: a\nclassification: OFFICIAL\nworkloads: [{name: w, image: i, replicas: 1, cpu: lots, memory: 1Gi}]\n";
    let err = serde_yaml_ng::from_str::<TenancySpec>(bad_cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a quantity"), "{err}");
    let bad_class = "agency: a\nclassification: TOP-SECRET\nworkloads: []\n";
    assert!(serde_yaml_ng::from_str::<TenancySpec>(bad_class).is_err());
}
