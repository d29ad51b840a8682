//! Whether each member cluster answers. A watch cache cannot say: once synced, a dead
//! member's cache stays as it was. So each connected member gets a light heartbeat
//! (`GET /version` with a timeout, every quarter of `unreachable_after`), and a member that has
//! not answered for `unreachable_after` (or has never answered) is unreachable: its cached
//! nodes and pods are not used, and the SharedCluster controller is told at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How members are judged.
#[derive(Clone, Copy, Debug)]
pub struct Judging {
    /// How long one heartbeat may take.
    pub timeout: Duration,
    /// Without an answer for this long, a member is unreachable.
    pub unreachable_after: Duration,
}

/// What the heartbeats of one member have seen since it was connected.
#[derive(Clone, Debug, Default)]
struct Seen {
    /// The first heartbeat's time.
    started: Option<Instant>,
    last_ok: Option<Instant>,
    last_error: Option<String>,
    /// The verdict last told (true: reachable).
    told: Option<bool>,
    /// Set when the member answers again after being unreachable: its watches are rebuilt.
    returned: bool,
}

/// The verdict on a member, from what its heartbeats saw.
fn verdict(seen: &Seen, now: Instant, after: Duration) -> Result<(), String> {
    let Some(error) = &seen.last_error else {
        return Ok(());
    };
    match seen.last_ok {
        None => Err(format!("the API server does not answer ({error})")),
        Some(ok) if now.duration_since(ok) >= after => Err(format!(
            "the API server has not answered for {} s ({error})",
            after.as_secs()
        )),
        Some(_) => Ok(()),
    }
}

pub struct Reach {
    judging: Judging,
    seen: Arc<Mutex<HashMap<String, Seen>>>,
    /// Per member: the client version its heartbeat runs with, and the heartbeat task.
    beats: Mutex<HashMap<String, (String, tokio::task::JoinHandle<()>)>>,
    changed: mpsc::UnboundedSender<String>,
    changes: Mutex<Option<mpsc::UnboundedReceiver<String>>>,
}

impl Reach {
    pub fn new(judging: Judging) -> Self {
        let (changed, changes) = mpsc::unbounded_channel();
        Reach {
            judging,
            seen: Arc::default(),
            beats: Mutex::default(),
            changed,
            changes: Mutex::new(Some(changes)),
        }
    }

    /// Ok when the member answers; else why not, in a sentence.
    pub fn status(&self, cluster: &str) -> Result<(), String> {
        let seen = self.seen.lock().expect("reach lock");
        seen.get(cluster).map_or(Ok(()), |s| {
            verdict(s, Instant::now(), self.judging.unreachable_after)
        })
    }

    /// How long the member has been silent, when it is unreachable (since its last answer, or
    /// since its first heartbeat if it never answered).
    pub fn dark_for(&self, cluster: &str) -> Option<Duration> {
        let seen = self.seen.lock().expect("reach lock");
        let s = seen.get(cluster)?;
        let now = Instant::now();
        verdict(s, now, self.judging.unreachable_after).err()?;
        Some(now.duration_since(s.last_ok.or(s.started)?))
    }

    /// True once after the member answered again following an outage.
    pub fn take_returned(&self, cluster: &str) -> bool {
        let mut seen = self.seen.lock().expect("reach lock");
        seen.get_mut(cluster)
            .is_some_and(|s| std::mem::take(&mut s.returned))
    }

    /// Members whose verdict changed, for whoever asks first (the SharedCluster controller).
    pub fn changes(&self) -> Option<impl futures::Stream<Item = String> + Send + 'static> {
        let rx = self.changes.lock().expect("reach lock").take()?;
        Some(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|c| (c, rx))
        }))
    }

    /// Starts (or restarts, for a new client) the heartbeat of a member.
    pub fn watch(&self, cluster: &str, client: &Client, version: &str) {
        let mut beats = self.beats.lock().expect("reach lock");
        if beats.get(cluster).is_some_and(|(v, _)| v == version) {
            return;
        }
        let task = tokio::spawn(heartbeat(
            cluster.to_string(),
            client.clone(),
            self.judging,
            self.seen.clone(),
            self.changed.clone(),
        ));
        if let Some((_, old)) = beats.insert(cluster.to_string(), (version.to_string(), task)) {
            old.abort();
        }
    }

    /// Stops the heartbeat of a member no longer connected, and forgets what it saw.
    pub fn forget(&self, cluster: &str) {
        if let Some((_, task)) = self.beats.lock().expect("reach lock").remove(cluster) {
            task.abort();
        }
        self.seen.lock().expect("reach lock").remove(cluster);
    }
}

impl Drop for Reach {
    fn drop(&mut self) {
        for (_, (_, task)) in self.beats.lock().expect("reach lock").drain() {
            task.abort();
        }
    }
}

async fn heartbeat(
    cluster: String,
    client: Client,
    judging: Judging,
    seen: Arc<Mutex<HashMap<String, Seen>>>,
    changed: mpsc::UnboundedSender<String>,
) {
    let every = (judging.unreachable_after / 4).max(Duration::from_millis(200));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let answer = tokio::time::timeout(judging.timeout, client.apiserver_version()).await;
        let error = match answer {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(crate::k8s::plain::kube_error(&e)),
            Err(_) => Some(format!(
                "no answer within {} s",
                judging.timeout.as_secs_f64()
            )),
        };
        if record(
            &seen,
            &cluster,
            error,
            Instant::now(),
            judging.unreachable_after,
        ) {
            let _ = changed.send(cluster.clone());
        }
    }
}

/// Records one heartbeat; true when the verdict changed.
fn record(
    seen: &Mutex<HashMap<String, Seen>>,
    cluster: &str,
    error: Option<String>,
    now: Instant,
    after: Duration,
) -> bool {
    let mut seen = seen.lock().expect("reach lock");
    let s = seen.entry(cluster.to_string()).or_default();
    s.started.get_or_insert(now);
    match error {
        None => {
            s.last_ok = Some(now);
            s.last_error = None;
        }
        Some(e) => s.last_error = Some(e),
    }
    let reachable = verdict(s, now, after).is_ok();
    let before = s.told.replace(reachable);
    if before == Some(false) && reachable {
        s.returned = true;
    }
    match before {
        Some(b) => b != reachable,
        None => !reachable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AFTER: Duration = Duration::from_secs(20);

    #[test]
    fn a_member_that_never_answered_is_unreachable_at_once() {
        let seen = Mutex::default();
        let t0 = Instant::now();
        assert!(record(&seen, "north-1", Some("refused".into()), t0, AFTER));
        let s = seen.lock().unwrap()["north-1"].clone();
        assert_eq!(
            verdict(&s, t0, AFTER),
            Err("the API server does not answer (refused)".into())
        );
    }

    #[test]
    fn a_member_that_answered_stays_reachable_until_the_grace_then_returns() {
        let seen = Mutex::default();
        let t0 = Instant::now();
        assert!(!record(&seen, "north-1", None, t0, AFTER), "no news");
        let late = |s| t0 + Duration::from_secs(s);
        assert!(!record(
            &seen,
            "north-1",
            Some("timed out".into()),
            late(5),
            AFTER
        ));
        assert!(!record(
            &seen,
            "north-1",
            Some("timed out".into()),
            late(15),
            AFTER
        ));
        assert!(record(
            &seen,
            "north-1",
            Some("timed out".into()),
            late(20),
            AFTER
        ));
        let s = seen.lock().unwrap()["north-1"].clone();
        assert_eq!(
            verdict(&s, late(20), AFTER),
            Err("the API server has not answered for 20 s (timed out)".into())
        );
        assert!(!s.returned);
        assert!(record(&seen, "north-1", None, late(40), AFTER), "back");
        assert!(seen.lock().unwrap()["north-1"].returned);
    }
}
