//! Per-object back-off of failed reconciles: 0.5 s doubling to 5 min, reset by a success.
//! Each controller has its own, keyed by its own object references.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

pub struct Backoff<K> {
    failures: Mutex<HashMap<K, u32>>,
}

impl<K: Hash + Eq> Default for Backoff<K> {
    fn default() -> Self {
        Backoff {
            failures: Mutex::default(),
        }
    }
}

const FIRST: Duration = Duration::from_millis(500);
const LONGEST: Duration = Duration::from_secs(300);

impl<K: Hash + Eq> Backoff<K> {
    /// One more failure of `key`: how long to wait before trying again.
    pub fn failed(&self, key: K) -> Duration {
        let mut failures = self.failures.lock().expect("backoff lock");
        let n = failures.entry(key).or_default();
        *n = (*n + 1).min(11);
        (FIRST * (1 << (*n - 1))).min(LONGEST)
    }

    pub fn succeeded(&self, key: &K) {
        self.failures.lock().expect("backoff lock").remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_five_minutes_and_resets_on_success() {
        let b = Backoff::default();
        let waits: Vec<Duration> = (0..12).map(|_| b.failed("a")).collect();
        assert_eq!(waits[0], Duration::from_millis(500));
        assert_eq!(waits[1], Duration::from_secs(1));
        assert_eq!(waits[8], Duration::from_secs(128));
        assert_eq!(waits[10], LONGEST);
        assert_eq!(waits[11], LONGEST);
        assert_eq!(b.failed("b"), FIRST, "objects back off on their own");
        b.succeeded(&"a");
        assert_eq!(b.failed("a"), FIRST);
    }
}
