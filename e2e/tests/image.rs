//! The image's `colo` (Dockerfile): the binary e2e/build-colo.sh builds, which every other
//! end-to-end test runs too. It must be linked statically and work with nothing else on the
//! filesystem, as user 65532, as the chart runs it on distroless "static": here in an empty
//! chroot, against the local estate's hub, with the chart's ServiceAccount.

use std::path::Path;
use std::process::Command;

use colo_e2e::*;

/// Where `program` is on this machine's PATH (the command itself runs with none).
fn found(program: &str) -> std::path::PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
}

/// Runs `args` inside `root` as the image's user, with only KUBECONFIG set.
fn in_empty_root(root: &Path, args: &[&str]) -> Run {
    let as_root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    let mut cmd = if as_root {
        let mut c = Command::new(found("chroot"));
        c.arg("--userspec=65532:65532");
        c
    } else {
        // Without root: a user namespace of one's own may chroot (as its root, not 65532).
        let mut c = Command::new(found("unshare"));
        c.arg("--map-root-user").arg(found("chroot"));
        c
    };
    cmd.arg(root).args(args);
    cmd.env_clear().env("KUBECONFIG", "/kubeconfig");
    cmd.output().expect("chroot runs").into()
}

#[test]
fn colo_is_static_and_runs_alone_as_the_images_user() {
    colo_is_running();
    let binary = colo_binary();
    let ldd = Command::new("ldd").arg(&binary).output().unwrap();
    let said = String::from_utf8_lossy(&[ldd.stdout, ldd.stderr].concat()).into_owned();
    assert!(
        said.contains("not a dynamic executable") || said.contains("statically linked"),
        "{} links shared libraries: {said}",
        binary.display()
    );
    // An empty root: the binary and a kubeconfig with the chart's ServiceAccount token.
    let root = repo().join("target/e2e-artifacts/image-root");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    std::fs::copy(&binary, root.join("colo")).unwrap();
    let kubeconfig = estate_dir().join("operator.kubeconfig");
    std::fs::copy(kubeconfig, root.join("kubeconfig")).unwrap();
    let readable = std::os::unix::fs::PermissionsExt::from_mode(0o444);
    std::fs::set_permissions(root.join("kubeconfig"), readable).unwrap();

    let version = in_empty_root(&root, &["/colo", "--version"]);
    assert!(version.ok, "colo --version: {}", version.stderr);
    // A snapshot reads the hub, the members' Secrets and clusters, and Prometheus: TLS, DNS-free
    // addresses, no CA bundle or passwd file needed.
    let snapshot = in_empty_root(&root, &["/colo", "snapshot"]);
    assert!(
        snapshot.ok,
        "colo snapshot in an empty root: {}",
        snapshot.stderr
    );
    for cluster in MEMBERS {
        assert!(
            snapshot.stdout.contains(cluster),
            "the snapshot has no {cluster}: {}",
            snapshot.stdout
        );
    }
}

#[test]
fn the_dockerfile_ships_the_tested_build_as_the_charts_user() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let build = dockerfile.lines().find(|l| l.contains("e2e/build-colo.sh"));
    assert!(
        build.is_some(),
        "the image is not built by e2e/build-colo.sh"
    );
    let stages: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    let last = stages.last().expect("a FROM");
    assert!(last.contains("distroless/static"), "final stage: {last}");
    assert!(dockerfile.contains("\nUSER 65532:65532\n"), "{dockerfile}");
    let chart = std::fs::read_to_string(repo().join("charts/colo/templates/deployment.yaml"));
    assert!(
        chart.unwrap().contains("runAsUser: 65532"),
        "chart and image users differ"
    );
}
