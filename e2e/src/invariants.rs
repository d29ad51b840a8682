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

/// Starts sampling the tenancies of hub namespace `namespace` in `members`.
pub fn start(namespace: &str, members: &[&str]) -> Checker {
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
            // Each member asked at once: a dark member's timeout is not added to the others'.
            let seen = std::thread::scope(|scope| {
                let asked: Vec<_> = members
                    .iter()
                    .map(|m| (m.clone(), scope.spawn(|| sample(m, &ns))))
                    .collect();
                asked
                    .into_iter()
                    .map(|(m, answer)| (m, answer.join().expect("a sample")))
                    .collect()
            });
            samples.push(Sample { at, seen });
            // About once a second; a slow sample (a dark member's timeout) is not made slower.
            std::thread::sleep(Duration::from_secs(1).saturating_sub(at.elapsed()));
        }
        samples
    });
    Checker { stop, samples }
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
    /// samples taken in `[from, to]`.
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
