//! What the API server needs from the engine. The server parses requests
//! and writes responses; everything else is behind these traits, one per API
//! area, so the daemon can be tested without HTTP and the server without a
//! daemon.

use std::future::Future;
use std::io;
use std::pin::Pin;

use berth_api_types as t;
use bytes::Bytes;
use futures_util::Stream;
use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::ApiResult;

pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// A progress stream (pull, push, load). For pull and push an error as the
/// first item is answered as a plain HTTP error, as dockerd does while it
/// has flushed nothing; a later one (and any of load's, which dockerd always
/// reports in a 200 stream) becomes an `errorDetail` line that ends the
/// stream.
pub type MessageStream = Pin<Box<dyn Stream<Item = ApiResult<t::JsonMessage>> + Send>>;

/// A hijacked connection (after `101 UPGRADED`): raw bytes both ways.
pub trait Duplex: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Duplex for T {}
pub type HijackedConn = Box<dyn Duplex>;

/// An attach or exec-start session, validated before the upgrade so that an
/// unknown id still gets a plain 404.
pub struct HijackSession {
    /// A TTY stream is raw; otherwise stdcopy frames.
    pub tty: bool,
    pub run: Box<dyn FnOnce(HijackedConn) -> BoxFuture<'static, ()> + Send>,
}

/// Output already in its wire form (stdcopy frames unless `tty`).
pub struct OutputStream {
    pub tty: bool,
    pub body: ByteStream,
}

pub trait SystemBackend: Send + Sync + 'static {
    fn info(&self) -> impl Future<Output = ApiResult<t::system::Info>> + Send;
    fn version(&self) -> impl Future<Output = ApiResult<t::system::Version>> + Send;
    /// `POST /auth`: checks the credentials against the registry.
    fn auth(
        &self,
        cfg: t::registry::AuthConfig,
    ) -> impl Future<Output = ApiResult<t::registry::AuthResponse>> + Send;
    /// `GET /system/df`, with both the legacy lists and the usage blocks
    /// filled; the server keeps what the API version calls for.
    fn system_df(&self) -> impl Future<Output = ApiResult<t::system::DiskUsage>> + Send;
}

#[derive(Debug, Clone, Default)]
pub struct ContainerListOptions {
    pub all: bool,
    pub limit: Option<usize>,
    pub size: bool,
    pub filters: t::filters::Filters,
}

#[derive(Debug, Clone, Default)]
pub struct StopOptions {
    pub signal: Option<String>,
    pub timeout: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

#[derive(Debug, Clone, Default)]
pub struct RemoveOptions {
    pub force: bool,
    pub volumes: bool,
    pub link: bool,
}

#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    pub stream: bool,
    pub logs: bool,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub detach_keys: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub follow: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    pub timestamps: bool,
    /// None = "all".
    pub tail: Option<usize>,
}

pub trait ContainerBackend: Send + Sync + 'static {
    fn container_create(
        &self,
        name: Option<String>,
        req: t::container::CreateRequest,
    ) -> impl Future<Output = ApiResult<t::container::CreateResponse>> + Send;
    fn container_inspect(
        &self,
        id: &str,
        size: bool,
    ) -> impl Future<Output = ApiResult<t::container::InspectResponse>> + Send;
    fn container_list(
        &self,
        opts: ContainerListOptions,
    ) -> impl Future<Output = ApiResult<Vec<t::container::Summary>>> + Send;
    /// `Ok(false)`: it was already running (304).
    fn container_start(&self, id: &str) -> impl Future<Output = ApiResult<bool>> + Send;
    /// `Ok(false)`: it was not running (304).
    fn container_stop(
        &self,
        id: &str,
        opts: StopOptions,
    ) -> impl Future<Output = ApiResult<bool>> + Send;
    fn container_restart(
        &self,
        id: &str,
        opts: StopOptions,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    fn container_kill(
        &self,
        id: &str,
        signal: Option<String>,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    /// Registers the waiter and returns what resolves at the condition; the
    /// server sends the headers in between, so `docker run` can start the
    /// container knowing the exit will not be missed.
    fn container_wait(
        &self,
        id: &str,
        condition: WaitCondition,
    ) -> impl Future<Output = ApiResult<BoxFuture<'static, t::container::WaitResponse>>> + Send;
    fn container_remove(
        &self,
        id: &str,
        opts: RemoveOptions,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    fn container_attach(
        &self,
        id: &str,
        opts: AttachOptions,
    ) -> impl Future<Output = ApiResult<HijackSession>> + Send;
    fn container_logs(
        &self,
        id: &str,
        opts: LogsOptions,
    ) -> impl Future<Output = ApiResult<OutputStream>> + Send;
    fn container_resize(
        &self,
        id: &str,
        height: u16,
        width: u16,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    fn container_rename(
        &self,
        id: &str,
        new_name: &str,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    fn container_top(
        &self,
        id: &str,
        ps_args: Option<String>,
    ) -> impl Future<Output = ApiResult<t::container::TopResponse>> + Send;
    fn container_pause(&self, id: &str) -> impl Future<Output = ApiResult<()>> + Send;
    fn container_unpause(&self, id: &str) -> impl Future<Output = ApiResult<()>> + Send;
    /// `GET /containers/{id}/stats`: one sample per second while `stream`,
    /// else one. Without `one_shot` a single sample waits for a second
    /// reading, so its `precpu_stats` are filled (as dockerd does).
    fn container_stats(
        &self,
        id: &str,
        stream: bool,
        one_shot: bool,
    ) -> impl Future<Output = ApiResult<StatsStream>> + Send;
    /// Removes the link `alias` of container `id` (`rm --link`).
    fn container_remove_link(
        &self,
        id: &str,
        alias: &str,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    /// `POST /containers/prune`: removes the containers that are not
    /// running (and match the filters).
    fn container_prune(
        &self,
        filters: t::filters::Filters,
    ) -> impl Future<Output = ApiResult<t::container::PruneReport>> + Send;
    /// `POST /containers/{id}/update`: resources (applied to a live
    /// container) and the restart policy.
    fn container_update(
        &self,
        id: &str,
        update: t::container::UpdateConfig,
    ) -> impl Future<Output = ApiResult<t::container::UpdateResponse>> + Send;
}

pub type StatsStream = Pin<Box<dyn Stream<Item = t::stats::StatsResponse> + Send>>;

/// What `POST /exec/{id}/start` turns into.
pub enum ExecStart {
    /// `Detach: true`: started; the answer is a plain 200.
    Detached,
    /// The hijacked stream, as for attach.
    Attached(HijackSession),
}

pub trait ExecBackend: Send + Sync + 'static {
    /// `POST /containers/{id}/exec`: returns the exec's id.
    fn exec_create(
        &self,
        container: &str,
        req: t::container::ExecCreateRequest,
    ) -> impl Future<Output = ApiResult<String>> + Send;
    fn exec_start(
        &self,
        id: &str,
        req: t::container::ExecStartRequest,
    ) -> impl Future<Output = ApiResult<ExecStart>> + Send;
    fn exec_resize(
        &self,
        id: &str,
        height: u16,
        width: u16,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    fn exec_inspect(
        &self,
        id: &str,
    ) -> impl Future<Output = ApiResult<t::container::ExecInspect>> + Send;
}

#[derive(Debug, Clone, Default)]
pub struct EventsOptions {
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    pub filters: t::filters::Filters,
}

/// Events in order; the stream ends at `until` (or never without it).
pub type EventStream = Pin<Box<dyn Stream<Item = t::events::Message> + Send>>;

pub trait EventsBackend: Send + Sync + 'static {
    /// `GET /events`: past events from `since` (kept in a bounded ring),
    /// then live ones. Invalid filters are an error before the stream.
    fn events(&self, opts: EventsOptions) -> impl Future<Output = ApiResult<EventStream>> + Send;
}

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub changes: Vec<String>,
    pub message: String,
    pub platform: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ImageListOptions {
    pub all: bool,
    pub digests: bool,
    pub filters: t::filters::Filters,
}

#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// `fromImage` as given (may carry a tag or digest).
    pub image: String,
    pub tag: Option<String>,
    pub platform: Option<String>,
    pub auth: t::registry::AuthConfig,
}

#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub container: String,
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub comment: String,
    pub author: String,
    pub pause: bool,
    pub changes: Vec<String>,
    /// The request body: a container config merged over the container's.
    pub config: Option<t::container::Config>,
}

pub trait ImageBackend: Send + Sync + 'static {
    fn image_pull(
        &self,
        opts: PullOptions,
    ) -> impl Future<Output = ApiResult<MessageStream>> + Send;
    fn image_push(
        &self,
        name: &str,
        tag: Option<String>,
        auth: t::registry::AuthConfig,
    ) -> impl Future<Output = ApiResult<MessageStream>> + Send;
    /// `docker save`: every name is resolved before the stream starts.
    fn image_save(&self, names: Vec<String>) -> impl Future<Output = ApiResult<ByteStream>> + Send;
    fn image_load(
        &self,
        quiet: bool,
        body: ByteStream,
    ) -> impl Future<Output = ApiResult<MessageStream>> + Send;
    fn image_history(
        &self,
        name: &str,
    ) -> impl Future<Output = ApiResult<Vec<t::image::HistoryResponseItem>>> + Send;
    fn image_prune(
        &self,
        filters: t::filters::Filters,
    ) -> impl Future<Output = ApiResult<t::image::PruneReport>> + Send;
    fn image_commit(
        &self,
        opts: CommitOptions,
    ) -> impl Future<Output = ApiResult<t::IdResponse>> + Send;
    /// `docker import`: returns the new image's id.
    fn image_import(
        &self,
        opts: ImportOptions,
        body: ByteStream,
    ) -> impl Future<Output = ApiResult<String>> + Send;
    fn image_list(
        &self,
        opts: ImageListOptions,
    ) -> impl Future<Output = ApiResult<Vec<t::image::Summary>>> + Send;
    fn image_inspect(
        &self,
        name: &str,
    ) -> impl Future<Output = ApiResult<t::image::InspectResponse>> + Send;
    fn image_tag(
        &self,
        name: &str,
        repo: &str,
        tag: Option<&str>,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    fn image_remove(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
    ) -> impl Future<Output = ApiResult<Vec<t::image::DeleteResponseItem>>> + Send;
}

pub trait VolumeBackend: Send + Sync + 'static {
    fn volume_create(
        &self,
        opts: t::volume::CreateOptions,
    ) -> impl Future<Output = ApiResult<t::volume::Volume>> + Send;
    fn volume_list(
        &self,
        filters: t::filters::Filters,
    ) -> impl Future<Output = ApiResult<t::volume::ListResponse>> + Send;
    fn volume_inspect(
        &self,
        name: &str,
    ) -> impl Future<Output = ApiResult<t::volume::Volume>> + Send;
    fn volume_remove(&self, name: &str, force: bool) -> impl Future<Output = ApiResult<()>> + Send;
    fn volume_prune(
        &self,
        filters: t::filters::Filters,
    ) -> impl Future<Output = ApiResult<t::volume::PruneReport>> + Send;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractOptions {
    pub no_overwrite_dir_non_dir: bool,
    pub copy_uid_gid: bool,
}

/// The container filesystem: docker cp, export, diff.
pub trait ArchiveBackend: Send + Sync + 'static {
    /// HEAD /archive.
    fn container_stat_path(
        &self,
        id: &str,
        path: &str,
    ) -> impl Future<Output = ApiResult<t::container::PathStat>> + Send;
    /// GET /archive: the stat (for the header) and the tar stream.
    fn container_archive(
        &self,
        id: &str,
        path: &str,
    ) -> impl Future<Output = ApiResult<(t::container::PathStat, ByteStream)>> + Send;
    /// PUT /archive.
    fn container_extract(
        &self,
        id: &str,
        path: &str,
        opts: ExtractOptions,
        body: ByteStream,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    fn container_export(&self, id: &str) -> impl Future<Output = ApiResult<ByteStream>> + Send;
    fn container_changes(
        &self,
        id: &str,
    ) -> impl Future<Output = ApiResult<Vec<t::container::FilesystemChange>>> + Send;
}

/// Everything the server routes to.
pub trait Backend:
    SystemBackend
    + ContainerBackend
    + ExecBackend
    + EventsBackend
    + ArchiveBackend
    + ImageBackend
    + VolumeBackend
{
}
impl<
    T: SystemBackend
        + ContainerBackend
        + ExecBackend
        + EventsBackend
        + ArchiveBackend
        + ImageBackend
        + VolumeBackend,
> Backend for T
{
}
