//! Building responses for older API versions.
//!
//! Moby keeps its structs in the newest shape and, for older clients, adds
//! the fields those clients still expect to the encoded JSON (its
//! `daemon/internal/compat` package). These helpers do the same on a
//! `serde_json::Value`, so the API server can reproduce dockerd's per-version
//! answers without a type per version.

use serde::Serialize;
use serde_json::Value;

/// Adds `extra` to `base`, recursively and only where `base` has no value
/// (a missing key or `null`): what moby's `compat.WithExtraFields` does.
pub fn merge_extra_fields(base: &mut Value, extra: Value) {
    let (Value::Object(dst), Value::Object(src)) = (base, extra) else {
        return;
    };
    for (k, v) in src {
        match dst.get_mut(&k) {
            Some(existing @ Value::Object(_)) if v.is_object() => merge_extra_fields(existing, v),
            Some(existing) if !existing.is_null() => {}
            _ => {
                dst.insert(k, v);
            }
        }
    }
}

/// Removes top-level keys (moby's `compat.WithOmittedFields`).
pub fn omit_fields(base: &mut Value, keys: &[&str]) {
    if let Value::Object(m) = base {
        for k in keys {
            m.remove(*k);
        }
    }
}

/// Serialises `v` and merges `extra` into it.
pub fn with_extra_fields<T: Serialize>(v: &T, extra: Value) -> serde_json::Result<Value> {
    let mut base = serde_json::to_value(v)?;
    merge_extra_fields(&mut base, extra);
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn additive_and_recursive() {
        let mut base = json!({"a": 1, "n": null, "o": {"x": 1}, "s": "keep"});
        merge_extra_fields(
            &mut base,
            json!({"a": 2, "n": "filled", "o": {"x": 2, "y": 3}, "s": {"no": 1}, "new": [1]}),
        );
        assert_eq!(
            base,
            json!({"a": 1, "n": "filled", "o": {"x": 1, "y": 3}, "s": "keep", "new": [1]})
        );
        omit_fields(&mut base, &["new", "absent"]);
        assert!(base.get("new").is_none());
    }
}
