//! The request body, hashed on the runtime as it streams in ([`hash_and_forward`]: the
//! SHA-256 of the bytes as sent, computed by a task beside the converter rather than on its
//! thread — 9 % of an ingest's CPU, measured), then as a blocking `Read` for the converter
//! thread ([`BodyReader`]): wire bytes counted against `max_ingest_bytes`, gunzipped when
//! sent gzip-encoded, a UTF-8 BOM dropped.
//!
//! A failure deep in the reader chain surfaces as an `io::Error` wherever the parser is;
//! the chain records its real cause in [`BodyFailure`] so the caller can answer 413 for a
//! body past the limit and 400 for a broken gzip stream, not a generic read error.

use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};

/// A body as it arrives.
pub type BodyStream = futures::stream::BoxStream<'static, io::Result<Bytes>>;

/// Forwards `body` to a blocking reader while hashing it on a runtime task; the task's
/// result is the hex SHA-256 of the whole body, or `None` when the body broke off or the
/// reader went away before the end.
/// A body that sends nothing for `idle` fails (400 `body_read_failed`): a client that
/// stalls must not hold the dataset's ingest lock forever.
pub fn hash_and_forward(
    mut body: impl Stream<Item = io::Result<Bytes>> + Send + Unpin + 'static,
    idle: std::time::Duration,
) -> (
    impl Read + Send + 'static,
    tokio::task::JoinHandle<Option<String>>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(4);
    let task = tokio::spawn(async move {
        let mut hasher = Sha256::new();
        loop {
            let chunk = match tokio::time::timeout(idle, body.next()).await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the client sent nothing for {} s", idle.as_secs()),
                )),
            };
            let failed = chunk.is_err();
            if let Ok(bytes) = &chunk {
                hasher.update(bytes);
            }
            if tx.send(chunk).await.is_err() || failed {
                return None;
            }
        }
        Some(hex(&hasher.finalize()))
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let reader =
        tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(Box::pin(stream)));
    (reader, task)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why reading the body stopped, when it was not the parser's doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyFailure {
    /// Past `max_ingest_bytes`, counted after gunzip.
    TooLarge {
        limit: u64,
    },
    /// A gzip body decoding to more than `ratio` times its wire size.
    GzipRatio {
        ratio: u64,
    },
    BadGzip(String),
    Broken(String),
}

/// Shared record of the first failure and of progress.
#[derive(Clone, Default)]
pub struct BodyState {
    inner: Arc<Mutex<(Option<BodyFailure>, u64)>>,
}

impl BodyState {
    fn fail(&self, failure: BodyFailure) {
        if let Ok(mut s) = self.inner.lock()
            && s.0.is_none()
        {
            s.0 = Some(failure);
        }
    }

    pub fn failure(&self) -> Option<BodyFailure> {
        self.inner.lock().ok().and_then(|s| s.0.clone())
    }

    /// Bytes received on the wire so far.
    pub fn wire_bytes(&self) -> u64 {
        self.inner.lock().map(|s| s.1).unwrap_or(0)
    }
}

/// Counts wire bytes and enforces the limit (0 = none).
struct Limited<R> {
    inner: R,
    limit: u64,
    seen: u64,
    state: BodyState,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).inspect_err(|e| {
            self.state.fail(BodyFailure::Broken(e.to_string()));
        })?;
        self.seen += n as u64;
        if let Ok(mut s) = self.state.inner.lock() {
            s.1 = self.seen;
        }
        if self.limit > 0 && self.seen > self.limit {
            self.state.fail(BodyFailure::TooLarge { limit: self.limit });
            return Err(io::Error::other("the body is larger than max_ingest_bytes"));
        }
        Ok(n)
    }
}

/// What an ingest body may grow to.
#[derive(Clone, Copy, Debug, Default)]
pub struct BodyLimits {
    /// Decoded bytes (after gunzip); 0 = none.
    pub max_bytes: u64,
    /// Decoded ÷ wire bytes of a gzip body, checked once 1 MiB is decoded; 0 = none.
    pub max_gzip_ratio: u64,
}

/// Decoded bytes a gzip body may reach before its ratio is checked: headers and small
/// bodies compress oddly, and 1 MiB costs nothing.
const RATIO_GRACE: u64 = 1 << 20;

/// Gunzips, counting decoded bytes against the limits (a small body that decodes to
/// gigabytes is stopped as it grows, not after), and marks decoder errors that did not
/// come from the wire as a bad gzip stream.
struct Gunzip<R: Read> {
    inner: flate2::read::MultiGzDecoder<R>,
    state: BodyState,
    limits: BodyLimits,
    decoded: u64,
}

impl<R: Read> Read for Gunzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).inspect_err(|e| {
            if self.state.failure().is_none() {
                self.state.fail(BodyFailure::BadGzip(e.to_string()));
            }
        })?;
        self.decoded += n as u64;
        let BodyLimits {
            max_bytes,
            max_gzip_ratio: ratio,
        } = self.limits;
        if max_bytes > 0 && self.decoded > max_bytes {
            self.state.fail(BodyFailure::TooLarge { limit: max_bytes });
            return Err(io::Error::other("the body is larger than max_ingest_bytes"));
        }
        let wire = self.state.wire_bytes().max(1);
        if ratio > 0 && self.decoded > RATIO_GRACE && self.decoded / wire > ratio {
            self.state.fail(BodyFailure::GzipRatio { ratio });
            return Err(io::Error::other(
                "the gzip body decodes past max_gzip_ratio",
            ));
        }
        Ok(n)
    }
}

/// The decoded body: BOM dropped.
pub struct BodyReader {
    inner: Box<dyn Read + Send>,
    at_start: bool,
}

impl BodyReader {
    /// `limits.max_bytes` counts decoded bytes: wire bytes of a plain body, the gunzipped
    /// output of a gzip one.
    pub fn new(
        wire: impl Read + Send + 'static,
        gzip: bool,
        limits: BodyLimits,
        state: BodyState,
    ) -> Self {
        let limited = Limited {
            inner: wire,
            limit: if gzip { 0 } else { limits.max_bytes },
            seen: 0,
            state: state.clone(),
        };
        let inner: Box<dyn Read + Send> = if gzip {
            Box::new(Gunzip {
                inner: flate2::read::MultiGzDecoder::new(limited),
                state,
                limits,
                decoded: 0,
            })
        } else {
            Box::new(limited)
        };
        BodyReader {
            inner,
            at_start: true,
        }
    }

    /// A reader that neither drops a BOM nor expects text (Parquet bodies).
    pub fn binary(wire: impl Read + Send + 'static, limits: BodyLimits, state: BodyState) -> Self {
        let mut reader = BodyReader::new(wire, false, limits, state);
        reader.at_start = false;
        reader
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = self.inner.read(buf)?;
        if self.at_start && n > 0 {
            // The BOM may arrive split across reads; gather its three bytes first.
            while n < 3 && buf.len() >= 3 {
                let more = self.inner.read(&mut buf[n..3])?;
                if more == 0 {
                    break;
                }
                n += more;
            }
            self.at_start = false;
            if buf[..n].starts_with(b"\xEF\xBB\xBF") {
                buf.copy_within(3..n, 0);
                n -= 3;
                if n == 0 {
                    return self.read(buf);
                }
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const NONE: BodyLimits = BodyLimits {
        max_bytes: 0,
        max_gzip_ratio: 0,
    };

    fn read_all(mut r: BodyReader) -> Vec<u8> {
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn bom_is_dropped_even_when_split() {
        struct Trickle(Vec<u8>);
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() || buf.is_empty() {
                    return Ok(0);
                }
                buf[0] = self.0.remove(0);
                Ok(1)
            }
        }
        let body = b"\xEF\xBB\xBFa,b\n".to_vec();
        let r = BodyReader::new(Trickle(body), false, NONE, BodyState::default());
        assert_eq!(read_all(r), b"a,b\n");
    }

    #[test]
    fn gzip_decodes_to_the_plain_text() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"a,b\n1,2\n").unwrap();
        let gz = gz.finish().unwrap();
        let plain = read_all(BodyReader::new(
            &b"a,b\n1,2\n"[..],
            false,
            NONE,
            BodyState::default(),
        ));
        let unzipped = read_all(BodyReader::new(
            io::Cursor::new(gz),
            true,
            NONE,
            BodyState::default(),
        ));
        assert_eq!(plain, unzipped);
    }

    #[test]
    fn limit_and_bad_gzip_are_recorded() {
        let state = BodyState::default();
        let five = BodyLimits {
            max_bytes: 5,
            max_gzip_ratio: 0,
        };
        let mut r = BodyReader::new(&b"0123456789"[..], false, five, state.clone());
        assert!(r.read_to_end(&mut Vec::new()).is_err());
        assert_eq!(state.failure(), Some(BodyFailure::TooLarge { limit: 5 }));

        let state = BodyState::default();
        let mut r = BodyReader::new(&b"not gzip at all"[..], true, NONE, state.clone());
        assert!(r.read_to_end(&mut Vec::new()).is_err());
        assert!(matches!(state.failure(), Some(BodyFailure::BadGzip(_))));
    }

    /// 64 MiB of one repeated line, gzipped: ~1,000 : 1.
    fn bomb() -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let line = [b'7'; 1024];
        for _ in 0..(64 << 10) {
            gz.write_all(&line).unwrap();
        }
        gz.finish().unwrap()
    }

    #[test]
    fn a_gzip_body_is_limited_by_what_it_decodes_to() {
        let bomb = bomb();
        assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
        // max_ingest_bytes counts decoded bytes: the small wire size does not pass it.
        let state = BodyState::default();
        let limits = BodyLimits {
            max_bytes: 8 << 20,
            max_gzip_ratio: 0,
        };
        let mut r = BodyReader::new(io::Cursor::new(bomb.clone()), true, limits, state.clone());
        assert!(r.read_to_end(&mut Vec::new()).is_err());
        assert_eq!(
            state.failure(),
            Some(BodyFailure::TooLarge { limit: 8 << 20 })
        );
        // With no byte limit, the ratio stops it before it has all decoded.
        let state = BodyState::default();
        let limits = BodyLimits {
            max_bytes: 0,
            max_gzip_ratio: 100,
        };
        let mut r = BodyReader::new(io::Cursor::new(bomb.clone()), true, limits, state.clone());
        let mut out = Vec::new();
        assert!(r.read_to_end(&mut out).is_err());
        assert_eq!(state.failure(), Some(BodyFailure::GzipRatio { ratio: 100 }));
        assert!(out.len() < 16 << 20, "decoded {} bytes first", out.len());
        // Past the ratio cap, the same bytes are fine.
        let limits = BodyLimits {
            max_bytes: 0,
            max_gzip_ratio: 2000,
        };
        let r = BodyReader::new(io::Cursor::new(bomb), true, limits, BodyState::default());
        assert_eq!(read_all(r).len(), 64 << 20);
    }
}

#[cfg(test)]
mod hash_tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn the_forwarded_body_is_whole_and_hashed() {
        let chunks: Vec<io::Result<Bytes>> = vec![
            Ok(Bytes::from_static(b"a,b\n")),
            Ok(Bytes::from_static(b"1,2\n")),
        ];
        let (mut reader, hash) = hash_and_forward(
            futures::stream::iter(chunks),
            std::time::Duration::from_secs(5),
        );
        let text = tokio::task::spawn_blocking(move || {
            let mut out = String::new();
            reader.read_to_string(&mut out).map(|_| out)
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(text, "a,b\n1,2\n");
        assert_eq!(
            hash.await.unwrap(),
            Some(hex(&Sha256::digest(b"a,b\n1,2\n")))
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_broken_body_has_no_hash_and_reads_as_an_error() {
        let chunks: Vec<io::Result<Bytes>> = vec![
            Ok(Bytes::from_static(b"a,b\n")),
            Err(io::Error::other("reset")),
        ];
        let (mut reader, hash) = hash_and_forward(
            futures::stream::iter(chunks),
            std::time::Duration::from_secs(5),
        );
        let read = tokio::task::spawn_blocking(move || reader.read_to_end(&mut Vec::new()))
            .await
            .unwrap();
        assert!(read.is_err());
        assert_eq!(hash.await.unwrap(), None);
    }
}
