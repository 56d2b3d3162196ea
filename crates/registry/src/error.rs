//! Errors, and the registry's error bodies turned into dockerd's texts.
//!
//! The docker CLI prints the daemon's message verbatim, so the texts follow
//! docker/distribution's client (`registry/client/errors.go`,
//! `registry/api/errcode`) and moby's `distribution/errors.go` as dockerd
//! 20.10 vendors them.

use std::fmt;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::challenge;

/// What went wrong, coarsely; the daemon maps this to an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No such repository, tag, manifest or blob (dockerd answers 404).
    NotFound,
    /// Missing or refused credentials.
    Unauthorized,
    /// The credentials were accepted but do not allow the operation
    /// (`DENIED`, outside a pull).
    PermissionDenied,
    /// A bad name, reference, digest, or content the registry refused.
    InvalidArgument,
    /// The registry could not be reached, timed out, or is overloaded.
    Unavailable,
    /// Anything else, including protocol violations by the registry.
    Internal,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal error",
        };
        f.write_str(s)
    }
}

/// A registry-client error. The message is what dockerd would print.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// The registry's error codes (`MANIFEST_UNKNOWN`, ...), first first.
    codes: Vec<String>,
    /// `errcode.Error.Error()` of the first registry error, which dockerd's
    /// pull translation wraps.
    first_text: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            codes: Vec::new(),
            first_text: String::new(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The first error code of the registry's error body, if there was one
    /// (`"BLOB_UNKNOWN"`, `"DENIED"`, ...).
    pub fn registry_code(&self) -> Option<&str> {
        self.codes.first().map(String::as_str)
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Unauthorized, message)
    }

    /// Go's `url.Error` shape, `Head "http://…": cause`, which dockerd
    /// passes through for failures inside a request's round trip (transport
    /// errors, the auth handlers' errors).
    pub(crate) fn in_request(method: &reqwest::Method, url: &str, inner: Error) -> Self {
        Error {
            kind: inner.kind,
            message: format!("{} {}: {}", go_op(method), go_quote(url), inner.message),
            codes: inner.codes,
            // Go's `url.Error` is not an `errcode.Error`: dockerd's pull
            // translation leaves it alone, and so does ours.
            first_text: String::new(),
        }
    }

    /// A transport failure (connection refused, TLS, timeout, reset).
    pub(crate) fn transport(method: &reqwest::Method, url: &str, err: &reqwest::Error) -> Self {
        Error::new(
            ErrorKind::Unavailable,
            format!("{} {}: {}", go_op(method), go_quote(url), cause_chain(err)),
        )
    }

    /// dockerd's pull-side translation (`TranslatePullError`,
    /// `notFoundError`): the first registry error decides, and `DENIED`,
    /// `MANIFEST_UNKNOWN` and `NAME_UNKNOWN` become "not found" with the
    /// image named the way the user typed it.
    pub(crate) fn translate_pull(self, familiar_name: &str, familiar_string: &str) -> Self {
        let Some(code) = self.codes.first().filter(|_| !self.first_text.is_empty()) else {
            return self;
        };
        let prefix = match code.as_str() {
            "DENIED" => format!(
                "pull access denied for {familiar_name}, repository does not exist or may require 'docker login'"
            ),
            "MANIFEST_UNKNOWN" => format!("manifest for {familiar_string} not found"),
            "NAME_UNKNOWN" => format!("repository {familiar_name} not found"),
            _ => return self,
        };
        // `errors.Wrapf(cause, ...)`: the first error's own text after the
        // prefix, even when the registry sent several.
        Error {
            kind: ErrorKind::NotFound,
            message: format!("{prefix}: {}", self.first_text),
            codes: self.codes,
            first_text: self.first_text,
        }
    }
}

/// Go's `url.Error.Op`: the method with only its first letter upper-case.
fn go_op(method: &reqwest::Method) -> String {
    let m = method.as_str();
    let mut out = String::with_capacity(m.len());
    for (i, c) in m.chars().enumerate() {
        if i == 0 {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Go's `%q` for the (ASCII, already percent-encoded) URLs we print.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&c.escape_default().to_string()),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The useful part of a reqwest error: its causes, without reqwest's own
/// "error sending request for url (…)" (we print the URL ourselves) and
/// hyper-util's "client error (Connect)" wrapper.
fn cause_chain(err: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    if err.is_timeout() {
        parts.push("timeout".to_string());
    }
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = src {
        let s = e.to_string();
        if !s.starts_with("client error (") && !s.is_empty() && parts.last() != Some(&s) {
            parts.push(s);
        }
        src = e.source();
    }
    if parts.is_empty() {
        parts.push(err.to_string());
    }
    parts.join(": ")
}

/// docker/distribution's default message for each error code it knows, used
/// when the registry sends a code without a message.
fn default_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "UNKNOWN" => "unknown error",
        "UNSUPPORTED" => "The operation is unsupported.",
        "UNAUTHORIZED" => "authentication required",
        "DENIED" => "requested access to the resource is denied",
        "UNAVAILABLE" => "service unavailable",
        "TOOMANYREQUESTS" => "too many requests",
        "DIGEST_INVALID" => "provided digest did not match uploaded content",
        "SIZE_INVALID" => "provided length did not match content length",
        "NAME_INVALID" => "invalid repository name",
        "TAG_INVALID" => "manifest tag did not match URI",
        "NAME_UNKNOWN" => "repository name not known to registry",
        "MANIFEST_UNKNOWN" => "manifest unknown",
        "MANIFEST_INVALID" => "manifest invalid",
        "MANIFEST_UNVERIFIED" => "manifest failed signature verification",
        "MANIFEST_BLOB_UNKNOWN" => "blob unknown to registry",
        "BLOB_UNKNOWN" => "blob unknown to registry",
        "BLOB_UPLOAD_UNKNOWN" => "blob upload unknown to registry",
        "BLOB_UPLOAD_INVALID" => "blob upload invalid",
        "RANGE_INVALID" => "invalid content range",
        _ => return None,
    })
}

fn kind_of_code(code: &str, status: StatusCode) -> ErrorKind {
    match code {
        "UNAUTHORIZED" => ErrorKind::Unauthorized,
        "DENIED" => ErrorKind::PermissionDenied,
        "NAME_UNKNOWN"
        | "MANIFEST_UNKNOWN"
        | "BLOB_UNKNOWN"
        | "BLOB_UPLOAD_UNKNOWN"
        | "MANIFEST_BLOB_UNKNOWN" => ErrorKind::NotFound,
        "UNAVAILABLE" | "TOOMANYREQUESTS" => ErrorKind::Unavailable,
        "UNKNOWN" => kind_of_status(status),
        _ => ErrorKind::InvalidArgument,
    }
}

fn kind_of_status(status: StatusCode) -> ErrorKind {
    match status.as_u16() {
        401 => ErrorKind::Unauthorized,
        403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::NotFound,
        429 | 502..=504 => ErrorKind::Unavailable,
        400..=499 => ErrorKind::InvalidArgument,
        _ => ErrorKind::Internal,
    }
}

/// One entry of a registry's `{"errors":[…]}` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegistryError {
    pub code: String,
    pub message: String,
}

impl RegistryError {
    fn new(code: &str, message: &str) -> Self {
        let message = if message.is_empty() {
            default_message(code).unwrap_or_default().to_string()
        } else {
            message.to_string()
        };
        RegistryError {
            code: code.to_string(),
            message,
        }
    }

    /// `errcode.Error.Error()`: the code lower-cased with spaces, a colon,
    /// the message (`manifest unknown: manifest unknown`).
    fn text(&self) -> String {
        let code = self.code.to_ascii_lowercase().replace('_', " ");
        format!("{code}: {}", self.message)
    }
}

#[derive(serde::Deserialize)]
struct ErrorsBody {
    #[serde(default, alias = "Errors")]
    errors: Option<Vec<ErrorEntry>>,
    #[serde(default)]
    details: Option<String>,
}

#[derive(serde::Deserialize)]
struct ErrorEntry {
    #[serde(default, alias = "Code")]
    code: String,
    #[serde(default, alias = "Message")]
    message: String,
}

/// What `parseHTTPErrorResponse` makes of a 4xx body: registry errors, or
/// the text of why the body was not usable.
fn parse_error_body(
    status: StatusCode,
    body: &[u8],
) -> std::result::Result<Vec<RegistryError>, String> {
    let show = || go_quote(&String::from_utf8_lossy(body));
    let parsed: ErrorsBody = match serde_json::from_slice(body) {
        Ok(p) => p,
        Err(e) => {
            // Go's encoding/json says this for an empty body.
            let why = if body.iter().all(u8::is_ascii_whitespace) {
                "unexpected end of JSON input".to_string()
            } else {
                e.to_string()
            };
            return Err(format!(
                "error parsing HTTP {} response body: {why}: {}",
                status.as_u16(),
                show()
            ));
        }
    };
    // Docker Hub's token server and old registries: `{"details": "…"}`.
    if let Some(details) = parsed.details.filter(|d| !d.is_empty()) {
        let code = match status.as_u16() {
            401 => "UNAUTHORIZED",
            429 => "TOOMANYREQUESTS",
            _ => "UNKNOWN",
        };
        return Ok(vec![RegistryError::new(code, &details)]);
    }
    let errors: Vec<RegistryError> = parsed
        .errors
        .unwrap_or_default()
        .iter()
        .map(|e| {
            let code = if e.code.is_empty() {
                "UNKNOWN"
            } else {
                &e.code
            };
            RegistryError::new(&code.to_ascii_uppercase(), &e.message)
        })
        .collect();
    if errors.is_empty() {
        return Err(format!(
            "error parsing HTTP {} response body: no error details found in HTTP response body: {}",
            status.as_u16(),
            show()
        ));
    }
    Ok(errors)
}

/// `client.HandleErrorResponse`: a failed registry response as an error.
///
/// For 4xx, RFC 6750 errors in a Bearer challenge come first
/// (`insufficient_scope` is `DENIED`), then the body's errors. 5xx bodies
/// are not read by Docker: "received unexpected HTTP status: 500 …".
pub(crate) fn from_response(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    if !status.is_client_error() {
        return Error::new(
            kind_of_status(status),
            format!("received unexpected HTTP status: {}", status_text(status)),
        );
    }
    let mut errors = Vec::new();
    for c in challenge::from_headers(headers) {
        if c.scheme != "bearer" {
            continue;
        }
        let code = match c.param("error") {
            Some("invalid_token") => "UNAUTHORIZED",
            Some("insufficient_scope") => "DENIED",
            _ => continue,
        };
        let message = c.param("error_description").unwrap_or("");
        errors.push(RegistryError::new(code, message));
        break;
    }
    match parse_error_body(status, body) {
        Ok(body_errors) => errors.extend(body_errors),
        Err(why) if errors.is_empty() => {
            if status == StatusCode::UNAUTHORIZED {
                // `errcode.ErrorCodeUnauthorized.WithDetail(body)`.
                errors.push(RegistryError::new("UNAUTHORIZED", ""));
            } else {
                return Error::new(kind_of_status(status), why);
            }
        }
        Err(_) => {}
    }
    from_registry_errors(status, errors)
}

/// `errcode.Errors.Error()`: one error prints as itself, several as a list.
fn from_registry_errors(status: StatusCode, errors: Vec<RegistryError>) -> Error {
    let kind = kind_of_code(&errors[0].code, status);
    let message = if errors.len() == 1 {
        errors[0].text()
    } else {
        let mut m = String::from("errors:\n");
        for e in &errors {
            m.push_str(&e.text());
            m.push('\n');
        }
        m
    };
    let first_text = errors[0].text();
    Error {
        kind,
        message,
        codes: errors.into_iter().map(|e| e.code).collect(),
        first_text,
    }
}

/// `"401 Unauthorized"`, as Go's `resp.Status` prints.
pub(crate) fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(r) => format!("{} {r}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderValue, WWW_AUTHENTICATE};

    fn err(status: u16, body: &str) -> Error {
        from_response(
            StatusCode::from_u16(status).unwrap(),
            &HeaderMap::new(),
            body.as_bytes(),
        )
    }

    #[test]
    fn registry_error_bodies() {
        let e = err(
            404,
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"nope"}}]}"#,
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.to_string(), "manifest unknown: manifest unknown");
        assert_eq!(e.registry_code(), Some("MANIFEST_UNKNOWN"));

        let e = err(
            404,
            r#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{"name":"foo"}}]}"#,
        );
        assert_eq!(
            e.to_string(),
            "name unknown: repository name not known to registry"
        );

        // An empty message takes the code's default.
        let e = err(404, r#"{"errors":[{"code":"BLOB_UNKNOWN"}]}"#);
        assert_eq!(e.to_string(), "blob unknown: blob unknown to registry");

        let e = err(
            400,
            r#"{"errors":[{"code":"DIGEST_INVALID","message":"a"},{"code":"SIZE_INVALID","message":"b"}]}"#,
        );
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert_eq!(
            e.to_string(),
            "errors:\ndigest invalid: a\nsize invalid: b\n"
        );
    }

    #[test]
    fn irregular_bodies() {
        let e = err(401, r#"{"details":"incorrect username or password"}"#);
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert_eq!(
            e.to_string(),
            "unauthorized: incorrect username or password"
        );

        let e = err(401, "");
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert_eq!(e.to_string(), "unauthorized: authentication required");

        let e = err(404, "");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            "error parsing HTTP 404 response body: unexpected end of JSON input: \"\""
        );

        let e = err(400, r#"{"errors":[]}"#);
        assert!(e.to_string().contains("no error details found"), "{e}");

        let e = err(503, "<html>busy</html>");
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert_eq!(
            e.to_string(),
            "received unexpected HTTP status: 503 Service Unavailable"
        );
    }

    #[test]
    fn bearer_challenge_errors_come_first() {
        let mut h = HeaderMap::new();
        h.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(
                r#"Bearer realm="https://auth.example/token",service="reg",scope="repository:x:pull",error="insufficient_scope""#,
            ),
        );
        let e = from_response(
            StatusCode::UNAUTHORIZED,
            &h,
            br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        );
        assert_eq!(e.registry_code(), Some("DENIED"));
        let e = e.translate_pull("x", "x:latest");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            "pull access denied for x, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"
        );
    }

    #[test]
    fn pull_translation() {
        let e = err(
            404,
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
        )
        .translate_pull("localhost:5000/foo", "localhost:5000/foo:nope");
        assert_eq!(
            e.to_string(),
            "manifest for localhost:5000/foo:nope not found: manifest unknown: manifest unknown"
        );
        let e = err(
            404,
            r#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#,
        )
        .translate_pull("localhost:5000/foo", "localhost:5000/foo:latest");
        assert_eq!(
            e.to_string(),
            "repository localhost:5000/foo not found: name unknown: repository name not known to registry"
        );
        // Other codes pass through.
        let e = err(401, "").translate_pull("a", "a:b");
        assert_eq!(e.to_string(), "unauthorized: authentication required");
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
    }

    #[test]
    fn request_wrapping() {
        let e = Error::in_request(
            &reqwest::Method::HEAD,
            "http://localhost:5000/v2/foo/manifests/latest",
            Error::unauthorized("no basic auth credentials"),
        );
        assert_eq!(
            e.to_string(),
            "Head \"http://localhost:5000/v2/foo/manifests/latest\": no basic auth credentials"
        );
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert_eq!(status_text(StatusCode::UNAUTHORIZED), "401 Unauthorized");
    }
}
