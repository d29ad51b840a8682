//! Parameters of the energy, cost and carbon model, with their defaults. Each default and its
//! source is in docs/energy-model.md; change one here and there together.

use colo_api::{CostSpec, PowerSpec, StandaloneSpec};

/// 8,760 hours a year over 12 months.
pub const HOURS_PER_MONTH: f64 = 730.0;

/// Shared sites: US DCOI target PUE for new data centres (OMB M-16-19).
pub const SHARED_PUE: f64 = 1.4;
/// A common two-socket server at full load (Deloitte, Powering AI, 2024: 330 W).
pub const MAX_WATTS: f64 = 330.0;
/// Modern servers idle at about a quarter of peak (Deloitte 2024: 82.5 of 330 W).
pub const SHARED_IDLE_FRACTION: f64 = 0.25;
/// A powered-down (ACPI S3/S5 with BMC) server.
pub const STANDBY_WATTS: f64 = 10.0;
/// Non-domestic electricity, per kWh, when a cluster does not say.
pub const ENERGY_PRICE_PER_KWH: f64 = 0.25;
/// Grid intensity, g CO2e per kWh, when a cluster does not say (UK 2024 factor, 207 g).
pub const CARBON_GRAMS_PER_KWH: f64 = 207.0;
/// Capital cost of a shared node and its lifetime, when a cluster gives no cost.
pub const SHARED_NODE_CAPITAL: f64 = 12_000.0;
pub const LIFETIME_YEARS: f64 = 5.0;

/// Standalone: legacy servers idle at about half of peak (Barroso & Hölzle 2007).
pub const STANDALONE_IDLE_FRACTION: f64 = 0.5;
/// Small server rooms measure 1.5–2.1 (LBNL, Cheung et al.).
pub const STANDALONE_PUE: f64 = 2.0;
/// Small and enterprise rooms average 12–18% (NRDC 2014).
pub const STANDALONE_UTILISATION: f64 = 0.15;
pub const STANDALONE_SERVER_CORES: u32 = 16;
pub const STANDALONE_SERVER_MEMORY_GIB: u32 = 64;
pub const STANDALONE_MIN_SERVERS: u32 = 2;
pub const STANDALONE_PEAK_MARGIN: f64 = 1.3;
pub const STANDALONE_SERVER_CAPITAL: f64 = 6_000.0;

/// A server's draw: `idle + (max - idle) × u` watts at CPU utilisation `u`. Shared nodes,
/// an agency's standalone servers and a quote's server groups all draw this way.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServerPower {
    pub idle_watts: f64,
    pub max_watts: f64,
}

impl ServerPower {
    /// What was said, else the defaults: `max` 330 W and idle at `idle_fraction` of it.
    pub fn resolve(idle_watts: Option<f64>, max_watts: Option<f64>, idle_fraction: f64) -> Self {
        let max_watts = max_watts.unwrap_or(MAX_WATTS);
        ServerPower {
            idle_watts: idle_watts.unwrap_or(idle_fraction * max_watts),
            max_watts,
        }
    }

    /// Watts at CPU utilisation `u` (clamped to 0..=1).
    pub fn watts(&self, u: f64) -> f64 {
        self.idle_watts + self.dynamic_watts() * u.clamp(0.0, 1.0)
    }

    /// What full CPU adds to idle.
    pub fn dynamic_watts(&self) -> f64 {
        self.max_watts - self.idle_watts
    }
}

/// A room's overhead and its grid: PUE, price and carbon of a kWh. A shared site, an agency's
/// standalone room and a quote's room are all this.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Room {
    pub pue: f64,
    pub price_per_kwh: f64,
    pub carbon_grams_per_kwh: f64,
}

impl Room {
    /// Facility kWh in a month for a constant IT draw.
    pub fn monthly_kwh(&self, it_watts: f64) -> f64 {
        it_watts * self.pue * HOURS_PER_MONTH / 1000.0
    }

    /// A month of a constant IT draw here, with `other_cost` (hardware) on top of energy.
    pub fn month(&self, it_watts: f64, other_cost: f64) -> Monthly {
        let kwh = self.monthly_kwh(it_watts);
        Monthly {
            kwh,
            cost: kwh * self.price_per_kwh + other_cost,
            carbon_kg: kwh * self.carbon_grams_per_kwh / 1000.0,
        }
    }
}

/// A shared cluster's nodes: how they draw, what standby draws, and the site they are in.
#[derive(Clone, Debug, PartialEq)]
pub struct PowerModel {
    pub server: ServerPower,
    pub standby_watts: f64,
    pub room: Room,
}

impl PowerModel {
    pub fn from_spec(spec: Option<&PowerSpec>) -> Self {
        let s = spec.cloned().unwrap_or_default();
        PowerModel {
            server: ServerPower::resolve(s.idle_watts, s.max_watts, SHARED_IDLE_FRACTION),
            standby_watts: s.standby_watts.unwrap_or(STANDBY_WATTS),
            room: Room {
                pue: s.pue.unwrap_or(SHARED_PUE),
                price_per_kwh: s.energy_price_per_kwh.unwrap_or(ENERGY_PRICE_PER_KWH),
                carbon_grams_per_kwh: s.carbon_grams_per_kwh.unwrap_or(CARBON_GRAMS_PER_KWH),
            },
        }
    }

    /// IT power of a node at CPU utilisation `u` (clamped to 0..=1).
    pub fn node_watts(&self, u: f64) -> f64 {
        self.server.watts(u)
    }

    /// Facility kWh in a month for a constant IT draw.
    pub fn monthly_kwh(&self, it_watts: f64) -> f64 {
        self.room.monthly_kwh(it_watts)
    }
}

pub fn node_cost_per_hour(cost: Option<&CostSpec>) -> f64 {
    match cost {
        Some(CostSpec {
            per_node_hour: Some(rate),
            ..
        }) => *rate,
        Some(CostSpec {
            capital_per_node: Some(capital),
            lifetime_years,
            ..
        }) => capital / (lifetime_years.unwrap_or(LIFETIME_YEARS) * 8760.0),
        _ => SHARED_NODE_CAPITAL / (LIFETIME_YEARS * 8760.0),
    }
}

/// How an agency would run the same work alone: its own small room.
#[derive(Clone, Debug, PartialEq)]
pub struct StandaloneModel {
    pub server_cores: f64,
    pub server_memory_gib: f64,
    pub min_servers: u32,
    pub peak_margin: f64,
    pub utilisation: f64,
    pub server: ServerPower,
    pub pue: f64,
    pub server_capital: f64,
    pub lifetime_years: f64,
    /// Unset: the prices of the shared clusters the agency uses (a like-for-like grid).
    pub price_per_kwh: Option<f64>,
    pub carbon_grams_per_kwh: Option<f64>,
}

impl StandaloneModel {
    pub fn from_spec(spec: Option<&StandaloneSpec>) -> Self {
        let s = spec.cloned().unwrap_or_default();
        StandaloneModel {
            server_cores: s
                .server_cores
                .map_or(STANDALONE_SERVER_CORES, |c| c.max(1) as u32)
                as f64,
            server_memory_gib: s
                .server_memory_gib
                .map_or(STANDALONE_SERVER_MEMORY_GIB, |m| m.max(1) as u32)
                as f64,
            min_servers: s
                .min_servers
                .map_or(STANDALONE_MIN_SERVERS, |n| n.max(1) as u32),
            peak_margin: s.peak_margin.unwrap_or(STANDALONE_PEAK_MARGIN),
            utilisation: s.utilisation.unwrap_or(STANDALONE_UTILISATION),
            server: ServerPower::resolve(s.idle_watts, s.max_watts, STANDALONE_IDLE_FRACTION),
            pue: s.pue.unwrap_or(STANDALONE_PUE),
            server_capital: s.server_capital_cost.unwrap_or(STANDALONE_SERVER_CAPITAL),
            lifetime_years: s.lifetime_years.unwrap_or(LIFETIME_YEARS),
            price_per_kwh: s.energy_price_per_kwh,
            carbon_grams_per_kwh: s.carbon_grams_per_kwh,
        }
    }

    /// Servers the agency would run: `max(min, ceil(peak × margin / server),
    /// ceil(avg / (utilisation × server)))`, in cores and in memory, whichever needs more.
    pub fn servers(&self, peak: Usage, average: Usage) -> u32 {
        let by = |peak: f64, avg: f64, size: f64| {
            let for_peak = (peak * self.peak_margin / size - 1e-9).ceil();
            let for_average = (avg / (self.utilisation * size) - 1e-9).ceil();
            for_peak.max(for_average).max(0.0) as u32
        };
        by(peak.cores, average.cores, self.server_cores)
            .max(by(
                peak.memory_gib,
                average.memory_gib,
                self.server_memory_gib,
            ))
            .max(self.min_servers)
    }

    /// A month alone: servers at their average utilisation, in a room with its own PUE.
    pub fn monthly(&self, peak: Usage, average: Usage, price: f64, carbon: f64) -> Monthly {
        let servers = self.servers(peak, average) as f64;
        let u = (average.cores / (servers * self.server_cores)).clamp(0.0, 1.0);
        let it_watts = servers * self.server.watts(u);
        let capital = servers * self.server_capital / (self.lifetime_years * 12.0);
        let room = Room {
            pue: self.pue,
            price_per_kwh: price,
            carbon_grams_per_kwh: carbon,
        };
        room.month(it_watts, capital)
    }
}

/// CPU cores and memory GiB, as used or reserved.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    pub cores: f64,
    pub memory_gib: f64,
}

/// A month of facility energy, cost and carbon.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Monthly {
    pub kwh: f64,
    pub cost: f64,
    pub carbon_kg: f64,
}

impl std::ops::AddAssign for Monthly {
    fn add_assign(&mut self, o: Monthly) {
        self.kwh += o.kwh;
        self.cost += o.cost;
        self.carbon_kg += o.carbon_kg;
    }
}

impl Monthly {
    pub fn scaled(self, f: f64) -> Monthly {
        Monthly {
            kwh: self.kwh * f,
            cost: self.cost * f,
            carbon_kg: self.carbon_kg * f,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_power_is_linear_between_idle_and_max_and_clamped() {
        let p = PowerModel::from_spec(None);
        assert_eq!(p.server.idle_watts, 82.5, "a quarter of 330 W");
        assert_eq!(p.node_watts(0.0), 82.5);
        assert_eq!(p.node_watts(0.5), 206.25);
        assert_eq!(p.node_watts(1.0), 330.0);
        assert_eq!(p.node_watts(1.7), 330.0);
        assert!(
            (p.monthly_kwh(100.0) - 102.2).abs() < 1e-9,
            "100 W × 1.4 × 730 h"
        );
    }

    #[test]
    fn standalone_servers_follow_the_three_rules() {
        let m = StandaloneModel::from_spec(None);
        let u = |cores, memory_gib| Usage { cores, memory_gib };
        assert_eq!(
            m.servers(u(1.0, 1.0), u(0.1, 0.1)),
            2,
            "never fewer than two"
        );
        assert_eq!(
            m.servers(u(40.0, 10.0), u(1.0, 1.0)),
            4,
            "peak 40 × 1.3 / 16 = 3.25"
        );
        assert_eq!(
            m.servers(u(10.0, 10.0), u(9.6, 1.0)),
            4,
            "average 9.6 / (0.15 × 16) = 4"
        );
        assert_eq!(
            m.servers(u(1.0, 200.0), u(0.5, 10.0)),
            5,
            "memory: 200 × 1.3 / 64 = 4.06"
        );
    }

    #[test]
    fn node_cost_takes_the_rate_or_spreads_capital() {
        assert_eq!(
            node_cost_per_hour(Some(&CostSpec {
                per_node_hour: Some(0.3),
                ..Default::default()
            })),
            0.3
        );
        let capital = CostSpec {
            capital_per_node: Some(8760.0),
            lifetime_years: Some(2.0),
            ..Default::default()
        };
        assert_eq!(node_cost_per_hour(Some(&capital)), 0.5);
        assert!((node_cost_per_hour(None) - 12_000.0 / (5.0 * 8760.0)).abs() < 1e-12);
    }
}
