//! The `filters` query parameter of list, prune and events endpoints
//! (moby `filters.Args`).
//!
//! Clients send one of two JSON forms, and both must be accepted:
//! `{"status":{"exited":true}}` (what `filters.Args` marshals to, and what the
//! Go client sends) and `{"status":["exited"]}` (the slice form docker-py and
//! older clients send).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A filter Docker would reject; the server answers 400 with this text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct FilterError {
    /// The offending key; `None` when the JSON itself is malformed.
    pub filter: Option<String>,
    /// The offending values, when a value rather than the key is wrong.
    pub value: Option<Vec<String>>,
}

impl FilterError {
    pub fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::InvalidArgument
    }

    /// Key not accepted by the endpoint: `invalid filter 'key'`.
    pub fn key(filter: impl Into<String>) -> Self {
        FilterError {
            filter: Some(filter.into()),
            value: None,
        }
    }

    /// Value not accepted for the key: `invalid filter 'key=[a b]'`.
    pub fn value(filter: impl Into<String>, values: Vec<String>) -> Self {
        FilterError {
            filter: Some(filter.into()),
            value: Some(values),
        }
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid filter")?;
        if let Some(key) = self.filter.as_deref().filter(|k| !k.is_empty()) {
            write!(f, " '{key}")?;
            if let Some(values) = &self.value {
                // Go prints a []string with %s as "[a b]".
                write!(f, "=[{}]", values.join(" "))?;
            }
            f.write_str("'")?;
        }
        Ok(())
    }
}

/// A set of values per key. A value can be present but `false` (only the map
/// form can say so); like moby, `get` and `contains` still see it, the
/// matchers do not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    fields: BTreeMap<String, BTreeMap<String, bool>>,
}

impl Filters {
    pub fn new() -> Self {
        Self::default()
    }

    /// Moby's `filters.FromJSON`: the empty string means no filters.
    pub fn parse(s: &str) -> Result<Self, FilterError> {
        if s.is_empty() {
            return Ok(Self::default());
        }
        let malformed = || FilterError {
            filter: None,
            value: None,
        };
        let v: Value = serde_json::from_str(s).map_err(|_| malformed())?;
        Self::from_value(&v).ok_or_else(malformed)
    }

    fn from_value(v: &Value) -> Option<Self> {
        let obj = match v {
            Value::Null => return Some(Self::default()),
            Value::Object(o) => o,
            _ => return None,
        };
        // Try the map form first for every key, then the slice form for
        // every key, like moby: a body mixing both forms is rejected.
        let map_form = || -> Option<BTreeMap<String, BTreeMap<String, bool>>> {
            obj.iter()
                .map(|(k, v)| {
                    let values = match v {
                        Value::Null => BTreeMap::new(),
                        Value::Object(m) => m
                            .iter()
                            .map(|(val, b)| match b {
                                Value::Bool(b) => Some((val.clone(), *b)),
                                Value::Null => Some((val.clone(), false)),
                                _ => None,
                            })
                            .collect::<Option<_>>()?,
                        _ => return None,
                    };
                    Some((k.clone(), values))
                })
                .collect()
        };
        let slice_form = || -> Option<BTreeMap<String, BTreeMap<String, bool>>> {
            obj.iter()
                .map(|(k, v)| {
                    let values = match v {
                        Value::Null => BTreeMap::new(),
                        Value::Array(a) => a
                            .iter()
                            .map(|e| match e {
                                Value::String(s) => Some((s.clone(), true)),
                                Value::Null => Some((String::new(), true)),
                                _ => None,
                            })
                            .collect::<Option<_>>()?,
                        _ => return None,
                    };
                    Some((k.clone(), values))
                })
                .collect()
        };
        map_form()
            .or_else(slice_form)
            .map(|fields| Filters { fields })
    }

    /// Moby's `ToJSON`: the empty string when there is nothing to send.
    pub fn to_json(&self) -> String {
        if self.fields.is_empty() {
            return String::new();
        }
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn add(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.fields
            .entry(key.into())
            .or_default()
            .insert(value.into(), true);
    }

    pub fn del(&mut self, key: &str, value: &str) {
        if let Some(values) = self.fields.get_mut(key) {
            values.remove(value);
            if values.is_empty() {
                self.fields.remove(key);
            }
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The keys, sorted.
    pub fn keys(&self) -> Vec<&str> {
        self.fields.keys().map(String::as_str).collect()
    }

    /// The values of `key`, sorted; empty when the key is absent.
    pub fn get(&self, key: &str) -> Vec<&str> {
        self.fields
            .get(key)
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.fields.contains_key(key)
    }

    /// Rejects the first key not in `accepted`: `invalid filter 'key'`.
    pub fn validate(&self, accepted: &[&str]) -> Result<(), FilterError> {
        match self.fields.keys().find(|k| !accepted.contains(&k.as_str())) {
            Some(k) => Err(FilterError::key(k.clone())),
            None => Ok(()),
        }
    }

    /// Label-style matching (`label=k` needs the key, `label=k=v` needs the
    /// value too); every value at `key` must match. No filter at `key`
    /// matches everything; a filter against no labels matches nothing.
    ///
    /// Negation (`label!=k=v`) is a separate key, `label!`, in moby's
    /// callers; see [`Filters::match_kv_list_negated`].
    pub fn match_kv_list(&self, key: &str, sources: &BTreeMap<String, String>) -> bool {
        let Some(values) = self.fields.get(key).filter(|v| !v.is_empty()) else {
            return true;
        };
        if sources.is_empty() {
            return false;
        }
        values.keys().all(|value| match value.split_once('=') {
            Some((k, v)) => sources.get(k).is_some_and(|sv| sv == v),
            None => sources.contains_key(value.as_str()),
        })
    }

    /// The `label!=` form (key `label!`), as moby's prune and list code
    /// applies it: an object is kept unless *all* the pairs at `key` match
    /// it.
    pub fn match_kv_list_negated(&self, key: &str, sources: &BTreeMap<String, String>) -> bool {
        !self.contains(key) || !self.match_kv_list(key, sources)
    }

    /// Moby's `Match`: an exact value, or a value used as an unanchored
    /// regular expression (invalid expressions are skipped). This is how
    /// `docker ps -f name=web` finds `/my-web-1`.
    pub fn matches(&self, key: &str, source: &str) -> bool {
        if self.exact_match(key, source) {
            return true;
        }
        self.fields.get(key).is_some_and(|values| {
            values
                .keys()
                .any(|pattern| regex::Regex::new(pattern).is_ok_and(|re| re.is_match(source)))
        })
    }

    /// True when no filter is set at `key`, or `source` is one of its
    /// (true) values.
    pub fn exact_match(&self, key: &str, source: &str) -> bool {
        match self.fields.get(key) {
            None => true,
            Some(values) if values.is_empty() => true,
            Some(values) => values.get(source).copied().unwrap_or(false),
        }
    }

    /// Like [`Filters::exact_match`] but a key with several values never
    /// matches.
    pub fn unique_exact_match(&self, key: &str, source: &str) -> bool {
        match self.fields.get(key) {
            None => true,
            Some(values) if values.is_empty() => true,
            Some(values) if values.len() != 1 => false,
            Some(values) => values.get(source).copied().unwrap_or(false),
        }
    }

    /// An exact match, or a value that is a prefix of `source` (how
    /// `id=abc` finds a full container id).
    pub fn fuzzy_match(&self, key: &str, source: &str) -> bool {
        if self.exact_match(key, source) {
            return true;
        }
        self.fields.get(key).is_some_and(|values| {
            values
                .keys()
                .any(|prefix| source.starts_with(prefix.as_str()))
        })
    }

    /// For boolean filters (`dangling=true`): `default` when absent, an error
    /// when the values are missing, not boolean, or contradict each other.
    pub fn get_bool_or_default(&self, key: &str, default: bool) -> Result<bool, FilterError> {
        let Some(values) = self.fields.get(key) else {
            return Ok(default);
        };
        if values.is_empty() {
            return Err(FilterError::key(key));
        }
        let has = |v: &str| values.get(v).copied().unwrap_or(false);
        let is_false = has("0") || has("false");
        let is_true = has("1") || has("true");
        if is_false == is_true {
            let list = self.get(key).into_iter().map(str::to_owned).collect();
            return Err(FilterError::value(key, list));
        }
        Ok(is_true)
    }
}

impl FromStr for Filters {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Filters::parse(s)
    }
}

impl Serialize for Filters {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.fields.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Filters {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Filters::from_value(&v).ok_or_else(|| {
            serde::de::Error::custom(FilterError {
                filter: None,
                value: None,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn both_forms_parse_the_same() {
        let a = Filters::parse(r#"{"status":["exited","dead"],"label":["a=b"]}"#).unwrap();
        let b = Filters::parse(r#"{"status":{"exited":true,"dead":true},"label":{"a=b":true}}"#)
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.keys(), vec!["label", "status"]);
        assert_eq!(a.get("status"), vec!["dead", "exited"]);
        assert!(a.get("nope").is_empty());
        assert!(a.contains("label"));
        assert!(!a.contains("name"));
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn empty_and_null_mean_no_filters() {
        for s in ["", "{}", "null"] {
            let f = Filters::parse(s).unwrap();
            assert!(f.is_empty(), "{s:?}");
        }
        assert_eq!(Filters::new().to_json(), "");
    }

    #[test]
    fn malformed_input_is_invalid_filter() {
        for s in [
            "{",
            "[]",
            "\"status\"",
            r#"{"status":"exited"}"#,
            r#"{"status":{"exited":"yes"}}"#,
            r#"{"status":[1]}"#,
            r#"{"a":["x"],"b":{"y":true}}"#,
        ] {
            let e = Filters::parse(s).unwrap_err();
            assert_eq!(e.to_string(), "invalid filter", "{s}");
            assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument);
        }
    }

    #[test]
    fn validate_names_the_key() {
        let f = Filters::parse(r#"{"status":["running"],"bogus":["1"]}"#).unwrap();
        let e = f.validate(&["status", "label"]).unwrap_err();
        assert_eq!(e.to_string(), "invalid filter 'bogus'");
        assert!(f.validate(&["status", "bogus"]).is_ok());
    }

    #[test]
    fn bool_filters() {
        let f = Filters::parse(r#"{"dangling":["true"]}"#).unwrap();
        assert_eq!(f.get_bool_or_default("dangling", false), Ok(true));
        assert_eq!(f.get_bool_or_default("other", true), Ok(true));
        let f = Filters::parse(r#"{"dangling":["true","0"]}"#).unwrap();
        assert_eq!(
            f.get_bool_or_default("dangling", false)
                .unwrap_err()
                .to_string(),
            "invalid filter 'dangling=[0 true]'"
        );
        let f = Filters::parse(r#"{"dangling":["maybe"]}"#).unwrap();
        assert!(f.get_bool_or_default("dangling", false).is_err());
    }

    #[test]
    fn kv_list_matching() {
        let src = labels(&[("com.example", "x"), ("env", "prod")]);
        let f = Filters::parse(r#"{"label":["env"]}"#).unwrap();
        assert!(f.match_kv_list("label", &src));
        let f = Filters::parse(r#"{"label":["env=prod","com.example"]}"#).unwrap();
        assert!(f.match_kv_list("label", &src));
        let f = Filters::parse(r#"{"label":["env=dev"]}"#).unwrap();
        assert!(!f.match_kv_list("label", &src));
        let f = Filters::parse(r#"{"label":["missing"]}"#).unwrap();
        assert!(!f.match_kv_list("label", &src));
        assert!(!f.match_kv_list("label", &BTreeMap::new()));
        // no filter at the key: everything matches, even no labels
        assert!(f.match_kv_list("other", &BTreeMap::new()));
        // a value containing '=' splits at the first one only
        let f = Filters::parse(r#"{"label":["k=a=b"]}"#).unwrap();
        assert!(f.match_kv_list("label", &labels(&[("k", "a=b")])));
        let f = Filters::parse(r#"{"label!":["env=prod"]}"#).unwrap();
        assert!(!f.match_kv_list_negated("label!", &src));
        assert!(f.match_kv_list_negated("label!", &labels(&[("env", "dev")])));
        assert!(f.match_kv_list_negated("label!", &BTreeMap::new()));
        assert!(Filters::new().match_kv_list_negated("label!", &src));
    }

    #[test]
    fn exact_fuzzy_regex() {
        let f = Filters::parse(r#"{"id":["abc"],"name":["^/we.$"]}"#).unwrap();
        assert!(f.exact_match("id", "abc"));
        assert!(!f.exact_match("id", "abcd"));
        assert!(f.fuzzy_match("id", "abcdef"));
        assert!(!f.fuzzy_match("id", "xabc"));
        assert!(f.exact_match("unset", "anything"));
        assert!(f.matches("name", "/web"));
        assert!(!f.matches("name", "/webs"));
        let f = Filters::parse(r#"{"name":["web"]}"#).unwrap();
        assert!(f.matches("name", "/my-web-1"));
        // an invalid expression is skipped, not an error
        let f = Filters::parse(r#"{"name":["(["]}"#).unwrap();
        assert!(!f.matches("name", "/x"));
        // false values from the map form do not match
        let f = Filters::parse(r#"{"id":{"abc":false}}"#).unwrap();
        assert!(!f.exact_match("id", "abc"));
        assert_eq!(f.get("id"), vec!["abc"]);
        let f = Filters::parse(r#"{"id":["a","b"]}"#).unwrap();
        assert!(!f.unique_exact_match("id", "a"));
    }

    #[test]
    fn serialises_in_map_form() {
        let mut f = Filters::new();
        f.add("label", "a=b");
        f.add("status", "exited");
        f.add("status", "dead");
        let s = f.to_json();
        assert_eq!(
            s,
            r#"{"label":{"a=b":true},"status":{"dead":true,"exited":true}}"#
        );
        assert_eq!(Filters::parse(&s).unwrap(), f);
        f.del("label", "a=b");
        assert!(!f.contains("label"));
        let g: Filters = serde_json::from_str(r#"{"x":["y"]}"#).unwrap();
        assert_eq!(g.get("x"), vec!["y"]);
    }
}
