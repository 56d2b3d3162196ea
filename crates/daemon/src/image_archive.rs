//! `docker save` and `docker load` on top of the image store.

use std::io::{self, Write};

use berth_api_types::JsonMessage;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;

use crate::Daemon;
use crate::cp::{CHANNEL_DEPTH, ChannelWriter};
use crate::distribution::{Messages, channel};
use crate::error::{Error, Result};

impl Daemon {
    /// `docker save`: unknown names fail before a byte is sent; the tar
    /// is then produced on a blocking thread into a bounded channel.
    pub async fn image_save(
        &self,
        names: Vec<String>,
    ) -> Result<BoxStream<'static, io::Result<Bytes>>> {
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
    pub fn image_load<S>(&self, quiet: bool, body: S) -> Result<Messages>
    where
        S: Stream<Item = io::Result<Bytes>> + Send + Unpin + 'static,
    {
        let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(body));
        let images = self.images.clone();
        let (progress, stream) = channel();
        tokio::task::spawn_blocking(move || {
            let result = images.load(reader, &mut |ev: berth_image::LoadEvent| {
                if !quiet {
                    progress.send_blocking(JsonMessage::status(ev.id.clone(), ev.status.clone()));
                }
            });
            match result {
                Ok(loaded) => {
                    for img in loaded {
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
                Err(e) => progress.fail_blocking(Error::from(e)),
            }
        });
        Ok(stream)
    }
}
