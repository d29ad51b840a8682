//! The live ledger: per agency, energy, cost and carbon accumulated interval by interval from
//! the estate as it runs, with the standalone counterfactual beside it.
//!
//! Each interval is the monthly model ([`accounting::accounted`]) of the estate as observed,
//! scaled to the interval's length: so a steady estate accounted for a month adds up to
//! exactly the month `colo plan` projects. The caller brings the clock: `tick` takes the
//! interval's end and never counts a second twice.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::accounting::{self, Peak};
use crate::estate::Estate;
use crate::model::{HOURS_PER_MONTH, Monthly, Usage};

const SECONDS_PER_MONTH: f64 = HOURS_PER_MONTH * 3600.0;
pub const JOULES_PER_KWH: f64 = 3_600_000.0;

/// Facility energy, money and carbon, in base units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Amounts {
    pub joules: f64,
    pub cost: f64,
    pub grams: f64,
}

impl Amounts {
    fn from_month(m: Monthly, fraction: f64) -> Amounts {
        Amounts {
            joules: m.kwh * JOULES_PER_KWH * fraction,
            cost: m.cost * fraction,
            grams: m.carbon_kg * 1000.0 * fraction,
        }
    }

    fn add(&mut self, o: &Amounts) {
        self.joules += o.joules;
        self.cost += o.cost;
        self.grams += o.grams;
    }

    pub fn kwh(&self) -> f64 {
        self.joules / JOULES_PER_KWH
    }
}

/// One agency's accumulated figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgencyLedger {
    pub cost_centre: String,
    pub shared: Amounts,
    /// The part of `shared` that is its pro-rata share of what no one uses.
    pub unattributed_share: Amounts,
    pub standalone: Amounts,
    /// CPU used (measured p95 where known, else demand), core-seconds.
    pub cpu_core_seconds: f64,
    /// Memory used, GiB-seconds.
    pub memory_gib_seconds: f64,
    /// Seconds accounted from measured usage, and from requests (modelled).
    pub measured_seconds: f64,
    pub modelled_seconds: f64,
    /// The most it used at once (cores, GiB): what its standalone room is sized for.
    #[serde(default)]
    pub peak_cores: f64,
    #[serde(default)]
    pub peak_memory_gib: f64,
    /// What it used in the latest interval (cores, GiB).
    #[serde(default)]
    pub now_cores: f64,
    #[serde(default)]
    pub now_memory_gib: f64,
    /// What was accounted while it ran something, from measured usage: its month at the
    /// measured rate, which a quote is compared with.
    #[serde(default)]
    pub metered: Metered,
}

/// Accounted while an agency ran something and its usage was measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metered {
    pub seconds: f64,
    pub cpu_core_seconds: f64,
    pub shared: Amounts,
}

impl Metered {
    fn add(&mut self, o: &Metered) {
        self.seconds += o.seconds;
        self.cpu_core_seconds += o.cpu_core_seconds;
        self.shared.add(&o.shared);
    }
}

impl AgencyLedger {
    fn add(&mut self, o: &AgencyLedger) {
        self.cost_centre.clone_from(&o.cost_centre);
        self.shared.add(&o.shared);
        self.unattributed_share.add(&o.unattributed_share);
        self.standalone.add(&o.standalone);
        self.cpu_core_seconds += o.cpu_core_seconds;
        self.memory_gib_seconds += o.memory_gib_seconds;
        self.measured_seconds += o.measured_seconds;
        self.modelled_seconds += o.modelled_seconds;
        self.peak_cores = self.peak_cores.max(o.peak_cores);
        self.peak_memory_gib = self.peak_memory_gib.max(o.peak_memory_gib);
        self.now_cores = o.now_cores;
        self.now_memory_gib = o.now_memory_gib;
        self.metered.add(&o.metered);
    }

    /// What running alone would have cost more (negative: less).
    pub fn savings(&self) -> f64 {
        self.standalone.cost - self.shared.cost
    }
}

/// Figures of a stretch of time: per agency, and the estate's own lines.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lines {
    pub agencies: BTreeMap<String, AgencyLedger>,
    /// Unused idle and system share of active nodes, before it is spread over agencies
    /// (already inside their `shared`; shown on its own line).
    pub unattributed: Amounts,
    /// Nodes with no tenancy (standby, spare capacity): the platform's line.
    pub spare: Amounts,
    /// What no agency could carry (a cluster with nothing of any agency on it).
    pub unassigned: Amounts,
    /// Agencies + spare + unassigned: the estate.
    pub total: Amounts,
}

impl Lines {
    fn add(&mut self, o: &Lines) {
        for (name, a) in &o.agencies {
            self.agencies.entry(name.clone()).or_default().add(a);
        }
        self.unattributed.add(&o.unattributed);
        self.spare.add(&o.spare);
        self.unassigned.add(&o.unassigned);
        self.total.add(&o.total);
    }
}

/// What the estate as observed costs over `seconds`. `measured[c]` says whether cluster `c`'s
/// usage came from Prometheus; an agency's interval is measured when all its clusters' were.
/// `peaks[a]` is agency `a`'s highest use so far: its standalone room is sized for that, or
/// for what it uses now if more.
pub fn interval(estate: &Estate, seconds: f64, measured: &[bool], peaks: &[Usage]) -> Lines {
    let placed: Vec<_> = estate
        .tenancies
        .iter()
        .map(|t| t.observed.clone())
        .collect();
    let month = accounting::accounted(estate, &placed, Peak::Measured(peaks));
    let fraction = seconds / SECONDS_PER_MONTH;
    let mut modelled = vec![false; estate.agencies.len()];
    let mut running = vec![false; estate.agencies.len()];
    // A workload without measured usage yet (a pod just started) burns its request in the
    // model: its agency's minute is accounted but not metered.
    let mut unmeasured = vec![false; estate.agencies.len()];
    for t in &estate.tenancies {
        if !t.observed.is_empty() && t.workloads.iter().any(|w| w.usage.is_none()) {
            unmeasured[t.agency] = true;
        }
        for p in &t.observed {
            running[t.agency] = true;
            let cluster = estate.nodes[p.node].cluster;
            if !measured.get(cluster).copied().unwrap_or(false) {
                modelled[t.agency] = true;
            }
        }
    }
    let mut lines = Lines::default();
    for (a, agency) in estate.agencies.iter().enumerate() {
        let m = &month.agencies[a];
        let shared = Amounts::from_month(m.shared, fraction);
        let metered = match running[a] && !modelled[a] && !unmeasured[a] {
            true => Metered {
                seconds,
                cpu_core_seconds: m.average.cores * seconds,
                shared,
            },
            false => Metered::default(),
        };
        lines.agencies.insert(
            agency.name.clone(),
            AgencyLedger {
                cost_centre: agency.cost_centre.clone(),
                shared,
                unattributed_share: Amounts::from_month(m.unattributed_share, fraction),
                standalone: Amounts::from_month(m.standalone, fraction),
                cpu_core_seconds: m.average.cores * seconds,
                memory_gib_seconds: m.average.memory_gib * seconds,
                measured_seconds: if modelled[a] { 0.0 } else { seconds },
                modelled_seconds: if modelled[a] { seconds } else { 0.0 },
                peak_cores: m.peak.cores,
                peak_memory_gib: m.peak.memory_gib,
                now_cores: m.average.cores,
                now_memory_gib: m.average.memory_gib,
                metered,
            },
        );
    }
    lines.unattributed = Amounts::from_month(month.unattributed, fraction);
    lines.spare = Amounts::from_month(month.spare, fraction);
    lines.unassigned = Amounts::from_month(month.unassigned, fraction);
    lines.total = Amounts::from_month(month.total, fraction);
    lines
}

/// Everything accounted so far, and this month's part of it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ledger {
    /// Unix seconds accounting began at, and up to which everything is accounted (0: not yet).
    #[serde(default)]
    pub since: i64,
    pub until: i64,
    /// The month `this_month` is of, as the caller names it (e.g. "2026-11").
    pub month: String,
    pub to_date: Lines,
    pub this_month: Lines,
}

/// Why a tick did nothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TickError {
    #[error("time {now} is not after the ledger's {until}: nothing to account")]
    NotAfter { now: i64, until: i64 },
}

impl Ledger {
    /// Accounts the estate as observed from `until` to `now` (at most `max_gap` seconds of it:
    /// a longer gap, e.g. the operator down, is not guessed at), in month `month` (a new
    /// month starts `this_month` afresh). A ledger that has never ticked starts at `now`.
    pub fn tick(
        &mut self,
        estate: &Estate,
        measured: &[bool],
        now: i64,
        month: &str,
        max_gap: i64,
    ) -> Result<Lines, TickError> {
        self.tick_scaled(estate, measured, now, month, max_gap, 1.0)
    }

    /// As [`Ledger::tick`], with each second of the clock accounting `speed` seconds of use
    /// (demos and tests: the figures grow faster, the times stay the clock's).
    pub fn tick_scaled(
        &mut self,
        estate: &Estate,
        measured: &[bool],
        now: i64,
        month: &str,
        max_gap: i64,
        speed: f64,
    ) -> Result<Lines, TickError> {
        if self.until == 0 {
            self.since = now;
            self.until = now;
            self.month = month.to_string();
            return Ok(Lines::default());
        }
        if now <= self.until {
            return Err(TickError::NotAfter {
                now,
                until: self.until,
            });
        }
        let seconds = (now - self.until).min(max_gap.max(1));
        if self.month != month {
            self.month = month.to_string();
            self.this_month = Lines::default();
        }
        // Each agency's room is sized for its highest use this month so far.
        let peaks: Vec<Usage> = estate
            .agencies
            .iter()
            .map(|a| {
                self.this_month
                    .agencies
                    .get(&a.name)
                    .map(|l| Usage {
                        cores: l.peak_cores,
                        memory_gib: l.peak_memory_gib,
                    })
                    .unwrap_or_default()
            })
            .collect();
        let lines = interval(estate, seconds as f64 * speed, measured, &peaks);
        self.to_date.add(&lines);
        self.this_month.add(&lines);
        self.until = now;
        Ok(lines)
    }
}
