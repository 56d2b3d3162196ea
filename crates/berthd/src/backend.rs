//! The API server's backend traits, implemented by the daemon. This is the
//! one place where the two meet (DESIGN: the server sees the engine only
//! through traits, and the engine does not depend on the server).

use std::sync::Arc;

use berth_api_server::backend::{
    self as b, ArchiveBackend, ByteStream, ContainerBackend, EventsBackend, ExecBackend,
    HijackSession, HijackedConn, ImageBackend, MessageStream, OutputStream, SystemBackend,
    VolumeBackend,
};
use berth_api_server::{ApiError, ApiResult, ErrorKind};
use berth_api_types as t;
use berth_daemon::{Daemon, Error as DErr, ErrorKind as DKind};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};

pub struct Backend(pub Arc<Daemon>);

fn api(e: DErr) -> ApiError {
    let kind = match e.kind {
        DKind::NotFound => ErrorKind::NotFound,
        DKind::InvalidArgument => ErrorKind::InvalidArgument,
        DKind::Conflict => ErrorKind::Conflict,
        DKind::PermissionDenied => ErrorKind::PermissionDenied,
        DKind::NotImplemented => ErrorKind::NotImplemented,
        DKind::Unavailable => ErrorKind::Unavailable,
        DKind::Unauthorized => ErrorKind::Unauthorized,
        _ => ErrorKind::Internal,
    };
    ApiError::new(kind, e.message)
}

impl SystemBackend for Backend {
    async fn info(&self) -> ApiResult<t::system::Info> {
        Ok(self.0.info().await)
    }
    async fn version(&self) -> ApiResult<t::system::Version> {
        Ok(self.0.version())
    }
    async fn auth(&self, cfg: t::registry::AuthConfig) -> ApiResult<t::registry::AuthResponse> {
        self.0.auth(cfg).await.map_err(api)
    }
    async fn system_df(&self) -> ApiResult<t::system::DiskUsage> {
        self.0.system_df().await.map_err(api)
    }
}

fn messages(s: berth_daemon::Messages) -> MessageStream {
    Box::pin(s.map(|r| r.map_err(api)))
}

impl ContainerBackend for Backend {
    async fn container_create(
        &self,
        name: Option<String>,
        req: t::container::CreateRequest,
    ) -> ApiResult<t::container::CreateResponse> {
        self.0.container_create(name, req).await.map_err(api)
    }
    async fn container_inspect(
        &self,
        id: &str,
        size: bool,
    ) -> ApiResult<t::container::InspectResponse> {
        self.0.container_inspect(id, size).map_err(api)
    }
    async fn container_list(
        &self,
        o: b::ContainerListOptions,
    ) -> ApiResult<Vec<t::container::Summary>> {
        self.0
            .container_list(o.all, o.limit, o.size, &o.filters)
            .map_err(api)
    }
    async fn container_start(&self, id: &str) -> ApiResult<bool> {
        self.0.container_start(id).await.map_err(api)
    }
    async fn container_stop(&self, id: &str, o: b::StopOptions) -> ApiResult<bool> {
        self.0
            .container_stop(id, o.signal, o.timeout)
            .await
            .map_err(api)
    }
    async fn container_restart(&self, id: &str, o: b::StopOptions) -> ApiResult<()> {
        self.0
            .container_restart(id, o.signal, o.timeout)
            .await
            .map_err(api)
    }
    async fn container_kill(&self, id: &str, signal: Option<String>) -> ApiResult<()> {
        self.0.container_kill(id, signal).await.map_err(api)
    }
    async fn container_wait(
        &self,
        id: &str,
        condition: b::WaitCondition,
    ) -> ApiResult<BoxFuture<'static, t::container::WaitResponse>> {
        let cond = match condition {
            b::WaitCondition::NotRunning => berth_daemon::WaitCondition::NotRunning,
            b::WaitCondition::NextExit => berth_daemon::WaitCondition::NextExit,
            b::WaitCondition::Removed => berth_daemon::WaitCondition::Removed,
        };
        let fut = self.0.container_wait(id, cond).map_err(api)?;
        Ok(async move {
            match fut.await {
                Ok(code) => t::container::WaitResponse {
                    status_code: code,
                    error: None,
                },
                Err(e) => t::container::WaitResponse {
                    status_code: -1,
                    error: Some(t::container::WaitExitError { message: e.message }),
                },
            }
        }
        .boxed())
    }
    async fn container_remove(&self, id: &str, o: b::RemoveOptions) -> ApiResult<()> {
        let opts = berth_daemon::RemoveOptions {
            force: o.force,
            volumes: o.volumes,
        };
        self.0.container_remove(id, opts).await.map_err(api)
    }
    async fn container_attach(&self, id: &str, o: b::AttachOptions) -> ApiResult<HijackSession> {
        let session = self
            .0
            .container_attach(
                id,
                berth_daemon::AttachOptions {
                    stream: o.stream,
                    logs: o.logs,
                    stdin: o.stdin,
                    stdout: o.stdout,
                    stderr: o.stderr,
                    detach_keys: o.detach_keys,
                },
            )
            .map_err(api)?;
        let run = session.run;
        Ok(HijackSession {
            tty: session.tty,
            run: Box::new(move |conn: HijackedConn| run(Box::new(conn))),
        })
    }
    async fn container_logs(&self, id: &str, o: b::LogsOptions) -> ApiResult<OutputStream> {
        let opts = berth_daemon::logs::ReadOptions {
            stdout: o.stdout,
            stderr: o.stderr,
            since: o.since,
            until: o.until,
            timestamps: o.timestamps,
            tail: o.tail,
            follow: o.follow,
            tty: false,
        };
        let (tty, rx) = self.0.container_logs(id, opts).await.map_err(api)?;
        let body: ByteStream = Box::pin(tokio_stream_from(rx));
        Ok(OutputStream { tty, body })
    }
    async fn container_resize(&self, id: &str, h: u16, w: u16) -> ApiResult<()> {
        self.0.container_resize(id, h, w).await.map_err(api)
    }
    async fn container_rename(&self, id: &str, new_name: &str) -> ApiResult<()> {
        self.0.container_rename(id, new_name).await.map_err(api)
    }
    async fn container_top(
        &self,
        id: &str,
        ps_args: Option<String>,
    ) -> ApiResult<t::container::TopResponse> {
        self.0.container_top(id, ps_args).await.map_err(api)
    }
    async fn container_pause(&self, id: &str) -> ApiResult<()> {
        self.0.container_pause(id).await.map_err(api)
    }
    async fn container_unpause(&self, id: &str) -> ApiResult<()> {
        self.0.container_unpause(id).await.map_err(api)
    }
    async fn container_stats(
        &self,
        id: &str,
        stream: bool,
        one_shot: bool,
    ) -> ApiResult<b::StatsStream> {
        self.0
            .container_stats(id, stream, one_shot)
            .await
            .map_err(api)
    }
    async fn container_remove_link(&self, id: &str, alias: &str) -> ApiResult<()> {
        self.0.container_remove_link(id, alias).await.map_err(api)
    }
    async fn container_prune(
        &self,
        filters: t::filters::Filters,
    ) -> ApiResult<t::container::PruneReport> {
        self.0.container_prune(&filters).await.map_err(api)
    }
    async fn container_update(
        &self,
        id: &str,
        update: t::container::UpdateConfig,
    ) -> ApiResult<t::container::UpdateResponse> {
        self.0.container_update(id, update).await.map_err(api)
    }
}

impl ExecBackend for Backend {
    async fn exec_create(
        &self,
        container: &str,
        req: t::container::ExecCreateRequest,
    ) -> ApiResult<String> {
        self.0.exec_create(container, req).await.map_err(api)
    }
    async fn exec_start(
        &self,
        id: &str,
        req: t::container::ExecStartRequest,
    ) -> ApiResult<b::ExecStart> {
        Ok(match self.0.exec_start(id, req).await.map_err(api)? {
            None => b::ExecStart::Detached,
            Some(session) => {
                let run = session.run;
                b::ExecStart::Attached(HijackSession {
                    tty: session.tty,
                    run: Box::new(move |conn: HijackedConn| run(Box::new(conn))),
                })
            }
        })
    }
    async fn exec_resize(&self, id: &str, h: u16, w: u16) -> ApiResult<()> {
        self.0.exec_resize(id, h, w).await.map_err(api)
    }
    async fn exec_inspect(&self, id: &str) -> ApiResult<t::container::ExecInspect> {
        self.0.exec_inspect(id).map_err(api)
    }
}

impl EventsBackend for Backend {
    async fn events(&self, o: b::EventsOptions) -> ApiResult<b::EventStream> {
        self.0.events(o.since, o.until, &o.filters).map_err(api)
    }
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

impl ArchiveBackend for Backend {
    async fn container_stat_path(&self, id: &str, path: &str) -> ApiResult<t::container::PathStat> {
        self.0.container_stat_path(id, path).await.map_err(api)
    }
    async fn container_archive(
        &self,
        id: &str,
        path: &str,
    ) -> ApiResult<(t::container::PathStat, ByteStream)> {
        let (stat, rx) = self.0.container_archive(id, path).await.map_err(api)?;
        Ok((stat, Box::pin(tokio_stream_from(rx))))
    }
    async fn container_extract(
        &self,
        id: &str,
        path: &str,
        o: b::ExtractOptions,
        body: ByteStream,
    ) -> ApiResult<()> {
        let opts = berth_daemon::ExtractOptions {
            no_overwrite_dir_non_dir: o.no_overwrite_dir_non_dir,
            copy_uid_gid: o.copy_uid_gid,
        };
        self.0
            .container_extract(id, path, opts, body)
            .await
            .map_err(api)
    }
    async fn container_export(&self, id: &str) -> ApiResult<ByteStream> {
        let rx = self.0.container_export(id).await.map_err(api)?;
        Ok(Box::pin(tokio_stream_from(rx)))
    }
    async fn container_changes(&self, id: &str) -> ApiResult<Vec<t::container::FilesystemChange>> {
        self.0.container_changes(id).await.map_err(api)
    }
}

impl ImageBackend for Backend {
    async fn image_pull(&self, o: b::PullOptions) -> ApiResult<MessageStream> {
        let opts = berth_daemon::PullOptions {
            image: o.image,
            tag: o.tag,
            platform: o.platform,
            auth: o.auth,
        };
        self.0.image_pull(opts).map(messages).map_err(api)
    }
    async fn image_push(
        &self,
        name: &str,
        tag: Option<String>,
        auth: t::registry::AuthConfig,
    ) -> ApiResult<MessageStream> {
        self.0
            .image_push(name, tag, auth)
            .map(messages)
            .map_err(api)
    }
    async fn image_save(&self, names: Vec<String>) -> ApiResult<ByteStream> {
        self.0.image_save(names).await.map_err(api)
    }
    async fn image_load(&self, quiet: bool, body: ByteStream) -> ApiResult<MessageStream> {
        self.0.image_load(quiet, body).map(messages).map_err(api)
    }
    async fn image_history(&self, name: &str) -> ApiResult<Vec<t::image::HistoryResponseItem>> {
        self.0.image_history(name).map_err(api)
    }
    async fn image_prune(&self, filters: t::filters::Filters) -> ApiResult<t::image::PruneReport> {
        self.0.image_prune(&filters).await.map_err(api)
    }
    async fn image_commit(&self, o: b::CommitOptions) -> ApiResult<t::IdResponse> {
        let opts = berth_daemon::CommitOptions {
            container: o.container,
            repo: o.repo,
            tag: o.tag,
            comment: o.comment,
            author: o.author,
            pause: o.pause,
            changes: o.changes,
            config: o.config,
        };
        let id = self.0.image_commit(opts).await.map_err(api)?;
        Ok(t::IdResponse::new(id))
    }
    async fn image_import(&self, o: b::ImportOptions, body: ByteStream) -> ApiResult<String> {
        let opts = berth_daemon::ImportOptions {
            repo: o.repo,
            tag: o.tag,
            changes: o.changes,
            message: o.message,
            platform: o.platform,
        };
        self.0.image_import(opts, body).await.map_err(api)
    }
    async fn image_list(&self, o: b::ImageListOptions) -> ApiResult<Vec<t::image::Summary>> {
        self.0.image_list(o.all, o.digests, &o.filters).map_err(api)
    }
    async fn image_inspect(&self, name: &str) -> ApiResult<t::image::InspectResponse> {
        self.0.image_inspect(name).map_err(api)
    }
    async fn image_tag(&self, name: &str, repo: &str, tag: Option<&str>) -> ApiResult<()> {
        self.0.image_tag(name, repo, tag).map_err(api)
    }
    async fn image_remove(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
    ) -> ApiResult<Vec<t::image::DeleteResponseItem>> {
        self.0.image_remove(name, force, noprune).await.map_err(api)
    }
}

impl VolumeBackend for Backend {
    async fn volume_create(&self, o: t::volume::CreateOptions) -> ApiResult<t::volume::Volume> {
        self.0.volume_create(o).map_err(api)
    }
    async fn volume_list(&self, f: t::filters::Filters) -> ApiResult<t::volume::ListResponse> {
        self.0.volume_list(&f).map_err(api)
    }
    async fn volume_inspect(&self, name: &str) -> ApiResult<t::volume::Volume> {
        self.0.volume_inspect(name).map_err(api)
    }
    async fn volume_remove(&self, name: &str, force: bool) -> ApiResult<()> {
        self.0.volume_remove(name, force).map_err(api)
    }
    async fn volume_prune(&self, f: t::filters::Filters) -> ApiResult<t::volume::PruneReport> {
        self.0.volume_prune(&f).map_err(api)
    }
}
