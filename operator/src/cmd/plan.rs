//! `colo plan`: read a snapshot, plan it offline, print JSON (the SPEC's Plan) or a table.

use std::fmt::Write as _;

use colo_engine::consolidate::Thresholds;
use colo_engine::{Heuristic, Plan, PlanOptions};

#[derive(clap::Args)]
pub struct Args {
    /// EstateSnapshot file (YAML or JSON), as `colo snapshot` writes it; `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    pub snapshot: String,
    /// Also re-pack running tenancies (moves), not only place new ones.
    #[arg(long)]
    pub consolidate: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub output: Output,
    /// Node choice: first-fit, best-fit, dot-product or l2 (see docs/placement.md).
    #[arg(long, default_value = "dot-product", value_parser = parse_heuristic)]
    pub heuristic: Heuristic,
    /// With --consolidate: empty a node only if it saves at least this much a month after
    /// the disruption cost of its moves is spread over the horizon.
    #[arg(long, default_value_t = Thresholds::default().min_monthly_saving)]
    pub min_monthly_saving: f64,
    /// With --consolidate: what moving one replica costs, once, in the same money.
    #[arg(long, default_value_t = Thresholds::default().disruption_cost_per_move)]
    pub disruption_cost_per_move: f64,
    /// With --consolidate: months over which a node's saving is set against the one-off
    /// disruption of emptying it.
    #[arg(long, default_value_t = Thresholds::default().horizon_months, value_parser = positive_months)]
    pub horizon_months: f64,
    /// Skip the re-pack of the emptiest nodes after greedy placement (for comparisons).
    #[arg(long)]
    pub no_improve: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
}

fn parse_heuristic(s: &str) -> Result<Heuristic, String> {
    s.parse()
}

/// Why `colo plan` could not answer: bad input (exit 2) only.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Snapshot {
        path: String,
        source: colo_engine::SnapshotError,
    },
}

pub fn run(args: &Args) -> Result<String, PlanError> {
    let text = if args.snapshot == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(&args.snapshot)
    }
    .map_err(|source| PlanError::Read {
        path: args.snapshot.clone(),
        source,
    })?;
    let options = PlanOptions {
        heuristic: args.heuristic,
        consolidate: args.consolidate,
        improve: !args.no_improve,
        thresholds: Thresholds {
            min_monthly_saving: args.min_monthly_saving,
            disruption_cost_per_move: args.disruption_cost_per_move,
            horizon_months: args.horizon_months,
        },
    };
    let plan = colo_engine::plan_yaml(&text, options).map_err(|source| PlanError::Snapshot {
        path: args.snapshot.clone(),
        source,
    })?;
    Ok(match args.output {
        Output::Json => {
            serde_json::to_string_pretty(&plan).expect("a plan always serialises") + "\n"
        }
        Output::Table => table(&plan),
    })
}

fn table(plan: &Plan) -> String {
    let mut out = String::new();
    summary(&mut out, plan);
    clusters(&mut out, plan);
    agencies(&mut out, plan);
    changes(&mut out, plan);
    out
}

fn summary(out: &mut String, plan: &Plan) {
    let s = &plan.summary;
    let _ = writeln!(
        out,
        "Plan ({}): {} of {} nodes active (lower bound {}, ratio {:.3}), {} cluster(s), {} replicas placed, {} unplaced",
        s.heuristic,
        s.active_nodes,
        s.total_nodes,
        s.lower_bound_nodes,
        s.active_nodes as f64 / s.lower_bound_nodes.max(1) as f64,
        s.clusters_used,
        s.replicas_placed,
        s.replicas_unplaced
    );
}

fn clusters(out: &mut String, plan: &Plan) {
    let _ = writeln!(
        out,
        "\n{:<20} {:<12} {:>13} {:>14} {:>13}",
        "CLUSTER", "SITE", "ACTIVE/TOTAL", "REQUESTED CPU", "MEASURED CPU"
    );
    for c in &plan.clusters {
        let _ = writeln!(
            out,
            "{:<20} {:<12} {:>13} {:>13.0}% {:>12.0}%",
            c.cluster,
            c.site,
            format!("{}/{}", c.active_nodes, c.total_nodes),
            c.requested_cpu_ratio * 100.0,
            c.measured_cpu_ratio * 100.0
        );
    }
}

fn agencies(out: &mut String, plan: &Plan) {
    let _ = writeln!(
        out,
        "\n{:<20} {:<14} {:>12} {:>12} {:>10} {:>10} {:>10} {:>8}",
        "AGENCY",
        "COST CENTRE",
        "COST/MONTH",
        "STANDALONE",
        "SAVING",
        "KWH/MONTH",
        "STANDALONE",
        "SAVING%"
    );
    for a in &plan.agencies {
        let pct = if a.standalone_cost_per_month > 0.0 {
            100.0 * a.savings_per_month / a.standalone_cost_per_month
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "{:<20} {:<14} {:>12.2} {:>12.2} {:>10.2} {:>10.1} {:>10.1} {:>7.0}%",
            a.agency,
            a.cost_centre,
            a.cost_per_month,
            a.standalone_cost_per_month,
            a.savings_per_month,
            a.kwh_per_month,
            a.standalone_kwh_per_month,
            pct
        );
    }
    totals(out, plan);
}

fn totals(out: &mut String, plan: &Plan) {
    let s = &plan.summary;
    let sum =
        |f: fn(&colo_engine::plan::AgencyFigures) -> f64| plan.agencies.iter().map(f).sum::<f64>();
    let (cost, standalone) = (
        sum(|a| a.cost_per_month),
        sum(|a| a.standalone_cost_per_month),
    );
    let _ = writeln!(
        out,
        "{:<20} {:<14} {:>12.2} {:>12.2} {:>10.2} {:>10.1} {:>10.1}",
        "(all agencies)",
        "",
        cost,
        standalone,
        standalone - cost,
        sum(|a| a.kwh_per_month),
        sum(|a| a.standalone_kwh_per_month)
    );
    let _ = writeln!(
        out,
        "\nOf the agencies' kWh, {:.1} a month is unattributed (unreserved idle room, system pods), spread pro rata.",
        s.unattributed_kwh_per_month
    );
    let _ = writeln!(
        out,
        "Spare nodes in standby (the platform's, billed to no agency): {:.1} kWh, {:.2} a month. Estate: {:.1} kWh, {:.2} a month.",
        s.spare_kwh_per_month,
        s.spare_cost_per_month,
        s.shared_kwh_per_month,
        s.shared_cost_per_month
    );
}

/// What did not fit, the moves, and every decision with its reasons.
fn changes(out: &mut String, plan: &Plan) {
    if !plan.unplaced.is_empty() {
        let _ = writeln!(out, "\nUNPLACED");
        for u in &plan.unplaced {
            let _ = writeln!(
                out,
                "  {} {} ×{}: {}",
                u.tenancy, u.workload, u.replicas, u.reason
            );
        }
    }
    if !plan.moves.is_empty() {
        let _ = writeln!(
            out,
            "\nMOVES (in order; each new copy before the old one goes)"
        );
        for m in &plan.moves {
            let _ = writeln!(
                out,
                "  {} {} ×{}: {} -> {}",
                m.tenancy, m.workload, m.replicas, m.from, m.to
            );
        }
    }
    if let Some(c) = &plan.summary.consolidation {
        let _ = writeln!(
            out,
            "\nCONSOLIDATION frees {} nodes: saves {:.2} a month ({:.1} kg CO2e); {} replicas moved cost {:.2} once (horizon {} months)",
            c.nodes_freed,
            c.saving_per_month,
            c.carbon_kg_saved_per_month,
            c.replicas_moved,
            c.disruption_cost,
            c.horizon_months
        );
    }
    let _ = writeln!(out, "\nDECISIONS");
    for d in &plan.decisions {
        let _ = writeln!(out, "  {} [{}] {}", d.tenancy, d.outcome, d.reason);
        for r in &d.excluded {
            let _ = writeln!(out, "      not {}: {}", r.cluster, r.reason);
        }
    }
}

/// `--horizon-months`: a positive number of months (a saving is set against a one-off cost
/// over it, so zero would make every move unaffordable without saying so).
fn positive_months(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(months) if months.is_finite() && months > 0.0 => Ok(months),
        _ => Err(format!(
            "{text:?} is not a positive number of months (e.g. 3 or 0.5)"
        )),
    }
}
