//! The S3 backend past its internal limits and against a sick or dishonest endpoint: bodies
//! larger than one multipart part under every PUT mode, multipart uploads that fail or are
//! dropped (aborted, nothing left in the bucket), a store that accepts connections and never
//! answers (every call bounded by `[s3]` timeouts), and the start-up probe of conditional
//! writes against a real server and one that ignores the headers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use storaged::config::{S3Config, S3Timeouts};
use storaged::{
    ByteStream, KeyPrefix, ObjectKey, ObjectStoreBackend, PutMode, Store, StoreError, StoreExt,
};
use test_support::S3Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: usize = 1 << 20;

fn key(text: &str) -> ObjectKey {
    ObjectKey::parse(text).unwrap()
}

async fn bucket(server: &S3Server, hint: &str) -> (S3Config, ObjectStoreBackend) {
    common::tls::install_provider();
    let bucket = server.bucket(hint).await;
    let config = server.s3_config(&bucket);
    let store = ObjectStoreBackend::s3(&config).unwrap();
    store.check().await.unwrap();
    (config, store)
}

/// `n` bytes that differ per `seed`, as 1 MiB chunks (a body many parts long).
fn body(n: usize, seed: u64) -> (Vec<u8>, ByteStream) {
    let bytes = test_support::pseudo_random(n, seed);
    let chunks: Vec<Result<Bytes, StoreError>> = bytes
        .chunks(MIB)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    (bytes, futures::stream::iter(chunks).boxed())
}

/// The multipart uploads the bucket still holds (moto answers `?uploads` unsigned).
async fn open_uploads(server: &S3Server, bucket: &str) -> usize {
    let text = reqwest::get(format!("{}/{bucket}?uploads", server.endpoint()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.matches("<UploadId>").count()
}

#[tokio::test]
async fn create_only_put_of_many_parts_is_atomic_and_leaves_no_staging() {
    let server = S3Server::start();
    let (config, store) = bucket(&server, "create-large").await;
    let k = key("wal/00000000000000000001.lhvw");
    let (first, stream) = body(20 * MIB + 17, 1);
    let meta = store.put(&k, stream, PutMode::Create).await.unwrap();
    assert_eq!(meta.size, first.len() as u64);
    assert!(meta.etag.is_some());
    assert_eq!(store.get_bytes(&k).await.unwrap().as_ref(), &first[..]);

    let (_, again) = body(9 * MIB, 2);
    let err = store.put(&k, again, PutMode::Create).await.unwrap_err();
    assert!(matches!(err, StoreError::PreconditionFailed(_)), "{err}");
    assert_eq!(store.get_bytes(&k).await.unwrap().as_ref(), &first[..]);

    // (Two writers racing for one key are not tested here: moto checks a completion's
    // If-None-Match without a lock, so both can win against it; AWS S3 decides atomically.)
    let staged = store
        .list(&KeyPrefix::parse("_lakehouse/").unwrap())
        .await
        .unwrap();
    assert!(staged.is_empty(), "staging left behind: {staged:?}");
    assert_eq!(open_uploads(&server, &config.bucket).await, 0);
}

#[tokio::test]
async fn overwrite_of_many_parts_round_trips_and_if_match_over_a_part_is_refused_clearly() {
    let server = S3Server::start();
    let (_, store) = bucket(&server, "overwrite-large").await;
    let k = key("datasets/x/v1/part-0-abc.parquet");
    let (bytes, stream) = body(30 * MIB + 5, 3);
    let meta = store.put(&k, stream, PutMode::Overwrite).await.unwrap();
    assert_eq!(meta.size, bytes.len() as u64);
    assert_eq!(store.get_bytes(&k).await.unwrap().as_ref(), &bytes[..]);

    let etag = store.head(&k).await.unwrap().etag.unwrap();
    let (_, stream) = body(9 * MIB, 4);
    let err = store
        .put(&k, stream, PutMode::IfMatch(etag))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::BadRequest(_)), "{err}");
    assert!(err.to_string().contains("If-None-Match: *"), "{err}");
    assert_eq!(store.get_bytes(&k).await.unwrap().as_ref(), &bytes[..]);
}

#[tokio::test]
async fn a_multipart_upload_that_fails_or_is_dropped_is_aborted() {
    let server = S3Server::start();
    let (config, store) = bucket(&server, "abort").await;
    let store = Arc::new(store);

    // The body breaks off after three parts' worth: the PUT fails, nothing is stored.
    for mode in [PutMode::Overwrite, PutMode::Create] {
        let k = key("broken/body");
        let (_, good) = body(25 * MIB, 5);
        let broken = good
            .chain(futures::stream::once(async {
                Err(StoreError::BadRequest("the client went away".into()))
            }))
            .boxed();
        let err = store.put(&k, broken, mode).await.unwrap_err();
        assert!(err.to_string().contains("went away"), "{err}");
        assert!(matches!(
            store.head(&k).await,
            Err(StoreError::NotFound { .. })
        ));
    }

    // The request is dropped mid-body (a client that disconnects): aborted in the background.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, StoreError>>(1);
    let stream = tokio_stream_of(rx);
    let put = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .put(&key("dropped/body"), stream, PutMode::Overwrite)
                .await
        })
    };
    for i in 0..20u64 {
        let chunk = Bytes::from(test_support::pseudo_random(MIB, i));
        tx.send(Ok(chunk)).await.unwrap();
    }
    put.abort();
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_uploads(&server, &config.bucket).await > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(open_uploads(&server, &config.bucket).await, 0);
    let left = store.list(&KeyPrefix::parse("").unwrap()).await.unwrap();
    assert!(left.is_empty(), "{left:?}");
}

fn tokio_stream_of(mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, StoreError>>) -> ByteStream {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

/// A TCP endpoint that accepts connections and never answers (holding them open).
async fn silent_endpoint() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (format!("http://{addr}"), task)
}

fn sick_config(endpoint: &str, timeouts: S3Timeouts) -> S3Config {
    S3Config {
        endpoint: Some(endpoint.to_string()),
        region: "us-east-1".into(),
        bucket: "sick".into(),
        access_key_id: Some("k".into()),
        secret_access_key: Some("s".into()),
        use_path_style: true,
        timeouts,
    }
}

#[tokio::test]
async fn every_call_to_a_store_that_never_answers_is_bounded() {
    common::tls::install_provider();
    let (endpoint, _silent) = silent_endpoint().await;
    let timeouts = S3Timeouts {
        connect_timeout: Duration::from_secs(1),
        read_timeout: Duration::from_millis(700),
        request_timeout: Duration::from_secs(2),
        max_retries: 1,
        retry_timeout: Duration::from_secs(1),
    };
    let store = ObjectStoreBackend::s3(&sick_config(&endpoint, timeouts)).unwrap();
    let k = key("a/b");
    let limit = Duration::from_secs(4);
    let bounded = |what: &str, started: Instant, err: StoreError| {
        let took = started.elapsed();
        assert!(took < limit, "{what} took {took:?}");
        assert!(matches!(err, StoreError::Unavailable(_)), "{what}: {err}");
        assert!(err.to_string().contains(&endpoint), "{what}: {err}");
    };
    let t = Instant::now();
    bounded("GET", t, store.get(&k).await.err().unwrap());
    let t = Instant::now();
    bounded("HEAD", t, store.head(&k).await.unwrap_err());
    let t = Instant::now();
    bounded("DELETE", t, store.delete(&k).await.unwrap_err());
    let t = Instant::now();
    let prefix = KeyPrefix::parse("a/").unwrap();
    bounded("LIST", t, store.list(&prefix).await.unwrap_err());
    for mode in [PutMode::Overwrite, PutMode::Create] {
        let t = Instant::now();
        let small = store.put_bytes(&k, Bytes::from_static(b"x"), mode.clone());
        bounded("small PUT", t, small.await.unwrap_err());
        let t = Instant::now();
        let (_, large) = body(20 * MIB, 6);
        bounded(
            "large PUT",
            t,
            store.put(&k, large, mode).await.unwrap_err(),
        );
    }
    let t = Instant::now();
    bounded("probe", t, store.probe().await.unwrap_err());
    let t = Instant::now();
    let verdict = store.verify_conditional_writes().await;
    assert!(verdict.is_err(), "an unanswered probe is no verdict");
    assert!(t.elapsed() < limit);
}

/// A proxy to `upstream` that renames the conditional headers of every request on its
/// way, so the server never sees them: a store that ignores `If-None-Match` and `If-Match`.
/// (Same-length renames keep every length intact; the headers of the probe's small requests
/// arrive in one read.)
async fn header_dropping_proxy(upstream: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let upstream = upstream.trim_start_matches("http://").to_string();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.split();
                let (mut sr, mut sw) = server.split();
                let up = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let text = rename(&buf[..n]);
                        if sw.write_all(&text).await.is_err() {
                            break;
                        }
                    }
                    let _ = sw.shutdown().await;
                };
                let down = async {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                    let _ = cw.shutdown().await;
                };
                tokio::join!(up, down);
            });
        }
    });
    format!("http://{addr}")
}

fn rename(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for (from, to) in [
        (&b"if-none-match:"[..], &b"x-not-matched:"[..]),
        (b"if-match:", b"x-ignore:"),
    ] {
        let mut i = 0;
        while i + from.len() <= out.len() {
            if out[i..i + from.len()].eq_ignore_ascii_case(from) {
                out[i..i + from.len()].copy_from_slice(to);
            }
            i += 1;
        }
    }
    out
}

#[tokio::test]
async fn conditional_writes_are_verified_and_a_store_ignoring_them_is_named() {
    let server = S3Server::start();
    let (mut config, store) = bucket(&server, "probe").await;
    assert_eq!(store.verify_conditional_writes().await.unwrap(), Ok(()));
    let left = store
        .list(&KeyPrefix::parse("_lakehouse/").unwrap())
        .await
        .unwrap();
    assert!(left.is_empty(), "probe left {left:?}");

    let proxy = header_dropping_proxy(server.endpoint().to_string()).await;
    config.endpoint = Some(proxy.clone());
    let dishonest = ObjectStoreBackend::s3(&config).unwrap();
    let verdict = dishonest.verify_conditional_writes().await.unwrap();
    let why = verdict.unwrap_err();
    assert!(why.contains(&proxy), "{why}");
    assert!(why.contains("If-None-Match"), "{why}");
}

#[tokio::test]
async fn local_deletes_remove_emptied_directories_so_a_key_can_become_an_object_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectStoreBackend::local(dir.path()).unwrap();
    store
        .put_bytes(&key("a/b/c"), Bytes::from_static(b"1"), PutMode::Overwrite)
        .await
        .unwrap();
    store.delete(&key("a/b/c")).await.unwrap();
    assert!(!dir.path().join("a").exists(), "emptied directories stay");
    store
        .put_bytes(&key("a"), Bytes::from_static(b"2"), PutMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(store.get_bytes(&key("a")).await.unwrap().as_ref(), b"2");
    // A missing object, a directory of objects: deleting either succeeds and changes nothing.
    store.delete(&key("nothing/here")).await.unwrap();
    store
        .put_bytes(&key("d/e"), Bytes::from_static(b"3"), PutMode::Overwrite)
        .await
        .unwrap();
    store.delete(&key("d")).await.unwrap();
    assert_eq!(store.get_bytes(&key("d/e")).await.unwrap().as_ref(), b"3");
}
