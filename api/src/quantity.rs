//! Kubernetes resource quantities (`500m`, `2`, `1.5Gi`, `1e3`), kept as written and parsed
//! exactly on demand, by Kubernetes' own rules (`k8s.io/apimachinery/pkg/api/resource`): a
//! decimal number, then a binary suffix (`Ki`…`Ei`), a decimal one (`n u m k M G T P E`) or
//! a decimal exponent (`e3`, `E-2`); values are rounded up, never down, to whole milli-cores
//! (cpu) or bytes (memory), with overflow checked. No floating point anywhere.
//!
//! Kept as the user's text so that status and snapshots echo what was asked. One parser for
//! the API, the engine and the operator. (`kube_quantity` would need k8s-openapi, which the
//! engine must not depend on.)

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The pattern the API server checks quantities against (the one Kubernetes itself uses).
pub const QUANTITY_PATTERN: &str = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";

/// The most cpu one replica may ask for: 4,096 cores (no server has more).
pub const MAX_CPU_MILLIS: u64 = 4096 * 1000;
/// The most memory one replica may ask for: 64 TiB (no server has more).
pub const MAX_MEMORY_BYTES: u64 = 64 << 40;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Quantity(pub String);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{input:?} is not a quantity Colo can use ({reason}); write e.g. 500m, 2, 1.5Gi or 512Mi")]
pub struct QuantityError {
    pub input: String,
    pub reason: &'static str,
}

/// A quantity's exact value: `mantissa × 10^exp10 × 2^exp2`, with its sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Exact {
    negative: bool,
    mantissa: u128,
    exp10: i32,
    exp2: u32,
}

impl Quantity {
    pub fn new(text: impl Into<String>) -> Self {
        Quantity(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// CPU in milli-cores, rounded up (Kubernetes rounds requests up, never down).
    pub fn cpu_millis(&self) -> Result<u64, QuantityError> {
        self.scaled(3)
    }

    /// Memory (or any count) in whole units, rounded up.
    pub fn bytes(&self) -> Result<u64, QuantityError> {
        self.scaled(0)
    }

    /// The value × 10^`shift`, rounded up; negative values and values past u64 are errors.
    fn scaled(&self, shift: i32) -> Result<u64, QuantityError> {
        let err = |reason| QuantityError {
            input: self.0.clone(),
            reason,
        };
        let exact = parse(&self.0).map_err(err)?;
        if exact.mantissa == 0 {
            return Ok(0);
        }
        if exact.negative {
            return Err(err("negative"));
        }
        let too_large = || err("too large");
        let mut n = exact.mantissa;
        let doubled = 1u128.checked_shl(exact.exp2).ok_or_else(too_large)?;
        n = n.checked_mul(doubled).ok_or_else(too_large)?;
        let e = exact.exp10.checked_add(shift).ok_or_else(too_large)?;
        if e >= 0 {
            let p = 10u128.checked_pow(e as u32).ok_or_else(too_large)?;
            n = n.checked_mul(p).ok_or_else(too_large)?;
        } else {
            // ceil(n / 10^k), in steps that fit (nested ceilings of integers are exact).
            let mut k = e.unsigned_abs();
            while k > 0 && n > 0 {
                let step = k.min(38);
                n = n.div_ceil(10u128.pow(step));
                k -= step;
            }
        }
        u64::try_from(n).map_err(|_| too_large())
    }

    pub fn from_cpu_millis(millis: u64) -> Self {
        if millis.is_multiple_of(1000) {
            Quantity(format!("{}", millis / 1000))
        } else {
            Quantity(format!("{millis}m"))
        }
    }

    pub fn from_bytes(bytes: u64) -> Self {
        const UNITS: [(&str, u64); 6] = [
            ("Ei", 1 << 60),
            ("Pi", 1 << 50),
            ("Ti", 1 << 40),
            ("Gi", 1 << 30),
            ("Mi", 1 << 20),
            ("Ki", 1 << 10),
        ];
        for (suffix, size) in UNITS {
            if bytes >= size && bytes.is_multiple_of(size) {
                return Quantity(format!("{}{suffix}", bytes / size));
            }
        }
        Quantity(bytes.to_string())
    }
}

/// Parses Kubernetes' quantity syntax exactly.
fn parse(text: &str) -> Result<Exact, &'static str> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty");
    }
    let (negative, s) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let number_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(number_end);
    let (mantissa, fraction_digits) = decimal(number)?;
    let (exp10, exp2) = suffix_scale(suffix)?;
    Ok(Exact {
        negative,
        mantissa,
        exp10: exp10
            .checked_sub(fraction_digits)
            .ok_or("exponent too large")?,
        exp2,
    })
}

/// `12.50` → (1250, 2): the digits as one integer, and how many were after the point.
/// Leading zeros and trailing zeros after the point do not count against precision.
fn decimal(number: &str) -> Result<(u128, i32), &'static str> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err("no number");
    }
    if fraction.contains('.') {
        return Err("two decimal points");
    }
    let fraction = fraction.trim_end_matches('0');
    let mut mantissa: u128 = 0;
    for c in whole.chars().chain(fraction.chars()) {
        let digit = c.to_digit(10).ok_or("not a digit")? as u128;
        mantissa = mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(digit))
            .ok_or("too many digits")?;
    }
    Ok((mantissa, fraction.len() as i32))
}

/// The power of ten and of two a suffix stands for.
fn suffix_scale(suffix: &str) -> Result<(i32, u32), &'static str> {
    Ok(match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        exp if exp.starts_with(['e', 'E']) => (exponent(&exp[1..])?, 0),
        _ => return Err("unknown suffix"),
    })
}

/// A decimal exponent: a whole number with an optional sign, within ±10^6.
fn exponent(text: &str) -> Result<i32, &'static str> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err("bad exponent");
    }
    let value: i32 = text.parse().map_err(|_| "exponent too large")?;
    if value.unsigned_abs() > 1_000_000 {
        return Err("exponent too large");
    }
    Ok(value)
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Accepts `cpu: 2` as well as `cpu: "2"`, as Kubernetes does (int-or-string).
impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a quantity such as 500m, 2 or 1Gi")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Quantity, E> {
                parse(v).map_err(|reason| {
                    E::custom(QuantityError {
                        input: v.to_string(),
                        reason,
                    })
                })?;
                Ok(Quantity(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Quantity, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[cfg(feature = "crd")]
impl schemars::JsonSchema for Quantity {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Quantity".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A Kubernetes quantity: 500m, 2, 1.5Gi, 512Mi.",
            "x-kubernetes-int-or-string": true,
            "pattern": QUANTITY_PATTERN,
            "maxLength": 32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(text: &str) -> Result<u64, &'static str> {
        Quantity::new(text).cpu_millis().map_err(|e| e.reason)
    }

    fn bytes(text: &str) -> Result<u64, &'static str> {
        Quantity::new(text).bytes().map_err(|e| e.reason)
    }

    #[test]
    fn parses_the_forms_kubernetes_accepts() {
        assert_eq!(millis("500m"), Ok(500));
        assert_eq!(millis("2"), Ok(2000));
        assert_eq!(millis("0.25"), Ok(250));
        assert_eq!(millis("+1.5"), Ok(1500));
        assert_eq!(millis(".5"), Ok(500));
        assert_eq!(millis("5."), Ok(5000));
        assert_eq!(bytes("1Gi"), Ok(1 << 30));
        assert_eq!(bytes("1.5Gi"), Ok(3 << 29));
        assert_eq!(bytes("128M"), Ok(128_000_000));
        assert_eq!(bytes("1e3"), Ok(1000));
        assert_eq!(bytes("1E3"), Ok(1000));
        assert_eq!(millis("1e-3"), Ok(1));
        assert_eq!(millis("100n"), Ok(1), "rounds up");
        assert_eq!(millis("0"), Ok(0));
        assert_eq!(millis("-0"), Ok(0));
    }

    #[test]
    fn exact_where_floating_point_was_not() {
        // 1275m came out 1276m through f64; 515 of 1m..4000m were 1m high.
        assert_eq!(millis("1275m"), Ok(1275));
        for m in 1..=4000u64 {
            assert_eq!(millis(&format!("{m}m")), Ok(m));
            assert_eq!(millis(&format!("{}.{:03}", m / 1000, m % 1000)), Ok(m));
        }
        assert_eq!(bytes("0.1Ki"), Ok(103), "102.4 rounds up");
        assert_eq!(millis("1.0001m"), Ok(2), "rounds up, never down");
    }

    /// Cases from Kubernetes' own quantity tests (`resource/quantity_test.go`), as values in
    /// milli-units and whole units.
    #[test]
    fn kubernetes_table() {
        let cases: &[(&str, u64, u64)] = &[
            ("0", 0, 0),
            ("0n", 0, 0),
            ("0u", 0, 0),
            ("0m", 0, 0),
            ("0Ki", 0, 0),
            ("0k", 0, 0),
            ("0Mi", 0, 0),
            ("0M", 0, 0),
            ("1n", 1, 1),
            ("1u", 1, 1),
            ("1m", 1, 1),
            ("1", 1000, 1),
            ("1Ki", 1_024_000, 1024),
            ("1k", 1_000_000, 1000),
            ("1Mi", 1_048_576_000, 1 << 20),
            ("1M", 1_000_000_000, 1_000_000),
            ("1Gi", 1_073_741_824_000, 1 << 30),
            ("1G", 1_000_000_000_000, 1_000_000_000),
            ("1Ti", 1_099_511_627_776_000, 1 << 40),
            ("1T", 1_000_000_000_000_000, 1_000_000_000_000),
            ("1Pi", 1_125_899_906_842_624_000, 1 << 50),
            ("1P", 1_000_000_000_000_000_000, 1_000_000_000_000_000),
            ("1E", u64::MAX, 1_000_000_000_000_000_000),
            ("1Ei", u64::MAX, 1 << 60),
            ("12e6", 12_000_000_000, 12_000_000),
            ("1.1e3", 1_100_000, 1100),
            ("0.1", 100, 1),
            ("0.0001", 1, 1),
            (".001", 1, 1),
            ("1.5Ki", 1_536_000, 1536),
            ("10.5", 10_500, 11),
            ("100000000000000000000", u64::MAX, u64::MAX),
        ];
        for &(text, m, b) in cases {
            let want_m = if m == u64::MAX {
                Err("too large")
            } else {
                Ok(m)
            };
            let want_b = if b == u64::MAX {
                Err("too large")
            } else {
                Ok(b)
            };
            assert_eq!(millis(text), want_m, "{text} in milli-units");
            assert_eq!(bytes(text), want_b, "{text} in units");
        }
    }

    #[test]
    fn rejects_what_kubernetes_rejects_and_what_is_too_large() {
        for bad in [
            "",
            "abc",
            "1Gb",
            "1..5",
            "--1",
            "m",
            "1e",
            "1e+",
            ".",
            "1.2.3",
            "1 Gi",
            "Ki",
            "1ki",
            "1e1000001",
            "5i",
        ] {
            assert!(millis(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(millis("-1"), Err("negative"));
        // Exact even at the edge of u64; the engine's own bounds refuse these (i64, per replica).
        assert_eq!(millis("10P"), Ok(10_000_000_000_000_000_000));
        assert_eq!(
            millis("20P"),
            Err("too large"),
            "2×10^19 milli-cores is past u64"
        );
        assert_eq!(bytes("8Ei"), Ok(1 << 63));
        assert_eq!(bytes("16Ei"), Err("too large"), "2^64 bytes is past u64");
        assert_eq!(bytes("7Ei"), Ok(7 << 60));
        assert_eq!(
            millis("1e-1000000"),
            Ok(1),
            "tiny but positive rounds up to 1m"
        );
    }

    #[test]
    fn formats_round_numbers_readably() {
        assert_eq!(Quantity::from_cpu_millis(2000).as_str(), "2");
        assert_eq!(Quantity::from_cpu_millis(480).as_str(), "480m");
        assert_eq!(Quantity::from_bytes(2 << 30).as_str(), "2Gi");
        assert_eq!(Quantity::from_bytes(1000).as_str(), "1000");
        assert_eq!(Quantity::from_bytes(3 << 60).as_str(), "3Ei");
    }

    #[test]
    fn deserialises_numbers_and_strings() {
        let q: Quantity = serde_json::from_str("2").unwrap();
        assert_eq!(q.as_str(), "2");
        let q: Quantity = serde_json::from_str("0.5").unwrap();
        assert_eq!(q.cpu_millis(), Ok(500));
        let q: Quantity = serde_json::from_str("\"250m\"").unwrap();
        assert_eq!(q.cpu_millis(), Ok(250));
        let err = serde_json::from_str::<Quantity>("\"lots\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a quantity"), "{err}");
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn parse_of_format_is_the_same_cpu(m in 0u64..=u64::MAX / 1000) {
                prop_assert_eq!(Quantity::from_cpu_millis(m).cpu_millis(), Ok(m));
            }

            #[test]
            fn parse_of_format_is_the_same_memory(b in any::<u64>()) {
                prop_assert_eq!(Quantity::from_bytes(b).bytes(), Ok(b));
            }

            #[test]
            fn decimal_text_is_exact(whole in 0u64..1_000_000, frac in 0u64..1000) {
                let text = format!("{whole}.{frac:03}");
                prop_assert_eq!(Quantity::new(text).cpu_millis(), Ok(whole * 1000 + frac));
            }

            #[test]
            fn never_panics(text in "\\PC{0,40}") {
                let q = Quantity::new(text);
                let _ = q.cpu_millis();
                let _ = q.bytes();
            }
        }
    }
}
