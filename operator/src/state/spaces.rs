//! What was last applied of each agency's member space (namespace, quota, roles, network
//! policy) in each cluster, by its fingerprint: applied again only when it changed or the
//! drift-repair window has passed.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{State, lock};

/// An agency's member space in one cluster: (cluster, agency).
pub(super) type SpaceKey = (String, String);

/// What was last applied of a member space (its fingerprint), and when.
pub(super) type Applied = (u64, DateTime<Utc>);

impl State {
    /// True when the agency's member space in `cluster` was applied as `fingerprint` less
    /// than `within` ago (so it need not be applied again yet).
    pub fn space_is_current(
        &self,
        cluster: &str,
        agency: &str,
        fingerprint: u64,
        now: DateTime<Utc>,
        within: Duration,
    ) -> bool {
        lock(&self.spaces)
            .get(&(cluster.to_string(), agency.to_string()))
            .is_some_and(|(f, at)| {
                *f == fingerprint
                    && now.signed_duration_since(*at).to_std().unwrap_or_default() < within
            })
    }

    pub fn space_applied(&self, cluster: &str, agency: &str, fingerprint: u64, now: DateTime<Utc>) {
        lock(&self.spaces).insert(
            (cluster.to_string(), agency.to_string()),
            (fingerprint, now),
        );
    }

    /// The agency's member space in `cluster` must be applied again next time.
    pub fn space_unknown(&self, cluster: &str, agency: &str) {
        lock(&self.spaces).remove(&(cluster.to_string(), agency.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use crate::state::for_tests;
    use chrono::Utc;
    use std::time::Duration;

    #[test]
    fn a_space_is_current_only_as_applied_and_within_the_window() {
        let s = for_tests();
        let now = Utc::now();
        let minute = Duration::from_secs(60);
        s.space_applied("north", "ag", 7, now);
        assert!(s.space_is_current("north", "ag", 7, now, minute));
        assert!(!s.space_is_current("north", "ag", 8, now, minute));
        let later = now + chrono::Duration::minutes(2);
        assert!(!s.space_is_current("north", "ag", 7, later, minute));
        s.space_unknown("north", "ag");
        assert!(!s.space_is_current("north", "ag", 7, now, minute));
    }
}
