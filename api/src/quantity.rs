//! Kubernetes resource quantities (`500m`, `2`, `1.5Gi`, `1e3`), kept as written and parsed on demand.
//!
//! Kept as the user's text so that status and snapshots echo what was asked; parsing is exact
//! enough for placement (milli-cores and bytes), not an arbitrary-precision decimal.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The pattern the API server checks quantities against (the one Kubernetes itself uses).
pub const QUANTITY_PATTERN: &str = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Quantity(pub String);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{input:?} is not a quantity ({reason}); write e.g. 500m, 2, 1.5Gi or 512Mi")]
pub struct QuantityError {
    pub input: String,
    pub reason: &'static str,
}

impl Quantity {
    pub fn new(text: impl Into<String>) -> Self {
        Quantity(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value in base units (cores for cpu, bytes for memory).
    pub fn value(&self) -> Result<f64, QuantityError> {
        parse(&self.0)
    }

    /// CPU in milli-cores, rounded up (Kubernetes rounds requests up, never down).
    pub fn cpu_millis(&self) -> Result<u64, QuantityError> {
        Ok(non_negative(self, self.value()? * 1000.0)?.ceil() as u64)
    }

    /// Memory in bytes, rounded up.
    pub fn bytes(&self) -> Result<u64, QuantityError> {
        Ok(non_negative(self, self.value()?)?.ceil() as u64)
    }

    pub fn from_cpu_millis(millis: u64) -> Self {
        if millis.is_multiple_of(1000) {
            Quantity(format!("{}", millis / 1000))
        } else {
            Quantity(format!("{millis}m"))
        }
    }

    pub fn from_bytes(bytes: u64) -> Self {
        const UNITS: [(&str, u64); 4] = [
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

fn non_negative(q: &Quantity, v: f64) -> Result<f64, QuantityError> {
    if v < 0.0 {
        return Err(QuantityError {
            input: q.0.clone(),
            reason: "negative",
        });
    }
    Ok(v)
}

fn parse(text: &str) -> Result<f64, QuantityError> {
    let err = |reason| QuantityError {
        input: text.to_string(),
        reason,
    };
    let s = text.trim();
    if s.is_empty() {
        return Err(err("empty"));
    }
    let number_end = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || ((c == '+' || c == '-') && i == 0)))
        .map_or(s.len(), |(i, _)| i);
    let (number, suffix) = s.split_at(number_end);
    if !number.chars().any(|c| c.is_ascii_digit()) || number.matches('.').count() > 1 {
        return Err(err("no number"));
    }
    let base: f64 = number.parse().map_err(|_| err("no number"))?;
    let multiplier = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exp if exp.starts_with(['e', 'E']) => {
            let e: i32 = exp[1..].parse().map_err(|_| err("bad exponent"))?;
            10f64.powi(e)
        }
        _ => return Err(err("unknown suffix")),
    };
    Ok(base * multiplier)
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
                parse(v).map_err(E::custom)?;
                Ok(Quantity(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
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

    #[test]
    fn parses_the_forms_kubernetes_accepts() {
        assert_eq!(Quantity::new("500m").cpu_millis(), Ok(500));
        assert_eq!(Quantity::new("2").cpu_millis(), Ok(2000));
        assert_eq!(Quantity::new("0.25").cpu_millis(), Ok(250));
        assert_eq!(Quantity::new("1Gi").bytes(), Ok(1 << 30));
        assert_eq!(Quantity::new("1.5Gi").bytes(), Ok(3 << 29));
        assert_eq!(Quantity::new("128M").bytes(), Ok(128_000_000));
        assert_eq!(Quantity::new("1e3").bytes(), Ok(1000));
        assert_eq!(Quantity::new("100n").cpu_millis(), Ok(1), "rounds up");
    }

    #[test]
    fn rejects_what_kubernetes_rejects() {
        for bad in ["", "abc", "1Gb", "1..5", "--1", "m", "1e"] {
            assert!(
                Quantity::new(bad).value().is_err(),
                "{bad:?} should be rejected"
            );
        }
        assert!(Quantity::new("-1").cpu_millis().is_err(), "negative cpu");
    }

    #[test]
    fn formats_round_numbers_readably() {
        assert_eq!(Quantity::from_cpu_millis(2000).as_str(), "2");
        assert_eq!(Quantity::from_cpu_millis(480).as_str(), "480m");
        assert_eq!(Quantity::from_bytes(2 << 30).as_str(), "2Gi");
        assert_eq!(Quantity::from_bytes(1000).as_str(), "1000");
    }

    #[test]
    fn deserialises_numbers_and_strings() {
        let q: Quantity = serde_json::from_str("2").unwrap();
        assert_eq!(q.as_str(), "2");
        let q: Quantity = serde_json::from_str("\"250m\"").unwrap();
        assert_eq!(q.cpu_millis(), Ok(250));
        let err = serde_json::from_str::<Quantity>("\"lots\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a quantity"), "{err}");
    }
}
