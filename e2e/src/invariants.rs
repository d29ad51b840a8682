//! An invariant checker over every member cluster, running beside a test: it samples, about
//! once a second, the available replicas of Colo's Deployments of one hub namespace in each
//! member (a member that does not answer within 3 s is recorded as unknown), and afterwards
//! answers what a user relies on: did a workload ever have no available replica, did a
//! tenancy run in two clusters for longer than a migration takes, how often did it move.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Per member: None when it did not answer; else per (tenancy, workload), available replicas.
pub type Seen = BTreeMap<String, Option<BTreeMap<(String, String), i64>>>;

pub struct Sample {
    pub at: Instant,
    pub seen: Seen,
}

/// The checker while it runs.
pub struct Checker {
    stop: Arc<AtomicBool>,
    samples: JoinHandle<Vec<Sample>>,
}

/// Starts sampling the tenancies of hub namespace `namespace` in `members`, all asked at once
/// (a dark member's timeout is not added to the others').
pub fn start(namespace: &str, members: &[&str]) -> Checker {
    run(namespace, members, Asking::AtOnce)
}

/// Starts sampling `members` one after another, in the order given: for a move between
/// clusters, the one the work leaves first. Members asked at once answer from moments apart,
/// and a copy seen not yet available in one and the old copy seen already gone in the other
/// would add up to no replica although make-before-break kept one throughout; asked source
/// first, a zero is real. A sample in which a member does not answer knows nothing.
pub fn start_in_order(namespace: &str, members: &[&str]) -> Checker {
    run(namespace, members, Asking::InOrder)
}

#[derive(Clone, Copy)]
enum Asking {
    AtOnce,
    InOrder,
}

fn run(namespace: &str, members: &[&str], asking: Asking) -> Checker {
    let stop = Arc::new(AtomicBool::new(false));
    let (ns, members) = (
        namespace.to_string(),
        members.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
    );
    let stopping = stop.clone();
    let samples = std::thread::spawn(move || {
        let mut samples = Vec::new();
        while !stopping.load(Ordering::Relaxed) {
            let at = Instant::now();
            let seen = match asking {
                Asking::AtOnce => at_once(&members, &ns),
                Asking::InOrder => in_order(&members, &ns),
            };
            samples.push(Sample { at, seen });
            // About once a second; a slow sample (a dark member's timeout) is not made slower.
            std::thread::sleep(Duration::from_secs(1).saturating_sub(at.elapsed()));
        }
        samples
    });
    Checker { stop, samples }
}

fn at_once(members: &[String], ns: &str) -> Seen {
    std::thread::scope(|scope| {
        let asked: Vec<_> = members
            .iter()
            .map(|m| (m.clone(), scope.spawn(|| sample(m, ns))))
            .collect();
        asked
            .into_iter()
            .map(|(m, answer)| (m, answer.join().expect("a sample")))
            .collect()
    })
}

fn in_order(members: &[String], ns: &str) -> Seen {
    let mut seen = Seen::new();
    for m in members {
        let answer = sample(m, ns);
        if answer.is_none() {
            return members.iter().map(|m| (m.clone(), None)).collect();
        }
        seen.insert(m.clone(), answer);
    }
    seen
}

impl Checker {
    pub fn finish(self) -> Samples {
        self.stop.store(true, Ordering::Relaxed);
        Samples(self.samples.join().expect("the checker thread"))
    }
}

fn sample(member: &str, namespace: &str) -> Option<BTreeMap<(String, String), i64>> {
    let selector = format!("colo.dev/tenancy-namespace={namespace}");
    let run = crate::member_deployments(member, &selector, "json", "3s");
    if !run.ok {
        return None;
    }
    let list: serde_json::Value = serde_json::from_str(&run.stdout).ok()?;
    let items = list["items"].as_array()?;
    Some(
        items
            .iter()
            .map(|d| {
                let labels = &d["metadata"]["labels"];
                let key = (
                    labels["colo.dev/tenancy"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                    labels["colo.dev/workload"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                );
                (key, d["status"]["availableReplicas"].as_i64().unwrap_or(0))
            })
            .collect(),
    )
}

pub struct Samples(pub Vec<Sample>);

impl Samples {
    /// How many samples were taken, and over how long.
    pub fn span(&self) -> (usize, Duration) {
        let first = self.0.first().map(|s| s.at);
        let last = self.0.last().map(|s| s.at);
        let span = match (first, last) {
            (Some(a), Some(b)) => b - a,
            _ => Duration::ZERO,
        };
        (self.0.len(), span)
    }

    /// The longest time between two samples (how much the checker could have missed).
    pub fn longest_gap(&self) -> Duration {
        let gaps = self.0.windows(2).map(|w| w[1].at - w[0].at);
        gaps.max().unwrap_or_default()
    }

    /// The fewest available replicas of a workload in the members that answered, over the
    /// samples taken in `[from, to]` (a sample no member answered knows nothing: skipped).
    pub fn fewest_available(
        &self,
        tenancy: &str,
        workload: &str,
        from: Instant,
        to: Instant,
    ) -> i64 {
        let key = (tenancy.to_string(), workload.to_string());
        self.0
            .iter()
            .filter(|s| s.at >= from && s.at <= to)
            .filter(|s| s.seen.values().any(Option::is_some))
            .map(|s| {
                s.seen
                    .values()
                    .flatten()
                    .filter_map(|d| d.get(&key))
                    .sum::<i64>()
            })
            .min()
            .unwrap_or(0)
    }

    /// The members a tenancy had available replicas in, per sample; with `carry`, a member
    /// that did not answer keeps what it last showed, else it counts as not running it.
    fn homes(&self, tenancy: &str, carry: bool) -> Vec<(Instant, BTreeSet<String>)> {
        let mut last: BTreeMap<String, bool> = BTreeMap::new();
        self.0
            .iter()
            .map(|s| {
                for (member, seen) in &s.seen {
                    let here = seen.as_ref().map(|deployments| {
                        deployments
                            .iter()
                            .any(|((t, _), available)| t == tenancy && *available > 0)
                    });
                    match (here, carry) {
                        (Some(here), _) => last.insert(member.clone(), here),
                        (None, false) => last.insert(member.clone(), false),
                        (None, true) => None,
                    };
                }
                let homes = last.iter().filter(|(_, h)| **h).map(|(m, _)| m.clone());
                (s.at, homes.collect())
            })
            .collect()
    }

    /// How many times a tenancy started running in a member it was not running in before
    /// (its first placement not counted).
    pub fn moves(&self, tenancy: &str) -> usize {
        let homes = self.homes(tenancy, true);
        let mut seen_running = false;
        let mut moves = 0;
        for pair in homes.windows(2) {
            let (before, after) = (&pair[0].1, &pair[1].1);
            seen_running |= !before.is_empty();
            if seen_running && after.difference(before).next().is_some() {
                moves += 1;
            }
        }
        moves
    }

    /// The longest stretch in which a tenancy had available replicas in two members or more
    /// (among those that answered: a dark site's copies do not serve).
    pub fn longest_twice(&self, tenancy: &str) -> Duration {
        let (mut longest, mut since) = (Duration::ZERO, None);
        for (at, homes) in self.homes(tenancy, false) {
            match (homes.len() > 1, since) {
                (true, None) => since = Some(at),
                (true, Some(s)) => longest = longest.max(at - s),
                (false, _) => since = None,
            }
        }
        longest
    }
}
