//! `Agency` (cluster-scoped): an organisation renting space on the shared estate.

use serde::{Deserialize, Serialize};

use crate::common::{Classification, Condition, Resources};
use crate::report::ReportRow;

/// An organisation renting space: which hub namespaces it owns, who may act there, how high
/// its clearance goes, and how it would run the same work on its own (the counterfactual).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(kube::CustomResource, kube::KubeSchema))]
#[cfg_attr(
    feature = "crd",
    kube(
        group = "colo.dev",
        version = "v1alpha1",
        kind = "Agency",
        plural = "agencies",
        shortname = "ag",
        category = "colo",
        status = "AgencyStatus",
        printcolumn = r#"{"name":"Display Name","type":"string","jsonPath":".spec.displayName"}"#,
        printcolumn = r#"{"name":"Cost Centre","type":"string","jsonPath":".spec.costCentre"}"#,
        printcolumn = r#"{"name":"Clearance","type":"string","jsonPath":".spec.maxClassification"}"#,
        printcolumn = r#"{"name":"Tenancies","type":"integer","jsonPath":".status.tenancies"}"#,
        printcolumn = r#"{"name":"Month Cost","type":"string","jsonPath":".status.monthCost"}"#,
        printcolumn = r#"{"name":"Savings","type":"string","jsonPath":".status.monthSavings"}"#,
        printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgencySpec {
    /// Human name, e.g. "Driver and Vehicle Licensing Agency".
    #[cfg_attr(feature = "crd", schemars(length(min = 1, max = 128)))]
    pub display_name: String,
    /// Finance code that reports and invoices are filed under.
    #[cfg_attr(feature = "crd", schemars(length(min = 1, max = 64)))]
    pub cost_centre: String,
    /// Hub namespaces this agency owns; its Tenancies are accepted only there.
    #[cfg_attr(
        feature = "crd",
        schemars(
            length(min = 1, max = 64),
            inner(length(max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))
        )
    )]
    #[cfg_attr(feature = "crd", schemars(extend("x-kubernetes-list-type" = "set")))]
    pub namespaces: Vec<String>,
    /// Identity groups given access to the agency's namespaces.
    #[serde(default)]
    #[cfg_attr(
        feature = "crd",
        schemars(length(max = 32), inner(length(min = 1, max = 256)))
    )]
    #[cfg_attr(feature = "crd", schemars(extend("x-kubernetes-list-type" = "set")))]
    pub groups: Vec<String>,
    /// Highest classification the agency may run (OFFICIAL < OFFICIAL-SENSITIVE < SECRET).
    pub max_classification: Classification,
    /// Monthly budget in the platform's currency; going over it raises a condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 0.0)))]
    pub budget: Option<f64>,
    /// How the agency would run the same work on its own; unset fields take the defaults of
    /// docs/energy-model.md.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standalone: Option<StandaloneSpec>,
    /// What Colo quoted the agency before it moved in (`colo quote --manifests` writes
    /// it): its status and the report compare the accounted month with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<AgencyQuote>,
}

/// A quote's month on the shared estate, at the average utilisation the agency stated.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgencyQuote {
    /// Facility energy a month, kWh.
    #[cfg_attr(feature = "crd", schemars(range(min = 0.0)))]
    #[serde(rename = "monthlyKWh")]
    pub monthly_kwh: f64,
    /// Shared cost a month, in the platform's currency.
    #[cfg_attr(feature = "crd", schemars(range(min = 0.0)))]
    pub monthly_cost: f64,
    #[cfg_attr(feature = "crd", schemars(range(min = 0.0)))]
    pub monthly_carbon_kg: f64,
    /// CPU the quote took the work to use on average, cores (explains a difference).
    #[cfg_attr(feature = "crd", schemars(range(min = 0.0)))]
    pub average_cores: f64,
    /// When it was quoted (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(length(max = 64)))]
    pub quoted_at: Option<String>,
}

/// Energy, cost and carbon of a month.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
pub struct MonthFigures {
    #[serde(rename = "kWh")]
    pub kwh: f64,
    pub cost: f64,
    #[serde(rename = "carbonKg")]
    pub carbon_kg: f64,
}

/// The quote against the bill: this month's accounted use while the agency ran something,
/// from measured usage, taken over a whole month.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct QuoteComparison {
    pub quoted: MonthFigures,
    /// None until measured use has been accounted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounted: Option<MonthFigures>,
    /// Hours of measured use the accounted month is taken from.
    pub accounted_hours: f64,
    /// Accounted minus quoted, as a percentage of the quote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "kWhDifferencePercent")]
    pub kwh_difference_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_difference_percent: Option<f64>,
    /// One sentence: how close, and why they differ.
    pub message: String,
}

/// The standalone counterfactual: an agency's own small server room.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StandaloneSpec {
    /// Cores per server (default 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 1, max = 1024)))]
    pub server_cores: Option<i32>,
    /// Memory per server in GiB (default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 1, max = 65536)))]
    #[serde(rename = "serverMemoryGiB")]
    pub server_memory_gib: Option<i32>,
    /// Fewest servers run, for redundancy (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 1, max = 10000)))]
    pub min_servers: Option<i32>,
    /// Peak-to-capacity margin (default 1.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 1.0, max = 10.0)))]
    pub peak_margin: Option<f64>,
    /// Average utilisation such rooms reach (default 0.15, NRDC 2014).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 0.01, max = 1.0)))]
    pub utilisation: Option<f64>,
    /// Server power at full load in watts (default 330).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 1.0, max = 100000.0)))]
    pub max_watts: Option<f64>,
    /// Server power idle in watts (default 0.5 × max, Barroso & Hölzle 2007).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 0.0, max = 100000.0)))]
    pub idle_watts: Option<f64>,
    /// Power usage effectiveness of the room (default 2.0, LBNL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 1.0, max = 5.0)))]
    pub pue: Option<f64>,
    /// Capital cost of one server in the platform's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 0.0)))]
    pub server_capital_cost: Option<f64>,
    /// Years the capital cost is spread over (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 1.0, max = 30.0)))]
    pub lifetime_years: Option<f64>,
    /// Energy price per kWh the agency would pay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 0.0)))]
    #[serde(rename = "energyPricePerKWh")]
    pub energy_price_per_kwh: Option<f64>,
    /// Grid carbon intensity in g CO2e per kWh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "crd", schemars(range(min = 0.0, max = 2000.0)))]
    #[serde(rename = "carbonGramsPerKWh")]
    pub carbon_grams_per_kwh: Option<f64>,
}

/// An agency's measured usage, summed over its tenancies.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AgencyUsage {
    pub now: Resources,
    pub peak_this_month: Resources,
}

/// What the agency uses and what it costs, shared and standalone.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "crd", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AgencyStatus {
    /// Its accepted tenancies (not those rejected, e.g. in a namespace it does not own).
    #[serde(default)]
    pub tenancies: i32,
    /// This month's shared cost, for people: two decimals and the currency ("0.38 GBP").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month_cost: Option<String>,
    /// This month's savings against standalone, for people ("1.96 GBP").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month_savings: Option<String>,
    /// `WithinBudget` (False, reason `OverBudget`, when this month's cost passed the budget).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// What the agency's tenancies use (measured p95, else requests): in the latest accounting
    /// interval, and at most this month (what its standalone room is sized for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<AgencyUsage>,
    /// Energy, cost and carbon this month so far, shared and standalone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub this_month: Option<ReportRow>,
    /// The same since Colo started accounting for the agency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_date: Option<ReportRow>,
    /// The accounted month against `spec.quote`, when the agency was quoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<QuoteComparison>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
