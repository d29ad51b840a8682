//! `crds/colo.dev.yaml` is what `colo crds` prints: the YAML checked in never drifts from the types.

use std::path::Path;

#[test]
fn checked_in_crds_match_the_rust_types() {
    let generated = std::process::Command::new(env!("CARGO_BIN_EXE_colo"))
        .arg("crds")
        .output()
        .expect("run colo crds");
    assert!(
        generated.status.success(),
        "colo crds failed: {}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds/colo.dev.yaml");
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == String::from_utf8_lossy(&generated.stdout),
        "{} is out of date with the Rust types; regenerate it with:\n  cargo run -p colo-operator -- crds > crds/colo.dev.yaml",
        path.display()
    );
}

#[test]
fn every_kind_is_in_the_colo_category_with_a_status_subresource_and_short_name() {
    for crd in colo_api::crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        assert_eq!(crd.spec.group, "colo.dev", "{name}");
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&["colo".to_string()][..]),
            "{name}"
        );
        assert!(
            crd.spec
                .names
                .short_names
                .as_ref()
                .is_some_and(|s| !s.is_empty()),
            "{name} has no short name"
        );
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{name} has no status subresource"
        );
        assert!(
            version
                .additional_printer_columns
                .as_ref()
                .is_some_and(|c| c.len() >= 3),
            "{name} has too few printer columns"
        );
    }
}
