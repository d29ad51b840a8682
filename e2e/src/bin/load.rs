//! Load benchmark of the operator (not a timed test): 1,000 Tenancies from 20 agencies applied
//! at once; time until all are Placed and all Running, apply→Placed p50 and p99, and the
//! operator's peak RSS and CPU. Figures go to docs/benchmarks.md.
//!
//!   COLO_NODES=16 e2e/estate.sh up && e2e/operator.sh start
//!   cargo run --release -p colo-e2e --bin load [-- TENANCIES AGENCIES]
//!
//! "Applied" is when kubectl reports the object created (the API server accepted it); "Placed"
//! is when a watch on the hub first shows the tenancy Placed or Running.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use colo_e2e::*;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let tenancies = args.first().copied().unwrap_or(1000);
    let agencies = args.get(1).copied().unwrap_or(20);
    colo_is_running();
    let dir = estate_dir();
    let pid: u32 = std::fs::read_to_string(dir.join("pids/colo-operator.pid"))
        .expect("operator pid")
        .trim()
        .parse()
        .unwrap();
    let run = unique_name("load");

    let mut setup = String::new();
    for a in 0..agencies {
        let name = format!("{run}-a{a:02}");
        let agency = Agency::new(&name, &[&name]).groups(&[]);
        setup += &format!("---\n{}", agency.with_namespaces_yaml());
    }
    apply_yaml(HUB, &setup);
    let mut manifests = String::new();
    for t in 0..tenancies {
        let agency = format!("{run}-a{:02}", t % agencies);
        let (resilience, replicas) = if t % 5 == 0 {
            (Resilience::DualSite, 2)
        } else {
            (Resilience::SingleSite, 1)
        };
        let app = Workload::new("app", replicas, "50m", "64Mi")
            .pod_annotation("kwok.x-k8s.io/usage-cpu", "10m");
        let tenancy = Tenancy::new(&agency, &format!("t{t:04}"), &agency)
            .resilience(resilience)
            .workload(app);
        manifests += &format!("---\n{}", tenancy.yaml());
    }

    // Watch the hub: first time each tenancy is seen Placed (or Running), and Running.
    let seen: Arc<Mutex<HashMap<String, Seen>>> = Arc::default();
    // A watch the API server ends (or kubectl drops) is started again: it lists first, so a
    // phase reached meanwhile is seen at the restart (late, never missed).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (seen, stop, prefix, dir) = (seen.clone(), stop.clone(), run.clone(), dir.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                watch_once(&dir, &prefix, &seen, &stop);
            }
        })
    };
    let cpu_before = cpu_seconds(pid);
    let start = Instant::now();
    let mut apply = Command::new(dir.join("bin/kubectl"))
        .args([
            "--kubeconfig",
            dir.join("hub/kubeconfig").to_str().unwrap(),
            "apply",
            "-f",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("kubectl apply");
    let mut stdin = apply.stdin.take().unwrap();
    std::thread::spawn(move || stdin.write_all(manifests.as_bytes()).unwrap());
    let mut accepted: HashMap<String, Instant> = HashMap::new();
    for line in BufReader::new(apply.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        // "tenancy.colo.dev/t0001 created": namespaces follow the agency of t % agencies.
        if let Some(name) = line
            .strip_prefix("tenancy.colo.dev/")
            .and_then(|l| l.split_whitespace().next())
        {
            let t: usize = name[1..].parse().unwrap();
            accepted.insert(format!("{run}-a{:02}/{name}", t % agencies), Instant::now());
        }
    }
    assert!(apply.wait().unwrap().success());
    let applied = start.elapsed();
    println!(
        "applied {} tenancies in {:.1} s",
        accepted.len(),
        applied.as_secs_f64()
    );

    let deadline = Instant::now() + Duration::from_secs(900);
    let (mut all_placed, mut all_running) = (None, None);
    while all_running.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let seen = seen.lock().unwrap();
        let placed = seen.values().filter(|e| e.0.is_some()).count();
        let running = seen.values().filter(|e| e.1.is_some()).count();
        if placed >= tenancies && all_placed.is_none() {
            all_placed = Some(start.elapsed());
        }
        if running >= tenancies {
            all_running = Some(start.elapsed());
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = Command::new("pkill")
        .args(["-f", "get tenancies -A -w"])
        .status();
    let _ = watcher.join();
    let seen = seen.lock().unwrap();
    let mut latencies: Vec<f64> = accepted
        .iter()
        .filter_map(|(k, t0)| {
            seen.get(k)
                .and_then(|e| e.0)
                .map(|t1| t1.saturating_duration_since(*t0).as_secs_f64())
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let cpu = cpu_seconds(pid) - cpu_before;
    let wall = start.elapsed().as_secs_f64();
    println!("tenancies: {tenancies} from {agencies} agencies");
    println!(
        "all Placed after: {:.1} s",
        all_placed.map_or(f64::NAN, |d| d.as_secs_f64())
    );
    println!(
        "all Running after: {:.1} s",
        all_running.map_or(f64::NAN, |d| d.as_secs_f64())
    );
    println!(
        "apply→Placed: p50 {:.2} s, p99 {:.2} s, max {:.2} s ({} measured)",
        pct(0.5),
        pct(0.99),
        pct(1.0),
        latencies.len()
    );
    println!(
        "operator: peak RSS {} MiB, CPU {:.1} s over {:.1} s ({:.0}% of one core)",
        peak_rss_mib(pid),
        cpu,
        wall,
        100.0 * cpu / wall
    );
}

/// When a tenancy was first seen Placed (or Running), and first seen Running.
type Seen = (Option<Instant>, Option<Instant>);

/// One `kubectl get -w` of the hub's tenancies, until it ends or `stop` is set.
fn watch_once(
    dir: &std::path::Path,
    prefix: &str,
    seen: &Mutex<HashMap<String, Seen>>,
    stop: &std::sync::atomic::AtomicBool,
) {
    let mut watch = Command::new(dir.join("bin/kubectl"))
        .args([
            "--kubeconfig",
            dir.join("hub/kubeconfig").to_str().unwrap(),
            "get",
            "tenancies",
            "-A",
            "-w",
            "--no-headers",
        ])
        .args([
            "-o",
            "custom-columns=NS:.metadata.namespace,NAME:.metadata.name,PHASE:.status.phase",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("kubectl watch");
    let stdout = watch.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 3 || !f[0].starts_with(prefix) {
            continue;
        }
        let now = Instant::now();
        let mut seen = seen.lock().unwrap();
        let e = seen.entry(format!("{}/{}", f[0], f[1])).or_default();
        if matches!(f[2], "Placed" | "Running") && e.0.is_none() {
            e.0 = Some(now);
        }
        if f[2] == "Running" && e.1.is_none() {
            e.1 = Some(now);
        }
    }
    let _ = watch.wait();
    if !stop.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!("load: the watch of the hub ended; watching again");
    }
}

fn proc_status(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn peak_rss_mib(pid: u32) -> u64 {
    proc_status(pid, "VmHWM:") / 1024
}

/// User + system CPU seconds of a process (clock ticks are 100 per second on Linux).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
