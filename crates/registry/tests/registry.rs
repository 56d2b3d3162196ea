//! The client against a real docker/distribution 2.8 registry: anonymous,
//! htpasswd (basic) and token (bearer) auth. Every test starts its own
//! registry; see `common`.

mod common;

use std::sync::Mutex;
use std::sync::atomic::Ordering;

use berth_registry::{Client, Credentials, Digest, ErrorKind, Repository};
use bytes::Bytes;
use common::token::{self, TokenServer};
use common::*;
use futures_util::StreamExt;

fn repo(reg: &Registry, path: &str) -> Repository {
    Repository::new(reg.addr.clone(), path)
}

async fn fetch_all(client: &Client, repo: &Repository, d: &Digest, creds: &Credentials) -> Vec<u8> {
    let mut blob = client.get_blob(repo, d, creds).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = blob.stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    if let Some(size) = blob.size {
        assert_eq!(size, out.len() as u64);
    }
    out
}

/// Pushes a config + layer and a schema-2 manifest tagged `tag`; returns
/// the manifest's bytes and digest.
async fn push_image(
    client: &Client,
    reg: &Registry,
    r: &Repository,
    tag: &str,
    seed: u64,
    creds: &Credentials,
) -> (Vec<u8>, Digest) {
    let layer = random_bytes(300_000 + seed as usize, seed);
    let (ld, lp) = blob_file(reg.dir.path(), &format!("layer-{seed}"), &layer);
    let config = config_json(&ld);
    let (cd, cp) = blob_file(reg.dir.path(), &format!("config-{seed}"), &config);
    client
        .push_blob(r, &ld, layer.len() as u64, lp, &|_| {}, creds)
        .await
        .unwrap();
    client
        .push_blob(r, &cd, config.len() as u64, cp, &|_| {}, creds)
        .await
        .unwrap();
    let manifest = schema2_manifest((&cd, config.len()), (&ld, layer.len()));
    let md = client
        .put_manifest(r, tag, SCHEMA2, Bytes::from(manifest.clone()), creds)
        .await
        .unwrap();
    assert_eq!(md, Digest::of(&manifest));
    (manifest, md)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_round_trip() {
    let Some(reg) = Registry::start("").await else {
        return;
    };
    let client = client();
    let anon = Credentials::anonymous();
    let r = repo(&reg, "berth/blobs");

    // 3 MiB + 5: more than one read buffer, not a multiple of anything.
    let data = random_bytes((3 << 20) + 5, 1);
    let (d, p) = blob_file(reg.dir.path(), "big", &data);
    assert_eq!(client.blob_exists(&r, &d, &anon).await.unwrap(), None);

    let seen = Mutex::new(Vec::new());
    let progress = |n: u64| seen.lock().unwrap().push(n);
    client
        .push_blob(&r, &d, data.len() as u64, p.clone(), &progress, &anon)
        .await
        .unwrap();
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.last().copied(), Some(data.len() as u64), "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");

    assert_eq!(
        client.blob_exists(&r, &d, &anon).await.unwrap(),
        Some(data.len() as u64)
    );
    let got = fetch_all(&client, &r, &d, &anon).await;
    assert_eq!(Digest::of(&got), d);
    assert_eq!(got.len(), data.len());

    // Chunked upload, as the fallback does: 7 chunks, the last short.
    let small = random_bytes(600_001, 2);
    let (sd, sp) = blob_file(reg.dir.path(), "small", &small);
    let seen = Mutex::new(Vec::new());
    let progress = |n: u64| seen.lock().unwrap().push(n);
    client
        .push_blob_chunked(
            &r,
            &sd,
            small.len() as u64,
            sp.clone(),
            100_000,
            &progress,
            &anon,
        )
        .await
        .unwrap();
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.last().copied(), Some(small.len() as u64), "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert_eq!(fetch_all(&client, &r, &sd, &anon).await, small);

    // One chunk: dockerd's single streamed PATCH.
    let one = random_bytes(1000, 3);
    let (od, op) = blob_file(reg.dir.path(), "one", &one);
    client
        .push_blob_chunked(&r, &od, one.len() as u64, op, 1 << 20, &|_| {}, &anon)
        .await
        .unwrap();
    assert_eq!(fetch_all(&client, &r, &od, &anon).await, one);

    // An empty blob.
    let (ed, ep) = blob_file(reg.dir.path(), "empty", b"");
    client
        .push_blob(&r, &ed, 0, ep, &|_| {}, &anon)
        .await
        .unwrap();
    assert_eq!(client.blob_exists(&r, &ed, &anon).await.unwrap(), Some(0));

    // Mount into another repository of the same registry.
    let other = repo(&reg, "berth/other");
    assert_eq!(client.blob_exists(&other, &d, &anon).await.unwrap(), None);
    assert!(client.mount_blob(&other, &d, &r.path, &anon).await.unwrap());
    assert_eq!(
        client.blob_exists(&other, &d, &anon).await.unwrap(),
        Some(data.len() as u64)
    );
    // A blob the source does not have: the registry starts an upload
    // instead, which the client cancels.
    let absent = Digest::of(b"not pushed anywhere");
    assert!(
        !client
            .mount_blob(&other, &absent, &r.path, &anon)
            .await
            .unwrap()
    );

    // Unknown blob.
    let err = client.get_blob(&r, &absent, &anon).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(err.to_string(), "blob unknown: blob unknown to registry");

    // Content that does not match the digest: the registry refuses it, and
    // that is not a reason to retry in chunks.
    let wrong = Digest::of(b"something else");
    let err = client
        .push_blob(&r, &wrong, small.len() as u64, sp.clone(), &|_| {}, &anon)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert_eq!(err.registry_code(), Some("DIGEST_INVALID"), "{err}");

    // The caller's size must be the file's.
    let err = client
        .push_blob(&r, &sd, small.len() as u64 + 1, sp, &|_| {}, &anon)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_and_dockerd_messages() {
    let Some(reg) = Registry::start("").await else {
        return;
    };
    let client = client();
    let anon = Credentials::anonymous();
    let r = repo(&reg, "foo");
    let (manifest, md) = push_image(&client, &reg, &r, "v1", 10, &anon).await;

    let m = client.get_manifest(&r, "v1", &anon).await.unwrap();
    assert_eq!(m.media_type, SCHEMA2);
    assert_eq!(m.digest, md);
    assert_eq!(&m.bytes[..], &manifest[..]);

    let m = client.get_manifest(&r, md.as_str(), &anon).await.unwrap();
    assert_eq!(m.media_type, SCHEMA2);
    assert_eq!(m.digest, md);

    // An OCI index over that manifest, pushed by digest and by tag.
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": SCHEMA2,
            "digest": md.to_string(),
            "size": manifest.len(),
            "platform": {"architecture": "amd64", "os": "linux"},
        }],
    }))
    .unwrap();
    let id = client
        .put_manifest(&r, "multi", OCI_INDEX, Bytes::from(index.clone()), &anon)
        .await
        .unwrap();
    assert_eq!(id, Digest::of(&index));
    let m = client.get_manifest(&r, "multi", &anon).await.unwrap();
    assert_eq!(m.media_type, OCI_INDEX);
    assert_eq!(m.digest, id);

    // dockerd 20.10's texts, which the docker CLI prints.
    let err = client.get_manifest(&r, "nope", &anon).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        err.to_string(),
        format!(
            "manifest for {}/foo:nope not found: manifest unknown: manifest unknown",
            reg.addr
        )
    );
    let missing = Digest::of(b"no such manifest");
    let err = client
        .get_manifest(&r, missing.as_str(), &anon)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        err.to_string(),
        format!(
            "manifest for {}/foo@{missing} not found: manifest unknown: manifest unknown",
            reg.addr
        )
    );
    let err = client
        .get_manifest(&repo(&reg, "nosuch/repo"), "latest", &anon)
        .await
        .unwrap_err();
    // distribution 2.8 answers an unknown repository's tag with
    // MANIFEST_UNKNOWN (NAME_UNKNOWN, which other registries send, is
    // translated to "repository … not found: name unknown: …"; see the
    // unit tests), so `docker pull localhost:5000/nosuch/repo` prints:
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        err.to_string(),
        format!(
            "manifest for {}/nosuch/repo:latest not found: manifest unknown: manifest unknown",
            reg.addr
        )
    );

    // Bad input never reaches the registry.
    let err = client.get_manifest(&r, "a/b", &anon).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = client
        .get_manifest(&repo(&reg, "Upper"), "latest", &anon)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);

    // A manifest that references a blob the repository lacks.
    let ghost = Digest::of(b"ghost");
    let bad = schema2_manifest((&ghost, 5), (&ghost, 5));
    let err = client
        .put_manifest(&r, "bad", SCHEMA2, Bytes::from(bad), &anon)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(err.registry_code(), Some("MANIFEST_BLOB_UNKNOWN"), "{err}");

    // A registry without auth: login succeeds without checking anything,
    // as dockerd's does.
    assert_eq!(
        client
            .login(&reg.addr, &Credentials::basic("x", "y"))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_unavailable() {
    let port = free_port();
    let client = client();
    let r = Repository::new(format!("127.0.0.1:{port}"), "foo");
    let err = client
        .get_manifest(&r, "latest", &Credentials::anonymous())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    // The last endpoint tried (http, after https) names the URL.
    assert!(
        err.to_string()
            .starts_with(&format!("Get \"http://127.0.0.1:{port}/v2/\": ")),
        "{err}"
    );
    assert!(err.to_string().contains("refused"), "{err}");
    let err = client
        .login(&format!("127.0.0.1:{port}"), &Credentials::basic("a", "b"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth() {
    let Some(pre) = registry_bin() else {
        return;
    };
    drop(pre);
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    let out = std::process::Command::new("htpasswd")
        .args(["-Bbn", "user", "pass"])
        .output()
        .expect("run htpasswd (apache2-utils)");
    assert!(out.status.success());
    std::fs::write(&htpasswd, &out.stdout).unwrap();
    let auth = format!(
        "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
        htpasswd.display()
    );
    let Some(reg) = Registry::start(&auth).await else {
        return;
    };
    let client = client();
    let good = Credentials::basic("user", "pass");
    let bad = Credentials::basic("user", "wrong");
    let anon = Credentials::anonymous();

    assert_eq!(client.login(&reg.addr, &good).await.unwrap(), None);
    // `docker login` may pass a URL.
    assert_eq!(
        client
            .login(&format!("http://{}/", reg.addr), &good)
            .await
            .unwrap(),
        None
    );
    let err = client.login(&reg.addr, &bad).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert_eq!(
        err.to_string(),
        format!(
            "login attempt to http://{}/v2/ failed with status: 401 Unauthorized",
            reg.addr
        )
    );
    let err = client.login(&reg.addr, &anon).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert_eq!(
        err.to_string(),
        format!("Get \"http://{}/v2/\": no basic auth credentials", reg.addr)
    );

    let r = repo(&reg, "foo");
    let (manifest, md) = push_image(&client, &reg, &r, "latest", 20, &good).await;
    let m = client.get_manifest(&r, "latest", &good).await.unwrap();
    assert_eq!(m.digest, md);
    assert_eq!(&m.bytes[..], &manifest[..]);

    // No credentials: dockerd's text for a basic-auth registry.
    let err = client.get_manifest(&r, "latest", &anon).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert_eq!(
        err.to_string(),
        format!(
            "Head \"http://{}/v2/foo/manifests/latest\": no basic auth credentials",
            reg.addr
        )
    );
    let err = client.blob_exists(&r, &md, &anon).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);

    // Wrong credentials.
    let err = client.get_manifest(&r, "latest", &bad).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert_eq!(err.to_string(), "unauthorized: authentication required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_auth() {
    if registry_bin().is_none() {
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let ts = TokenServer::start(keys.path()).await;
    let Some(reg) = Registry::start(&ts.auth_yaml()).await else {
        return;
    };
    let client = client();
    let good = Credentials::basic(token::USER, token::PASSWORD);
    let bad = Credentials::basic(token::USER, "nope");
    let anon = Credentials::anonymous();

    // Login asks for a refresh token and returns it as the identity token.
    let identity = client
        .login(&reg.addr, &good)
        .await
        .unwrap()
        .expect("an identity token");
    assert!(identity.starts_with("refresh-"), "{identity}");
    let err = client.login(&reg.addr, &bad).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert_eq!(
        err.to_string(),
        format!(
            "Get \"http://{}/v2/\": unauthorized: incorrect username or password",
            reg.addr
        )
    );

    let r = repo(&reg, "team/app");
    let (manifest, md) = push_image(&client, &reg, &r, "v1", 30, &good).await;
    assert!(
        ts.state
            .scopes
            .lock()
            .unwrap()
            .contains(&"repository:team/app:pull,push".to_string())
    );

    // Pull: one token for the pull scope, then the cache.
    let before = ts.state.gets.load(Ordering::SeqCst);
    let m = client.get_manifest(&r, "v1", &good).await.unwrap();
    assert_eq!(m.digest, md);
    assert_eq!(&m.bytes[..], &manifest[..]);
    let layer: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let ld: Digest = layer["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let got = fetch_all(&client, &r, &ld, &good).await;
    assert_eq!(Digest::of(&got), ld);
    client.get_manifest(&r, md.as_str(), &good).await.unwrap();
    assert_eq!(ts.state.gets.load(Ordering::SeqCst), before + 1);

    // The identity token from login: the OAuth2 refresh-token POST.
    let with_identity = Credentials {
        username: token::USER.into(),
        identity_token: identity.clone(),
        ..Default::default()
    };
    let posts = ts.state.posts.load(Ordering::SeqCst);
    let m = client.get_manifest(&r, "v1", &with_identity).await.unwrap();
    assert_eq!(m.digest, md);
    assert_eq!(ts.state.posts.load(Ordering::SeqCst), posts + 1);
    // Login with it checks it for real and hands it back.
    assert_eq!(
        client.login(&reg.addr, &with_identity).await.unwrap(),
        Some(identity)
    );

    // A registry token is sent as is.
    // (Our client installed ring as the process's rustls provider.)
    let body = reqwest::Client::new()
        .get(format!(
            "http://{}/token?service={}&scope=repository:team/app:pull",
            ts.addr,
            token::SERVICE
        ))
        .basic_auth(token::USER, Some(token::PASSWORD))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let raw: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let given = Credentials {
        registry_token: raw["token"].as_str().unwrap().to_string(),
        ..Default::default()
    };
    let gets = ts.state.gets.load(Ordering::SeqCst);
    let m = client.get_manifest(&r, "v1", &given).await.unwrap();
    assert_eq!(m.digest, md);
    assert_eq!(ts.state.gets.load(Ordering::SeqCst), gets);

    // Another user's (here: nobody's) request never reuses alice's token:
    // the anonymous token grants nothing, and dockerd's text follows.
    let err = client.get_manifest(&r, "v1", &anon).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "pull access denied for {}/team/app, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
            reg.addr
        )
    );
    let err = client
        .push_blob(
            &repo(&reg, "team/other"),
            &ld,
            got.len() as u64,
            {
                let (_, p) = blob_file(reg.dir.path(), "again", &got);
                p
            },
            &|_| {},
            &anon,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");

    // Cross-repository mount needs pull on the source too.
    let other = repo(&reg, "team/copy");
    assert!(
        client
            .mount_blob(&other, &ld, &r.path, &good)
            .await
            .unwrap()
    );
    assert!(
        ts.state
            .scopes
            .lock()
            .unwrap()
            .contains(&"repository:team/app:pull".to_string())
    );
    assert!(
        client
            .blob_exists(&other, &ld, &good)
            .await
            .unwrap()
            .is_some()
    );
}

/// An insecure registry (loopback) that speaks TLS with a self-signed
/// certificate: the https attempt comes first and is used, without
/// certificate verification, as dockerd does for insecure registries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_registry_over_tls() {
    if registry_bin().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
    let out = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new("htpasswd")
        .args(["-Bbn", "user", "pass"])
        .output()
        .expect("run htpasswd (apache2-utils)");
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, &out.stdout).unwrap();
    let tls = format!(
        "  tls:\n    certificate: {}\n    key: {}\n",
        cert.display(),
        key.display()
    );
    let auth = format!(
        "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
        htpasswd.display()
    );
    let Some(reg) = Registry::start_with(&tls, &auth).await else {
        return;
    };
    let client = client();
    let good = Credentials::basic("user", "pass");
    let r = repo(&reg, "secure/app");
    let (_, md) = push_image(&client, &reg, &r, "latest", 40, &good).await;
    assert_eq!(
        client
            .get_manifest(&r, "latest", &good)
            .await
            .unwrap()
            .digest,
        md
    );
    assert_eq!(client.login(&reg.addr, &good).await.unwrap(), None);
    // The URL in dockerd's message shows which scheme was used.
    let err = client
        .get_manifest(&r, "latest", &Credentials::anonymous())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Head \"https://{}/v2/secure/app/manifests/latest\": no basic auth credentials",
            reg.addr
        )
    );
}
