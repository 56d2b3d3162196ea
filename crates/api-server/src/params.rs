//! Query strings as moby reads them.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use berth_api_types::filters::Filters;

use crate::error::ApiError;

/// The query string, repeated keys kept (`changes=…&changes=…`).
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid(format!("invalid query string: {e}")))?;
        Ok(Params(pairs))
    }
}

impl Params {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A non-empty value, as moby's `r.Form.Get(k) != ""`.
    pub fn nonempty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// moby httputils.BoolValue: anything but "", "0", "no", "false",
    /// "none" (any case) is true.
    pub fn bool(&self, key: &str) -> bool {
        match self.get(key) {
            None => false,
            Some(v) => !matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "" | "0" | "no" | "false" | "none"
            ),
        }
    }

    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.nonempty(key) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| ApiError::invalid(format!("invalid value for {key}: {v:?}"))),
        }
    }

    pub fn filters(&self) -> Result<Filters, ApiError> {
        Filters::parse(self.get("filters").unwrap_or(""))
            .map_err(|e| ApiError::invalid(e.to_string()))
    }
}
