//! Recovery as a state machine: random sequences of the changes a platform engineer or an
//! agency makes (clearance, namespace lists, namespace labels, Agencies deleted and made
//! again, tenancies edited, deleted and made again), each followed by what the operator does:
//! the tenancies the change wakes (`triggers`) are judged again (`judge`, the reconcile's own
//! validation with the state's marks). After the last change every tenancy must have the
//! verdict a freshly started operator would give it, and the planner must see exactly the
//! accepted ones.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use colo_api::{Agency, Classification, Tenancy};
use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use proptest::prelude::*;

use super::{judge, names, validate};
use crate::controllers::ownership::Owner;
use crate::controllers::triggers;
use crate::k8s::keys::TenancyKey;
use crate::metrics::Metrics;
use crate::state::State;

const AGENCIES: [&str; 3] = ["dvla", "hmrc", "system"];
const NAMESPACES: [&str; 3] = ["dvla", "hmrc-tax", "shared"];
const LEVELS: [Classification; 3] = [
    Classification::Official,
    Classification::OfficialSensitive,
    Classification::Secret,
];

/// (namespace, name, agency, workload, created second): two of DVLA's would share the member
/// object name `a-b-c`, and the first made keeps it.
const TENANCIES: [(&str, &str, &str, &str, u32); 5] = [
    ("dvla", "svc", "dvla", "api", 1),
    ("hmrc-tax", "self-assessment", "hmrc", "web", 2),
    ("shared", "x", "dvla", "api", 3),
    ("dvla", "a", "dvla", "b-c", 4),
    ("dvla", "a-b", "dvla", "c", 5),
];

#[derive(Clone, Debug)]
enum Change {
    Clearance(usize, usize),
    List(usize, usize, bool),
    Label(usize, Option<usize>),
    DeleteNamespace(usize),
    DeleteAgency(usize),
    CreateAgency(usize),
    Classify(usize, usize),
    DeleteTenancy(usize),
    CreateTenancy(usize),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (0..3usize, 0..3usize).prop_map(|(a, l)| Change::Clearance(a, l)),
        (0..3usize, 0..3usize, any::<bool>()).prop_map(|(a, n, add)| Change::List(a, n, add)),
        (0..3usize, proptest::option::of(0..3usize)).prop_map(|(n, a)| Change::Label(n, a)),
        (0..3usize).prop_map(Change::DeleteNamespace),
        (0..3usize).prop_map(Change::DeleteAgency),
        (0..3usize).prop_map(Change::CreateAgency),
        (0..5usize, 0..3usize).prop_map(|(t, l)| Change::Classify(t, l)),
        (0..5usize).prop_map(Change::DeleteTenancy),
        (0..5usize).prop_map(Change::CreateTenancy),
    ]
}

/// The hub as the stores hold it.
#[derive(Clone)]
struct Hub {
    agencies: BTreeMap<String, Agency>,
    namespaces: BTreeMap<String, Namespace>,
    tenancies: BTreeMap<TenancyKey, Tenancy>,
    /// The clock's second, for what is made next.
    second: u32,
}

fn agency(name: &str, namespaces: &[&str], level: Classification) -> Agency {
    let mut a: Agency = serde_json::from_value(serde_json::json!({
        "apiVersion": "colo.dev/v1alpha1", "kind": "Agency",
        "metadata": {"name": name},
        "spec": {"displayName": name, "costCentre": "C", "namespaces": namespaces,
                 "maxClassification": "OFFICIAL"}
    }))
    .unwrap();
    a.spec.max_classification = level;
    a
}

fn namespace(name: &str, label: Option<&str>) -> Namespace {
    let mut ns = Namespace::default();
    ns.metadata.name = Some(name.into());
    if let Some(l) = label {
        ns.labels_mut()
            .insert(crate::k8s::labels::AGENCY_LABEL.into(), l.into());
    }
    ns
}

/// Tenancy `i` as made at `second` past the hour (a tenancy made again is made later).
fn made(i: usize, second: u32) -> Tenancy {
    let (ns, name, agency, workload, _) = TENANCIES[i];
    serde_json::from_value(serde_json::json!({
        "apiVersion": "colo.dev/v1alpha1", "kind": "Tenancy",
        "metadata": {"name": name, "namespace": ns,
                     "creationTimestamp": format!("2026-12-01T00:{:02}:{:02}Z", second / 60, second % 60)},
        "spec": {"agency": agency, "classification": "OFFICIAL", "workloads": [
            {"name": workload, "image": "i", "replicas": 1, "cpu": "100m", "memory": "64Mi"}]}
    }))
    .unwrap()
}

fn tenancy(i: usize) -> Tenancy {
    made(i, TENANCIES[i].4)
}

/// A well-run start: every agency owns its own namespace, DVLA also `shared`.
fn start() -> Hub {
    let agencies = [
        agency(
            "dvla",
            &["dvla", "shared"],
            Classification::OfficialSensitive,
        ),
        agency("hmrc", &["hmrc-tax"], Classification::Official),
    ];
    let labels = [("dvla", "dvla"), ("hmrc-tax", "hmrc"), ("shared", "dvla")];
    Hub {
        agencies: agencies.into_iter().map(|a| (a.name_any(), a)).collect(),
        namespaces: labels
            .iter()
            .map(|(n, l)| (n.to_string(), namespace(n, Some(l))))
            .collect(),
        tenancies: (0..TENANCIES.len())
            .map(|i| (TenancyKey::of(&tenancy(i)), tenancy(i)))
            .collect(),
        second: 10,
    }
}

/// What one change is, as the object it touched (as last seen, if deleted).
enum Touched {
    Agency(Arc<Agency>),
    Namespace(Arc<Namespace>),
    Tenancy(Arc<Tenancy>),
}

impl Hub {
    fn apply(&mut self, change: &Change) -> Option<Touched> {
        let a = |i: usize| AGENCIES[i].to_string();
        match change.clone() {
            Change::Clearance(i, l) => {
                let agency = self.agencies.get_mut(&a(i))?;
                agency.spec.max_classification = LEVELS[l];
                Some(Touched::Agency(Arc::new(agency.clone())))
            }
            Change::List(i, n, add) => {
                let agency = self.agencies.get_mut(&a(i))?;
                let ns = NAMESPACES[n].to_string();
                agency.spec.namespaces.retain(|x| *x != ns);
                if add {
                    agency.spec.namespaces.push(ns);
                }
                Some(Touched::Agency(Arc::new(agency.clone())))
            }
            Change::Label(n, owner) => {
                let ns = namespace(NAMESPACES[n], owner.map(|i| AGENCIES[i]));
                self.namespaces.insert(NAMESPACES[n].into(), ns.clone());
                Some(Touched::Namespace(Arc::new(ns)))
            }
            Change::DeleteNamespace(n) => {
                let gone = self.namespaces.remove(NAMESPACES[n])?;
                // A namespace takes its tenancies with it.
                self.tenancies.retain(|k, _| k.namespace != NAMESPACES[n]);
                Some(Touched::Namespace(Arc::new(gone)))
            }
            Change::DeleteAgency(i) => self
                .agencies
                .remove(&a(i))
                .map(|a| Touched::Agency(Arc::new(a))),
            Change::CreateAgency(i) => {
                let fresh = agency(&a(i), &[NAMESPACES[i]], Classification::Official);
                self.agencies.entry(a(i)).or_insert(fresh.clone());
                Some(Touched::Agency(Arc::new(self.agencies[&a(i)].clone())))
            }
            Change::Classify(t, l) => {
                let key = TenancyKey::of(&tenancy(t));
                let found = self.tenancies.get_mut(&key)?;
                found.spec.classification = LEVELS[l];
                Some(Touched::Tenancy(Arc::new(found.clone())))
            }
            Change::DeleteTenancy(t) => self
                .tenancies
                .remove(&TenancyKey::of(&tenancy(t)))
                .map(|t| Touched::Tenancy(Arc::new(t))),
            Change::CreateTenancy(t) => {
                let (ns, ..) = TENANCIES[t];
                self.namespaces.get(ns)?;
                let key = TenancyKey::of(&tenancy(t));
                if !self.tenancies.contains_key(&key) {
                    self.second += 1;
                    self.tenancies.insert(key.clone(), made(t, self.second));
                }
                Some(Touched::Tenancy(Arc::new(self.tenancies[&key].clone())))
            }
        }
    }

    fn tenancy_list(&self) -> Vec<Arc<Tenancy>> {
        self.tenancies.values().cloned().map(Arc::new).collect()
    }

    /// The tenancies the operator looks at again after `touched` (its watches' mappers).
    fn woken(&self, touched: &Touched, state: &State) -> Vec<TenancyKey> {
        let all = self.tenancy_list();
        match touched {
            Touched::Agency(a) => triggers::on_agency(a, &all),
            Touched::Namespace(n) => triggers::on_namespace(n, &all),
            Touched::Tenancy(t) => {
                let mut keys = triggers::on_tenancy(t, &all, &state.rejected());
                keys.push(TenancyKey::of(t));
                keys
            }
        }
    }

    /// The reconcile's verdict on one tenancy (None: it is gone).
    fn judge(&self, key: &TenancyKey, state: &State) -> Option<Result<String, String>> {
        let t = self.tenancies.get(key)?;
        let owner = Owner::of(self.namespaces.get(&key.namespace));
        let known = validate::Known {
            agency: self.agencies.get(&t.spec.agency),
            owner: &owner,
            collision: names::collision(t, &self.tenancy_list()),
            operator_namespace: "colo-system",
        };
        Some(
            judge(state, t, &known)
                .map(|a| a.name_any())
                .map_err(|r| r.0),
        )
    }
}

fn state() -> State {
    State::new(Arc::new(Metrics::new()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn after_any_sequence_of_changes_each_tenancy_is_as_a_fresh_operator_sees_it(
        changes in proptest::collection::vec(change(), 1..24)
    ) {
        let mut hub = start();
        let running = state();
        let mut verdicts: HashMap<TenancyKey, Result<String, String>> = HashMap::new();
        for key in hub.tenancies.keys() {
            verdicts.insert(key.clone(), hub.judge(key, &running).unwrap());
        }
        for c in &changes {
            let Some(touched) = hub.apply(c) else { continue };
            for key in hub.woken(&touched, &running) {
                match hub.judge(&key, &running) {
                    Some(v) => { verdicts.insert(key, v); }
                    None => { verdicts.remove(&key); running.untrack(&key); }
                }
            }
        }
        let fresh = state();
        let rejected = running.rejected();
        for key in hub.tenancies.keys() {
            let now = hub.judge(key, &fresh).unwrap();
            prop_assert_eq!(verdicts.get(key), Some(&now), "{} after {:?}", key, changes);
            // The planner sees an accepted tenancy, never a rejected one's placement.
            prop_assert_eq!(rejected.contains(key), now.is_err(), "{} planned", key);
        }
    }
}

#[test]
fn an_undone_slip_is_undone_for_the_agency_it_hurt() {
    let mut hub = start();
    let running = state();
    let hmrc = TenancyKey::new("hmrc-tax", "self-assessment");
    assert!(hub.judge(&hmrc, &running).unwrap().is_ok());
    // DVLA lists hmrc-tax by mistake: HMRC's tenancy is untouched (the label decides).
    let slip = Change::List(0, 1, true);
    let touched = hub.apply(&slip).unwrap();
    assert!(hub.woken(&touched, &running).contains(&hmrc));
    assert!(hub.judge(&hmrc, &running).unwrap().is_ok());
    // Clearance lowered below a tenancy's classification, then restored.
    let svc = TenancyKey::new("dvla", "svc");
    hub.apply(&Change::Classify(0, 1));
    assert!(hub.judge(&svc, &running).unwrap().is_ok());
    let touched = hub.apply(&Change::Clearance(0, 0)).unwrap();
    assert!(hub.woken(&touched, &running).contains(&svc));
    let why = hub.judge(&svc, &running).unwrap().unwrap_err();
    assert!(
        why.contains("above agency dvla's clearance OFFICIAL"),
        "{why}"
    );
    assert!(running.rejected().contains(&svc));
    let touched = hub.apply(&Change::Clearance(0, 1)).unwrap();
    assert!(hub.woken(&touched, &running).contains(&svc));
    assert!(hub.judge(&svc, &running).unwrap().is_ok());
    assert!(
        !running.rejected().contains(&svc),
        "the planner sees it again"
    );
}
