//! What a prospective agency runs now, as it can fill it in from a spreadsheet or its asset
//! register: server groups with their measured or estimated utilisation, the room they stand
//! in, and what the work needs on the shared estate. YAML (everything) or CSV (the servers,
//! one group per row; the room and needs given beside it). Every problem names its place:
//! `servers[2].cpuP95Percent` in YAML, `row 3, column cpuP95Percent` in CSV.

use colo_api::{Classification, Resilience};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Inventory {
    /// The agency's name as it would be on the estate (a DNS label, e.g. `fenland-council`).
    pub agency: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub room: Room,
    pub needs: Needs,
    pub servers: Vec<ServerGroup>,
}

/// The room the servers stand in now; unset figures take cited defaults (docs/quote.md).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Room {
    pub pue: Option<f64>,
    #[serde(rename = "energyPricePerKWh")]
    pub energy_price_per_kwh: Option<f64>,
    #[serde(rename = "carbonGramsPerKWh")]
    pub carbon_grams_per_kwh: Option<f64>,
}

/// What the work needs on the shared estate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Needs {
    pub classification: Classification,
    #[serde(default)]
    pub regions: Vec<String>,
    #[serde(default)]
    pub resilience: Resilience,
}

/// Servers alike: how many, how big, how busy (average and 95th percentile, in percent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerGroup {
    pub name: String,
    pub count: u32,
    pub cores: f64,
    #[serde(rename = "memoryGiB")]
    pub memory_gib: f64,
    pub cpu_average_percent: f64,
    pub cpu_p95_percent: f64,
    pub memory_average_percent: f64,
    pub memory_p95_percent: f64,
    #[serde(default)]
    pub idle_watts: Option<f64>,
    #[serde(default)]
    pub max_watts: Option<f64>,
    /// Hardware, support and licences per server per year, in the report's currency.
    #[serde(default)]
    pub hardware_cost_per_year: Option<f64>,
}

/// A problem in an inventory, at a named place.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{at}: {problem}")]
pub struct InventoryError {
    /// `servers[2].cpuP95Percent`, `row 3, column cpuP95Percent`, or the whole file.
    pub at: String,
    pub problem: String,
}

pub(super) fn problem(at: impl Into<String>, problem: impl Into<String>) -> InventoryError {
    InventoryError {
        at: at.into(),
        problem: problem.into(),
    }
}

impl Inventory {
    /// Reads a whole inventory from YAML (or JSON) and checks it.
    pub fn from_yaml(text: &str) -> Result<Inventory, InventoryError> {
        let inventory: Inventory =
            serde_yaml_ng::from_str(text).map_err(|e| problem("inventory", e.to_string()))?;
        inventory.check(|i, field| format!("servers[{i}].{field}"))?;
        Ok(inventory)
    }

    /// Ranges and relations a reading cannot check; `at` names a server's field.
    pub(super) fn check(&self, at: impl Fn(usize, &str) -> String) -> Result<(), InventoryError> {
        let name_ok = !self.agency.is_empty()
            && self.agency.len() <= 40
            && self.agency.starts_with(|c: char| c.is_ascii_lowercase())
            && self
                .agency
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !self.agency.ends_with('-');
        if !name_ok {
            let why =
                "must be a DNS label of at most 40 characters (a-z, 0-9, -), e.g. fenland-council";
            return Err(problem("agency", format!("{:?} {why}", self.agency)));
        }
        if self.servers.is_empty() {
            return Err(problem("servers", "no servers: list at least one group"));
        }
        check_room(&self.room)?;
        let mut names = std::collections::BTreeSet::new();
        for (i, s) in self.servers.iter().enumerate().take(MAX_GROUPS + 1) {
            check_server(s, |field| at(i, field))?;
            if !names.insert(s.name.trim()) {
                let why = format!("{:?} names an earlier group too: give each its own", s.name);
                return Err(problem(at(i, "name"), why));
            }
        }
        check_sizes(self)
    }
}

/// The most server groups one inventory may hold (each becomes a workload of one tenancy).
pub const MAX_GROUPS: usize = 1000;
/// The most servers one inventory may hold, in all its groups.
pub const MAX_SERVERS: u64 = 10_000;
/// The longest group name (it names the group in every reason of the quote).
pub const MAX_NAME: usize = 63;
/// The most a server may cost a year (hardware, support and licences), in any currency.
pub const MAX_COST_PER_YEAR: f64 = 1_000_000.0;

/// What makes a quote's work and answer bounded: groups, servers, names and regions.
fn check_sizes(inventory: &Inventory) -> Result<(), InventoryError> {
    let groups = inventory.servers.len();
    if groups > MAX_GROUPS {
        let why = format!("{groups} groups: at most {MAX_GROUPS} (merge servers alike)");
        return Err(problem("servers", why));
    }
    let servers: u64 = inventory.servers.iter().map(|s| u64::from(s.count)).sum();
    if servers > MAX_SERVERS {
        let why = format!("{servers} servers in all: at most {MAX_SERVERS} per quote");
        return Err(problem("servers", why));
    }
    if let Some(d) = &inventory.display_name
        && d.chars().count() > 128
    {
        return Err(problem("displayName", "more than 128 characters"));
    }
    let regions = &inventory.needs.regions;
    if regions.len() > 16 || regions.iter().any(|r| r.is_empty() || r.len() > 63) {
        let why = "at most 16 regions, each of 1 to 63 characters";
        return Err(problem("needs.regions", why));
    }
    Ok(())
}

fn check_room(room: &Room) -> Result<(), InventoryError> {
    if let Some(pue) = room.pue.filter(|p| !(1.0..=5.0).contains(p)) {
        return Err(problem(
            "room.pue",
            format!("{pue} is not between 1.0 and 5.0"),
        ));
    }
    if let Some(p) = room
        .energy_price_per_kwh
        .filter(|p| !(0.0..=10.0).contains(p))
    {
        let at = "room.energyPricePerKWh";
        return Err(problem(at, format!("{p} is not between 0 and 10 a kWh")));
    }
    if let Some(g) = room
        .carbon_grams_per_kwh
        .filter(|g| !(0.0..=2000.0).contains(g))
    {
        let at = "room.carbonGramsPerKWh";
        return Err(problem(
            at,
            format!("{g} is not between 0 and 2000 g a kWh"),
        ));
    }
    Ok(())
}

fn check_server(s: &ServerGroup, at: impl Fn(&str) -> String) -> Result<(), InventoryError> {
    if s.name.trim().is_empty() {
        return Err(problem(at("name"), "empty: name the group (e.g. its role)"));
    }
    if s.name.chars().count() > MAX_NAME {
        let why = format!("more than {MAX_NAME} characters: shorten the group's name");
        return Err(problem(at("name"), why));
    }
    if s.count == 0 {
        return Err(problem(at("count"), "0 servers: leave the row out instead"));
    }
    if u64::from(s.count) > MAX_SERVERS {
        let why = format!("{} servers: at most {MAX_SERVERS} per quote", s.count);
        return Err(problem(at("count"), why));
    }
    if !(s.cores > 0.0 && s.cores <= 512.0) {
        return Err(problem(
            at("cores"),
            format!("{} is not between 0 and 512", s.cores),
        ));
    }
    if !(s.memory_gib > 0.0 && s.memory_gib <= 16384.0) {
        let why = format!("{} is not between 0 and 16384 GiB", s.memory_gib);
        return Err(problem(at("memoryGiB"), why));
    }
    let percents = [
        ("cpuAveragePercent", s.cpu_average_percent),
        ("cpuP95Percent", s.cpu_p95_percent),
        ("memoryAveragePercent", s.memory_average_percent),
        ("memoryP95Percent", s.memory_p95_percent),
    ];
    for (field, v) in percents {
        if !(0.0..=100.0).contains(&v) {
            return Err(problem(
                at(field),
                format!("{v} is not a percentage (0 to 100)"),
            ));
        }
    }
    let pairs = [
        ("cpuP95Percent", s.cpu_p95_percent, s.cpu_average_percent),
        (
            "memoryP95Percent",
            s.memory_p95_percent,
            s.memory_average_percent,
        ),
    ];
    for (field, p95, average) in pairs {
        if p95 < average {
            let why = format!(
                "{p95} is below the average {average}: the 95th percentile is at least the average"
            );
            return Err(problem(at(field), why));
        }
    }
    check_watts(s, &at)
}

fn check_watts(s: &ServerGroup, at: impl Fn(&str) -> String) -> Result<(), InventoryError> {
    if let Some(w) = s.max_watts.filter(|w| !(*w > 0.0 && *w <= 10_000.0)) {
        return Err(problem(
            at("maxWatts"),
            format!("{w} is not between 0 and 10000 W"),
        ));
    }
    if let Some(w) = s.idle_watts.filter(|w| !(*w >= 0.0 && *w <= 10_000.0)) {
        return Err(problem(
            at("idleWatts"),
            format!("{w} is not between 0 and 10000 W"),
        ));
    }
    if let (Some(idle), Some(max)) = (s.idle_watts, s.max_watts)
        && idle > max
    {
        let why = format!("{idle} W idle is more than {max} W at full load");
        return Err(problem(at("idleWatts"), why));
    }
    if let Some(c) = s
        .hardware_cost_per_year
        .filter(|c| !(0.0..=MAX_COST_PER_YEAR).contains(c))
    {
        let why = format!("{c} is not between 0 and {MAX_COST_PER_YEAR} a server a year");
        return Err(problem(at("hardwareCostPerYear"), why));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_problems_name_the_field() {
        let yaml = "agency: fenland\nneeds: {classification: OFFICIAL}\nservers:\n- {name: web, count: 2, cores: 8, memoryGiB: 32, cpuAveragePercent: 10, cpuP95Percent: 30, memoryAveragePercent: 40, memoryP95Percent: 50}\n";
        assert!(Inventory::from_yaml(yaml).is_ok());
        let cases = [
            (
                yaml.replace("cores: 8", "cores: 0"),
                "servers[0].cores: 0 is not between",
            ),
            (
                yaml.replace("agency: fenland", "agency: Fenland Council"),
                "agency: \"Fenland Council\" must be a DNS label",
            ),
            (
                yaml.replace("needs: {", "room: {pue: 0.8}\nneeds: {"),
                "room.pue: 0.8 is not between 1.0 and 5.0",
            ),
            (
                yaml.replace("count: 2", "cuont: 2"),
                "unknown field `cuont`",
            ),
            (yaml.replace("OFFICIAL", "TOP"), "unknown variant `TOP`"),
        ];
        for (text, want) in cases {
            let err = Inventory::from_yaml(&text).unwrap_err();
            assert!(err.to_string().contains(want), "{err} (wanted {want})");
        }
    }
}
