//! `colo quote`: what a prospective agency would pay, use and save on the shared estate, from
//! its own room's inventory (YAML, or the servers as CSV with the room and needs as flags),
//! on the live estate or a snapshot file. Nothing is applied. docs/quote.md.

use std::fmt::Write as _;

use anyhow::Context as _;
use colo_api::{Classification, Resilience};
use colo_engine::EstateSnapshot;
use colo_engine::quote::{Inventory, Month, Needs, Quote, Room};

#[derive(clap::Args)]
pub struct Args {
    /// The inventory: YAML (examples/quote/fenland-council.yaml) or CSV (a `.csv` file: the
    /// servers, one group per row; the room and needs from the flags below); `-` reads YAML
    /// from stdin.
    #[arg(long, value_name = "FILE")]
    pub inventory: String,
    /// An EstateSnapshot file (`colo snapshot`); without it, the live estate (KUBECONFIG).
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<String>,
    /// The live estate: rate() window of CPU counters (the operator's --rate-window).
    #[arg(long, default_value = "1m")]
    pub rate_window: String,
    #[arg(long, value_enum, default_value = "table")]
    pub output: super::plan::Output,
    /// Instead of the quote: the Namespace, Agency (carrying the quote, which its status then
    /// compares the bill with) and Tenancy that onboard the same work, as YAML for
    /// `kubectl apply -f -`. Images are placeholders to replace.
    #[arg(long)]
    pub manifests: bool,
    /// With --manifests: the agency's hub namespace (default: the agency's name).
    #[arg(long, requires = "manifests")]
    pub namespace: Option<String>,
    /// The currency the figures are read in (the estate's prices are in it).
    #[arg(long, default_value = "GBP")]
    pub currency: String,
    /// CSV only: the agency's name on the estate (a DNS label).
    #[arg(long)]
    pub agency: Option<String>,
    /// CSV only: the highest classification of its data.
    #[arg(long, value_parser = classification, default_value = "OFFICIAL")]
    pub classification: Classification,
    /// CSV only: SingleSite or DualSite.
    #[arg(long, value_parser = resilience, default_value = "SingleSite")]
    pub resilience: Resilience,
    /// CSV only: residency regions (comma-separated); none means any.
    #[arg(long, value_delimiter = ',')]
    pub regions: Vec<String>,
    /// CSV only: the room's PUE (default 2.0).
    #[arg(long)]
    pub pue: Option<f64>,
    /// CSV only: the room's energy price a kWh (default 0.25).
    #[arg(long)]
    pub energy_price: Option<f64>,
    /// CSV only: the room's grid carbon, g a kWh (default 207).
    #[arg(long)]
    pub carbon: Option<f64>,
}

fn classification(s: &str) -> Result<Classification, String> {
    serde_json::from_value(serde_json::json!(s))
        .map_err(|_| format!("{s:?} is not OFFICIAL, OFFICIAL-SENSITIVE or SECRET"))
}

fn resilience(s: &str) -> Result<Resilience, String> {
    serde_json::from_value(serde_json::json!(s))
        .map_err(|_| format!("{s:?} is not SingleSite or DualSite"))
}

/// Why no quote: bad input (exit 2), or the estate could not be read (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum QuoteFailure {
    #[error("{0}")]
    Input(String),
    #[error("{0:#}")]
    Estate(anyhow::Error),
}

pub async fn run(args: &Args) -> Result<String, QuoteFailure> {
    let inventory = inventory(args).map_err(QuoteFailure::Input)?;
    let snapshot = match &args.snapshot {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| QuoteFailure::Input(format!("cannot read {path}: {e}")))?;
            EstateSnapshot::from_yaml(&text)
                .map_err(|e| QuoteFailure::Input(format!("{path}: {e}")))?
        }
        None => super::snapshot::live(&args.rate_window)
            .await
            .map_err(QuoteFailure::Estate)?,
    };
    let quote = colo_engine::quote::quote(&snapshot, &inventory)
        .map_err(|e| QuoteFailure::Input(format!("{}: {e}", args.inventory)))?;
    if args.manifests {
        return manifests(args, &quote, &inventory);
    }
    Ok(match args.output {
        super::plan::Output::Json => {
            serde_json::to_string_pretty(&quote).expect("a quote always serialises") + "\n"
        }
        super::plan::Output::Table => table(&quote, &args.currency),
    })
}

/// The objects that onboard the quoted work, as a YAML stream; none when it does not fit.
fn manifests(args: &Args, quote: &Quote, inventory: &Inventory) -> Result<String, QuoteFailure> {
    if !quote.fits {
        let why = format!("{}: nothing to onboard: {}", args.inventory, quote.verdict);
        return Err(QuoteFailure::Input(why));
    }
    let namespace = args.namespace.as_deref().unwrap_or(&inventory.agency);
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let objects = colo_engine::quote::onboard::manifests(quote, inventory, namespace, &now);
    let mut out = format!(
        "# Onboards {} as quoted ({:.2} {} a month shared): replace the images, give the Agency\n# its people's groups (spec.groups), then kubectl apply -f <this file>\n",
        inventory.agency, quote.shared.cost, args.currency
    );
    for object in objects {
        let yaml = serde_yaml_ng::to_string(&object).expect("JSON values serialise as YAML");
        out.push_str("---\n");
        out.push_str(&yaml);
    }
    Ok(out)
}

/// The inventory file, read as YAML or (by its name) CSV; every problem names its place.
fn inventory(args: &Args) -> Result<Inventory, String> {
    let path = &args.inventory;
    let text = if path == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .with_context(|| format!("cannot read {path}"))
    .map_err(|e| format!("{e:#}"))?;
    let read = if path.ends_with(".csv") {
        let agency = args.agency.as_deref().ok_or_else(|| {
            format!("{path}: a CSV inventory needs --agency (the agency's name on the estate)")
        })?;
        let room = Room {
            pue: args.pue,
            energy_price_per_kwh: args.energy_price,
            carbon_grams_per_kwh: args.carbon,
        };
        let needs = Needs {
            classification: args.classification,
            regions: args.regions.clone(),
            resilience: args.resilience,
        };
        Inventory::from_csv(&text, agency, room, needs)
    } else {
        Inventory::from_yaml(&text)
    };
    read.map_err(|e| format!("{path}: {e}"))
}

/// The quote as a person reads it: verdict, sizing, where, the month side by side, saving,
/// limits and assumptions.
pub fn table(q: &Quote, currency: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Quote for {}: {}", q.agency, q.verdict);
    let _ = writeln!(
        out,
        "\n{:<24} {:>7} {:>8} {:>12} {:>15}",
        "SERVER GROUP", "SERVERS", "REPLICAS", "CPU/REPLICA", "MEMORY/REPLICA"
    );
    for g in &q.sizing {
        let _ = writeln!(
            out,
            "{:<24} {:>7} {:>8} {:>12.3} {:>11.1} GiB",
            g.name, g.servers, g.replicas, g.cpu_per_replica, g.memory_gib_per_replica
        );
    }
    if !q.placements.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<24} {:<12} {:<12} {:<16} {:>8}",
            "SERVER GROUP", "CLUSTER", "SITE", "NODE", "REPLICAS"
        );
        for p in &q.placements {
            let _ = writeln!(
                out,
                "{:<24} {:<12} {:<12} {:<16} {:>8}",
                p.group, p.cluster, p.site, p.node, p.replicas
            );
        }
    }
    month_table(&mut out, q, currency);
    let _ = writeln!(
        out,
        "\nSaving: {:.2} {currency} a month ({:.1}% of its own room), {:.2} to {:.2} over the stated utilisation",
        q.saving_per_month, q.saving_percent, q.saving_low, q.saving_high
    );
    if !q.nodes_to_wake.is_empty() {
        let _ = writeln!(out, "Wakes: {}", q.nodes_to_wake.join(", "));
    }
    for (title, lines) in [("Limits", &q.limits), ("Assumptions", &q.assumptions)] {
        if !lines.is_empty() {
            let _ = writeln!(out, "\n{title}:");
            for l in lines {
                let _ = writeln!(out, "- {l}");
            }
        }
    }
    out
}

/// One figure of a month.
type Figure = fn(&Month) -> f64;

fn month_table(out: &mut String, q: &Quote, currency: &str) {
    let _ = writeln!(
        out,
        "\n{:<14} {:>14} {:>14} {:>14} {:>14}",
        "A MONTH", "SHARED", "SHARED AT P95", "OWN ROOM", "OWN AT P95"
    );
    let months = [q.shared, q.shared_at_p95, q.standalone, q.standalone_at_p95];
    let rows: [(String, Figure); 3] = [
        ("kWh".into(), |m| m.kwh),
        (format!("cost {currency}"), |m| m.cost),
        ("carbon kg".into(), |m| m.carbon_kg),
    ];
    for (name, figure) in rows {
        let _ = write!(out, "{name:<14}");
        for m in &months {
            let _ = write!(out, " {:>14.2}", figure(m));
        }
        let _ = writeln!(out);
    }
}
