//! A bearer-token server for docker/distribution's `auth: token:`: it
//! signs RS256 JWTs (with `openssl dgst`) under a self-signed certificate
//! the registry trusts through `rootcertbundle`, and answers the two
//! request forms Docker's client uses: `GET ?service&scope&account` with
//! basic auth (plus `offline_token=true` at login, which earns a refresh
//! token), and the OAuth2 `POST` with `grant_type=refresh_token`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

pub const SERVICE: &str = "berth-test-registry";
pub const ISSUER: &str = "berth-test-issuer";
pub const USER: &str = "alice";
pub const PASSWORD: &str = "wonderland";

pub struct TokenServer {
    pub addr: String,
    pub state: Arc<TokenState>,
    pub cert: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub struct TokenState {
    key: PathBuf,
    cert_der_b64: String,
    /// GET and POST requests answered with a token.
    pub gets: AtomicUsize,
    pub posts: AtomicUsize,
    /// The scope parameters of every request, in order.
    pub scopes: Mutex<Vec<String>>,
    refresh: Mutex<HashMap<String, String>>,
    next: AtomicUsize,
}

impl TokenServer {
    /// The `auth:` section for the registry's config.
    pub fn auth_yaml(&self) -> String {
        format!(
            "auth:\n  token:\n    realm: http://{}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            self.addr,
            self.cert.display()
        )
    }

    pub async fn start(dir: &std::path::Path) -> TokenServer {
        let key = dir.join("token-key.pem");
        let cert = dir.join("token-cert.pem");
        let st = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=berth-test-token"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("run openssl");
        assert!(
            st.status.success(),
            "openssl req: {}",
            String::from_utf8_lossy(&st.stderr)
        );
        let pem = std::fs::read_to_string(&cert).unwrap();
        let cert_der_b64: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .concat();
        let state = Arc::new(TokenState {
            key,
            cert_der_b64,
            gets: AtomicUsize::new(0),
            posts: AtomicUsize::new(0),
            scopes: Mutex::new(Vec::new()),
            refresh: Mutex::new(HashMap::new()),
            next: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .route("/token", axum::routing::get(token).post(token))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        TokenServer {
            addr,
            state,
            cert,
            task,
        }
    }
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn form_pairs(s: &str) -> Vec<(String, String)> {
    let u = reqwest::Url::parse(&format!("http://x/?{s}")).unwrap();
    u.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn json(status: StatusCode, v: serde_json::Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        serde_json::to_string(&v).unwrap(),
    )
        .into_response()
}

impl TokenState {
    /// The access claims for `scopes`: everything asked for, for the one
    /// known user; nothing for anonymous requests.
    fn access(&self, account: Option<&str>, scopes: &[String]) -> Vec<serde_json::Value> {
        if account != Some(USER) {
            return Vec::new();
        }
        scopes
            .iter()
            .flat_map(|s| s.split(' '))
            .filter_map(|s| {
                let mut parts = s.splitn(3, ':');
                let (t, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                Some(serde_json::json!({
                    "type": t,
                    "name": name,
                    "actions": actions.split(',').collect::<Vec<_>>(),
                }))
            })
            .collect()
    }

    async fn jwt(&self, account: Option<&str>, scopes: &[String]) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [self.cert_der_b64]});
        let claims = serde_json::json!({
            "iss": ISSUER,
            "sub": account.unwrap_or(""),
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": format!("jti-{}", self.next.fetch_add(1, Ordering::SeqCst)),
            "access": self.access(account, scopes),
        });
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let key = self.key.clone();
        let data = input.clone();
        let sig = tokio::task::spawn_blocking(move || {
            let mut child = Command::new("openssl")
                .args(["dgst", "-sha256", "-sign"])
                .arg(&key)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(data.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success());
            out.stdout
        })
        .await
        .unwrap();
        format!("{input}.{}", b64url(&sig))
    }
}

async fn token(
    State(st): State<Arc<TokenState>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: String,
) -> Response {
    if method == Method::POST {
        let form = form_pairs(&body);
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if get("grant_type").as_deref() != Some("refresh_token") {
            return json(
                StatusCode::BAD_REQUEST,
                serde_json::json!({"error": "unsupported_grant_type"}),
            );
        }
        let rt = get("refresh_token").unwrap_or_default();
        let account = st.refresh.lock().unwrap().get(&rt).cloned();
        let Some(account) = account else {
            return json(
                StatusCode::UNAUTHORIZED,
                serde_json::json!({"details": "invalid refresh token"}),
            );
        };
        let scopes: Vec<String> = get("scope")
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        st.scopes.lock().unwrap().extend(scopes.iter().cloned());
        st.posts.fetch_add(1, Ordering::SeqCst);
        let jwt = st.jwt(Some(&account), &scopes).await;
        return json(
            StatusCode::OK,
            serde_json::json!({"access_token": jwt, "expires_in": 300}),
        );
    }

    let pairs = form_pairs(query.as_deref().unwrap_or(""));
    let scopes: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    let offline = pairs
        .iter()
        .any(|(k, v)| k == "offline_token" && v == "true");
    let mut account = None;
    if let Some(h) = headers.get("authorization").and_then(|h| h.to_str().ok()) {
        let Some(enc) = h.strip_prefix("Basic ") else {
            return json(
                StatusCode::BAD_REQUEST,
                serde_json::json!({"details": "bad auth"}),
            );
        };
        let dec = base64::engine::general_purpose::STANDARD
            .decode(enc)
            .unwrap_or_default();
        let dec = String::from_utf8_lossy(&dec).into_owned();
        if dec != format!("{USER}:{PASSWORD}") {
            // Docker Hub's answer to a wrong password.
            return json(
                StatusCode::UNAUTHORIZED,
                serde_json::json!({"details": "incorrect username or password"}),
            );
        }
        account = Some(USER.to_string());
    }
    st.scopes.lock().unwrap().extend(scopes.iter().cloned());
    st.gets.fetch_add(1, Ordering::SeqCst);
    let jwt = st.jwt(account.as_deref(), &scopes).await;
    let mut resp = serde_json::json!({"token": jwt, "expires_in": 300});
    if let Some(a) = account.as_ref().filter(|_| offline) {
        let rt = format!("refresh-{}", st.next.fetch_add(1, Ordering::SeqCst));
        st.refresh.lock().unwrap().insert(rt.clone(), a.clone());
        resp["refresh_token"] = serde_json::Value::String(rt);
    }
    json(StatusCode::OK, resp)
}
