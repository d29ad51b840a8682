//! Make-before-break between the consolidation and the Tenancy controller: the protocol of a
//! *move* (docs/glossary.md). The consolidation step (`consolidation/step.rs`) alone begins,
//! targets and ends moves; the Tenancy controller (`tenancy/apply.rs`) alone asks whether a
//! move makes its apply due, and confirms. In order:
//!
//! 1. [`Moves::begin`]: from now the agency's quota has room for one surge replica of each
//!    workload (`quotas`), and every look of the Tenancy controller applies the tenancy's
//!    member objects ([`Moves::apply_due`]), so that room reaches the member before any pod
//!    is rolled;
//! 2. [`Moves::target`]: the placement with the new replica counts is assumed; the Tenancy
//!    controller applies it and keeps the old replicas until the new are available (the
//!    previous placement, `placements`);
//! 3. [`Moves::applied_since_begun`]: the member objects were applied since the move began:
//!    the consolidation may roll the pods off the nodes being freed;
//! 4. [`Moves::end`] (done, rolled back or skipped): the next apply is still due, once, so
//!    the quota loses its surge room; the confirm of that apply closes the move.
//!
//! [`Moves::end_all_but`] ends the moves no open plan holds (a plan deleted, or finished in
//! another replica's time): a tenancy is moved only while an open plan says so.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::placements::Decided;
use super::{State, lock};
use crate::k8s::keys::TenancyKey;

/// Where a move of a tenancy stands.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Mark {
    /// Begun at this time and not ended.
    Open(DateTime<Utc>),
    /// Ended; the apply that takes the surge room away is not yet confirmed.
    Ended,
}

/// The move protocol on a [`State`] (`state.moves()`).
pub struct Moves<'a>(&'a State);

impl State {
    pub fn moves(&self) -> Moves<'_> {
        Moves(self)
    }
}

impl Moves<'_> {
    /// A consolidation begins moving `key` (again after a restart: `since` is the step's
    /// start, so the first begin counts).
    pub fn begin(&self, key: &TenancyKey, since: DateTime<Utc>) {
        let mut tenancies = lock(&self.0.tenancies);
        let record = tenancies.entry(key.clone()).or_default();
        if !record.move_open() {
            record.moving = Some(Mark::Open(since));
        }
    }

    /// Hands the move's target (or, rolled back, its old placement) to the Tenancy
    /// controller: assumed, with what it replaces held as the previous placement.
    pub fn target(&self, key: &TenancyKey, decided: Decided) {
        self.0.assume(key, decided);
    }

    /// True once `key`'s member objects (and its quota's surge room) were applied since the
    /// move began.
    pub fn applied_since_begun(&self, key: &TenancyKey) -> bool {
        lock(&self.0.tenancies).get(key).is_some_and(|r| {
            let applied = r.confirmed.as_ref().map(|c| c.at);
            matches!(r.moving, Some(Mark::Open(since)) if applied >= Some(since))
        })
    }

    /// The move of `key` is over (done, rolled back, or skipped): one more apply is due.
    pub fn end(&self, key: &TenancyKey) {
        if let Some(record) = lock(&self.0.tenancies).get_mut(key)
            && record.move_open()
        {
            record.moving = Some(Mark::Ended);
        }
    }

    /// Ends every open move not in `open`.
    pub fn end_all_but(&self, open_moves: &HashSet<TenancyKey>) {
        for record in lock(&self.0.tenancies)
            .iter_mut()
            .filter(|(k, r)| r.move_open() && !open_moves.contains(*k))
            .map(|(_, r)| r)
        {
            record.moving = Some(Mark::Ended);
        }
    }

    /// True while a move of `key` is open.
    #[cfg(test)]
    pub fn is_open(&self, key: &TenancyKey) -> bool {
        lock(&self.0.tenancies)
            .get(key)
            .is_some_and(|r| r.move_open())
    }

    /// For the Tenancy controller: whether its apply must not be skipped as current (a move
    /// is open, or ended and its quota not yet trimmed).
    pub fn apply_due(&self, key: &TenancyKey) -> bool {
        lock(&self.0.tenancies)
            .get(key)
            .is_some_and(|r| r.moving.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::for_tests;
    use crate::state::placements::{Confirmed, confirmed, placed};

    fn applied_at(decided: Decided, at: DateTime<Utc>) -> Confirmed {
        Confirmed {
            at,
            ..confirmed(decided)
        }
    }

    #[test]
    fn a_move_has_surge_room_until_the_apply_after_it_ends() {
        let s = for_tests();
        let a = TenancyKey::new("ns", "a");
        s.track(&a, "ag");
        let t0 = Utc::now();
        s.confirm(&a, applied_at(placed("north", 3, "100m"), t0));
        assert_eq!(s.quotas("ag")["north"], (300, 3 << 20));
        assert!(!s.moves().apply_due(&a));

        let t1 = t0 + chrono::Duration::seconds(1);
        s.moves().begin(&a, t1);
        assert_eq!(s.quotas("ag")["north"], (400, 4 << 20), "one more replica");
        assert!(s.moves().apply_due(&a) && s.moves().is_open(&a));
        assert!(
            !s.moves().applied_since_begun(&a),
            "applied before it began"
        );
        assert_eq!(s.in_flight(), vec![a.clone()]);

        s.confirm(&a, applied_at(placed("north", 3, "100m"), t1));
        assert!(s.moves().applied_since_begun(&a));
        assert!(s.moves().apply_due(&a), "due at every look while open");

        s.moves().end(&a);
        assert_eq!(s.quotas("ag")["north"], (300, 3 << 20), "room gone");
        assert!(
            s.moves().apply_due(&a),
            "once more, to trim the member's quota"
        );
        assert!(s.in_flight().is_empty() && !s.moves().is_open(&a));
        s.confirm(&a, applied_at(placed("north", 3, "100m"), t1));
        assert!(!s.moves().apply_due(&a), "trimmed: nothing due");
    }

    #[test]
    fn a_target_is_assumed_and_the_old_replicas_held_until_settled() {
        let s = for_tests();
        let a = TenancyKey::new("ns", "a");
        s.track(&a, "ag");
        let t0 = Utc::now();
        s.confirm(&a, applied_at(placed("north", 2, "100m"), t0));
        s.moves().begin(&a, t0);
        s.moves().target(&a, placed("south", 2, "100m"));
        assert_eq!(s.assumed(&a).unwrap().placements[0].cluster, "south");
        assert_eq!(s.previous(&a).unwrap().placements[0].cluster, "north");
        assert_eq!(s.quotas("ag")["north"], (300, 3 << 20), "old and surge");
        assert_eq!(s.quotas("ag")["south"], (300, 3 << 20), "new and surge");
    }

    #[test]
    fn a_begin_again_keeps_the_first_start_and_only_open_plans_move() {
        let s = for_tests();
        let (a, b) = (TenancyKey::new("ns", "a"), TenancyKey::new("ns", "b"));
        let t0 = Utc::now();
        s.confirm(&a, applied_at(placed("north", 1, "1"), t0));
        s.moves().begin(&a, t0);
        s.moves().begin(&a, t0 + chrono::Duration::hours(1));
        assert!(s.moves().applied_since_begun(&a), "the first begin counts");
        s.moves().begin(&b, t0);
        s.moves().end_all_but(&HashSet::from([a.clone()]));
        assert!(s.moves().is_open(&a), "its plan still moves it");
        assert!(!s.moves().is_open(&b) && s.moves().apply_due(&b));
        s.moves().end(&b);
        assert!(!s.moves().is_open(&b), "ending twice is harmless");
    }
}
