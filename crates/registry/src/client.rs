//! The client: endpoints, authorised requests, and the registry operations.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION,
};
use reqwest::{Method, Response, StatusCode, Url};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::watch;

use crate::auth::{self, TokenCache, TokenKey, TokenRequest};
use crate::challenge::{self, Challenge};
use crate::error::{self, Error, ErrorKind, Result};
use crate::hosts::{self, Insecure};
use crate::media_types as mt;
use crate::{BlobStream, Credentials, Digest, FetchedManifest, RegistryConfig, Repository, tls};

/// dockerd's dialer timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// A whole small exchange (ping, token, manifest, HEAD, mount): generous,
/// but a registry that stops answering must not hang a pull forever. Blob
/// bodies have no total limit: they can be gigabytes.
const SMALL_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a ping's result (scheme and challenge) is reused. dockerd pings
/// once per pull or push; the daemon calls us per request, so we remember.
const ENDPOINT_TTL: Duration = Duration::from_secs(300);
/// containerd's and dockerd's limit on a manifest's size.
pub const MAX_MANIFEST: usize = 4 << 20;
/// Error bodies are read up to this much for their messages.
const MAX_ERROR_BODY: usize = 1 << 20;
/// Read size for uploads.
const UPLOAD_READ: usize = 256 << 10;
/// Chunk size when a registry refuses a monolithic upload.
pub const FALLBACK_CHUNK: u64 = 32 << 20;

/// The manifest types pulls accept, newest first (dockerd 20.10 sends the
/// same four; schema 1 is long deprecated).
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// An async registry client. Cheap to clone; clones share connections and
/// the token cache.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    /// https with the platform's roots.
    verifying: reqwest::Client,
    /// https without certificate checks and plain http, for insecure
    /// registries only.
    non_verifying: reqwest::Client,
    insecure: Insecure,
    endpoints: Mutex<HashMap<String, Endpoint>>,
    tokens: TokenCache,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("insecure", &self.inner.insecure)
            .finish_non_exhaustive()
    }
}

/// Where a registry answers, and how it wants to be authorised.
#[derive(Debug, Clone)]
struct Endpoint {
    /// `https://registry-1.docker.io/`
    base: Url,
    /// Use the non-verifying client (insecure registry).
    insecure: bool,
    /// From the ping's `401`; `None` when `/v2/` answered without one.
    challenge: Option<Challenge>,
    at: Instant,
}

/// How a request was authorised, to decide whether a `401` is worth a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthUsed {
    None,
    Basic,
    CachedToken,
    FreshToken,
    GivenToken,
}

enum Body {
    Empty,
    Bytes(Bytes),
    File(FileBody),
}

#[derive(Clone)]
struct FileBody {
    path: PathBuf,
    offset: u64,
    len: u64,
    /// Total bytes handed to the connection so far, counted from
    /// `progress_base` (the upload's earlier chunks).
    progress: Option<Arc<watch::Sender<u64>>>,
    progress_base: u64,
}

struct Req<'a> {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Body,
    timeout: Option<Duration>,
    scopes: &'a [String],
}

impl<'a> Req<'a> {
    fn new(method: Method, url: Url, scopes: &'a [String]) -> Self {
        Req {
            method,
            url,
            headers: HeaderMap::new(),
            body: Body::Empty,
            timeout: Some(SMALL_TIMEOUT),
            scopes,
        }
    }

    fn header(mut self, name: reqwest::header::HeaderName, value: &str) -> Result<Self> {
        let v = HeaderValue::from_str(value)
            .map_err(|_| Error::invalid(format!("invalid value for header {name}: {value:?}")))?;
        self.headers.insert(name, v);
        Ok(self)
    }
}

pub(crate) enum ReadError {
    TooLarge,
    Http(reqwest::Error),
}

/// Reads a response body, refusing more than `limit` bytes (checked against
/// `Content-Length` first, then while reading).
pub(crate) async fn read_limited(
    mut resp: Response,
    limit: usize,
) -> std::result::Result<Bytes, ReadError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(ReadError::TooLarge);
    }
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(ReadError::Http)? {
        if buf.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// The error a failed response stands for (its body read for the message).
async fn response_error(resp: Response) -> Error {
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = if status.is_client_error() {
        read_limited(resp, MAX_ERROR_BODY).await.unwrap_or_default()
    } else {
        Bytes::new()
    };
    error::from_response(status, &headers, &body)
}

fn scope(repo: &Repository, actions: &str) -> String {
    format!("repository:{}:{actions}", repo.path)
}

/// Repository paths as the distribution spec allows them: lower-case
/// alphanumeric components separated by `.`, `_`, `__` or `-`, joined by
/// `/`. Checked here so a name can never change the shape of a URL.
fn check_path(path: &str) -> Result<()> {
    let ok = !path.is_empty()
        && path.len() <= 255
        && path.split('/').all(|c| {
            !c.is_empty()
                && c.bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && c.bytes()
                    .last()
                    .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && c.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!("invalid repository name {path:?}")))
    }
}

fn check_domain(domain: &str) -> Result<()> {
    let ok = !domain.is_empty()
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid registry domain {domain:?}"
        )))
    }
}

fn check_repo(repo: &Repository) -> Result<()> {
    check_domain(&repo.domain)?;
    check_path(&repo.path)
}

/// A tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`) or a digest.
enum Reference {
    Tag(String),
    Digest(Digest),
}

fn parse_reference(reference: &str) -> Result<Reference> {
    if reference.contains(':') {
        return reference
            .parse::<Digest>()
            .map(Reference::Digest)
            .map_err(|e| Error::invalid(e.message().to_string()));
    }
    let b = reference.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if ok {
        Ok(Reference::Tag(reference.to_string()))
    } else {
        Err(Error::invalid(format!("invalid tag format {reference:?}")))
    }
}

/// The manifest's media type: `Content-Type` unless it is generic, then
/// the body's `mediaType`, then its shape (old OCI documents omit it).
fn manifest_media_type(content_type: Option<&str>, body: &[u8]) -> String {
    let ct = content_type
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let generic = matches!(
        ct.as_str(),
        "" | "application/json" | "text/plain" | "application/octet-stream"
    );
    if !generic {
        return ct;
    }
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(default, rename = "mediaType")]
        media_type: String,
        #[serde(default, rename = "schemaVersion")]
        schema_version: Option<u64>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
        #[serde(default)]
        layers: Option<serde_json::Value>,
        #[serde(default)]
        signatures: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Probe>(body) {
        Ok(p) if !p.media_type.is_empty() => p.media_type,
        Ok(p) if p.schema_version == Some(1) => {
            if p.signatures.is_some() {
                mt::DOCKER_MANIFEST_V1_SIGNED.to_string()
            } else {
                mt::DOCKER_MANIFEST_V1.to_string()
            }
        }
        Ok(p) if p.manifests.is_some() => mt::OCI_INDEX.to_string(),
        Ok(p) if p.layers.is_some() => mt::OCI_MANIFEST.to_string(),
        _ if ct.is_empty() => "application/octet-stream".to_string(),
        _ => ct,
    }
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The `Location` of an upload response, resolved against the request.
fn upload_location(resp: &Response, request_url: &Url) -> Result<Url> {
    let loc = header_str(resp.headers(), LOCATION.as_str()).ok_or_else(|| {
        Error::internal(format!(
            "registry answered {} to {} without a Location header",
            error::status_text(resp.status()),
            request_url.path()
        ))
    })?;
    request_url
        .join(loc)
        .map_err(|e| Error::internal(format!("invalid upload Location {loc:?}: {e}")))
}

fn with_digest(mut url: Url, digest: &Digest) -> Url {
    url.query_pairs_mut().append_pair("digest", digest.as_str());
    url
}

/// A file region as a body stream that reports progress.
fn file_stream(fb: FileBody) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    struct St {
        fb: FileBody,
        file: Option<tokio::io::Take<tokio::fs::File>>,
        sent: u64,
        done: bool,
    }
    let st = St {
        fb,
        file: None,
        sent: 0,
        done: false,
    };
    futures_util::stream::unfold(st, |mut st| async move {
        if st.done || st.sent == st.fb.len {
            return None;
        }
        let step = async {
            if st.file.is_none() {
                let mut f = tokio::fs::File::open(&st.fb.path).await?;
                if st.fb.offset > 0 {
                    f.seek(std::io::SeekFrom::Start(st.fb.offset)).await?;
                }
                st.file = Some(f.take(st.fb.len));
            }
            let want = (st.fb.len - st.sent).min(UPLOAD_READ as u64) as usize;
            let mut buf = bytes::BytesMut::with_capacity(want);
            let file = st.file.as_mut().expect("opened above");
            while buf.len() < want {
                if file.read_buf(&mut buf).await? == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!(
                            "{} ended {} bytes early",
                            st.fb.path.display(),
                            st.fb.len - st.sent - buf.len() as u64
                        ),
                    ));
                }
            }
            Ok(buf.freeze())
        };
        let res = step.await;
        match res {
            Ok(chunk) => {
                st.sent += chunk.len() as u64;
                if let Some(p) = &st.fb.progress {
                    p.send_replace(st.fb.progress_base + st.sent);
                }
                Some((Ok(chunk), st))
            }
            Err(e) => {
                st.done = true;
                Some((Err(e), st))
            }
        }
    })
}

/// Runs `fut` while reporting what arrives on `rx` through `progress`.
async fn with_progress<T>(
    fut: impl std::future::Future<Output = T>,
    mut rx: watch::Receiver<u64>,
    progress: &(dyn Fn(u64) + Send + Sync),
    last: &mut Option<u64>,
) -> T {
    tokio::pin!(fut);
    loop {
        tokio::select! {
            out = &mut fut => return out,
            changed = rx.changed() => {
                if changed.is_err() {
                    return fut.await;
                }
                let n = *rx.borrow_and_update();
                if *last != Some(n) {
                    *last = Some(n);
                    progress(n);
                }
            }
        }
    }
}

/// Whether a failed monolithic `PUT` means "this registry wants chunks"
/// rather than "this content is wrong".
fn refuses_monolithic(err: &Error, status: StatusCode) -> bool {
    match status.as_u16() {
        405 | 411 | 413 | 415 | 416 | 501 => true,
        400 => matches!(
            err.registry_code(),
            None | Some("BLOB_UPLOAD_INVALID" | "UNSUPPORTED" | "UNKNOWN")
        ),
        _ => false,
    }
}

impl Client {
    pub fn new(cfg: RegistryConfig) -> Result<Client> {
        let provider = tls::provider();
        let user_agent = if cfg.user_agent.is_empty() {
            concat!("berth-registry/", env!("CARGO_PKG_VERSION")).to_string()
        } else {
            cfg.user_agent.clone()
        };
        let build = |tls: rustls::ClientConfig| {
            reqwest::Client::builder()
                .user_agent(user_agent.clone())
                .connect_timeout(CONNECT_TIMEOUT)
                .tcp_keepalive(Duration::from_secs(30))
                // Go's default: follow up to 10 redirects. reqwest drops
                // Authorization when a redirect changes host, port or
                // scheme, so blob downloads redirected to a CDN do not
                // leak credentials.
                .redirect(reqwest::redirect::Policy::limited(10))
                .tls_backend_preconfigured(tls)
                .build()
                .map_err(|e| Error::internal(format!("http client setup: {e}")))
        };
        let verifying = build(tls::verifying(provider.clone())?)?;
        let non_verifying = build(tls::non_verifying(provider)?)?;
        Ok(Client {
            inner: Arc::new(Inner {
                verifying,
                non_verifying,
                insecure: Insecure::new(&cfg.insecure_registries),
                endpoints: Mutex::new(HashMap::new()),
                tokens: TokenCache::default(),
            }),
        })
    }

    fn http(&self, ep: &Endpoint) -> &reqwest::Client {
        if ep.insecure {
            &self.inner.non_verifying
        } else {
            &self.inner.verifying
        }
    }

    async fn is_insecure(&self, host: &str) -> bool {
        let ins = &self.inner.insecure;
        if ins.matches_literal(host) {
            return true;
        }
        if !ins.has_cidrs() {
            return false;
        }
        // dockerd resolves the name and checks every address against the
        // insecure networks (`isCIDRMatch`).
        let name = hosts::host_part(host);
        match tokio::net::lookup_host((name, 0)).await {
            Ok(addrs) => addrs.into_iter().any(|a| ins.ip_insecure(a.ip())),
            Err(_) => false,
        }
    }

    /// The endpoint of a registry domain: cached, or found by pinging
    /// `/v2/` (https; for insecure registries then http).
    async fn endpoint(&self, domain: &str, fresh: bool) -> Result<Endpoint> {
        check_domain(domain)?;
        let key = domain.to_ascii_lowercase();
        if !fresh {
            let map = self
                .inner
                .endpoints
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(ep) = map.get(&key).filter(|ep| ep.at.elapsed() < ENDPOINT_TTL) {
                return Ok(ep.clone());
            }
        }
        let host = hosts::registry_host(domain);
        let insecure = self.is_insecure(host).await;
        let schemes: &[&str] = if insecure {
            &["https", "http"]
        } else {
            &["https"]
        };
        let mut last = None;
        for scheme in schemes {
            let base = Url::parse(&format!("{scheme}://{host}/"))
                .map_err(|e| Error::invalid(format!("invalid registry domain {domain:?}: {e}")))?;
            match self.ping(&base, insecure).await {
                Ok(challenge) => {
                    let ep = Endpoint {
                        base,
                        insecure,
                        challenge,
                        at: Instant::now(),
                    };
                    self.inner
                        .endpoints
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(key, ep.clone());
                    return Ok(ep);
                }
                Err(e) => {
                    tracing::debug!(endpoint = %base, error = %e, "registry ping failed");
                    last = Some(e);
                }
            }
        }
        Err(last.expect("at least one scheme"))
    }

    fn forget_endpoint(&self, domain: &str) {
        self.inner
            .endpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&domain.to_ascii_lowercase());
    }

    fn store_endpoint(&self, domain: &str, ep: &Endpoint) {
        self.inner
            .endpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(domain.to_ascii_lowercase(), ep.clone());
    }

    /// `GET /v2/` without credentials: Ok(challenge) when the registry
    /// answered at all (transport errors are what make us try the next
    /// scheme).
    async fn ping(&self, base: &Url, insecure: bool) -> Result<Option<Challenge>> {
        let url = base.join("v2/").expect("static path");
        let client = if insecure {
            &self.inner.non_verifying
        } else {
            &self.inner.verifying
        };
        let resp = client
            .get(url.clone())
            .timeout(SMALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| Error::transport(&Method::GET, url.as_str(), &e))?;
        let status = resp.status();
        let challenge = if status == StatusCode::UNAUTHORIZED {
            pick_challenge(challenge::from_headers(resp.headers()))
        } else {
            None
        };
        // Drain a little so the connection can be reused; errors here do
        // not matter.
        let _ = read_limited(resp, 64 << 10).await;
        tracing::debug!(url = %url, status = status.as_u16(), "registry ping");
        Ok(challenge)
    }

    /// The `Authorization` for a request to `ep` under `scopes`.
    async fn authorize(
        &self,
        ep: &Endpoint,
        scopes: &[String],
        creds: &Credentials,
        use_cache: bool,
    ) -> Result<(Option<HeaderValue>, AuthUsed)> {
        let Some(c) = &ep.challenge else {
            return Ok((None, AuthUsed::None));
        };
        match c.scheme.as_str() {
            "basic" => match auth::basic_header(creds) {
                Some(h) => Ok((Some(h), AuthUsed::Basic)),
                None => Err(auth::no_basic_credentials()),
            },
            "bearer" => {
                // dockerd's pass-through handler for `RegistryToken`.
                if !creds.registry_token.is_empty() {
                    return Ok((
                        Some(auth::bearer_header(&creds.registry_token)?),
                        AuthUsed::GivenToken,
                    ));
                }
                let req = TokenRequest::from_challenge(c, scopes, false)?;
                let key = TokenKey::new(&req, creds);
                if use_cache {
                    if let Some(t) = self.inner.tokens.get(&key) {
                        return Ok((Some(auth::bearer_header(&t)?), AuthUsed::CachedToken));
                    }
                } else {
                    self.inner.tokens.remove(&key);
                }
                let token = auth::fetch_token(self.http(ep), &req, creds, SMALL_TIMEOUT).await?;
                self.inner.tokens.put(key, &token);
                Ok((
                    Some(auth::bearer_header(&token.token)?),
                    AuthUsed::FreshToken,
                ))
            }
            _ => Ok((None, AuthUsed::None)),
        }
    }

    /// Sends an authorised request to a registry domain; retries once on a
    /// `401` that fresh authorisation could fix.
    async fn send(&self, domain: &str, creds: &Credentials, req: Req<'_>) -> Result<Response> {
        let mut ep = self.endpoint(domain, false).await?;
        let mut scopes = req.scopes.to_vec();
        for attempt in 0..2 {
            // Credentials go only to the registry itself: an upload
            // Location on another host gets none (docker/distribution's
            // authorizer only acts on hosts it pinged).
            let same_origin = req.url.origin() == ep.base.origin();
            let (authz, used) = if same_origin {
                self.authorize(&ep, &scopes, creds, attempt == 0)
                    .await
                    .map_err(|e| Error::in_request(&req.method, req.url.as_str(), e))?
            } else {
                (None, AuthUsed::None)
            };
            let mut rb = self
                .http(&ep)
                .request(req.method.clone(), req.url.clone())
                .headers(req.headers.clone());
            if let Some(a) = authz {
                rb = rb.header(AUTHORIZATION, a);
            }
            if let Some(t) = req.timeout {
                rb = rb.timeout(t);
            }
            rb = match &req.body {
                Body::Empty => rb,
                Body::Bytes(b) => rb.body(b.clone()),
                Body::File(fb) => rb
                    .header(CONTENT_LENGTH, fb.len)
                    .body(reqwest::Body::wrap_stream(file_stream(fb.clone()))),
            };
            let resp = match rb.send().await {
                Ok(r) => r,
                Err(e) => {
                    // The scheme or host that worked may not any more.
                    self.forget_endpoint(domain);
                    return Err(Error::transport(&req.method, req.url.as_str(), &e));
                }
            };
            tracing::debug!(
                method = %req.method,
                path = %req.url.path(),
                status = resp.status().as_u16(),
                "registry request"
            );
            if resp.status() != StatusCode::UNAUTHORIZED || attempt > 0 || !same_origin {
                return Ok(resp);
            }
            let Some(new) = pick_challenge(challenge::from_headers(resp.headers())) else {
                return Ok(resp);
            };
            let changed = ep
                .challenge
                .as_ref()
                .is_none_or(|old| !same_challenge(old, &new));
            if !changed && used != AuthUsed::CachedToken {
                return Ok(resp);
            }
            if let Some(s) = new.param("scope") {
                for one in s.split(' ').filter(|s| !s.is_empty()) {
                    if !scopes.iter().any(|x| x == one) {
                        scopes.push(one.to_string());
                    }
                }
            }
            if changed {
                tracing::debug!(
                    domain,
                    "registry asked for different authorization; retrying"
                );
                ep.challenge = Some(new);
                self.store_endpoint(domain, &ep);
            }
        }
        unreachable!("the loop returns on its second attempt")
    }

    fn url(ep_base: &Url, repo: &Repository, rest: &str) -> Result<Url> {
        ep_base
            .join(&format!("v2/{}/{rest}", repo.path))
            .map_err(|e| Error::invalid(format!("invalid registry URL for {repo}: {e}")))
    }

    async fn base(&self, domain: &str) -> Result<Url> {
        Ok(self.endpoint(domain, false).await?.base)
    }

    /// `docker login`: checks the credentials against the registry for
    /// real, as dockerd's `loginV2` does: ping `/v2/`, then `GET /v2/` with
    /// basic auth, or with a token fetched for no scope (asking for a
    /// refresh token). Returns the identity token to store in place of the
    /// password, if the token server issued one.
    pub async fn login(&self, server: &str, creds: &Credentials) -> Result<Option<String>> {
        let domain = hosts::server_domain(server);
        let ep = self.endpoint(&domain, true).await?;
        let url = ep.base.join("v2/").expect("static path");
        let mut identity = Some(creds.identity_token.clone()).filter(|t| !t.is_empty());
        let in_req = |e: Error| {
            // dockerd answers every failure inside the login round trip
            // as unauthorized (`translateV2AuthError`).
            let e = Error::in_request(&Method::GET, url.as_str(), e);
            if e.kind() == ErrorKind::Unavailable {
                e
            } else {
                Error::new(ErrorKind::Unauthorized, e.message().to_string())
            }
        };
        let authz = match &ep.challenge {
            None => None,
            Some(c) if c.scheme == "basic" => Some(
                auth::basic_header(creds).ok_or_else(|| in_req(auth::no_basic_credentials()))?,
            ),
            Some(c) if c.scheme == "bearer" => {
                let req = TokenRequest::from_challenge(c, &[], true).map_err(in_req)?;
                let token = auth::fetch_token(self.http(&ep), &req, creds, SMALL_TIMEOUT)
                    .await
                    .map_err(in_req)?;
                if let Some(r) = token.refresh_token.clone() {
                    identity = Some(r);
                }
                Some(auth::bearer_header(&token.token)?)
            }
            Some(_) => None,
        };
        let mut rb = self.http(&ep).get(url.clone()).timeout(SMALL_TIMEOUT);
        if let Some(a) = authz {
            rb = rb.header(AUTHORIZATION, a);
        }
        let resp = rb
            .send()
            .await
            .map_err(|e| Error::transport(&Method::GET, url.as_str(), &e))?;
        let status = resp.status();
        let _ = read_limited(resp, 64 << 10).await;
        if status == StatusCode::OK {
            return Ok(identity);
        }
        Err(Error::unauthorized(format!(
            "login attempt to {url} failed with status: {}",
            error::status_text(status)
        )))
    }

    /// Fetches a manifest (or index) by tag or digest.
    ///
    /// For a tag this is dockerd's sequence: `HEAD` the tag for its digest,
    /// then `GET` by that digest (falling back to `GET` by tag when the
    /// `HEAD` gives no digest), so errors read as dockerd's do.
    pub async fn get_manifest(
        &self,
        repo: &Repository,
        reference: &str,
        creds: &Credentials,
    ) -> Result<FetchedManifest> {
        check_repo(repo)?;
        let reference_parsed = parse_reference(reference)?;
        let scopes = [scope(repo, "pull")];
        let base = self.base(&repo.domain).await?;
        let translate =
            |e: Error| e.translate_pull(&repo.familiar_name(), &repo.familiar_string(reference));
        let want = match reference_parsed {
            Reference::Digest(d) => Some(d),
            Reference::Tag(tag) => {
                let url = Self::url(&base, repo, &format!("manifests/{tag}"))?;
                let resp = self
                    .send(
                        &repo.domain,
                        creds,
                        Req::new(Method::HEAD, url.clone(), &scopes)
                            .header(ACCEPT, MANIFEST_ACCEPT)?,
                    )
                    .await?;
                let digest = header_str(resp.headers(), "docker-content-digest")
                    .and_then(|d| d.parse::<Digest>().ok());
                match digest {
                    Some(d) if resp.status().is_success() => Some(d),
                    _ => {
                        // No digest, or an error without a body: GET says
                        // why (or serves registries without HEAD).
                        let resp = self
                            .send(
                                &repo.domain,
                                creds,
                                Req::new(Method::GET, url, &scopes)
                                    .header(ACCEPT, MANIFEST_ACCEPT)?,
                            )
                            .await?;
                        if !resp.status().is_success() {
                            return Err(translate(response_error(resp).await));
                        }
                        return self.manifest_body(repo, reference, resp, None).await;
                    }
                }
            }
        };
        let digest = want.expect("set above");
        let url = Self::url(&base, repo, &format!("manifests/{digest}"))?;
        let resp = self
            .send(
                &repo.domain,
                creds,
                Req::new(Method::GET, url, &scopes).header(ACCEPT, MANIFEST_ACCEPT)?,
            )
            .await?;
        if !resp.status().is_success() {
            // Familiar string of what the user asked for (tag or digest).
            return Err(translate(response_error(resp).await));
        }
        self.manifest_body(repo, reference, resp, Some(&digest))
            .await
    }

    async fn manifest_body(
        &self,
        repo: &Repository,
        reference: &str,
        resp: Response,
        want: Option<&Digest>,
    ) -> Result<FetchedManifest> {
        let content_type = header_str(resp.headers(), CONTENT_TYPE.as_str()).map(str::to_string);
        let bytes = read_limited(resp, MAX_MANIFEST)
            .await
            .map_err(|e| match e {
                ReadError::TooLarge => Error::invalid(format!(
                    "manifest for {} is larger than the {MAX_MANIFEST}-byte limit",
                    repo.familiar_string(reference)
                )),
                ReadError::Http(e) => Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "reading manifest for {}: {e}",
                        repo.familiar_string(reference)
                    ),
                ),
            })?;
        let digest = Digest::of(&bytes);
        if let Some(w) = want.filter(|w| **w != digest) {
            // dockerd: "manifest verification failed for digest …".
            return Err(Error::invalid(format!(
                "manifest verification failed for digest {w}"
            )));
        }
        Ok(FetchedManifest {
            media_type: manifest_media_type(content_type.as_deref(), &bytes),
            digest,
            bytes,
        })
    }

    /// Streams a blob. Redirects (to a CDN or object store) are followed;
    /// the caller verifies size and digest.
    pub async fn get_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        creds: &Credentials,
    ) -> Result<BlobStream> {
        check_repo(repo)?;
        let scopes = [scope(repo, "pull")];
        let base = self.base(&repo.domain).await?;
        let url = Self::url(&base, repo, &format!("blobs/{digest}"))?;
        let mut req = Req::new(Method::GET, url.clone(), &scopes);
        req.timeout = None;
        let resp = self.send(&repo.domain, creds, req).await?;
        if !resp.status().is_success() {
            return Err(response_error(resp).await);
        }
        let size = resp.content_length();
        let final_url = resp.url().clone();
        let stream = resp
            .bytes_stream()
            .map_err(move |e| Error::transport(&Method::GET, final_url.as_str(), &e))
            .boxed();
        Ok(BlobStream { size, stream })
    }

    /// `HEAD` a blob: its size if the repository has it.
    pub async fn blob_exists(
        &self,
        repo: &Repository,
        digest: &Digest,
        creds: &Credentials,
    ) -> Result<Option<u64>> {
        check_repo(repo)?;
        let scopes = [scope(repo, "pull")];
        let base = self.base(&repo.domain).await?;
        let url = Self::url(&base, repo, &format!("blobs/{digest}"))?;
        let resp = self
            .send(
                &repo.domain,
                creds,
                Req::new(Method::HEAD, url.clone(), &scopes),
            )
            .await?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(response_error(resp).await);
        }
        // docker/distribution's blob Stat insists on a length.
        match header_str(resp.headers(), CONTENT_LENGTH.as_str()).and_then(|l| l.parse().ok()) {
            Some(n) => Ok(Some(n)),
            None => Err(Error::internal(format!(
                "missing content-length header for request: {url}"
            ))),
        }
    }

    /// Cross-repository mount (`POST …/blobs/uploads/?mount=&from=`): `true`
    /// if the registry linked the blob from `from` (a path in the same
    /// registry); `false` if it started an ordinary upload instead, which
    /// is cancelled.
    pub async fn mount_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        from: &str,
        creds: &Credentials,
    ) -> Result<bool> {
        check_repo(repo)?;
        check_path(from)?;
        // dockerd asks for pull on the source as well (`auth.WithScope`).
        let scopes = [scope(repo, "pull,push"), format!("repository:{from}:pull")];
        let base = self.base(&repo.domain).await?;
        let mut url = Self::url(&base, repo, "blobs/uploads/")?;
        url.query_pairs_mut()
            .append_pair("mount", digest.as_str())
            .append_pair("from", from);
        let resp = self
            .send(
                &repo.domain,
                creds,
                Req::new(Method::POST, url.clone(), &scopes).header(CONTENT_LENGTH, "0")?,
            )
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => {
                // An upload session we do not want: cancel it so it does
                // not linger until the registry's upload purger runs.
                if let Ok(loc) = upload_location(&resp, &url) {
                    let cancel = self
                        .send(&repo.domain, creds, Req::new(Method::DELETE, loc, &scopes))
                        .await;
                    if let Err(e) = cancel {
                        tracing::debug!(error = %e, "cancelling an unwanted upload failed");
                    }
                }
                Ok(false)
            }
            _ => Err(response_error(resp).await),
        }
    }

    /// Starts an upload session: its Location.
    async fn start_upload(
        &self,
        repo: &Repository,
        scopes: &[String],
        creds: &Credentials,
    ) -> Result<Url> {
        let base = self.base(&repo.domain).await?;
        let url = Self::url(&base, repo, "blobs/uploads/")?;
        let resp = self
            .send(
                &repo.domain,
                creds,
                Req::new(Method::POST, url.clone(), scopes).header(CONTENT_LENGTH, "0")?,
            )
            .await?;
        if !resp.status().is_success() {
            return Err(response_error(resp).await);
        }
        upload_location(&resp, &url)
    }

    /// Uploads a blob from a file: `POST` an upload, then one `PUT
    /// ?digest=` with the whole body. A registry that refuses that (some
    /// reject bodies on `PUT`, or bodies that large) gets a new upload fed
    /// by `PATCH` chunks instead. `progress` is called with the number of
    /// bytes sent so far.
    pub async fn push_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: u64,
        file: PathBuf,
        progress: &(dyn Fn(u64) + Send + Sync),
        creds: &Credentials,
    ) -> Result<()> {
        check_repo(repo)?;
        check_file(&file, size).await?;
        let scopes = [scope(repo, "pull,push")];
        let loc = self.start_upload(repo, &scopes, creds).await?;
        let (tx, rx) = watch::channel(0u64);
        let tx = Arc::new(tx);
        let mut req = Req::new(Method::PUT, with_digest(loc, digest), &scopes)
            .header(CONTENT_TYPE, "application/octet-stream")?;
        req.timeout = None;
        req.body = Body::File(FileBody {
            path: file.clone(),
            offset: 0,
            len: size,
            progress: Some(tx),
            progress_base: 0,
        });
        let mut last = None;
        let resp =
            with_progress(self.send(&repo.domain, creds, req), rx, progress, &mut last).await?;
        if resp.status().is_success() {
            self.check_pushed_digest(&resp, digest)?;
            if last != Some(size) {
                progress(size);
            }
            return Ok(());
        }
        let status = resp.status();
        let err = response_error(resp).await;
        if !refuses_monolithic(&err, status) {
            return Err(err);
        }
        tracing::debug!(%status, "registry refused a monolithic upload; uploading in chunks");
        self.push_blob_chunked(repo, digest, size, file, FALLBACK_CHUNK, progress, creds)
            .await
    }

    /// Uploads a blob in `PATCH` chunks of `chunk_size` bytes, then closes
    /// the upload with an empty `PUT ?digest=`. A blob that fits in one
    /// chunk is sent as dockerd does, in one `PATCH` without
    /// `Content-Range`; longer ones carry `Content-Range: start-end` per
    /// the distribution spec.
    #[allow(clippy::too_many_arguments)]
    pub async fn push_blob_chunked(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: u64,
        file: PathBuf,
        chunk_size: u64,
        progress: &(dyn Fn(u64) + Send + Sync),
        creds: &Credentials,
    ) -> Result<()> {
        check_repo(repo)?;
        check_file(&file, size).await?;
        if chunk_size == 0 {
            return Err(Error::invalid("chunk size must be positive"));
        }
        let scopes = [scope(repo, "pull,push")];
        let mut loc = self.start_upload(repo, &scopes, creds).await?;
        let mut last = None;
        let mut offset = 0u64;
        while offset < size {
            let len = chunk_size.min(size - offset);
            let (tx, rx) = watch::channel(offset);
            let mut req = Req::new(Method::PATCH, loc.clone(), &scopes)
                .header(CONTENT_TYPE, "application/octet-stream")?;
            if size > chunk_size {
                req = req.header(
                    reqwest::header::CONTENT_RANGE,
                    &format!("{offset}-{}", offset + len - 1),
                )?;
            }
            req.timeout = None;
            req.body = Body::File(FileBody {
                path: file.clone(),
                offset,
                len,
                progress: Some(Arc::new(tx)),
                progress_base: offset,
            });
            let resp =
                with_progress(self.send(&repo.domain, creds, req), rx, progress, &mut last).await?;
            if !resp.status().is_success() {
                return Err(response_error(resp).await);
            }
            loc = upload_location(&resp, &loc)?;
            offset += len;
        }
        let mut req =
            Req::new(Method::PUT, with_digest(loc, digest), &scopes).header(CONTENT_LENGTH, "0")?;
        // The registry may verify the whole blob before answering.
        req.timeout = None;
        let resp = self.send(&repo.domain, creds, req).await?;
        if !resp.status().is_success() {
            return Err(response_error(resp).await);
        }
        self.check_pushed_digest(&resp, digest)?;
        if last != Some(size) {
            progress(size);
        }
        Ok(())
    }

    fn check_pushed_digest(&self, resp: &Response, digest: &Digest) -> Result<()> {
        match header_str(resp.headers(), "docker-content-digest") {
            Some(d) if d != digest.as_str() => Err(Error::internal(format!(
                "registry stored the upload as {d}, not {digest}"
            ))),
            _ => Ok(()),
        }
    }

    /// `PUT` a manifest under a tag or digest; the digest the registry
    /// reports (`Docker-Content-Digest`), or the sha256 of the bytes.
    pub async fn put_manifest(
        &self,
        repo: &Repository,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
        creds: &Credentials,
    ) -> Result<Digest> {
        check_repo(repo)?;
        parse_reference(reference)?;
        let scopes = [scope(repo, "pull,push")];
        let base = self.base(&repo.domain).await?;
        let url = Self::url(&base, repo, &format!("manifests/{reference}"))?;
        let mut req = Req::new(Method::PUT, url, &scopes).header(CONTENT_TYPE, media_type)?;
        let local = Digest::of(&bytes);
        req.body = Body::Bytes(bytes);
        let resp = self.send(&repo.domain, creds, req).await?;
        if !resp.status().is_success() {
            return Err(response_error(resp).await);
        }
        Ok(header_str(resp.headers(), "docker-content-digest")
            .and_then(|d| d.parse().ok())
            .unwrap_or(local))
    }
}

/// The file to upload exists and has the size the caller says.
async fn check_file(path: &Path, size: u64) -> Result<()> {
    let md = tokio::fs::metadata(path).await.map_err(|e| {
        let kind = if e.kind() == std::io::ErrorKind::NotFound {
            ErrorKind::NotFound
        } else {
            ErrorKind::Internal
        };
        Error::new(kind, format!("stat {}: {e}", path.display()))
    })?;
    if md.len() != size {
        return Err(Error::invalid(format!(
            "upload {}: the file has {} bytes, not {size}",
            path.display(),
            md.len()
        )));
    }
    Ok(())
}

/// Bearer before Basic, as docker/distribution registers its handlers;
/// schemes we cannot answer are ignored.
fn pick_challenge(list: Vec<Challenge>) -> Option<Challenge> {
    let mut basic = None;
    for c in list {
        match c.scheme.as_str() {
            "bearer" => return Some(c),
            "basic" if basic.is_none() => basic = Some(c),
            _ => {}
        }
    }
    basic
}

/// Same scheme, realm and service: the scope and error parameters differ
/// per request and do not make it a different challenge.
fn same_challenge(a: &Challenge, b: &Challenge) -> bool {
    a.scheme == b.scheme
        && a.param("realm") == b.param("realm")
        && a.param("service") == b.param("service")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert!(matches!(parse_reference("latest"), Ok(Reference::Tag(_))));
        assert!(matches!(parse_reference("_x.Y-1"), Ok(Reference::Tag(_))));
        let d = Digest::of(b"a");
        assert!(matches!(
            parse_reference(d.as_str()),
            Ok(Reference::Digest(_))
        ));
        for bad in ["", ".x", "-x", "a/b", "a?b", "sha256:abc", &"a".repeat(129)] {
            assert!(parse_reference(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths() {
        for ok in ["foo", "library/busybox", "a/b/c", "a.b_c__d-e", "a--b", "0"] {
            assert!(check_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "Foo", "/a", "a/", "a//b", "a/../b", "-a", "a?x", "a b", "a%2f",
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
        assert!(check_domain("localhost:5000").is_ok());
        assert!(check_domain("[::1]:5000").is_ok());
        assert!(check_domain("a/b").is_err());
        assert!(check_domain("a@b").is_err());
    }

    #[test]
    fn media_types() {
        assert_eq!(
            manifest_media_type(
                Some("application/vnd.oci.image.index.v1+json; charset=utf-8"),
                b"{}"
            ),
            mt::OCI_INDEX
        );
        assert_eq!(
            manifest_media_type(
                Some("application/json"),
                br#"{"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#
            ),
            mt::DOCKER_MANIFEST
        );
        assert_eq!(
            manifest_media_type(None, br#"{"schemaVersion":2,"manifests":[]}"#),
            mt::OCI_INDEX
        );
        assert_eq!(
            manifest_media_type(
                Some("text/plain"),
                br#"{"schemaVersion":2,"config":{},"layers":[]}"#
            ),
            mt::OCI_MANIFEST
        );
        assert_eq!(
            manifest_media_type(None, br#"{"schemaVersion":1,"signatures":[]}"#),
            mt::DOCKER_MANIFEST_V1_SIGNED
        );
        assert_eq!(
            manifest_media_type(Some("application/json"), b"junk"),
            "application/json"
        );
    }

    #[test]
    fn challenge_choice() {
        let l = challenge::parse(r#"Basic realm="x", Bearer realm="y",service="s""#);
        assert_eq!(pick_challenge(l).unwrap().scheme, "bearer");
        let l = challenge::parse(r#"Negotiate, Basic realm="x""#);
        assert_eq!(pick_challenge(l).unwrap().scheme, "basic");
        assert!(pick_challenge(challenge::parse("Negotiate")).is_none());
        let a = &challenge::parse(r#"Bearer realm="y",service="s",scope="repository:a:pull""#)[0];
        let b = &challenge::parse(r#"Bearer realm="y",service="s",error="insufficient_scope""#)[0];
        assert!(same_challenge(a, b));
    }

    #[test]
    fn monolithic_refusals() {
        let plain = Error::invalid("x");
        assert!(refuses_monolithic(&plain, StatusCode::METHOD_NOT_ALLOWED));
        assert!(refuses_monolithic(&plain, StatusCode::PAYLOAD_TOO_LARGE));
        assert!(refuses_monolithic(&plain, StatusCode::BAD_REQUEST));
        let digest = error::from_response(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            br#"{"errors":[{"code":"DIGEST_INVALID"}]}"#,
        );
        assert!(!refuses_monolithic(&digest, StatusCode::BAD_REQUEST));
        assert!(!refuses_monolithic(&plain, StatusCode::NOT_FOUND));
    }

    #[tokio::test]
    async fn file_stream_reads_a_region() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..(UPLOAD_READ * 2 + 123))
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&p, &data).unwrap();
        let (tx, rx) = watch::channel(0u64);
        let fb = FileBody {
            path: p.clone(),
            offset: 7,
            len: data.len() as u64 - 10,
            progress: Some(Arc::new(tx)),
            progress_base: 100,
        };
        let got: Vec<Bytes> = file_stream(fb).try_collect().await.unwrap();
        let got: Vec<u8> = got.concat();
        assert_eq!(got, &data[7..data.len() - 3]);
        assert_eq!(*rx.borrow(), 100 + data.len() as u64 - 10);

        // A file shorter than promised is an error, not a short body.
        let fb = FileBody {
            path: p,
            offset: 0,
            len: data.len() as u64 + 1,
            progress: None,
            progress_base: 0,
        };
        let r: std::io::Result<Vec<Bytes>> = file_stream(fb).try_collect().await;
        assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
    }
}
