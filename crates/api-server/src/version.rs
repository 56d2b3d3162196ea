//! API version prefixes (`/v1.45/containers/json`) and negotiation.

use std::fmt;

use crate::error::ApiError;

/// What we advertise: API 1.55 (the newest released, Docker 29.x).
pub const API_VERSION: ApiVersion = ApiVersion(1, 55);
/// The oldest version moby still accepts.
pub const MIN_API_VERSION: ApiVersion = ApiVersion(1, 24);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(pub u16, pub u16);

impl ApiVersion {
    pub fn parse(s: &str) -> Option<ApiVersion> {
        let (a, b) = s.split_once('.')?;
        Some(ApiVersion(a.parse().ok()?, b.parse().ok()?))
    }
    pub fn at_least(self, major: u16, minor: u16) -> bool {
        self >= ApiVersion(major, minor)
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// Splits a `/vX.Y` prefix off `path`. Unprefixed paths are served as the
/// newest version. A version out of range gets moby's 400 texts.
pub fn split_version(path: &str) -> Result<(ApiVersion, &str), ApiError> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok((API_VERSION, path));
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (ver, tail) = rest.split_at(end);
    // "/volumes" also starts with "/v": only digits and dots make a version.
    if ver.is_empty() || !ver.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Ok((API_VERSION, path));
    }
    let Some(v) = ApiVersion::parse(ver) else {
        return Err(ApiError::invalid(format!("invalid API version: {ver}")));
    };
    if v < MIN_API_VERSION {
        return Err(ApiError::invalid(format!(
            "client version {v} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    if v > API_VERSION {
        return Err(ApiError::invalid(format!(
            "client version {v} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    Ok((v, if tail.is_empty() { "/" } else { tail }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(
            split_version("/v1.50/containers/json").unwrap(),
            (ApiVersion(1, 50), "/containers/json")
        );
        assert_eq!(
            split_version("/volumes").unwrap(),
            (API_VERSION, "/volumes")
        );
        assert_eq!(split_version("/_ping").unwrap(), (API_VERSION, "/_ping"));
        assert_eq!(
            split_version("/v1.24/info").unwrap(),
            (ApiVersion(1, 24), "/info")
        );
        let old = split_version("/v1.23/info").unwrap_err();
        assert!(old.message.contains("is too old"), "{}", old.message);
        let new = split_version("/v1.56/info").unwrap_err();
        assert_eq!(
            new.message,
            "client version 1.56 is too new. Maximum supported API version is 1.55"
        );
        assert!(split_version("/v1/info").is_err());
    }
}
