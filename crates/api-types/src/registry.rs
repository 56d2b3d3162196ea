//! Registry credentials as the API carries them: the body of `POST /auth`
//! and the base64url-encoded `X-Registry-Auth` header of pull and push
//! (moby `registry.AuthConfig`).

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::serde_util::nullable;

/// moby's `AuthConfig`. Keys are matched without regard to case, as Go's
/// decoder does (docker-py sends `serveraddress`, the CLI `serveraddress`
/// too, some clients `ServerAddress`).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthConfig {
    #[serde(default, alias = "Username", deserialize_with = "nullable")]
    pub username: String,
    #[serde(default, alias = "Password", deserialize_with = "nullable")]
    pub password: String,
    /// `base64(username:password)`, an alternative to the two fields.
    #[serde(default, alias = "Auth", deserialize_with = "nullable")]
    pub auth: String,
    #[serde(default, alias = "Email", deserialize_with = "nullable")]
    pub email: String,
    #[serde(
        default,
        alias = "ServerAddress",
        alias = "serverAddress",
        deserialize_with = "nullable"
    )]
    pub serveraddress: String,
    #[serde(
        default,
        alias = "IdentityToken",
        alias = "identityToken",
        deserialize_with = "nullable"
    )]
    pub identitytoken: String,
    #[serde(
        default,
        alias = "RegistryToken",
        alias = "registryToken",
        deserialize_with = "nullable"
    )]
    pub registrytoken: String,
}

// Credentials never reach a log through Debug.
impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("username", &self.username)
            .field("serveraddress", &self.serveraddress)
            .finish_non_exhaustive()
    }
}

impl AuthConfig {
    /// Decodes `X-Registry-Auth`. Like dockerd, an empty or undecodable
    /// header means "no credentials" rather than an error: old clients send
    /// `e30=` (`{}`) or garbage, and the registry then decides.
    pub fn from_header(value: &str) -> AuthConfig {
        let value = value.trim();
        if value.is_empty() {
            return AuthConfig::default();
        }
        let engines = [
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
        ];
        for e in engines {
            if let Ok(bytes) = e.decode(value)
                && let Ok(mut cfg) = serde_json::from_slice::<AuthConfig>(&bytes)
            {
                cfg.split_auth();
                return cfg;
            }
        }
        AuthConfig::default()
    }

    /// Fills username/password from `auth` when only that was given.
    pub fn split_auth(&mut self) {
        if !self.username.is_empty() || self.auth.is_empty() {
            return;
        }
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(self.auth.trim())
            && let Ok(s) = String::from_utf8(bytes)
            && let Some((u, p)) = s.split_once(':')
        {
            self.username = u.to_string();
            self.password = p.to_string();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.username.is_empty()
            && self.password.is_empty()
            && self.identitytoken.is_empty()
            && self.registrytoken.is_empty()
    }
}

/// The answer of `POST /auth`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthResponse {
    #[serde(rename = "Status", default, deserialize_with = "nullable")]
    pub status: String,
    #[serde(
        rename = "IdentityToken",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub identity_token: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_decodes_as_the_cli_sends_it() {
        let json = r#"{"username":"u","password":"p","serveraddress":"127.0.0.1:5000"}"#;
        let h = base64::engine::general_purpose::URL_SAFE.encode(json);
        let c = AuthConfig::from_header(&h);
        assert_eq!(c.username, "u");
        assert_eq!(c.password, "p");
        assert_eq!(c.serveraddress, "127.0.0.1:5000");
        assert!(!format!("{c:?}").contains("\"p\""));
    }

    #[test]
    fn auth_field_and_junk() {
        let json = format!(
            r#"{{"auth":"{}"}}"#,
            base64::engine::general_purpose::STANDARD.encode("a:b:c")
        );
        let c = AuthConfig::from_header(&base64::engine::general_purpose::URL_SAFE.encode(json));
        assert_eq!((c.username.as_str(), c.password.as_str()), ("a", "b:c"));
        assert!(AuthConfig::from_header("e30=").is_empty());
        assert!(AuthConfig::from_header("!!!").is_empty());
        assert!(AuthConfig::from_header("").is_empty());
    }
}
