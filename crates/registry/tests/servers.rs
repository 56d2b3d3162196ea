//! The client against servers that behave unlike distribution 2.8 in ways
//! real registries and their CDNs do: a proxy that refuses monolithic
//! uploads (in front of the real registry), a registry that redirects blob
//! downloads to another host, and one that serves content not matching
//! the digest asked for.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes as AxBytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use berth_registry::{Credentials, Digest, ErrorKind, Repository};
use common::*;
use futures_util::StreamExt;

async fn serve(app: axum::Router) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, task)
}

struct Proxy {
    upstream: String,
    me: Mutex<String>,
    http: reqwest::Client,
    refused_puts: AtomicUsize,
    patches: AtomicUsize,
}

/// Forwards to the registry, but answers `405` to a `PUT` that carries an
/// upload's body, as registries that only take chunked uploads do.
async fn proxy(
    State(p): State<Arc<Proxy>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: AxBytes,
) -> Response {
    if method == Method::PUT && uri.path().contains("/blobs/uploads/") && !body.is_empty() {
        p.refused_puts.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            "monolithic uploads are not supported",
        )
            .into_response();
    }
    if method == Method::PATCH {
        p.patches.fetch_add(1, Ordering::SeqCst);
    }
    let url = format!(
        "http://{}{}",
        p.upstream,
        uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/")
    );
    let mut rb = p.http.request(method, url);
    for (k, v) in headers.iter() {
        if k != "host" && k != "content-length" {
            rb = rb.header(k, v);
        }
    }
    // distribution builds its Location URLs from these.
    let me = p.me.lock().unwrap().clone();
    rb = rb
        .header("x-forwarded-host", me)
        .header("x-forwarded-proto", "http");
    let resp = rb.body(body).send().await.unwrap();
    let status = resp.status();
    let mut out = HeaderMap::new();
    for (k, v) in resp.headers() {
        if k != "content-length" && k != "transfer-encoding" {
            out.append(k, v.clone());
        }
    }
    let bytes = resp.bytes().await.unwrap();
    (status, out, bytes).into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn falls_back_to_chunks_when_monolithic_put_is_refused() {
    let Some(reg) = Registry::start("").await else {
        return;
    };
    // (The registry client installs ring as the process's rustls provider;
    // reqwest needs one even for plain http.)
    let client = client();
    let p = Arc::new(Proxy {
        upstream: reg.addr.clone(),
        me: Mutex::new(String::new()),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        refused_puts: AtomicUsize::new(0),
        patches: AtomicUsize::new(0),
    });
    let app = axum::Router::new().fallback(proxy).with_state(p.clone());
    let (addr, _task) = serve(app).await;
    *p.me.lock().unwrap() = addr.to_string();

    let r = Repository::new(addr.to_string(), "via/proxy");
    let data = random_bytes(1_000_003, 7);
    let (d, path) = blob_file(reg.dir.path(), "blob", &data);
    let seen = Mutex::new(Vec::new());
    client
        .push_blob(
            &r,
            &d,
            data.len() as u64,
            path,
            &|n| seen.lock().unwrap().push(n),
            &Credentials::anonymous(),
        )
        .await
        .unwrap();
    assert_eq!(p.refused_puts.load(Ordering::SeqCst), 1);
    assert_eq!(p.patches.load(Ordering::SeqCst), 1);
    assert_eq!(
        seen.lock().unwrap().last().copied(),
        Some(data.len() as u64)
    );
    // Stored in the real registry, byte for byte.
    let direct = Repository::new(reg.addr.clone(), "via/proxy");
    let mut blob = client
        .get_blob(&direct, &d, &Credentials::anonymous())
        .await
        .unwrap();
    let mut got = Vec::new();
    while let Some(c) = blob.stream.next().await {
        got.extend_from_slice(&c.unwrap());
    }
    assert_eq!(Digest::of(&got), d);
}

#[derive(Default)]
struct Seen {
    registry_auth: Mutex<Vec<Option<String>>>,
    cdn_auth: Mutex<Vec<Option<String>>>,
    cdn: Mutex<String>,
}

fn auth_of(h: &HeaderMap) -> Option<String> {
    h.get("authorization")
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirected_blobs_get_no_credentials() {
    let client = client();
    let data = random_bytes(100_000, 9);
    let d = Digest::of(&data);
    let seen = Arc::new(Seen::default());

    let cdn_data = AxBytes::from(data.clone());
    let cdn = axum::Router::new()
        .route(
            "/blob",
            axum::routing::get(|State(s): State<Arc<Seen>>, h: HeaderMap| async move {
                s.cdn_auth.lock().unwrap().push(auth_of(&h));
                cdn_data
            }),
        )
        .with_state(seen.clone());
    let (cdn_addr, _c) = serve(cdn).await;
    *seen.cdn.lock().unwrap() = format!("http://{cdn_addr}/blob");

    let registry = axum::Router::new()
        .fallback(|State(s): State<Arc<Seen>>, uri: Uri, h: HeaderMap| async move {
            let auth = auth_of(&h);
            s.registry_auth.lock().unwrap().push(auth.clone());
            if auth.is_none() {
                return (
                    StatusCode::UNAUTHORIZED,
                    [("www-authenticate", "Basic realm=\"fake\"")],
                    "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}",
                )
                    .into_response();
            }
            if uri.path() == "/v2/" {
                return "{}".into_response();
            }
            let to = s.cdn.lock().unwrap().clone();
            (StatusCode::TEMPORARY_REDIRECT, [("location", to)]).into_response()
        })
        .with_state(seen.clone());
    let (reg_addr, _r) = serve(registry).await;

    let r = Repository::new(reg_addr.to_string(), "app");
    let creds = Credentials::basic("user", "secret");
    let mut blob = client.get_blob(&r, &d, &creds).await.unwrap();
    assert_eq!(blob.size, Some(data.len() as u64));
    let mut got = Vec::new();
    while let Some(c) = blob.stream.next().await {
        got.extend_from_slice(&c.unwrap());
    }
    assert_eq!(got, data);
    let reg_auth = seen.registry_auth.lock().unwrap().clone();
    // The ping without, then the blob request with basic auth.
    assert_eq!(reg_auth.len(), 2, "{reg_auth:?}");
    assert!(reg_auth[1].as_deref().unwrap().starts_with("Basic "));
    assert_eq!(*seen.cdn_auth.lock().unwrap(), vec![None]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_are_verified_and_bounded() {
    let client = client();
    let honest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#.to_vec();
    let good = Digest::of(&honest);
    let lie = Digest::of(b"what the HEAD said");
    let (g, l) = (good.clone(), lie.clone());
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri| {
        let honest = honest.clone();
        let good = g.clone();
        let lie = l.clone();
        async move {
            let p = uri.path().to_string();
            if p == "/v2/" {
                return "{}".into_response();
            }
            let ct = [("content-type", "application/vnd.oci.image.manifest.v1+json")];
            if p == "/v2/app/manifests/big" {
                if method == Method::HEAD {
                    return StatusCode::OK.into_response();
                }
                return (ct, vec![b' '; 5 << 20]).into_response();
            }
            if p == "/v2/app/manifests/tagged" {
                // HEAD promises a digest the GET by digest cannot match.
                return (
                    ct,
                    [("docker-content-digest", lie.to_string())],
                    if method == Method::HEAD {
                        Vec::new()
                    } else {
                        honest
                    },
                )
                    .into_response();
            }
            if p == format!("/v2/app/manifests/{lie}") || p == format!("/v2/app/manifests/{good}") {
                return (ct, honest).into_response();
            }
            StatusCode::NOT_FOUND.into_response()
        }
    });
    let (addr, _t) = serve(app).await;
    let r = Repository::new(addr.to_string(), "app");
    let anon = Credentials::anonymous();

    let m = client.get_manifest(&r, good.as_str(), &anon).await.unwrap();
    assert_eq!(m.digest, good);
    assert_eq!(m.media_type, "application/vnd.oci.image.manifest.v1+json");

    let err = client
        .get_manifest(&r, lie.as_str(), &anon)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        err.to_string(),
        format!("manifest verification failed for digest {lie}")
    );
    let err = client.get_manifest(&r, "tagged", &anon).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("manifest verification failed for digest {lie}")
    );

    let err = client.get_manifest(&r, "big", &anon).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("larger than"), "{err}");
}
