//! Lookup over one bulk-stats record's typed parameters, with unit conversions.

use crate::libvirt::{ParamValue, TypedParam};
use std::collections::HashMap;

/// The fields of one `virConnectGetAllDomainStats` record, by name.
pub struct Fields<'a> {
    by_name: HashMap<&'a str, &'a ParamValue>,
}

impl<'a> Fields<'a> {
    pub fn new(params: &'a [TypedParam]) -> Self {
        Fields {
            by_name: params
                .iter()
                .map(|p| (p.field.as_str(), &p.value))
                .collect(),
        }
    }

    /// The raw value of a field.
    pub fn value(&self, key: &str) -> Option<&'a ParamValue> {
        self.by_name.get(key).copied()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.by_name.contains_key(key)
    }

    /// Field names starting with `prefix`.
    pub fn names_with_prefix<'s>(&'s self, prefix: &'s str) -> impl Iterator<Item = &'a str> + 's {
        self.by_name
            .keys()
            .copied()
            .filter(move |k| k.starts_with(prefix))
    }

    /// A non-negative number as an integer; negative or non-numeric values are absent.
    pub fn u64(&self, key: &str) -> Option<u64> {
        match self.by_name.get(key)? {
            ParamValue::Int(v) => u64::try_from(*v).ok(),
            ParamValue::UInt(v) => Some(*v),
            ParamValue::Double(v) if *v >= 0.0 && v.is_finite() => Some(*v as u64),
            ParamValue::Bool(b) => Some(u64::from(*b)),
            _ => None,
        }
    }

    pub fn u32(&self, key: &str) -> Option<u32> {
        self.u64(key).and_then(|v| u32::try_from(v).ok())
    }

    pub fn f64(&self, key: &str) -> Option<f64> {
        match self.by_name.get(key)? {
            ParamValue::Int(v) => Some(*v as f64),
            ParamValue::UInt(v) => Some(*v as f64),
            ParamValue::Double(v) => Some(*v),
            ParamValue::Bool(b) => Some(f64::from(u8::from(*b))),
            ParamValue::Text(_) => None,
        }
    }

    pub fn str(&self, key: &str) -> Option<&'a str> {
        match self.by_name.get(key)? {
            ParamValue::Text(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// Nanoseconds → seconds.
    pub fn seconds_from_ns(&self, key: &str) -> Option<f64> {
        self.u64(key).map(ns_to_seconds)
    }

    /// KiB → bytes.
    pub fn bytes_from_kib(&self, key: &str) -> Option<u64> {
        self.u64(key).map(kib_to_bytes)
    }
}

pub fn ns_to_seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

pub fn kib_to_bytes(kib: u64) -> u64 {
    kib.saturating_mul(1024)
}

/// libvirt reports "not available" as a negative value in the legacy per-domain calls.
pub fn non_negative(v: i64) -> Option<u64> {
    u64::try_from(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(field: &str, value: ParamValue) -> TypedParam {
        TypedParam {
            field: field.into(),
            value,
        }
    }

    #[test]
    fn converts_any_numeric_type_and_units() {
        let params = vec![
            p("a", ParamValue::Int(5)),
            p("b", ParamValue::UInt(2048)),
            p("c", ParamValue::Double(1.5)),
            p("d", ParamValue::Int(-1)),
            p("e", ParamValue::Text("x".into())),
            p("t", ParamValue::UInt(1_500_000_000)),
        ];
        let f = Fields::new(&params);
        assert_eq!(f.u64("a"), Some(5));
        assert_eq!(f.bytes_from_kib("b"), Some(2048 * 1024));
        assert_eq!(f.f64("c"), Some(1.5));
        assert_eq!(f.u64("d"), None, "negative means not reported");
        assert_eq!(f.u64("e"), None);
        assert_eq!(f.str("e"), Some("x"));
        assert_eq!(f.seconds_from_ns("t"), Some(1.5));
        assert_eq!(f.u64("missing"), None);
    }
}
