//! Digests: short stable texts that stand for something larger, stamped on objects and
//! compared later. The *placement digest* of a Tenancy's spec is stamped on its member
//! Deployments (`labels::PLACEMENT_DIGEST_ANNOTATION`), so a restarted operator knows which
//! spec they were made for; a consolidation plan's basis is the digest of the estate it was
//! made for.

/// What a tenancy's placement depends on, as a digest: classification, regions, resilience,
/// sizing, a pinned cluster, and each workload's name, replicas and requests. An edit that
/// leaves these alone (an image, an env var) keeps the placement.
pub fn placement(spec: &colo_api::TenancySpec) -> String {
    let mut regions = spec.regions.clone();
    regions.sort();
    let mut workloads: Vec<String> = spec
        .workloads
        .iter()
        .map(|w| {
            let cpu = w
                .cpu
                .cpu_millis()
                .map_or_else(|_| w.cpu.to_string(), |m| m.to_string());
            let mem = w
                .memory
                .bytes()
                .map_or_else(|_| w.memory.to_string(), |b| b.to_string());
            format!("{}:{}:{cpu}:{mem}", w.name, w.replicas)
        })
        .collect();
    workloads.sort();
    let text = format!(
        "{}|{}|{:?}|{:?}|{}|{}",
        spec.classification.as_str(),
        regions.join(","),
        spec.resilience,
        spec.sizing,
        spec.cluster.as_deref().unwrap_or_default(),
        workloads.join(",")
    );
    of(&text)
}

/// The digest of `text` (FNV-1a, 64 bits: stable across builds and platforms, unlike the
/// std hasher).
pub fn of(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_is_stable_and_tells_texts_apart() {
        assert_eq!(of(""), "cbf29ce484222325", "FNV-1a's offset basis");
        assert_eq!(of("a"), "af63dc4c8601ec8c", "FNV-1a 64 of \"a\"");
        assert_ne!(of("ab"), of("ba"));
    }

    #[test]
    fn only_what_placement_depends_on_changes_the_placement_digest() {
        let spec = |image: &str, replicas: i32| -> colo_api::TenancySpec {
            serde_json::from_value(serde_json::json!({
                "agency": "dvla", "classification": "OFFICIAL", "regions": ["b", "a"],
                "workloads": [{"name": "web", "image": image, "replicas": replicas,
                               "cpu": "1", "memory": "1Gi"}]
            }))
            .unwrap()
        };
        assert_eq!(placement(&spec("v1", 2)), placement(&spec("v2", 2)));
        assert_ne!(placement(&spec("v1", 2)), placement(&spec("v1", 3)));
    }
}
