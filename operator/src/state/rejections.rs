//! Which tenancies validation rejects now, and what a revocation removed: a rejection is
//! remembered here (not read from the last written phase) so that a tenancy accepted again
//! is planned at once, and a revocation undone is recovered (docs/operator.md "Slips").

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Utc};

use super::{State, lock};
use crate::k8s::keys::TenancyKey;

impl State {
    /// When a tenancy with copies was first rejected (noted now if it was not).
    pub fn rejected_since(&self, key: &TenancyKey, now: DateTime<Utc>) -> DateTime<Utc> {
        let mut tenancies = lock(&self.tenancies);
        let record = tenancies.entry(key.clone()).or_default();
        *record.rejected_since.get_or_insert(now)
    }

    /// Validation rejected the tenancy: it is not planned until it is accepted again.
    pub fn reject(&self, key: &TenancyKey) {
        lock(&self.tenancies)
            .entry(key.clone())
            .or_default()
            .rejected = true;
    }

    /// The tenancy is accepted again: no rejection runs, no revocation is remembered, and
    /// the planner sees it.
    pub fn not_rejected(&self, key: &TenancyKey) {
        if let Some(record) = lock(&self.tenancies).get_mut(key) {
            record.rejected = false;
            record.rejected_since = None;
            record.revoked = None;
        }
    }

    /// Its copies were removed from `clusters` because it was rejected.
    pub fn revoked(&self, key: &TenancyKey, clusters: BTreeSet<String>) {
        lock(&self.tenancies)
            .entry(key.clone())
            .or_default()
            .revoked = Some(clusters);
    }

    /// Where its copies were removed from when it was rejected, if they were.
    pub fn was_revoked(&self, key: &TenancyKey) -> Option<BTreeSet<String>> {
        lock(&self.tenancies).get(key)?.revoked.clone()
    }

    /// The tenancies validation rejects now (not their last written phase: a tenancy
    /// accepted again is planned at once, before its status says so).
    pub fn rejected(&self) -> HashSet<TenancyKey> {
        lock(&self.tenancies)
            .iter()
            .filter(|(_, r)| r.rejected)
            .map(|(k, _)| k.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::for_tests;

    #[test]
    fn an_acceptance_forgets_the_rejection_and_the_revocation() {
        let s = for_tests();
        let a = TenancyKey::new("ns", "a");
        let t0 = Utc::now();
        s.reject(&a);
        assert_eq!(s.rejected_since(&a, t0), t0);
        let later = t0 + chrono::Duration::seconds(5);
        assert_eq!(
            s.rejected_since(&a, later),
            t0,
            "the first rejection counts"
        );
        s.revoked(&a, BTreeSet::from(["north".to_string()]));
        assert!(s.rejected().contains(&a));
        s.not_rejected(&a);
        assert!(s.rejected().is_empty() && s.was_revoked(&a).is_none());
        assert_eq!(
            s.rejected_since(&a, later),
            later,
            "a new rejection starts afresh"
        );
    }
}
