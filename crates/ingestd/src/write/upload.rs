//! The upload side of a part: a `Write` the Parquet writer fills on its blocking thread,
//! feeding a bounded channel, and the `ByteStream` the store's PUT consumes on the runtime.
//! A part that is not finished fails its PUT, so the store keeps nothing of it.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use storaged::StoreError;
use tokio::sync::mpsc;

/// Bytes handed to the upload at a time.
const CHUNK: usize = 1 << 20;

/// A writer and the body stream it feeds.
pub(crate) fn channel() -> (UploadWriter, storaged::ByteStream) {
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let complete = Arc::new(AtomicBool::new(false));
    let body = upload_stream(rx, complete.clone());
    let writer = UploadWriter {
        tx,
        buf: Vec::with_capacity(CHUNK),
        complete,
    };
    (writer, body)
}

/// The body of one part's PUT: chunks until the writer finishes; if the writer goes away
/// without finishing, an error, so the store discards the partial object.
fn upload_stream(rx: mpsc::Receiver<Bytes>, complete: Arc<AtomicBool>) -> storaged::ByteStream {
    use futures::StreamExt;
    futures::stream::unfold(Some(rx), move |rx| {
        let complete = complete.clone();
        async move {
            let mut rx = rx?;
            match rx.recv().await {
                Some(chunk) => Some((Ok(chunk), Some(rx))),
                None if complete.load(Ordering::Acquire) => None,
                None => Some((
                    Err(StoreError::BadRequest(
                        "the ingest stopped before this part was complete".into(),
                    )),
                    None,
                )),
            }
        }
    })
    .boxed()
}

/// `Write` end of a part's upload, used from the blocking encoder thread.
pub(crate) struct UploadWriter {
    tx: mpsc::Sender<Bytes>,
    buf: Vec<u8>,
    complete: Arc<AtomicBool>,
}

impl UploadWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the upload stopped"))
    }

    /// Sends the rest and marks the part whole; dropping the sender then ends the body.
    pub(crate) fn finish(mut self) -> std::io::Result<()> {
        self.send()?;
        self.complete.store(true, Ordering::Release);
        Ok(())
    }
}

impl Write for UploadWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
