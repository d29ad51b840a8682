//! `sizing: Measured`: what a workload with measured usage requests. The one rule, used by
//! the planner for the demand it packs ([`demand`], via the estate) and by the operator for
//! the requests it applies ([`measured_size`]), so that a plan and kube-scheduler agree on
//! what fits.
//!
//! Requests come down to measured p95 × [`MEASURED_SIZING_MARGIN`], rounded up to whole
//! milli-cores and MiB, never below [`FLOOR`] and never above what was asked. Every change
//! rolls the workload's pods, so a running workload takes a new size only when it differs
//! from what is applied by more than [`RESIZE_THRESHOLD`] in CPU or memory.

/// `sizing: Measured` asks for measured p95 × this, never more than was requested.
pub const MEASURED_SIZING_MARGIN: f64 = 1.2;

/// Relative change of a request below which a running workload is left as it is.
pub const RESIZE_THRESHOLD: f64 = 0.10;

/// CPU in milli-cores and memory in bytes, per replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    pub cpu_millis: u64,
    pub memory_bytes: u64,
}

/// What one workload should request now, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeasuredSize {
    pub size: Size,
    /// One phrase for status and Events.
    pub basis: String,
    /// True when `size` differs enough from what is applied to be worth a rollout.
    pub changed: bool,
}

/// The least a replica is ever sized to, whatever was measured (unless it asked for less):
/// 50 milli-cores, 64 MiB.
pub const FLOOR: Size = Size {
    cpu_millis: 50,
    memory_bytes: 64 << 20,
};

/// What a replica with measured p95 `measured` is sized to, when it asked for `asked`: the
/// demand the planner packs, and what a workload placed now is applied with.
pub fn demand(asked: Size, measured: Size) -> Size {
    measured_size(asked, Some(measured), asked, FLOOR).size
}

/// The size of one workload with `sizing: Measured` once its window has passed.
/// `measured` is the p95 per replica (None, or zero in a dimension: nothing was seen, so that
/// dimension keeps what was asked); no dimension goes below `floor` (or above what was asked).
pub fn measured_size(
    asked: Size,
    measured: Option<Size>,
    applied: Size,
    floor: Size,
) -> MeasuredSize {
    let Some(measured) = measured else {
        return MeasuredSize {
            size: asked,
            basis: "as asked: no measured usage".into(),
            changed: differs(asked, applied),
        };
    };
    // Rounded up to whole milli-cores and MiB, so requests read well in kubectl.
    let mut floored = false;
    let mut lower = |asked: u64, p95: u64, unit: u64, least: u64| {
        if p95 == 0 {
            return asked;
        }
        let sized = (p95 as f64 * MEASURED_SIZING_MARGIN / unit as f64).ceil() as u64 * unit;
        if sized < least && least < asked {
            floored = true;
        }
        sized.max(least).clamp(1, asked.max(1))
    };
    let size = Size {
        cpu_millis: lower(asked.cpu_millis, measured.cpu_millis, 1, floor.cpu_millis),
        memory_bytes: lower(
            asked.memory_bytes,
            measured.memory_bytes,
            1 << 20,
            floor.memory_bytes,
        ),
    };
    let basis = if size == asked {
        "as asked: measured p95 × 1.2 is not below it".to_string()
    } else if floored {
        format!(
            "measured p95 × 1.2, held at the floor of {}m cpu and {} MiB per replica",
            floor.cpu_millis,
            floor.memory_bytes >> 20
        )
    } else {
        "measured p95 × 1.2, below what was asked".to_string()
    };
    MeasuredSize {
        size,
        basis,
        changed: differs(size, applied),
    }
}

/// True when `a` and `b` differ by more than [`RESIZE_THRESHOLD`] in CPU or memory.
pub fn differs(a: Size, b: Size) -> bool {
    let rel = |x: u64, y: u64| (x as f64 - y as f64).abs() / (y.max(1) as f64);
    rel(a.cpu_millis, b.cpu_millis) > RESIZE_THRESHOLD
        || rel(a.memory_bytes, b.memory_bytes) > RESIZE_THRESHOLD
}

#[cfg(test)]
mod tests {
    use super::*;

    const MI: u64 = 1 << 20;
    const NONE: Size = Size {
        cpu_millis: 0,
        memory_bytes: 0,
    };
    fn size(cpu_millis: u64, memory_mib: u64) -> Size {
        Size {
            cpu_millis,
            memory_bytes: memory_mib * MI,
        }
    }

    #[test]
    fn lowers_to_measured_p95_with_margin() {
        let s = measured_size(size(500, 1024), Some(size(120, 400)), size(500, 1024), NONE);
        assert_eq!(s.size, size(144, 480));
        assert!(s.changed);
    }

    #[test]
    fn memory_is_rounded_up_to_whole_mib() {
        let s = measured_size(
            size(500, 1024),
            Some(Size {
                cpu_millis: 100,
                memory_bytes: 100 * MI + 1,
            }),
            size(500, 1024),
            NONE,
        );
        assert_eq!(s.size, size(120, 121));
    }

    #[test]
    fn never_above_what_was_asked() {
        let s = measured_size(
            size(500, 1024),
            Some(size(900, 2048)),
            size(500, 1024),
            NONE,
        );
        assert_eq!(s.size, size(500, 1024));
        assert!(!s.changed);
    }

    #[test]
    fn a_dimension_with_no_usage_keeps_what_was_asked() {
        let s = measured_size(size(1000, 2048), Some(size(100, 0)), size(1000, 2048), NONE);
        assert_eq!(s.size, size(120, 2048));
        let s = measured_size(size(1000, 2048), None, size(1000, 2048), NONE);
        assert_eq!(s.size, size(1000, 2048));
        assert!(!s.changed);
    }

    #[test]
    fn nothing_goes_below_the_floor() {
        // Nothing used: 1 / 2Gi asked came out 3m / 2Mi; the floor holds it at 50m / 64Mi.
        let s = measured_size(size(1000, 2048), Some(size(2, 1)), size(1000, 2048), FLOOR);
        assert_eq!(s.size, size(50, 64));
        assert!(
            s.basis.contains("floor of 50m cpu and 64 MiB"),
            "{}",
            s.basis
        );
        // Asked below the floor: what was asked stands.
        let s = measured_size(size(20, 32), Some(size(2, 1)), size(20, 32), FLOOR);
        assert_eq!(s.size, size(20, 32));
    }

    #[test]
    fn small_moves_do_not_roll_the_workload() {
        // Applied 144m; measured now says 150m: 4% more, left alone.
        let s = measured_size(size(500, 1024), Some(size(125, 400)), size(144, 480), NONE);
        assert_eq!(s.size, size(150, 480));
        assert!(!s.changed);
        // Usage grew: 300m → 360m, a rollout back up (still under what was asked).
        let s = measured_size(size(500, 1024), Some(size(300, 400)), size(144, 480), NONE);
        assert_eq!(s.size, size(360, 480));
        assert!(s.changed);
    }
}
