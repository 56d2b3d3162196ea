//! `docker pull`, `docker push` and `docker login` on top of the registry
//! client and the image store, with dockerd's progress messages.
//!
//! Pull: manifest (a list or index picks the platform), config, then the
//! layer blobs the content store lacks, downloaded in parallel (three at a
//! time, dockerd's default) and streamed into the content store with their
//! digest and size verified; then the image store unpacks what is missing
//! and records the image. Nothing is visible until that last step, and a
//! failure deletes what the pull ingested (a crash leaves blobs the store
//! drops when it next opens).

use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;

use berth_api_types::JsonMessage;
use berth_api_types::registry::{AuthConfig, AuthResponse};
use berth_content::Digest;
use berth_image::oci::{Index, MEDIA_TYPE_DOCKER_MANIFEST_LIST, MEDIA_TYPE_INDEX, Platform};
use berth_image::{Descriptor, LayerProgress, Manifest, Reference};
use berth_registry::{Credentials, Repository};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::Daemon;
use crate::error::{Error, ErrorKind, Result};

/// Docker's default `max-concurrent-downloads` / `-uploads`.
const PARALLEL: usize = 3;
/// Progress lines per layer are sent at most every this many bytes.
const PROGRESS_STEP: u64 = 512 * 1024;

pub type Messages = futures_util::stream::BoxStream<'static, Result<JsonMessage>>;

#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    pub image: String,
    pub tag: Option<String>,
    pub platform: Option<String>,
    pub auth: AuthConfig,
}

fn credentials(a: &AuthConfig) -> Credentials {
    Credentials {
        username: a.username.clone(),
        password: a.password.clone(),
        identity_token: a.identitytoken.clone(),
        registry_token: a.registrytoken.clone(),
    }
}

fn repository(r: &Reference) -> Repository {
    Repository {
        domain: r.domain().to_string(),
        path: r.path().to_string(),
    }
}

impl From<berth_registry::Error> for Error {
    fn from(e: berth_registry::Error) -> Self {
        use berth_registry::ErrorKind as K;
        let kind = match e.kind() {
            K::NotFound => ErrorKind::NotFound,
            K::Unauthorized => ErrorKind::Unauthorized,
            K::InvalidArgument => ErrorKind::InvalidArgument,
            K::Unavailable => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        };
        Error::new(kind, e.to_string())
    }
}

/// A channel of progress messages and the stream the API serves from it.
pub(crate) fn channel() -> (Progress, Messages) {
    let (tx, rx) = mpsc::channel::<Result<JsonMessage>>(256);
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    (Progress(tx), stream.boxed())
}

#[derive(Clone)]
pub(crate) struct Progress(mpsc::Sender<Result<JsonMessage>>);

impl Progress {
    async fn send(&self, m: JsonMessage) {
        // A client that went away stops reading; the work still finishes
        // (or fails) so the store stays consistent, as dockerd's does.
        let _ = self.0.send(Ok(m)).await;
    }
    pub(crate) fn send_blocking(&self, m: JsonMessage) {
        let _ = self.0.blocking_send(Ok(m));
    }
    async fn status(&self, id: &str, status: &str) {
        self.send(JsonMessage {
            id: id.to_string(),
            status: status.to_string(),
            progress_detail: Some(Default::default()),
            ..Default::default()
        })
        .await
    }
    /// Ends the stream with `e` (from a blocking thread).
    pub(crate) fn fail_blocking(&self, e: Error) {
        let _ = self.0.blocking_send(Err(e));
    }
    async fn fail(&self, mut e: Error) {
        // dockerd answers a pull or push the registry refused with 500, not
        // 401: on a 401 the docker CLI prompts "Login prior to pull:" and
        // waits for a username even without a terminal. Only `POST /auth`
        // is a 401.
        if e.kind == ErrorKind::Unauthorized {
            e.kind = ErrorKind::Internal;
        }
        let _ = self.0.send(Err(e)).await;
    }
}

fn short(d: &Digest) -> String {
    d.hex()[..12].to_string()
}

impl Daemon {
    fn registry_client(&self) -> &berth_registry::Client {
        &self.registry
    }

    /// `POST /auth`.
    pub async fn auth(&self, cfg: AuthConfig) -> Result<AuthResponse> {
        let server = if cfg.serveraddress.is_empty() {
            "docker.io".to_string()
        } else {
            normalize_server(&cfg.serveraddress)
        };
        let token = self
            .registry_client()
            .login(&server, &credentials(&cfg))
            .await?;
        Ok(AuthResponse {
            status: "Login Succeeded".into(),
            identity_token: token.unwrap_or_default(),
        })
    }

    /// `POST /images/create?fromImage=`: the progress stream. Errors before
    /// the first message (a bad name, an unknown tag, refused credentials)
    /// come out as the stream's first item, so the API answers them as
    /// HTTP errors like dockerd.
    pub fn image_pull(self: &Arc<Self>, opts: PullOptions) -> Result<Messages> {
        let reference = pull_reference(&opts.image, opts.tag.as_deref())?;
        let (progress, stream) = channel();
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.pull(&reference, &opts, &progress).await {
                progress.fail(e).await;
            }
        });
        Ok(stream)
    }

    async fn pull(&self, r: &Reference, opts: &PullOptions, progress: &Progress) -> Result<()> {
        let repo = repository(r);
        let creds = credentials(&opts.auth);
        let client = self.registry_client();
        let tag_or_digest = match r.digest() {
            Some(d) => d.to_string(),
            None => r.tag().unwrap_or("latest").to_string(),
        };
        let top = client.get_manifest(&repo, &tag_or_digest, &creds).await?;
        let top_digest = top.digest.clone();
        let manifest = if top.media_type == MEDIA_TYPE_INDEX
            || top.media_type == MEDIA_TYPE_DOCKER_MANIFEST_LIST
        {
            let want = Platform::parse(opts.platform.as_deref())?;
            let index: Index = serde_json::from_slice(&top.bytes).map_err(|e| {
                Error::invalid(format!("invalid manifest list {}: {e}", top.digest))
            })?;
            let chosen = index.choose(&want).ok_or_else(|| {
                Error::not_found(format!(
                    "no matching manifest for {} in the manifest list entries",
                    want.display()
                ))
            })?;
            client
                .get_manifest(&repo, &chosen.digest.to_string(), &creds)
                .await?
        } else {
            top
        };
        // A schema-1 manifest has no config: it does not parse as one.
        let parsed: Manifest = serde_json::from_slice(&manifest.bytes)
            .ok()
            .filter(|m: &Manifest| m.schema_version == 2)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unsupported manifest {} ({}): only image manifests of schema 2 and OCI are supported",
                    manifest.digest, manifest.media_type
                ))
            })?;
        let config_desc = parsed.config.clone();
        progress
            .send(JsonMessage::status(
                tag_or_digest.clone(),
                format!("Pulling from {}", r.familiar_name()),
            ))
            .await;

        let content = self.images.content().clone();
        let mut ingested: Vec<Digest> = Vec::new();
        // Blobs this pull ingested are not referenced by any record until
        // add_image returns; the lease keeps a concurrent load's or delete's
        // cleanup from taking them meanwhile.
        let mut lease = self.images.lease_blobs(&[]);
        let result = async {
            // The config first: it is small, and its diff IDs say which
            // layers are already unpacked.
            if !content.exists(&config_desc.digest) {
                lease.add(&config_desc.digest);
                fetch_blob(client, &repo, &config_desc, &creds, &content, None).await?;
                ingested.push(config_desc.digest.clone());
            }
            lease.add(&manifest.digest);
            let mdigest = content.write_blob(&manifest.bytes)?;
            if mdigest != manifest.digest {
                return Err(Error::internal("manifest digest changed while storing it"));
            }
            ingested.push(mdigest.clone());

            let have_chains = self.images.present_layers(&config_desc.digest)?;
            let mut todo = Vec::new();
            for (i, l) in parsed.layers.iter().enumerate() {
                let id = short(&l.digest);
                if content.exists(&l.digest) && have_chains.get(i).copied().unwrap_or(false) {
                    progress.status(&id, "Already exists").await;
                } else if content.exists(&l.digest) {
                    progress.status(&id, "Download complete").await;
                } else {
                    progress.status(&id, "Pulling fs layer").await;
                    lease.add(&l.digest);
                    todo.push(l.clone());
                }
            }
            let downloads = futures_util::stream::iter(todo.into_iter().map(|l| {
                let content = content.clone();
                let repo = &repo;
                let creds = &creds;
                async move {
                    let id = short(&l.digest);
                    fetch_blob(client, repo, &l, creds, &content, Some((progress, &id))).await?;
                    progress.status(&id, "Download complete").await;
                    Ok::<Digest, Error>(l.digest.clone())
                }
            }))
            .buffer_unordered(PARALLEL);
            futures_util::pin_mut!(downloads);
            let mut first_err = None;
            while let Some(res) = downloads.next().await {
                match res {
                    Ok(d) => ingested.push(d),
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = first_err {
                return Err(e);
            }

            let mut refs = Vec::new();
            if r.digest().is_none() {
                refs.push(r.clone());
            }
            refs.push(Reference::parse_named(&format!(
                "{}@{}",
                r.name(),
                top_digest
            ))?);
            let images = self.images.clone();
            let p = progress.clone();
            let layer_ids: Vec<String> = parsed.layers.iter().map(|l| short(&l.digest)).collect();
            let existed =
                self.images
                    .get(&format!("{}@{}", r.name(), top_digest))
                    .is_ok()
                    || self
                        .images
                        .get(&config_desc.digest.to_string())
                        .is_ok_and(|img| {
                            r.digest().is_some()
                                || img.repo_tags.iter().any(|t| {
                                    Reference::parse(t).is_ok_and(|x| x.full() == r.full())
                                })
                        });
            tokio::task::spawn_blocking(move || {
                images.add_image(&mdigest, &refs, &mut |ev: LayerProgress| {
                    let Some(id) = layer_ids.get(ev.index) else {
                        return;
                    };
                    let status = match ev.event {
                        berth_image::LayerEvent::Extracting => "Extracting",
                        berth_image::LayerEvent::Done => "Pull complete",
                        berth_image::LayerEvent::AlreadyExists => return,
                    };
                    p.send_blocking(JsonMessage {
                        id: id.clone(),
                        status: status.into(),
                        progress_detail: Some(Default::default()),
                        ..Default::default()
                    });
                })
            })
            .await
            .map_err(|e| Error::internal(e.to_string()))??;
            Ok::<bool, Error>(existed)
        }
        .await;
        match result {
            Ok(existed) => {
                progress
                    .send(JsonMessage::status("", format!("Digest: {top_digest}")))
                    .await;
                let what = if existed {
                    "Image is up to date for"
                } else {
                    "Downloaded newer image for"
                };
                progress
                    .send(JsonMessage::status(
                        "",
                        format!("Status: {what} {}", r.familiar()),
                    ))
                    .await;
                let labels = self
                    .images
                    .get(&r.familiar())
                    .ok()
                    .and_then(|i| i.config.config.labels.clone());
                self.image_event("pull", &r.familiar(), &r.familiar(), labels.as_ref());
                Ok(())
            }
            Err(e) => {
                drop(lease);
                self.images.gc_blobs(&ingested);
                Err(e)
            }
        }
    }

    /// `POST /images/{name}/push`.
    pub fn image_push(
        self: &Arc<Self>,
        name: &str,
        tag: Option<String>,
        auth: AuthConfig,
    ) -> Result<Messages> {
        let named = Reference::parse_named(name)?;
        let targets: Vec<Reference> = match tag.as_deref().filter(|t| !t.is_empty()) {
            Some(t) => vec![named.with_tag(t)?],
            None if named.tag().is_some() || named.digest().is_some() => vec![named.clone()],
            // No tag: every local tag of the repository (`docker push -a`).
            None => {
                let mut v = Vec::new();
                for img in self.images.list() {
                    for t in &img.repo_tags {
                        if let Ok(x) = Reference::parse(t)
                            && x.name() == named.name()
                        {
                            v.push(x);
                        }
                    }
                }
                if v.is_empty() {
                    return Err(Error::not_found(format!(
                        "An image does not exist locally with the tag: {}",
                        named.familiar_name()
                    )));
                }
                v.sort_by_key(|x| x.full());
                v
            }
        };
        for t in &targets {
            if self.images.get(&t.familiar()).is_err() {
                return Err(Error::not_found(format!(
                    "An image does not exist locally with the tag: {}",
                    named.familiar_name()
                )));
            }
        }
        let (progress, stream) = channel();
        let this = self.clone();
        tokio::spawn(async move {
            progress
                .send(JsonMessage::status(
                    "",
                    format!("The push refers to repository [{}]", named.name()),
                ))
                .await;
            for t in targets {
                if let Err(e) = this.push_one(&t, &auth, &progress).await {
                    progress.fail(e).await;
                    return;
                }
            }
        });
        Ok(stream)
    }

    async fn push_one(&self, r: &Reference, auth: &AuthConfig, progress: &Progress) -> Result<()> {
        let images = self.images.clone();
        let name = r.familiar();
        let plan = tokio::task::spawn_blocking(move || images.push_plan(&name))
            .await
            .map_err(|e| Error::internal(e.to_string()))??;
        let repo = repository(r);
        let creds = credentials(auth);
        let client = self.registry_client();
        let content = self.images.content().clone();
        let mount_from = self.mount_candidates(r);
        for l in &plan.layers {
            progress.status(&short(&l.digest), "Preparing").await;
        }
        let uploads = futures_util::stream::iter(
            std::iter::once((plan.config.clone(), false))
                .chain(plan.layers.iter().cloned().map(|l| (l, true)))
                .map(|(desc, is_layer)| {
                    let content = content.clone();
                    let repo = &repo;
                    let creds = &creds;
                    let mount_from = &mount_from;
                    async move {
                        let id = short(&desc.digest);
                        if client
                            .blob_exists(repo, &desc.digest, creds)
                            .await?
                            .is_some()
                        {
                            if is_layer {
                                progress.status(&id, "Layer already exists").await;
                            }
                            return Ok::<(), Error>(());
                        }
                        for from in mount_from {
                            if client.mount_blob(repo, &desc.digest, from, creds).await? {
                                if is_layer {
                                    progress.status(&id, &format!("Mounted from {from}")).await;
                                }
                                return Ok(());
                            }
                        }
                        let path = content.blob_path(&desc.digest);
                        let total = desc.size as i64;
                        let p = progress.clone();
                        let idc = id.clone();
                        let last = std::sync::atomic::AtomicU64::new(0);
                        let on_progress = move |sent: u64| {
                            if !is_layer {
                                return;
                            }
                            let prev = last.load(std::sync::atomic::Ordering::Relaxed);
                            if sent < prev + PROGRESS_STEP && sent != desc.size {
                                return;
                            }
                            last.store(sent, std::sync::atomic::Ordering::Relaxed);
                            let _ = p.0.try_send(Ok(JsonMessage::progress(
                                idc.clone(),
                                "Pushing",
                                sent as i64,
                                total,
                            )));
                        };
                        client
                            .push_blob(repo, &desc.digest, desc.size, path, &on_progress, creds)
                            .await?;
                        if is_layer {
                            progress.status(&id, "Pushed").await;
                        }
                        Ok(())
                    }
                }),
        )
        .buffer_unordered(PARALLEL);
        futures_util::pin_mut!(uploads);
        while let Some(res) = uploads.next().await {
            res?;
        }
        let tag = r.tag().unwrap_or("latest").to_string();
        let digest = client
            .put_manifest(
                &repo,
                &tag,
                &plan.manifest_media_type,
                bytes::Bytes::from(plan.manifest_bytes.clone()),
                &creds,
            )
            .await?;
        let size = plan.manifest_bytes.len();
        let canonical = Reference::parse_named(&format!("{}@{digest}", r.name()))?;
        let images = self.images.clone();
        let image_id = self.images.get(&r.familiar())?.id;
        tokio::task::spawn_blocking(move || images.record_pushed(&image_id, &canonical))
            .await
            .map_err(|e| Error::internal(e.to_string()))??;
        progress
            .send(JsonMessage::status(
                "",
                format!("{tag}: digest: {digest} size: {size}"),
            ))
            .await;
        progress
            .send(JsonMessage {
                progress_detail: Some(Default::default()),
                aux: Some(
                    serde_json::json!({"Tag": tag, "Digest": digest.to_string(), "Size": size}),
                ),
                ..Default::default()
            })
            .await;
        self.image_event("push", &r.familiar(), &r.familiar(), None);
        Ok(())
    }

    /// Other repositories of the same registry this daemon pulled or pushed
    /// images from: a blob there can be mounted instead of uploaded.
    fn mount_candidates(&self, r: &Reference) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for img in self.images.list() {
            for d in &img.repo_digests {
                if let Ok(x) = Reference::parse_named(d)
                    && x.domain() == r.domain()
                    && x.path() != r.path()
                    && seen.insert(x.path().to_string())
                {
                    out.push(x.path().to_string());
                }
            }
        }
        out.truncate(3);
        out
    }
}

/// `fromImage` + `tag` as dockerd combines them: a tag that is a digest
/// makes a canonical reference; no tag means `latest`.
fn pull_reference(image: &str, tag: Option<&str>) -> Result<Reference> {
    let named = Reference::parse_named(image)?;
    match tag {
        Some(t) if t.contains(':') => {
            let d: Digest = t
                .parse()
                .map_err(|e| Error::invalid(format!("invalid digest {t:?}: {e}")))?;
            Ok(Reference::parse_named(&format!("{}@{d}", named.name()))?)
        }
        Some(t) => Ok(named.name_only().with_tag(t)?),
        None if named.tag().is_some() || named.digest().is_some() => Ok(named),
        None => Err(Error::not_implemented(
            "berth does not pull all tags of a repository (docker pull --all-tags); name a tag",
        )),
    }
}

/// What `docker login SERVER` sends, as a registry host.
fn normalize_server(s: &str) -> String {
    let s = s
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".into(),
        h => h.to_string(),
    }
}

/// Streams one blob into the content store; the ingest verifies digest and
/// size on commit, and is discarded on any error.
async fn fetch_blob(
    client: &berth_registry::Client,
    repo: &Repository,
    desc: &Descriptor,
    creds: &Credentials,
    content: &Arc<berth_content::ContentStore>,
    progress: Option<(&Progress, &str)>,
) -> Result<()> {
    let mut blob = client.get_blob(repo, &desc.digest, creds).await?;
    let (tx, mut rx) = mpsc::channel::<bytes::Bytes>(16);
    let content = content.clone();
    let digest = desc.digest.clone();
    let size = desc.size;
    let writer = tokio::task::spawn_blocking(move || -> Result<()> {
        let mut ingest = content.ingest()?;
        while let Some(chunk) = rx.blocking_recv() {
            ingest
                .write_all(&chunk)
                .map_err(|e| Error::io("write a downloaded blob", e))?;
        }
        ingest.commit(Some(&digest), Some(size))?;
        Ok(())
    });
    let mut got: u64 = 0;
    let mut last: u64 = 0;
    let mut failed = None;
    while let Some(chunk) = blob.stream.next().await {
        match chunk {
            Ok(c) => {
                got += c.len() as u64;
                if got > size {
                    failed = Some(Error::invalid(format!(
                        "blob {} is larger than its descriptor says ({size} bytes)",
                        desc.digest
                    )));
                    break;
                }
                if tx.send(c).await.is_err() {
                    break;
                }
                if let Some((p, id)) = progress
                    && (got - last >= PROGRESS_STEP || got == size)
                {
                    last = got;
                    p.send(JsonMessage::progress(
                        id,
                        "Downloading",
                        got as i64,
                        size as i64,
                    ))
                    .await;
                }
            }
            Err(e) => {
                failed = Some(e.into());
                break;
            }
        }
    }
    drop(tx);
    if let Some(e) = failed {
        // The writer sees the channel close and fails its size check; its
        // ingest is dropped, which removes the temp file.
        let _ = writer.await;
        return Err(e);
    }
    if let Some((p, id)) = progress {
        p.status(id, "Verifying Checksum").await;
    }
    writer.await.map_err(|e| Error::internal(e.to_string()))??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_references_as_dockerd_builds_them() {
        assert_eq!(
            pull_reference("busybox", Some("1")).unwrap().full(),
            "docker.io/library/busybox:1"
        );
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            pull_reference("127.0.0.1:5000/x", Some(&d)).unwrap().full(),
            format!("127.0.0.1:5000/x@{d}")
        );
        assert!(pull_reference("x", None).is_err());
        assert_eq!(normalize_server("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalize_server("127.0.0.1:5000"), "127.0.0.1:5000");
    }

    #[test]
    fn platform_choice() {
        let idx: Index = serde_json::from_slice(br#"{"schemaVersion":2,"manifests":[
            {"digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":1,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
            {"digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","size":1,"platform":{"os":"linux","architecture":"amd64"}}]}"#).unwrap();
        let amd = Platform::parse(Some("linux/amd64")).unwrap();
        assert!(idx.choose(&amd).unwrap().digest.hex().starts_with('2'));
        let arm = Platform::parse(Some("linux/arm64/v8")).unwrap();
        assert!(idx.choose(&arm).unwrap().digest.hex().starts_with('1'));
        let s390 = Platform::parse(Some("linux/s390x")).unwrap();
        assert!(idx.choose(&s390).is_none());
    }
}
