//! Two replicas, one leader, and faults made for real: the leader's connection to the hub is
//! cut (a TCP relay between it and the hub's API server stops relaying, so its requests hang,
//! as when its node's network goes) or its process is frozen (SIGSTOP, as in a long pause).
//! The leader must stop acting before its Lease can pass to the other replica; the other must
//! take over and act; a replica thawed after losing the Lease must write nothing and exit.
//!
//! Its own test binary: it stops the estate's operator and runs two replicas of its own.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use colo_e2e::*;

/// A TCP relay to the hub's API server that can be cut: once cut, nothing passes either way
/// on any connection, old or new, and nothing is closed (a blackhole, not a refusal).
struct Relay {
    port: u16,
    cut: Arc<AtomicBool>,
}

impl Relay {
    fn start() -> Relay {
        // The hub's serving certificate names 127.0.0.11; any port on it matches.
        let listener = TcpListener::bind("127.0.0.11:0").expect("relay listens");
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let cutting = cut.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect("127.0.0.11:6443") else {
                    continue;
                };
                pipe(&client, &server, cutting.clone());
                pipe(&server, &client, cutting.clone());
            }
        });
        Relay { port, cut }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }
}

/// Copies one direction of a connection until it closes, or forever holds it once cut.
fn pipe(from: &TcpStream, to: &TcpStream, cut: Arc<AtomicBool>) {
    let (mut from, mut to) = (from.try_clone().unwrap(), to.try_clone().unwrap());
    from.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        loop {
            if cut.load(Ordering::SeqCst) {
                std::thread::park_timeout(Duration::from_secs(3600));
                continue;
            }
            match from.read(&mut buf) {
                Ok(0) => return,
                Ok(n) if !cut.load(Ordering::SeqCst) => {
                    if to.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return,
            }
        }
    });
}

/// A replica of `colo operator` started by this test, killed however the test ends.
struct Replica {
    name: String,
    /// Its /metrics, /healthz and /readyz.
    probes: String,
    child: Child,
    log: PathBuf,
}

impl Replica {
    fn start(name: &str, port: u16, kubeconfig: &std::path::Path) -> Replica {
        let log = estate_dir().join(format!("logs/{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(colo_binary())
            .args(["operator", "--identity", name])
            .args(["--http-addr", &format!("127.0.0.1:{port}")])
            .args(["--metrics-addr", &format!("127.0.0.1:{}", port + 1)])
            .args(["--accounting-interval-seconds", "5"])
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("colo operator starts (e2e/build-colo.sh builds it)");
        Replica {
            name: name.into(),
            probes: format!("http://127.0.0.1:{}", port + 1),
            child,
            log,
        }
    }

    /// True when it leads and acts (its /readyz says so).
    fn leads(&self) -> bool {
        let out = Command::new("curl")
            .args([
                "-fsS",
                "--max-time",
                "1",
                &format!("{}/readyz", self.probes),
            ])
            .output()
            .unwrap();
        out.status.success()
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status();
        assert!(ok.is_ok_and(|s| s.success()), "kill -{name} {}", self.name);
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.signal_quietly();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Replica {
    fn signal_quietly(&self) -> std::io::Result<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-CONT", &pid])
            .stderr(Stdio::null())
            .status()
    }
}

/// Puts the estate's own operator back however the test ends.
struct EstateOperatorStopped;

impl EstateOperatorStopped {
    fn stop() -> Self {
        operator("stop");
        EstateOperatorStopped
    }
}

impl Drop for EstateOperatorStopped {
    fn drop(&mut self) {
        operator("start");
    }
}

/// The operator's kubeconfig (the chart's ServiceAccount, written by e2e/operator.sh).
fn operator_kubeconfig() -> PathBuf {
    estate_dir().join("operator.kubeconfig")
}

/// The operator's kubeconfig, with the hub's server behind the relay.
fn relayed_kubeconfig(relay: &Relay) -> PathBuf {
    let hub = std::fs::read_to_string(operator_kubeconfig()).unwrap();
    let relayed = hub.replace(
        "https://127.0.0.11:6443",
        &format!("https://127.0.0.11:{}", relay.port),
    );
    assert_ne!(
        hub, relayed,
        "the hub kubeconfig names https://127.0.0.11:6443"
    );
    let path = estate_dir().join("hub/kubeconfig-relayed");
    std::fs::write(&path, relayed).unwrap();
    path
}

fn tenancy(ns: &str, agency: &str, name: &str) -> String {
    Tenancy::new(ns, name, agency)
        .workload(Workload::new("api", 1, "100m", "64Mi"))
        .yaml()
}

/// Waits for the first of: `a` stops leading (exits or says not ready) and `b` leads; returns
/// when each happened, polled every 100 ms.
fn handover(a: &mut Replica, b: &Replica, within: Duration) -> (Duration, Duration) {
    let start = Instant::now();
    let (mut a_stopped, mut b_leads) = (None, None);
    while a_stopped.is_none() || b_leads.is_none() {
        assert!(
            start.elapsed() < within,
            "no handover within {within:?}: a stopped {a_stopped:?}, b leads {b_leads:?}"
        );
        if a_stopped.is_none() && (a.exited().is_some() || !a.leads()) {
            a_stopped = Some(start.elapsed());
        }
        if b_leads.is_none() && b.leads() {
            b_leads = Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (a_stopped.unwrap(), b_leads.unwrap())
}

#[test]
fn a_cut_off_or_frozen_leader_stops_before_another_takes_over() {
    colo_is_running();
    let (agency, ns) = new_agency("fence", "OFFICIAL");
    let estate_operator = EstateOperatorStopped::stop();
    let relay = Relay::start();
    let hub = operator_kubeconfig();
    let mut a = Replica::start("replica-a", 8091, &relayed_kubeconfig(&relay));
    wait_until("replica-a leads", Duration::from_secs(60), || {
        if a.leads() { Ok(()) } else { Err(a.log()) }
    });
    let b = Replica::start("replica-b", 8093, &hub);
    apply_yaml(HUB, &tenancy(&ns, &agency, "before"));
    wait_phase(&ns, "before", "Running", Duration::from_secs(90));
    assert!(!b.leads(), "one leader at a time");

    // Cut: replica-a's requests to the hub hang from now on.
    relay.cut();
    let (a_stopped, b_leads) = handover(&mut a, &b, Duration::from_secs(60));
    eprintln!(
        "fencing: cut-off leader stopped after {a_stopped:.1?}; the other leads after {b_leads:.1?}"
    );
    assert!(
        a_stopped < b_leads,
        "replica-a still acted when replica-b took over"
    );
    assert!(
        a_stopped <= Duration::from_secs(15),
        "the Lease lasts 15 s: stopped after {a_stopped:?}"
    );
    let exited = wait_until("replica-a exits", Duration::from_secs(20), || {
        a.exited().ok_or("running".to_string())
    });
    assert!(
        !exited.success(),
        "a replica that lost the Lease exits with an error"
    );
    assert!(
        a.log()
            .contains("could not renew the leader Lease before its deadline"),
        "{}",
        a.log()
    );
    apply_yaml(HUB, &tenancy(&ns, &agency, "after-cut"));
    wait_phase(&ns, "after-cut", "Running", Duration::from_secs(90));

    // Freeze the new leader past its Lease; a third replica takes over; the frozen one, thawed,
    // finds its deadline passed: it writes nothing and exits.
    let mut b = b;
    let c = Replica::start("replica-c", 8095, &hub);
    b.signal("STOP");
    let frozen = Instant::now();
    wait_until("replica-c leads", Duration::from_secs(60), || {
        if c.leads() {
            Ok(())
        } else {
            Err(String::new())
        }
    });
    eprintln!(
        "fencing: a frozen leader's Lease passed to another after {:.1?}",
        frozen.elapsed()
    );
    b.signal("CONT");
    let exited = wait_until("the thawed replica exits", Duration::from_secs(20), || {
        b.exited().ok_or("running".to_string())
    });
    assert!(!exited.success());
    // Whichever it noticed first: its deadline passed, or the Lease is another's.
    let log = b.log();
    assert!(log.contains(", so stopped acting"), "{log}");
    apply_yaml(HUB, &tenancy(&ns, &agency, "after-freeze"));
    wait_phase(&ns, "after-freeze", "Running", Duration::from_secs(90));
    assert!(c.leads());
    drop((a, b, c));
    drop(estate_operator);
    kubectl_ok(
        HUB,
        &["-n", &ns, "delete", "tenancy", "--all", "--timeout=60s"],
    );
}
