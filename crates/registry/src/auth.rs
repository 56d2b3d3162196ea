//! Basic and bearer-token authorisation, after docker/distribution's
//! `registry/client/auth` (`session.go`) as dockerd uses it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use sha2::{Digest as _, Sha256};

use crate::challenge::Challenge;
use crate::{Credentials, Error, ErrorKind, Result, error};

/// dockerd's `registry.AuthClientID`, sent to token servers.
const CLIENT_ID: &str = "docker";
/// docker/distribution's `minimumTokenLifetimeSeconds`: shorter or missing
/// `expires_in` values count as this.
const MIN_TOKEN_LIFETIME: u64 = 60;
/// A cached token is dropped this long before it expires, so a request
/// does not reach the registry with a token that just ran out.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);
/// Token responses are small; refuse to buffer an endless one.
pub const MAX_TOKEN_RESPONSE: usize = 1 << 20;

/// `docker/distribution`'s `ErrNoBasicAuthCredentials`.
pub fn no_basic_credentials() -> Error {
    Error::unauthorized("no basic auth credentials")
}

/// `Authorization: Basic …`, or `None` without a username and password
/// (docker/distribution's basic handler needs both).
pub fn basic_header(creds: &Credentials) -> Option<HeaderValue> {
    if creds.username.is_empty() || creds.password.is_empty() {
        return None;
    }
    let raw = format!("{}:{}", creds.username, creds.password);
    let enc = base64::engine::general_purpose::STANDARD.encode(raw);
    let mut v = HeaderValue::from_str(&format!("Basic {enc}")).ok()?;
    v.set_sensitive(true);
    Some(v)
}

pub fn bearer_header(token: &str) -> Result<HeaderValue> {
    let mut v = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        Error::internal("the bearer token contains characters not allowed in a header")
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// A token server's answer.
pub struct Token {
    pub token: String,
    pub expires_in: u64,
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token and refresh token are secrets.
        f.debug_struct("Token")
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct TokenBody {
    #[serde(default)]
    token: String,
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    refresh_token: String,
}

/// Parses a token response: `token` or `access_token` (OAuth2's name; the
/// two are equivalent and `access_token` wins, as in docker/distribution),
/// `expires_in` (at least 60 s) and an optional `refresh_token`.
pub fn parse_token_response(body: &[u8]) -> Result<Token> {
    let b: TokenBody = serde_json::from_slice(body).map_err(|e| {
        Error::new(
            ErrorKind::Internal,
            format!("unable to decode token response: {e}"),
        )
    })?;
    let token = if b.access_token.is_empty() {
        b.token
    } else {
        b.access_token
    };
    if token.is_empty() {
        return Err(Error::new(
            ErrorKind::Unauthorized,
            "authorization server did not include a token in the response",
        ));
    }
    let expires_in = b
        .expires_in
        .and_then(|e| u64::try_from(e).ok())
        .unwrap_or(0)
        .max(MIN_TOKEN_LIFETIME);
    Ok(Token {
        token,
        expires_in,
        refresh_token: Some(b.refresh_token).filter(|r| !r.is_empty()),
    })
}

/// What a token request needs from the challenge.
pub struct TokenRequest<'a> {
    pub realm: &'a str,
    pub service: Option<&'a str>,
    pub scopes: &'a [String],
    /// `docker login`: ask for a refresh token (`offline_token=true`).
    pub offline: bool,
}

impl<'a> TokenRequest<'a> {
    pub fn from_challenge(c: &'a Challenge, scopes: &'a [String], offline: bool) -> Result<Self> {
        let realm = c
            .param("realm")
            .filter(|r| !r.is_empty())
            .ok_or_else(|| Error::internal("no realm specified for token auth challenge"))?;
        Ok(TokenRequest {
            realm,
            service: c.param("service").filter(|s| !s.is_empty()),
            scopes,
            offline,
        })
    }
}

/// Fetches a token as docker/distribution's token handler does: with an
/// identity (refresh) token, an OAuth2 `POST` with
/// `grant_type=refresh_token`; otherwise a `GET` with the scopes as query
/// parameters and basic auth when a username and password are given.
pub async fn fetch_token(
    client: &reqwest::Client,
    req: &TokenRequest<'_>,
    creds: &Credentials,
    timeout: Duration,
) -> Result<Token> {
    let mut url = Url::parse(req.realm)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| Error::internal(format!("invalid token auth realm {:?}", req.realm)))?;
    let builder = if !creds.identity_token.is_empty() {
        let mut form = Url::parse("http://form.invalid/").expect("static URL");
        {
            let mut q = form.query_pairs_mut();
            q.append_pair("grant_type", "refresh_token");
            q.append_pair("refresh_token", &creds.identity_token);
            if let Some(s) = req.service {
                q.append_pair("service", s);
            }
            q.append_pair("scope", &req.scopes.join(" "));
            q.append_pair("client_id", CLIENT_ID);
        }
        let body = form.query().unwrap_or_default().to_string();
        client
            .post(url.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
    } else {
        let basic = crate::auth::basic_header(creds);
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = req.service {
                q.append_pair("service", s);
            }
            for s in req.scopes {
                q.append_pair("scope", s);
            }
            if req.offline {
                q.append_pair("offline_token", "true");
                q.append_pair("client_id", CLIENT_ID);
            }
            if basic.is_some() {
                q.append_pair("account", &creds.username);
            }
        }
        let mut b = client.get(url.clone());
        if let Some(h) = basic {
            b = b.header(reqwest::header::AUTHORIZATION, h);
        }
        b
    };
    let method = if creds.identity_token.is_empty() {
        reqwest::Method::GET
    } else {
        reqwest::Method::POST
    };
    tracing::debug!(realm = %url.path(), method = %method, "fetching registry token");
    let resp = builder
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| Error::transport(&method, url.as_str(), &e))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = crate::client::read_limited(resp, MAX_TOKEN_RESPONSE)
        .await
        .map_err(|e| match e {
            crate::client::ReadError::TooLarge => Error::internal(format!(
                "token response from {} is larger than {MAX_TOKEN_RESPONSE} bytes",
                url.path()
            )),
            crate::client::ReadError::Http(e) => Error::transport(&method, url.as_str(), &e),
        })?;
    if !status.is_success() {
        return Err(error::from_response(status, &headers, &body));
    }
    parse_token_response(&body)
}

/// Tokens by realm, service, scopes and *who asked*: the daemon serves many
/// users, and a token fetched with one user's credentials must never
/// authorise another's request.
#[derive(Default)]
pub struct TokenCache {
    map: Mutex<HashMap<TokenKey, Cached>>,
}

#[derive(Hash, PartialEq, Eq, Clone)]
pub struct TokenKey {
    realm: String,
    service: String,
    scopes: String,
    who: [u8; 32],
}

struct Cached {
    token: String,
    expires: Instant,
}

impl TokenKey {
    pub fn new(req: &TokenRequest<'_>, creds: &Credentials) -> TokenKey {
        let mut scopes: Vec<&str> = req.scopes.iter().map(String::as_str).collect();
        scopes.sort_unstable();
        scopes.dedup();
        // A hash, so the cache's keys do not hold the secrets themselves.
        let mut h = Sha256::new();
        for part in [&creds.username, &creds.password, &creds.identity_token] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        TokenKey {
            realm: req.realm.to_string(),
            service: req.service.unwrap_or_default().to_string(),
            scopes: scopes.join(" "),
            who: h.finalize().into(),
        }
    }
}

impl TokenCache {
    pub fn get(&self, key: &TokenKey) -> Option<String> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        // Expired entries go whenever the cache is consulted, so it stays
        // as small as the set of live tokens.
        map.retain(|_, c| c.expires > now);
        map.get(key).map(|c| c.token.clone())
    }

    pub fn put(&self, key: TokenKey, token: &Token) {
        let life = Duration::from_secs(token.expires_in).saturating_sub(EXPIRY_MARGIN);
        if life.is_zero() {
            return;
        }
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(
            key,
            Cached {
                token: token.token.clone(),
                expires: Instant::now() + life,
            },
        );
    }

    pub fn remove(&self, key: &TokenKey) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(key);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_responses() {
        let t = parse_token_response(
            br#"{"token":"abc","expires_in":300,"issued_at":"2024-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(t.token, "abc");
        assert_eq!(t.expires_in, 300);
        assert!(t.refresh_token.is_none());

        let t = parse_token_response(br#"{"access_token":"oauth","refresh_token":"rt"}"#).unwrap();
        assert_eq!(t.token, "oauth");
        assert_eq!(t.expires_in, MIN_TOKEN_LIFETIME);
        assert_eq!(t.refresh_token.as_deref(), Some("rt"));

        let t =
            parse_token_response(br#"{"token":"t","access_token":"a","expires_in":5}"#).unwrap();
        assert_eq!(t.token, "a");
        assert_eq!(t.expires_in, MIN_TOKEN_LIFETIME);

        let t = parse_token_response(br#"{"token":"t","expires_in":-3}"#).unwrap();
        assert_eq!(t.expires_in, MIN_TOKEN_LIFETIME);

        let e = parse_token_response(br#"{"expires_in":60}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "authorization server did not include a token in the response"
        );
        let e = parse_token_response(b"<html>").unwrap_err();
        assert!(
            e.to_string().starts_with("unable to decode token response"),
            "{e}"
        );
    }

    #[test]
    fn basic_needs_both_parts() {
        assert!(basic_header(&Credentials::basic("u", "")).is_none());
        assert!(basic_header(&Credentials::basic("", "p")).is_none());
        let h = basic_header(&Credentials::basic("user", "pass")).unwrap();
        assert_eq!(h.to_str().unwrap(), "Basic dXNlcjpwYXNz");
        assert!(h.is_sensitive());
    }

    #[test]
    fn cache_is_per_scope_and_per_user() {
        let cache = TokenCache::default();
        let scopes_a = ["repository:a:pull".to_string()];
        let scopes_ab = [
            "repository:b:pull".to_string(),
            "repository:a:pull".to_string(),
        ];
        let scopes_ba = [
            "repository:a:pull".to_string(),
            "repository:b:pull".to_string(),
        ];
        fn req(s: &[String]) -> TokenRequest<'_> {
            TokenRequest {
                realm: "https://auth/token",
                service: Some("reg"),
                scopes: s,
                offline: false,
            }
        }
        let (scopes_a, scopes_ab, scopes_ba) = (&scopes_a[..], &scopes_ab[..], &scopes_ba[..]);
        let alice = Credentials::basic("alice", "pw");
        let bob = Credentials::basic("bob", "pw");
        let tok = |s: &str| Token {
            token: s.to_string(),
            expires_in: 300,
            refresh_token: None,
        };
        cache.put(TokenKey::new(&req(scopes_a), &alice), &tok("t1"));
        assert_eq!(
            cache.get(&TokenKey::new(&req(scopes_a), &alice)).as_deref(),
            Some("t1")
        );
        assert_eq!(cache.get(&TokenKey::new(&req(scopes_a), &bob)), None);
        assert_eq!(
            cache.get(&TokenKey::new(&req(scopes_a), &Credentials::default())),
            None
        );
        assert_eq!(cache.get(&TokenKey::new(&req(scopes_ab), &alice)), None);
        cache.put(TokenKey::new(&req(scopes_ab), &alice), &tok("t2"));
        // Scope order does not matter.
        assert_eq!(
            cache
                .get(&TokenKey::new(&req(scopes_ba), &alice))
                .as_deref(),
            Some("t2")
        );
        cache.remove(&TokenKey::new(&req(scopes_a), &alice));
        assert_eq!(cache.len(), 1);
        // ("ab","c") and ("a","bc") must not collide.
        let x = TokenKey::new(&req(scopes_a), &Credentials::basic("ab", "c"));
        let y = TokenKey::new(&req(scopes_a), &Credentials::basic("a", "bc"));
        assert!(x != y);
    }
}
