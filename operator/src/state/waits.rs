//! Tenancies that wait for the estate's nodes to change (a replica larger than every node
//! they may use): they cost nothing until a cluster's nodes change, then are looked at again
//! with the tenancies that have copies there.

use super::{State, lock};
use crate::k8s::keys::TenancyKey;

impl State {
    /// Notes whether a tenancy waits for the estate's nodes to change.
    pub fn waiting_for_nodes(&self, key: &TenancyKey, waiting: bool) {
        let mut set = lock(&self.too_large);
        if waiting {
            set.insert(key.clone());
        } else {
            set.remove(key);
        }
    }

    /// Records what a cluster offers now (its nodes, whether it answers); when that changed,
    /// returns the tenancies waiting for nodes to change (they may fit now) and those with
    /// copies there (their replicas may have gone dark, or come back).
    pub fn nodes_seen(&self, cluster: &str, print: u64) -> Vec<TenancyKey> {
        let before = lock(&self.node_prints).insert(cluster.to_string(), print);
        if before.is_none_or(|b| b == print) {
            return Vec::new();
        }
        let mut keys: Vec<TenancyKey> = lock(&self.too_large).iter().cloned().collect();
        keys.extend(
            lock(&self.tenancies)
                .iter()
                .filter(|(_, r)| r.holding().any(|p| p.cluster == cluster))
                .map(|(k, _)| k.clone()),
        );
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::for_tests;
    use crate::state::placements::{confirmed, placed};

    #[test]
    fn a_change_of_nodes_wakes_the_waiting_and_those_with_copies_there() {
        let s = for_tests();
        let (big, there, elsewhere) = (
            TenancyKey::new("ns", "big"),
            TenancyKey::new("ns", "there"),
            TenancyKey::new("ns", "elsewhere"),
        );
        s.waiting_for_nodes(&big, true);
        s.confirm(&there, confirmed(placed("north", 1, "1")));
        s.confirm(&elsewhere, confirmed(placed("south", 1, "1")));
        assert!(
            s.nodes_seen("north", 1).is_empty(),
            "first sight is no change"
        );
        assert!(s.nodes_seen("north", 1).is_empty(), "nor is the same again");
        let mut woken = s.nodes_seen("north", 2);
        woken.sort();
        assert_eq!(woken, vec![big.clone(), there]);
        s.waiting_for_nodes(&big, false);
        assert!(!s.nodes_seen("north", 3).contains(&big));
    }
}
