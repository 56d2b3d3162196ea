//! OCI distribution (Docker registry v2) client: what berthd needs for
//! `docker pull`, `docker push` and `docker login`.
//!
//! The behaviour follows dockerd 20.10 (moby's `distribution` and
//! `registry` packages over docker/distribution's client), because the
//! docker CLI prints dockerd's messages and users' registries are tuned to
//! its requests:
//!
//! * **Endpoints.** `https://` unless the registry is insecure (loopback,
//!   `localhost`, or named in [`RegistryConfig::insecure_registries`]); an
//!   insecure registry is tried over https without certificate checks first,
//!   then over plain http. `docker.io` is served by `registry-1.docker.io`.
//! * **Auth.** Like docker/distribution's challenge manager, the client
//!   pings `GET /v2/` once per registry (cached for a while) and, from the
//!   challenge it gets, authorises every request up front: `Basic` with the
//!   username and password, or `Bearer` with a token from the realm for the
//!   operation's scope (cached per registry, scope and credentials until it
//!   expires). A `401` that names a different challenge, or that answers a
//!   cached token, is retried once with fresh authorisation.
//! * **Errors** carry dockerd's texts (see [`ErrorKind`] and the `error`
//!   module).
//!
//! Nothing here logs or prints credentials or tokens.
#![forbid(unsafe_code)]

mod auth;
mod challenge;
mod client;
mod error;
mod hosts;
mod tls;

use std::fmt;

pub use berth_content::Digest;
pub use client::Client;
pub use error::{Error, ErrorKind, Result};

/// Media types the client asks for and recognises.
pub mod media_types {
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_MANIFEST_V1: &str = "application/vnd.docker.distribution.manifest.v1+json";
    pub const DOCKER_MANIFEST_V1_SIGNED: &str =
        "application/vnd.docker.distribution.manifest.v1+prettyjws";
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
}

/// Daemon-wide registry settings.
#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    /// `--insecure-registry` values: `host[:port]` matched exactly, or a
    /// CIDR (`10.0.0.0/8`) matched against the registry host's addresses.
    /// Loopback and `localhost` are always insecure, as in dockerd.
    pub insecure_registries: Vec<String>,
    /// The `User-Agent` header (`berth/<version>`).
    pub user_agent: String,
}

/// Docker's `AuthConfig` credentials for one registry.
///
/// `Debug` shows the username only; the secrets never leave this struct
/// except in requests to the registry or its token server.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// A refresh token from an earlier login (`docker login` stores it in
    /// place of the password for registries whose token server issues one).
    pub identity_token: String,
    /// A bearer token to send as is.
    pub registry_token: String,
}

impl Credentials {
    /// Anonymous access.
    pub fn anonymous() -> Self {
        Credentials::default()
    }

    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            password: password.into(),
            ..Default::default()
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.username.is_empty()
            && self.password.is_empty()
            && self.identity_token.is_empty()
            && self.registry_token.is_empty()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn set(s: &str) -> &'static str {
            if s.is_empty() { "" } else { "<redacted>" }
        }
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &set(&self.password))
            .field("identity_token", &set(&self.identity_token))
            .field("registry_token", &set(&self.registry_token))
            .finish()
    }
}

/// A repository in a registry: `docker.io` + `library/busybox`,
/// `localhost:5000` + `foo`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repository {
    /// The registry as references name it: `docker.io`, `localhost:5000`.
    pub domain: String,
    /// The repository path: `library/busybox`.
    pub path: String,
}

impl Repository {
    pub fn new(domain: impl Into<String>, path: impl Into<String>) -> Self {
        Repository {
            domain: domain.into(),
            path: path.into(),
        }
    }

    /// The name as the user types it (`reference.FamiliarName`): Docker
    /// Hub's domain and its `library/` prefix are dropped.
    pub fn familiar_name(&self) -> String {
        if hosts::is_docker_hub(&self.domain) {
            self.path
                .strip_prefix("library/")
                .filter(|rest| !rest.contains('/'))
                .unwrap_or(&self.path)
                .to_string()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// `reference.FamiliarString` of `self` with a tag or digest.
    pub fn familiar_string(&self, reference: &str) -> String {
        let sep = if reference.contains(':') { '@' } else { ':' };
        format!("{}{sep}{reference}", self.familiar_name())
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)
    }
}

/// A manifest as the registry served it.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// From `Content-Type`, or the body's `mediaType` when the registry
    /// sent a generic type.
    pub media_type: String,
    /// sha256 of [`bytes`](Self::bytes); equal to the reference when that
    /// was a digest.
    pub digest: Digest,
    pub bytes: bytes::Bytes,
}

/// A blob's body as it arrives. The caller verifies size and digest.
pub struct BlobStream {
    /// `Content-Length`, when the registry (or the CDN it redirected to)
    /// sent one.
    pub size: Option<u64>,
    pub stream: futures_util::stream::BoxStream<'static, Result<bytes::Bytes>>,
}

impl fmt::Debug for BlobStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobStream")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_debug_hides_secrets() {
        let c = Credentials {
            username: "alice".into(),
            password: "hunter2".into(),
            identity_token: "idtok".into(),
            registry_token: String::new(),
        };
        let s = format!("{c:?}");
        assert!(s.contains("alice"), "{s}");
        assert!(!s.contains("hunter2") && !s.contains("idtok"), "{s}");
        assert!(s.contains("<redacted>"), "{s}");
        assert!(!c.is_anonymous());
        assert!(Credentials::anonymous().is_anonymous());
    }

    #[test]
    fn familiar_names() {
        let r = Repository::new("docker.io", "library/busybox");
        assert_eq!(r.familiar_name(), "busybox");
        assert_eq!(r.familiar_string("latest"), "busybox:latest");
        let r = Repository::new("docker.io", "library/a/b");
        assert_eq!(r.familiar_name(), "library/a/b");
        let r = Repository::new("docker.io", "user/app");
        assert_eq!(r.familiar_name(), "user/app");
        let r = Repository::new("localhost:5000", "foo");
        assert_eq!(r.familiar_name(), "localhost:5000/foo");
        assert_eq!(r.familiar_string("nope"), "localhost:5000/foo:nope");
        let d = Digest::of(b"x");
        assert_eq!(
            r.familiar_string(d.as_str()),
            format!("localhost:5000/foo@{d}")
        );
        assert_eq!(r.to_string(), "localhost:5000/foo");
    }
}
