//! A report row: one agency's figures over one period, as the CSV, the report API, the page
//! and Agency status give them (SPEC "Surfaces"). Money in the platform's currency, energy in
//! kWh, carbon in kg; rounded to cents and grams so every surface agrees to the cent.

use serde::{Deserialize, Serialize};

/// The CSV header, exactly as the SPEC gives it.
pub const REPORT_CSV_HEADER: &str = "agency,costCentre,from,to,cpuCoreHours,memoryGiBHours,kWh,cost,carbonKg,standaloneKWh,standaloneCost,standaloneCarbonKg,savings,savingsPercent,currency,quality";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
pub struct ReportRow {
    pub agency: String,
    #[serde(rename = "costCentre")]
    pub cost_centre: String,
    /// RFC 3339, UTC.
    pub from: String,
    pub to: String,
    #[serde(rename = "cpuCoreHours")]
    pub cpu_core_hours: f64,
    #[serde(rename = "memoryGiBHours")]
    pub memory_gib_hours: f64,
    #[serde(rename = "kWh")]
    pub kwh: f64,
    pub cost: f64,
    #[serde(rename = "carbonKg")]
    pub carbon_kg: f64,
    #[serde(rename = "standaloneKWh")]
    pub standalone_kwh: f64,
    #[serde(rename = "standaloneCost")]
    pub standalone_cost: f64,
    #[serde(rename = "standaloneCarbonKg")]
    pub standalone_carbon_kg: f64,
    /// Standalone cost minus shared cost.
    pub savings: f64,
    /// Savings as a percentage of the standalone cost.
    #[serde(rename = "savingsPercent")]
    pub savings_percent: f64,
    pub currency: String,
    /// `measured` when usage came from Prometheus for the whole period, else `modelled`.
    pub quality: String,
}

/// Cents, and three decimals for kWh, kg and hours.
pub fn cents(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

pub fn thousandths(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Text a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, a tab or a carriage return
/// first) gets a leading `'`, so an agency-supplied name or cost centre opened in a spreadsheet
/// stays text (OWASP "CSV injection").
pub fn neutralise_formula(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

impl ReportRow {
    /// The row in the CSV header's order; text fields neutralised and quoted when they need it.
    pub fn to_csv(&self) -> String {
        let text = |s: &str| {
            let s = neutralise_formula(s);
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.into_owned()
            }
        };
        format!(
            "{},{},{},{},{},{},{},{:.2},{},{},{:.2},{},{:.2},{},{},{}",
            text(&self.agency),
            text(&self.cost_centre),
            self.from,
            self.to,
            self.cpu_core_hours,
            self.memory_gib_hours,
            self.kwh,
            self.cost,
            self.carbon_kg,
            self.standalone_kwh,
            self.standalone_cost,
            self.standalone_carbon_kg,
            self.savings,
            self.savings_percent,
            text(&self.currency),
            self.quality
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_a_spreadsheet_would_run_stays_text() {
        for formula in [
            "=HYPERLINK(\"http://x\")",
            "+1+1",
            "-2",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            assert_eq!(neutralise_formula(formula), format!("'{formula}"));
        }
        for plain in ["DVLA-IT-0042", "dvla", "1-2", ""] {
            assert_eq!(neutralise_formula(plain), plain);
        }
    }

    #[test]
    fn csv_row_follows_the_header_and_quotes_text() {
        let row = ReportRow {
            agency: "dvla".into(),
            cost_centre: "DVLA, IT".into(),
            from: "2026-11-01T00:00:00Z".into(),
            to: "2026-11-02T00:00:00Z".into(),
            cpu_core_hours: 48.0,
            kwh: 1.5,
            cost: 2.5,
            savings: -0.1,
            currency: "GBP".into(),
            quality: "measured".into(),
            ..Default::default()
        };
        let csv = row.to_csv();
        assert_eq!(
            csv,
            "dvla,\"DVLA, IT\",2026-11-01T00:00:00Z,2026-11-02T00:00:00Z,48,0,1.5,2.50,0,0,0.00,0,-0.10,0,GBP,measured"
        );
        assert_eq!(
            REPORT_CSV_HEADER.split(',').count(),
            16,
            "one column per field"
        );
    }
}
