//! Phases and news: the phase last written for each tenancy (and `colo_tenancies{phase}`),
//! and whether a phase, explanation or other note is news, so each change is announced by
//! one Event however often a step is repeated.

use std::collections::BTreeMap;

use colo_api::Phase;

use super::{State, lock};
use crate::k8s::keys::TenancyKey;

impl State {
    /// True once per change of a tenancy's phase or explanation: whether that change is news
    /// (decided here, not on the cached object, which may not show the last write yet).
    pub fn news(&self, key: &TenancyKey, phase: Option<Phase>, explanation: Option<&str>) -> bool {
        let now = (phase, explanation.map(str::to_string));
        let mut tenancies = lock(&self.tenancies);
        let record = tenancies.entry(key.clone()).or_default();
        if record.announced.as_ref() == Some(&now) {
            return false;
        }
        record.announced = Some(now);
        true
    }

    /// True when `message` differs from the last one told for `reason` about this tenancy, so
    /// that a step repeated (a retried write, a re-seen decision) is announced once.
    pub fn news_of(&self, key: &TenancyKey, reason: &'static str, message: &str) -> bool {
        let mut tenancies = lock(&self.tenancies);
        let told = &mut tenancies.entry(key.clone()).or_default().told;
        if told.get(reason).map(String::as_str) == Some(message) {
            return false;
        }
        told.insert(reason, message.to_string());
        true
    }

    /// Records a tenancy's phase and refreshes `colo_tenancies{phase}`.
    pub fn set_phase(&self, key: &TenancyKey, phase: Phase) {
        let changed = lock(&self.tenancies)
            .get_mut(key)
            .map(|r| r.phase.replace(phase) != Some(phase))
            .unwrap_or(false);
        if changed {
            self.publish_phases();
        }
    }

    /// The phase last written for a tenancy.
    pub fn phase(&self, key: &TenancyKey) -> Option<Phase> {
        lock(&self.tenancies).get(key).and_then(|r| r.phase)
    }

    /// How many of an agency's tenancies are accepted (reconciled and not Rejected).
    pub fn accepted_of(&self, agency: &str) -> usize {
        lock(&self.tenancies)
            .values()
            .filter(|r| r.agency == agency)
            .filter(|r| r.phase.is_some_and(|p| p != Phase::Rejected))
            .count()
    }

    pub(super) fn publish_phases(&self) {
        let mut counts: BTreeMap<&'static str, i64> =
            ["Pending", "Placed", "Running", "Degraded", "Rejected"]
                .into_iter()
                .map(|p| (p, 0))
                .collect();
        for phase in lock(&self.tenancies).values().filter_map(|r| r.phase) {
            *counts.entry(phase_name(phase)).or_default() += 1;
        }
        self.metrics.set_tenancy_phases(&counts);
    }
}

pub fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Pending => "Pending",
        Phase::Placed => "Placed",
        Phase::Running => "Running",
        Phase::Degraded => "Degraded",
        Phase::Rejected => "Rejected",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::for_tests;

    #[test]
    fn phases_are_counted_for_the_metric() {
        let s = for_tests();
        let a = TenancyKey::new("ns", "a");
        s.track(&a, "ag");
        s.set_phase(&a, Phase::Running);
        let text = s.metrics.text();
        assert!(
            text.contains("colo_tenancies{phase=\"Running\"} 1"),
            "{text}"
        );
        s.untrack(&a);
        assert!(
            s.metrics
                .text()
                .contains("colo_tenancies{phase=\"Running\"} 0")
        );
    }

    #[test]
    fn a_change_is_news_once() {
        let s = for_tests();
        let a = TenancyKey::new("ns", "a");
        assert!(s.news(&a, Some(Phase::Pending), Some("no room")));
        assert!(!s.news(&a, Some(Phase::Pending), Some("no room")));
        assert!(s.news(&a, Some(Phase::Pending), Some("no room in north")));
        assert!(s.news_of(&a, "Resized", "to 100m"));
        assert!(!s.news_of(&a, "Resized", "to 100m"));
        assert!(s.news_of(&a, "Placed", "to 100m"), "each reason apart");
    }
}
