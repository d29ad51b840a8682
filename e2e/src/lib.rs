//! Helpers for end-to-end tests on the local estate: run kubectl as a user would, query
//! Prometheus, and wait on conditions (never on fixed sleeps).
//!
//! The estate is found through `COLO_ESTATE_DIR` (set by e2e/test.sh); a missing estate is a
//! test failure that says how to start one, never a skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub mod accounting;
pub mod invariants;
pub mod manifest;
pub mod outage;

pub use colo_api::{Classification, Resilience};
pub use manifest::{Agency, Tenancy, Workload, classification};

pub const HUB: &str = "hub";
/// The members of examples/20-shared-clusters.yaml.
pub const MEMBERS: [&str; 2] = ["north-1", "south-1"];
/// The estate's third member at a third site (examples/21-third-site.yaml), joined by the
/// tests that need it.
pub const THIRD_SITE: &str = "west-1";
pub const PROMETHEUS: &str = "http://127.0.0.10:9090";

/// The repository root (for crds/, examples/, e2e/invalid/).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn estate_dir() -> PathBuf {
    let dir = std::env::var_os("COLO_ESTATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".estate"));
    assert!(
        dir.join("kubeconfig").exists(),
        "no local estate at {}: start one with `e2e/estate.sh up` (or run e2e/test.sh)",
        dir.display()
    );
    dir
}

/// What a finished kubectl run printed.
#[derive(Debug)]
pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            ok: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// kubectl against one cluster of the estate (`hub`, `north-1`, `south-1`).
pub fn kubectl(cluster: &str, args: &[&str]) -> Run {
    kubectl_with_input(cluster, args, None)
}

pub fn kubectl_with_input(cluster: &str, args: &[&str], input: Option<&str>) -> Run {
    let dir = estate_dir();
    let mut cmd = Command::new(dir.join("bin/kubectl"));
    cmd.arg("--kubeconfig")
        .arg(dir.join(cluster).join("kubeconfig"))
        .args(args);
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("kubectl runs");
    if let Some(text) = input {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write stdin");
    }
    child.wait_with_output().expect("kubectl finishes").into()
}

/// Colo's Deployments in a member that match a label selector, printed as `output` (`name`,
/// `json`), the request given up after `timeout`.
pub fn member_deployments(member: &str, selector: &str, output: &str, timeout: &str) -> Run {
    let timeout = format!("--request-timeout={timeout}");
    let args = [
        "get",
        "deployments",
        "-A",
        "-l",
        selector,
        "-o",
        output,
        &timeout,
    ];
    kubectl(member, &args)
}

/// kubectl that must succeed; returns its stdout.
pub fn kubectl_ok(cluster: &str, args: &[&str]) -> String {
    let run = kubectl(cluster, args);
    assert!(
        run.ok,
        "kubectl {} on {cluster} failed:\n{}",
        args.join(" "),
        run.stderr
    );
    run.stdout
}

/// Installs Colo's CRDs on the hub once per test process and waits until they are served.
pub fn install_crds() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let crds = repo().join("crds/colo.dev.yaml");
        kubectl_ok(
            HUB,
            &[
                "apply",
                "--server-side",
                "--force-conflicts",
                "-f",
                crds.to_str().unwrap(),
            ],
        );
        kubectl_ok(
            HUB,
            &[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "-f",
                crds.to_str().unwrap(),
            ],
        );
    });
}

/// Polls `check` until it returns Some, or panics after `timeout` with the last reason.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(100);
    loop {
        match check() {
            Ok(value) => return value,
            Err(reason) if Instant::now() >= deadline => {
                panic!("{what}: not true after {timeout:?}; last: {reason}")
            }
            Err(_) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// An instant PromQL query; returns the `result` array.
pub fn prometheus_query(query: &str) -> Result<Vec<serde_json::Value>, String> {
    let out = Command::new("curl")
        .args([
            "-fsS",
            "--max-time",
            "5",
            &format!("{PROMETHEUS}/api/v1/query"),
            "--data-urlencode",
        ])
        .arg(format!("query={query}"))
        .output()
        .map_err(|e| format!("curl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "prometheus: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let body: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("prometheus answer: {e}"))?;
    body["data"]["result"]
        .as_array()
        .cloned()
        .ok_or_else(|| format!("no result in {body}"))
}

/// A fresh namespace name for one test, so tests can run side by side.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Applies YAML to one cluster, failing the test with kubectl's message if it is refused.
pub fn apply_yaml(cluster: &str, yaml: &str) {
    let run = kubectl_with_input(cluster, &["apply", "-f", "-"], Some(yaml));
    assert!(
        run.ok,
        "kubectl apply on {cluster} refused:\n{}\n{yaml}",
        run.stderr
    );
}

/// `kubectl get ... -o json` as a value.
pub fn get_json(cluster: &str, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&kubectl_ok(cluster, &all)).expect("kubectl prints JSON")
}

/// Colo's operator must be running on the estate (e2e/test.sh starts it with e2e/operator.sh),
/// with the example SharedClusters applied.
pub fn colo_is_running() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        install_crds();
        let clusters = repo().join("examples/20-shared-clusters.yaml");
        kubectl_ok(HUB, &["apply", "-f", clusters.to_str().unwrap()]);
        wait_until("colo operator ready", Duration::from_secs(60), || {
            let out = Command::new("curl")
                .arg("-fsS")
                .arg(format!("{COLO_METRICS}/readyz"))
                .output()
                .map_err(|e| e.to_string())?;
            if out.status.success() {
                Ok(())
            } else {
                Err("not ready: start it with e2e/operator.sh start".into())
            }
        });
    });
}

/// Runs e2e/operator.sh with an action (start, stop, kill, restart).
pub fn operator(action: &str) {
    operator_with(action, &[]);
}

/// Runs e2e/operator.sh with an action and settings in its environment (e.g.
/// `COLO_CONSOLIDATION_MODE`).
pub fn operator_with(action: &str, settings: &[(&str, &str)]) {
    let status = Command::new(repo().join("e2e/operator.sh"))
        .arg(action)
        .env("COLO_ESTATE_DIR", estate_dir())
        .env("COLO_NO_BUILD", "1")
        .envs(settings.iter().copied())
        .status()
        .expect("e2e/operator.sh runs");
    assert!(status.success(), "e2e/operator.sh {action} failed");
}

/// The `colo` binary the operator runs and the image ships (e2e/build-colo.sh builds it).
pub fn colo_binary() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let out = Command::new(repo().join("e2e/build-colo.sh"))
            .arg("--path")
            .output()
            .expect("e2e/build-colo.sh runs");
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
    .clone()
}

/// Runs the `colo` binary the operator runs (`colo_binary`) against the estate's hub;
/// returns what it printed, failing the test if it fails.
pub fn colo(args: &[&str]) -> String {
    let out = Command::new(colo_binary())
        .args(args)
        .env("KUBECONFIG", estate_dir().join("kubeconfig"))
        .output()
        .expect("colo runs (e2e/operator.sh builds it with e2e/build-colo.sh)");
    assert!(
        out.status.success(),
        "colo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An agency owning one hub namespace, both created, its people in group `<agency>-engineers`;
/// returns (agency, namespace).
pub fn new_agency(prefix: &str, clearance: &str) -> (String, String) {
    new_agency_of(prefix, clearance, None)
}

/// As `new_agency`, its people in `group` (e.g. one of e2e/estate.sh's people's groups).
pub fn new_agency_of(prefix: &str, clearance: &str, group: Option<&str>) -> (String, String) {
    let name = unique_name(prefix);
    let mut agency = Agency::new(&name, &[&name]).clearance(classification(clearance));
    if let Some(group) = group {
        agency = agency.groups(&[group]);
    }
    apply_yaml(HUB, &agency.with_namespaces_yaml());
    (name.clone(), name)
}

/// Waits until a tenancy's phase is `phase`; returns the tenancy.
pub fn wait_phase(
    namespace: &str,
    name: &str,
    phase: &str,
    timeout: Duration,
) -> serde_json::Value {
    wait_until(
        &format!("tenancy {namespace}/{name} {phase}"),
        timeout,
        || {
            let run = kubectl(
                HUB,
                &["-n", namespace, "get", "tenancy", name, "-o", "json"],
            );
            if !run.ok {
                return Err(run.stderr);
            }
            let t: serde_json::Value =
                serde_json::from_str(&run.stdout).map_err(|e| e.to_string())?;
            if t["status"]["phase"] == phase {
                Ok(t)
            } else {
                Err(format!("status: {}", t["status"]))
            }
        },
    )
}

/// Colo's report on the local estate (e2e/operator.sh serves it there): bearer tokens only.
pub const COLO_HTTP: &str = "http://127.0.0.1:8080";
/// Colo's /metrics, /healthz and /readyz on the local estate.
pub const COLO_METRICS: &str = "http://127.0.0.1:8081";

/// The bearer token of one of the estate's people (e2e/estate.sh lists them, with groups).
pub fn person_token(user: &str) -> String {
    let file = estate_dir().join("pki/tokens.csv");
    let tokens = std::fs::read_to_string(&file).unwrap_or_default();
    let found = tokens.lines().find_map(|line| {
        let mut fields = line.split(',');
        let token = fields.next()?;
        (fields.next()? == user).then(|| token.to_string())
    });
    found.unwrap_or_else(|| {
        panic!(
            "{user} has no token in {}: this estate predates its people; run e2e/estate.sh down && e2e/estate.sh up",
            file.display()
        )
    })
}

/// Finance's token: it may read every agency's figures.
pub fn finance_token() -> String {
    person_token("finance-fiona")
}

/// GET from Colo's report as finance: (status code, body).
pub fn colo_get(path_and_query: &str) -> (u16, String) {
    colo_get_as(Some(&finance_token()), path_and_query)
}

/// GET from Colo's report with a bearer token, or none: (status code, body).
pub fn colo_get_as(token: Option<&str>, path_and_query: &str) -> (u16, String) {
    colo_request(token, path_and_query, None)
}

/// POST `body` of `content_type` to Colo's report with a bearer token: (status code, body).
pub fn colo_post_as(
    token: &str,
    path_and_query: &str,
    content_type: &str,
    body: &str,
) -> (u16, String) {
    colo_request(Some(token), path_and_query, Some((content_type, body)))
}

fn colo_request(
    token: Option<&str>,
    path_and_query: &str,
    post: Option<(&str, &str)>,
) -> (u16, String) {
    let mut curl = Command::new("curl");
    curl.args(["-sS", "--max-time", "30", "-w", "\n%{http_code}"]);
    if let Some(token) = token {
        curl.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    if let Some((content_type, body)) = post {
        curl.args(["-X", "POST", "-H", &format!("Content-Type: {content_type}")]);
        curl.args(["--data-binary", body]);
    }
    let out = curl
        .arg(format!("{COLO_HTTP}{path_and_query}"))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Colo's metrics as Prometheus scrapes them ("" when it does not answer).
pub fn colo_metrics() -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .arg(format!("{COLO_METRICS}/metrics"))
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// GET JSON from Colo's HTTP endpoint, which must answer 200.
pub fn colo_json(path_and_query: &str) -> serde_json::Value {
    let (code, body) = colo_get(path_and_query);
    assert_eq!(code, 200, "{path_and_query}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path_and_query}: {e}: {body}"))
}

/// Runs one of e2e/page's Chromium scripts with `env` (tokens) and `args`, saving its
/// screenshot (and PDF) as `target/e2e-artifacts/<screenshot>`; returns what it printed.
pub fn in_chromium(
    script: &str,
    env: &[(&str, String)],
    args: &[&str],
    screenshot: &str,
) -> serde_json::Value {
    let shot = repo().join("target/e2e-artifacts").join(screenshot);
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let out = Command::new("node")
        .envs(env.iter().map(|(k, v)| (k, v.as_str())))
        .arg(repo().join("e2e/page").join(script))
        .args(args)
        .arg(&shot)
        .output()
        .expect("node runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium ({script}): {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{script} printed no JSON: {e}"))
}
