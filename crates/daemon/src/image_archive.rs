//! `docker save` and `docker load` on top of the image store.

use std::io::{self, Read, Write};
use std::sync::Arc;

use berth_api_types::JsonMessage;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;

use crate::Daemon;
use crate::cp::{CHANNEL_DEPTH, ChannelWriter};
use crate::distribution::{Messages, channel};
use crate::error::{Error, Result};

/// How much of a refused archive is still read (see `image_load`).
const DRAIN_ON_ERROR: u64 = 4 << 20;

impl Daemon {
    /// `docker save`: unknown names fail before a byte is sent; the tar
    /// is then produced on a blocking thread into a bounded channel.
    pub async fn image_save(
        &self,
        names: Vec<String>,
    ) -> Result<BoxStream<'static, io::Result<Bytes>>> {
        // dockerd announces each image as its export begins.
        for name in &names {
            if let Ok(img) = self.images.get(name) {
                let id = img.id.to_string();
                self.image_event("save", &id, &id, img.config.config.labels.as_ref());
            }
        }
        let images = self.images.clone();
        let (tx, mut rx) = mpsc::channel(CHANNEL_DEPTH);
        let task = tokio::task::spawn_blocking(move || -> Result<()> {
            let mut w = ChannelWriter::new(tx);
            let result = images.save(&names, &mut w);
            match result {
                Ok(()) => {
                    if let Err(e) = w.flush() {
                        w.fail(e);
                    }
                    Ok(())
                }
                Err(e) => {
                    let msg = e.to_string();
                    let err = Error::from(e);
                    w.fail(io::Error::other(msg));
                    Err(err)
                }
            }
        });
        // The store resolves every name before it writes a byte: an error
        // before the first chunk is answered as a plain HTTP error (404 for
        // an unknown name), as dockerd does while it has flushed nothing.
        match rx.recv().await {
            Some(Ok(first)) => {
                let rest = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
                Ok(futures_util::stream::once(async move { Ok(first) })
                    .chain(rest)
                    .boxed())
            }
            _ => match task.await {
                Ok(Err(e)) => Err(e),
                Ok(Ok(())) => Err(Error::internal("save produced no output")),
                Err(e) => Err(Error::internal(e.to_string())),
            },
        }
    }

    /// `docker load`: the body is read once on a blocking thread; the
    /// messages are dockerd's ("Loaded image: busybox:latest", or the ID
    /// for an untagged image). With `quiet` only those lines are sent.
    pub fn image_load<S>(self: &Arc<Self>, quiet: bool, body: S) -> Result<Messages>
    where
        S: Stream<Item = io::Result<Bytes>> + Send + Unpin + 'static,
    {
        let mut reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(body));
        let images = self.images.clone();
        let (progress, stream) = channel();
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let result = images.load(&mut reader, &mut |ev: berth_image::LoadEvent| {
                if !quiet {
                    progress.send_blocking(JsonMessage::status(ev.id.clone(), ev.status.clone()));
                }
            });
            match result {
                Ok(loaded) => {
                    for img in loaded {
                        let id = img.id.to_string();
                        let labels = this
                            .images
                            .get(&id)
                            .ok()
                            .and_then(|i| i.config.config.labels.clone());
                        this.image_event("load", &id, &id, labels.as_ref());
                        if img.tags.is_empty() {
                            progress.send_blocking(JsonMessage::stream(format!(
                                "Loaded image ID: {}\n",
                                img.id
                            )));
                        }
                        for t in img.tags {
                            progress.send_blocking(JsonMessage::stream(format!(
                                "Loaded image: {}\n",
                                t.familiar()
                            )));
                        }
                    }
                }
                Err(e) => {
                    // Read on a little before answering, as Go's server
                    // does (256 KiB), so a client still sending a small
                    // bad archive reads the error rather than a broken
                    // pipe. A large one is cut off.
                    let _ = std::io::copy(
                        &mut (&mut reader).take(DRAIN_ON_ERROR),
                        &mut std::io::sink(),
                    );
                    progress.fail_blocking(Error::from(e))
                }
            }
        });
        Ok(stream)
    }
}
