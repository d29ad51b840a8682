//! An inventory's servers as CSV, as a spreadsheet saves them (RFC 4180: read by the `csv`
//! crate): a header row naming the columns in any order, one server group a row; the agency,
//! room and needs given beside it as named settings (`colo quote`'s flags, the HTTP API's
//! query parameters). Every problem names its row and column, or its setting.

use std::collections::BTreeMap;

use super::inventory::{Inventory, InventoryError, Needs, Room, ServerGroup, problem};

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

impl Inventory {
    /// Reads the servers from CSV (a header row naming the columns, in any order; the last
    /// three may be left out or empty), with the room and needs given.
    pub fn from_csv(
        text: &str,
        agency: &str,
        room: Room,
        needs: Needs,
    ) -> Result<Inventory, InventoryError> {
        let mut rows = rows(text)?.into_iter();
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
}

/// Every row's cells; a byte-order mark before the header is dropped (spreadsheets write one).
fn rows(text: &str) -> Result<Vec<Vec<String>>, InventoryError> {
    let text = text.trim_start_matches('\u{feff}');
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            let row = e.position().map_or(i + 1, |p| p.line() as usize);
            problem(format!("row {row}"), format!("not CSV: {e}"))
        })?;
        rows.push(record.iter().map(str::to_string).collect());
    }
    Ok(rows)
}

/// The agency, room and needs of a CSV inventory from named settings (`CSV_SETTINGS`;
/// `regions` comma-separated); a problem names its setting.
pub fn csv_settings(
    settings: &BTreeMap<String, String>,
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
            .map(|v| number(v).ok_or_else(|| problem(name, format!("{v:?} is not a number"))))
            .transpose()
    };
    let named = |name: &str, default: &str| {
        serde_json::Value::String(text(name).unwrap_or(default).to_string())
    };
    let classification =
        serde_json::from_value(named("classification", "OFFICIAL")).map_err(|_| {
            problem(
                "classification",
                "not OFFICIAL, OFFICIAL-SENSITIVE or SECRET",
            )
        })?;
    let resilience = serde_json::from_value(named("resilience", "SingleSite"))
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

/// A finite number, with a trailing `%` allowed (a spreadsheet's percentage cell).
fn number(text: &str) -> Option<f64> {
    let v: f64 = text.trim_end_matches('%').trim().parse().ok()?;
    v.is_finite().then_some(v)
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
    let optional = |column: &str| -> Result<Option<f64>, InventoryError> {
        let Some(text) = cell(column) else {
            return Ok(None);
        };
        let at = format!("row {row}, column {column}");
        number(text)
            .map(Some)
            .ok_or_else(|| problem(at, format!("{text:?} is not a number")))
    };
    let needed = |column: &str| -> Result<f64, InventoryError> {
        let at = format!("row {row}, column {column}");
        optional(column)?.ok_or_else(|| problem(at, "empty: this column is needed"))
    };
    let count = needed("count")?;
    if count.fract() != 0.0 || !(0.0..=f64::from(u32::MAX)).contains(&count) {
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
        idle_watts: optional("idleWatts")?,
        max_watts: optional("maxWatts")?,
        hardware_cost_per_year: optional("hardwareCostPerYear")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use colo_api::{Classification, Resilience};

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
                CSV.replace(",4,8,32,", ",4,8,32,12,35,40,55,,,,,"),
                "row 2: 19 cells, but the header names 11",
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
}
