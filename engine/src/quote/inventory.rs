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

fn problem(at: impl Into<String>, problem: impl Into<String>) -> InventoryError {
    InventoryError {
        at: at.into(),
        problem: problem.into(),
    }
}

/// The CSV columns, in the order of the example (`examples/quote/inventory.csv`).
pub const CSV_COLUMNS: [&str; 11] = [
    "name",
    "count",
    "cores",
    "memoryGiB",
    "cpuAveragePercent",
    "cpuP95Percent",
    "memoryAveragePercent",
    "memoryP95Percent",
    "idleWatts",
    "maxWatts",
    "hardwareCostPerYear",
];

impl Inventory {
    /// Reads a whole inventory from YAML (or JSON) and checks it.
    pub fn from_yaml(text: &str) -> Result<Inventory, InventoryError> {
        let inventory: Inventory =
            serde_yaml_ng::from_str(text).map_err(|e| problem("inventory", e.to_string()))?;
        inventory.check(|i, field| format!("servers[{i}].{field}"))?;
        Ok(inventory)
    }

    /// Reads the servers from CSV (a header row naming the columns, in any order; the last
    /// three may be left out or empty), with the room and needs given.
    pub fn from_csv(
        text: &str,
        agency: &str,
        room: Room,
        needs: Needs,
    ) -> Result<Inventory, InventoryError> {
        let mut rows = parse_csv(text)?.into_iter();
        let header = rows
            .next()
            .ok_or_else(|| problem("row 1", "no header row"))?;
        for (c, name) in header.iter().enumerate() {
            if !CSV_COLUMNS.contains(&name.as_str()) {
                let at = format!("row 1, column {}", c + 1);
                let known = CSV_COLUMNS.join(", ");
                return Err(problem(
                    at,
                    format!("unknown column {name:?} (known: {known})"),
                ));
            }
        }
        let mut servers = Vec::new();
        for (r, row) in rows.enumerate() {
            if row.iter().all(|cell| cell.trim().is_empty()) {
                continue;
            }
            servers.push(server_from_row(&header, &row, r + 2)?);
        }
        let inventory = Inventory {
            agency: agency.to_string(),
            display_name: None,
            room,
            needs,
            servers,
        };
        inventory.check(|i, field| format!("row {}, column {field}", i + 2))?;
        Ok(inventory)
    }

    /// Ranges and relations a reading cannot check; `at` names a server's field.
    fn check(&self, at: impl Fn(usize, &str) -> String) -> Result<(), InventoryError> {
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
        for (i, s) in self.servers.iter().enumerate() {
            check_server(s, |field| at(i, field))?;
        }
        Ok(())
    }
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
    if s.count == 0 {
        return Err(problem(at("count"), "0 servers: leave the row out instead"));
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
    if let Some(c) = s.hardware_cost_per_year.filter(|c| *c < 0.0) {
        return Err(problem(
            at("hardwareCostPerYear"),
            format!("{c} is negative"),
        ));
    }
    Ok(())
}

/// The settings a CSV inventory takes beside it, by name (the HTTP API's query parameters).
pub const CSV_SETTINGS: [&str; 7] = [
    "agency",
    "classification",
    "resilience",
    "regions",
    "pue",
    "energyPricePerKWh",
    "carbonGramsPerKWh",
];

/// The agency, room and needs of a CSV inventory from named settings (`CSV_SETTINGS`;
/// `regions` comma-separated); a problem names its setting.
pub fn csv_settings(
    settings: &std::collections::BTreeMap<String, String>,
) -> Result<(String, Room, Needs), InventoryError> {
    if let Some(unknown) = settings
        .keys()
        .find(|k| !CSV_SETTINGS.contains(&k.as_str()))
    {
        let known = CSV_SETTINGS.join(", ");
        return Err(problem(
            unknown,
            format!("unknown setting (known: {known})"),
        ));
    }
    let text = |name: &str| {
        settings
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    };
    let agency = text("agency").ok_or_else(|| problem("agency", "needed with a CSV inventory"))?;
    let parsed = |name: &str| -> Result<Option<f64>, InventoryError> {
        text(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| problem(name, format!("{v:?} is not a number")))
            })
            .transpose()
    };
    let named = |name: &str, default: &str| -> Result<serde_json::Value, InventoryError> {
        Ok(serde_json::Value::String(
            text(name).unwrap_or(default).to_string(),
        ))
    };
    let classification =
        serde_json::from_value(named("classification", "OFFICIAL")?).map_err(|_| {
            problem(
                "classification",
                "not OFFICIAL, OFFICIAL-SENSITIVE or SECRET",
            )
        })?;
    let resilience = serde_json::from_value(named("resilience", "SingleSite")?)
        .map_err(|_| problem("resilience", "not SingleSite or DualSite"))?;
    let regions = text("regions").map_or_else(Vec::new, |r| {
        r.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let room = Room {
        pue: parsed("pue")?,
        energy_price_per_kwh: parsed("energyPricePerKWh")?,
        carbon_grams_per_kwh: parsed("carbonGramsPerKWh")?,
    };
    let needs = Needs {
        classification,
        regions,
        resilience,
    };
    Ok((agency.to_string(), room, needs))
}

/// One server group from a CSV row (`row` is its 1-based row number, for errors).
fn server_from_row(
    header: &[String],
    cells: &[String],
    row: usize,
) -> Result<ServerGroup, InventoryError> {
    if cells.len() > header.len() {
        let why = format!(
            "{} cells, but the header names {}",
            cells.len(),
            header.len()
        );
        return Err(problem(format!("row {row}"), why));
    }
    let cell = |column: &str| -> Option<&str> {
        let c = header.iter().position(|h| h == column)?;
        cells.get(c).map(|v| v.trim()).filter(|v| !v.is_empty())
    };
    let number = |column: &str| -> Result<Option<f64>, InventoryError> {
        let Some(text) = cell(column) else {
            return Ok(None);
        };
        let at = format!("row {row}, column {column}");
        let v: f64 = text
            .trim_end_matches('%')
            .parse()
            .map_err(|_| problem(&at, format!("{text:?} is not a number")))?;
        if !v.is_finite() {
            return Err(problem(at, format!("{text:?} is not a number")));
        }
        Ok(Some(v))
    };
    let needed = |column: &str| -> Result<f64, InventoryError> {
        let at = format!("row {row}, column {column}");
        number(column)?.ok_or_else(|| problem(at, "empty: this column is needed"))
    };
    let count = needed("count")?;
    if count.fract() != 0.0 || !(0.0..=100_000.0).contains(&count) {
        let at = format!("row {row}, column count");
        return Err(problem(
            at,
            format!("{count} is not a whole number of servers"),
        ));
    }
    Ok(ServerGroup {
        name: cell("name").unwrap_or_default().to_string(),
        count: count as u32,
        cores: needed("cores")?,
        memory_gib: needed("memoryGiB")?,
        cpu_average_percent: needed("cpuAveragePercent")?,
        cpu_p95_percent: needed("cpuP95Percent")?,
        memory_average_percent: needed("memoryAveragePercent")?,
        memory_p95_percent: needed("memoryP95Percent")?,
        idle_watts: number("idleWatts")?,
        max_watts: number("maxWatts")?,
        hardware_cost_per_year: number("hardwareCostPerYear")?,
    })
}

/// RFC 4180 CSV: commas, double quotes around a cell that holds them ("" inside is one "),
/// CRLF or LF. Spreadsheets save it so.
fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, InventoryError> {
    let mut rows = Vec::new();
    let (mut row, mut cell) = (Vec::new(), String::new());
    let mut quoted = false;
    let mut chars = text.trim_start_matches('\u{feff}').chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') if cell.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    if quoted {
        let at = format!("row {}", rows.len() + 1);
        return Err(problem(at, "a quoted cell is not closed"));
    }
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell);
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs() -> Needs {
        Needs {
            classification: Classification::Official,
            regions: vec![],
            resilience: Resilience::SingleSite,
        }
    }

    const CSV: &str = "name,count,cores,memoryGiB,cpuAveragePercent,cpuP95Percent,memoryAveragePercent,memoryP95Percent,idleWatts,maxWatts,hardwareCostPerYear\r\n\"web, front\",4,8,32,12,35,40,55,,,\r\nfiles,2,16,64,5%,20%,30,45,120,350,900\r\n";

    #[test]
    fn a_spreadsheets_csv_reads_with_quotes_percent_signs_and_empty_cells() {
        let inv = Inventory::from_csv(CSV, "fenland", Room::default(), needs()).unwrap();
        assert_eq!(inv.servers.len(), 2);
        assert_eq!(inv.servers[0].name, "web, front");
        assert_eq!(inv.servers[0].idle_watts, None);
        assert_eq!(inv.servers[1].cpu_average_percent, 5.0);
        assert_eq!(inv.servers[1].hardware_cost_per_year, Some(900.0));
    }

    #[test]
    fn csv_problems_name_the_row_and_column() {
        let cases = [
            (
                CSV.replace("12,35", "12,abc"),
                "row 2, column cpuP95Percent: \"abc\" is not a number",
            ),
            (
                CSV.replace("12,35", "40,35"),
                "row 2, column cpuP95Percent: 35 is below the average 40",
            ),
            (
                CSV.replace(",4,8,", ",0,8,"),
                "row 2, column count: 0 servers",
            ),
            (
                CSV.replace(",4,8,", ",2.5,8,"),
                "row 2, column count: 2.5 is not a whole number",
            ),
            (
                CSV.replace("5%,20%", "5%,120%"),
                "row 3, column cpuP95Percent: 120 is not a percentage",
            ),
            (
                CSV.replace("120,350", "400,350"),
                "row 3, column idleWatts: 400 W idle is more than 350 W",
            ),
            (
                CSV.replace("maxWatts", "maxWats"),
                "row 1, column 10: unknown column \"maxWats\"",
            ),
            (
                CSV.replace(",16,64,", ",,64,"),
                "row 3, column cores: empty: this column is needed",
            ),
            (
                CSV.replace("\"web, front\"", "\"web"),
                "a quoted cell is not closed",
            ),
        ];
        for (text, want) in cases {
            let err = Inventory::from_csv(&text, "fenland", Room::default(), needs()).unwrap_err();
            assert!(err.to_string().contains(want), "{err} (wanted {want})");
        }
    }

    #[test]
    fn csv_settings_are_read_by_name_and_problems_name_the_setting() {
        let pairs = |p: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let good = pairs(&[
            ("agency", "fenland"),
            ("resilience", "DualSite"),
            ("regions", "uk-north, uk-south"),
            ("pue", "1.9"),
        ]);
        let (agency, room, needs) = csv_settings(&good).unwrap();
        assert_eq!(agency, "fenland");
        assert_eq!(room.pue, Some(1.9));
        assert_eq!(needs.resilience, Resilience::DualSite);
        assert_eq!(needs.regions, ["uk-north", "uk-south"]);
        assert_eq!(needs.classification, Classification::Official);
        let cases = [
            (
                pairs(&[("pue", "1.9")]),
                "agency: needed with a CSV inventory",
            ),
            (
                pairs(&[("agency", "a"), ("pue", "warm")]),
                "pue: \"warm\" is not a number",
            ),
            (
                pairs(&[("agency", "a"), ("classification", "TOP")]),
                "classification: not OFFICIAL",
            ),
            (
                pairs(&[("agency", "a"), ("sites", "2")]),
                "sites: unknown setting",
            ),
        ];
        for (settings, want) in cases {
            let err = csv_settings(&settings).unwrap_err();
            assert!(err.to_string().contains(want), "{err} (wanted {want})");
        }
    }

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
