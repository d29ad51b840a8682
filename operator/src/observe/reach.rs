//! Whether each member cluster answers. A watch cache cannot say: once synced, a dead
//! member's cache stays as it was. So each connected member gets a light heartbeat
//! (`GET /version` with a timeout, every quarter of `unreachable_after`), and a member that has
//! not answered for `unreachable_after` (or has never answered) is unreachable: its cached
//! nodes and pods are not used, and the SharedCluster controller is told at once.
//!
//! Hysteresis: an outage lasts from the last answer until the member has answered without a
//! miss for `settle`. While it settles it is reachable (its replicas count, Colo writes to it)
//! but takes no new placement; and if it goes dark again, the outage it is in is the same one,
//! so a flapping member's tenancies move once, when the first outage passes the grace.

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
    /// After an outage, a member takes new placements once it has answered for this long
    /// without a miss.
    pub settle: Duration,
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
    /// When the outage the member is in (or settling from) began: its last answer before it.
    outage_since: Option<Instant>,
    /// Since when it has answered without a miss, while it settles.
    answering_since: Option<Instant>,
}

/// The verdict on a member, from what its heartbeats saw.
fn verdict(seen: &Seen, now: Instant, after: Duration) -> Result<(), String> {
    let Some(error) = &seen.last_error else {
        return Ok(());
    };
    match seen.last_ok {
        None => Err(format!("the API server does not answer, last try: {error}")),
        Some(ok) if now.duration_since(ok) >= after => Err(format!(
            "the API server has not answered for {} s, last try: {error}",
            after.as_secs()
        )),
        Some(_) => Ok(()),
    }
}

fn placeable(s: &Seen, now: Instant, judging: &Judging) -> Result<(), String> {
    verdict(s, now, judging.unreachable_after)?;
    if s.outage_since.is_none() {
        return Ok(());
    }
    // No running count: the message stays the same while it settles, so statuses that quote
    // it are not rewritten every heartbeat.
    Err(format!(
        "answering again after an outage; it takes new placements once it has answered for {} s",
        judging.settle.as_secs()
    ))
}

fn dark_for(s: &Seen, now: Instant, judging: &Judging) -> Option<Duration> {
    verdict(s, now, judging.unreachable_after).err()?;
    Some(now.duration_since(s.outage_since.or(s.last_ok).or(s.started)?))
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

    /// Ok when new placements may go to the member: it answers and is not settling after an
    /// outage; else why not, in a sentence.
    pub fn placeable(&self, cluster: &str) -> Result<(), String> {
        let seen = self.seen.lock().expect("reach lock");
        seen.get(cluster)
            .map_or(Ok(()), |s| placeable(s, Instant::now(), &self.judging))
    }

    /// How long the member's outage has lasted, when it is unreachable now. A member that
    /// answered briefly and went dark again is still in the same outage.
    pub fn dark_for(&self, cluster: &str) -> Option<Duration> {
        let seen = self.seen.lock().expect("reach lock");
        dark_for(seen.get(cluster)?, Instant::now(), &self.judging)
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
            // What the API server said, or else the cause alone ("deadline has elapsed"): the
            // message already says it is the API server that does not answer.
            Ok(Err(e)) => Some(match e {
                kube::Error::Api(_) => crate::k8s::plain::kube_error(&e),
                _ => crate::k8s::plain::root_cause(&e),
            }),
            Err(_) => Some(format!(
                "no answer within {} s",
                judging.timeout.as_secs_f64()
            )),
        };
        if record(&seen, &cluster, error, Instant::now(), &judging) {
            let _ = changed.send(cluster.clone());
        }
    }
}

/// Records one heartbeat; true when the verdict changed (reachable, or placeable again).
fn record(
    seen: &Mutex<HashMap<String, Seen>>,
    cluster: &str,
    error: Option<String>,
    now: Instant,
    judging: &Judging,
) -> bool {
    let mut seen = seen.lock().expect("reach lock");
    let s = seen.entry(cluster.to_string()).or_default();
    s.started.get_or_insert(now);
    let answered = error.is_none();
    match error {
        None => {
            s.last_ok = Some(now);
            s.last_error = None;
        }
        Some(e) => s.last_error = Some(e),
    }
    let reachable = verdict(s, now, judging.unreachable_after).is_ok();
    let settled = settle(s, now, answered, reachable, judging.settle);
    let before = s.told.replace(reachable);
    if before == Some(false) && reachable {
        s.returned = true;
    }
    settled
        || match before {
            Some(b) => b != reachable,
            None => !reachable,
        }
}

/// Moves the outage along: begun when the member turns unreachable, settling while it answers
/// without a miss, over after `settle` of that. True when it is over now.
fn settle(s: &mut Seen, now: Instant, answered: bool, reachable: bool, settle: Duration) -> bool {
    if !reachable {
        s.outage_since
            .get_or_insert(s.last_ok.or(s.started).unwrap_or(now));
        s.answering_since = None;
        return false;
    }
    if s.outage_since.is_none() {
        return false;
    }
    if !answered {
        s.answering_since = None;
        return false;
    }
    let since = *s.answering_since.get_or_insert(now);
    if now.duration_since(since) < settle {
        return false;
    }
    s.outage_since = None;
    s.answering_since = None;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const AFTER: Duration = Duration::from_secs(20);
    const JUDGING: Judging = Judging {
        timeout: Duration::from_secs(10),
        unreachable_after: AFTER,
        settle: Duration::from_secs(60),
    };

    #[test]
    fn a_member_that_never_answered_is_unreachable_at_once() {
        let seen = Mutex::default();
        let t0 = Instant::now();
        assert!(record(
            &seen,
            "north-1",
            Some("refused".into()),
            t0,
            &JUDGING
        ));
        let s = seen.lock().unwrap()["north-1"].clone();
        assert_eq!(
            verdict(&s, t0, AFTER),
            Err("the API server does not answer, last try: refused".into())
        );
    }

    #[test]
    fn a_member_that_answered_stays_reachable_until_the_grace_then_returns() {
        let seen = Mutex::default();
        let t0 = Instant::now();
        assert!(!record(&seen, "north-1", None, t0, &JUDGING), "no news");
        let late = |s| t0 + Duration::from_secs(s);
        assert!(!record(
            &seen,
            "north-1",
            Some("timed out".into()),
            late(5),
            &JUDGING
        ));
        assert!(!record(
            &seen,
            "north-1",
            Some("timed out".into()),
            late(15),
            &JUDGING
        ));
        assert!(record(
            &seen,
            "north-1",
            Some("timed out".into()),
            late(20),
            &JUDGING
        ));
        let s = seen.lock().unwrap()["north-1"].clone();
        assert_eq!(
            verdict(&s, late(20), AFTER),
            Err("the API server has not answered for 20 s, last try: timed out".into())
        );
        assert!(!s.returned);
        assert!(record(&seen, "north-1", None, late(40), &JUDGING), "back");
        assert!(seen.lock().unwrap()["north-1"].returned);
    }

    #[test]
    fn a_flapping_member_is_one_outage_and_takes_placements_only_once_settled() {
        let seen = Mutex::default();
        let t0 = Instant::now();
        let at = |secs| t0 + Duration::from_secs(secs);
        let beat = |secs, ok: bool| {
            let error = (!ok).then(|| "timed out".to_string());
            record(&seen, "north-1", error, at(secs), &JUDGING)
        };
        let now = |secs| {
            let s = seen.lock().unwrap()["north-1"].clone();
            (
                placeable(&s, at(secs), &JUDGING),
                dark_for(&s, at(secs), &JUDGING),
            )
        };
        beat(0, true);
        beat(10, false);
        assert!(beat(20, false), "dark");
        assert_eq!(now(20).1, Some(Duration::from_secs(20)));
        assert!(beat(25, true), "answers again");
        let (placing, dark) = now(30);
        assert_eq!(dark, None);
        assert_eq!(
            placing,
            Err("answering again after an outage; it takes new placements once it has answered for 60 s".into())
        );
        // Dark again within the settling time: the same outage, counted from its start.
        assert!(!beat(35, false));
        assert!(beat(45, false));
        assert_eq!(
            now(45).1,
            Some(Duration::from_secs(45)),
            "since t0, not t25"
        );
        // Back, and this time it stays: placeable after 60 s without a miss (a miss that is
        // not yet an outage starts the count again).
        assert!(beat(50, true));
        assert!(!beat(55, false));
        assert!(
            now(56).0.is_err(),
            "a miss while settling does not settle it"
        );
        assert!(!beat(60, true));
        assert!(!beat(90, true));
        assert!(now(110).0.is_err());
        assert!(beat(120, true), "settled: the controller is told");
        assert_eq!(now(120), (Ok(()), None));
        // A later outage is a new one.
        beat(130, false);
        beat(140, false);
        assert_eq!(now(140).1, Some(Duration::from_secs(20)));
    }
}
