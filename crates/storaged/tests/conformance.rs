//! One conformance suite for the `Store` seam, run against all four wirings (and the
//! `object_store` adapter over each):
//! in-process local, in-process S3, HTTP → storaged on local, HTTP → storaged on S3.
//! The S3 wirings use a real S3-compatible server on loopback (see `test-support`).

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use storaged::http::StorageApi;
use storaged::{
    ByteStream, KeyPrefix, ObjectKey, ObjectStoreBackend, PutMode, Store, StoreClient, StoreError,
    StoreExt, StoreObjects,
};
use test_support::S3Server;

/// A store plus whatever must live as long as it.
struct Wiring {
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    _s3: Option<S3Server>,
    _server: Option<tokio::task::JoinHandle<()>>,
}

async fn local() -> Wiring {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectStoreBackend::local(dir.path()).unwrap();
    Wiring {
        store: Arc::new(store),
        _dir: Some(dir),
        _s3: None,
        _server: None,
    }
}

async fn s3() -> Wiring {
    common::tls::install_provider();
    let server = S3Server::start();
    let bucket = server.bucket("conformance").await;
    let config = server.s3_config(&bucket);
    let store = ObjectStoreBackend::s3(&config).unwrap();
    store.check().await.unwrap();
    Wiring {
        store: Arc::new(store),
        _dir: None,
        _s3: Some(server),
        _server: None,
    }
}

/// Serves `inner` through storaged's real HTTP API on a loopback port; returns the client.
async fn over_http(inner: Wiring) -> Wiring {
    let api = StorageApi {
        store: inner.store.clone(),
        max_object_bytes: 1 << 30,
    };
    let router = common::server::service_router(storaged::http::router(api), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    common::tls::install_provider();
    Wiring {
        store: Arc::new(StoreClient::new(&format!("http://{addr}"))),
        _dir: inner._dir,
        _s3: inner._s3,
        _server: Some(server),
    }
}

fn key(text: &str) -> ObjectKey {
    ObjectKey::parse(text).unwrap()
}

fn chunks(parts: Vec<Bytes>) -> ByteStream {
    futures::stream::iter(parts.into_iter().map(Ok)).boxed()
}

async fn read_all(store: &dyn Store, k: &ObjectKey) -> Vec<u8> {
    store.get_bytes(k).await.unwrap().to_vec()
}

async fn put_get_roundtrip(store: &dyn Store) {
    let k = key("a/b/hello.txt");
    let meta = store
        .put_bytes(&k, Bytes::from_static(b"hello world"), PutMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(meta.size, 11);
    assert_eq!(meta.key, "a/b/hello.txt");
    let got = store.get(&k).await.unwrap();
    assert_eq!(got.meta.size, 11);
    let body: Vec<Bytes> = got.body.map(|c| c.unwrap()).collect().await;
    assert_eq!(body.concat(), b"hello world");
}

async fn empty_object(store: &dyn Store) {
    let k = key("empty");
    store
        .put(&k, chunks(vec![]), PutMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(store.head(&k).await.unwrap().size, 0);
    assert!(read_all(store, &k).await.is_empty());
}

async fn multi_chunk_body_and_large_object(store: &dyn Store) {
    // 20 MiB in uneven chunks: more than two S3 parts, so the multipart path runs.
    let bytes = test_support::pseudo_random(20 << 20, 7);
    let parts: Vec<Bytes> = bytes.chunks(777_777).map(Bytes::copy_from_slice).collect();
    let k = key("big/object.bin");
    let meta = store
        .put(&k, chunks(parts), PutMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(meta.size, bytes.len() as u64);
    let got = store.get(&k).await.unwrap();
    assert_eq!(got.meta.size, bytes.len() as u64);
    let mut hasher = Sha256::new();
    let mut body = got.body;
    while let Some(chunk) = body.next().await {
        hasher.update(chunk.unwrap());
    }
    assert_eq!(hasher.finalize().to_vec(), Sha256::digest(&bytes).to_vec());
    // Whole, through the one-buffer path (many chunks into a buffer sized up front).
    assert!(read_all(store, &k).await == bytes, "get_bytes of 20 MiB");
}

async fn head_reports_size_and_etag(store: &dyn Store) {
    let k = key("h/obj");
    let put = store
        .put_bytes(&k, Bytes::from_static(b"12345"), PutMode::Overwrite)
        .await
        .unwrap();
    let head = store.head(&k).await.unwrap();
    assert_eq!(head.size, 5);
    assert!(head.etag.is_some());
    assert_eq!(head.etag, put.etag, "PUT answers the etag HEAD reports");
}

async fn missing_is_typed_not_found(store: &dyn Store) {
    let k = key("no/such/object");
    assert!(matches!(
        store.get(&k).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.head(&k).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.get_bytes(&k).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn delete_is_idempotent(store: &dyn Store) {
    let k = key("d/obj");
    store
        .put_bytes(&k, Bytes::from_static(b"x"), PutMode::Overwrite)
        .await
        .unwrap();
    store.delete(&k).await.unwrap();
    assert!(matches!(
        store.head(&k).await,
        Err(StoreError::NotFound { .. })
    ));
    store.delete(&k).await.unwrap();
    store.delete(&key("never/existed")).await.unwrap();
}

async fn list_by_prefix(store: &dyn Store) {
    for k in ["p/a/1", "p/a/2", "p/ab", "p/b/1", "q/1"] {
        store
            .put_bytes(&key(k), Bytes::from_static(b"."), PutMode::Overwrite)
            .await
            .unwrap();
    }
    let names = |v: Vec<storaged::ObjectMeta>| v.into_iter().map(|m| m.key).collect::<Vec<_>>();
    let dir = names(
        store
            .list(&KeyPrefix::parse("p/a/").unwrap())
            .await
            .unwrap(),
    );
    assert_eq!(dir, ["p/a/1", "p/a/2"]);
    let partial = names(store.list(&KeyPrefix::parse("p/a").unwrap()).await.unwrap());
    assert_eq!(
        partial,
        ["p/a/1", "p/a/2", "p/ab"],
        "string-prefix semantics, sorted"
    );
    let all = names(store.list(&KeyPrefix::parse("").unwrap()).await.unwrap());
    assert!(all.len() >= 5 && all.contains(&"q/1".to_string()));
    assert!(
        store
            .list(&KeyPrefix::parse("nothing/").unwrap())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn overwrite_replaces(store: &dyn Store) {
    let k = key("o/obj");
    store
        .put_bytes(&k, Bytes::from_static(b"first"), PutMode::Overwrite)
        .await
        .unwrap();
    store
        .put_bytes(&k, Bytes::from_static(b"second!"), PutMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(read_all(store, &k).await, b"second!");
}

async fn conditional_puts(store: &dyn Store) {
    let k = key("c/manifest.json");
    let first = store
        .put_bytes(&k, Bytes::from_static(b"v1"), PutMode::Create)
        .await
        .unwrap();
    let again = store
        .put_bytes(&k, Bytes::from_static(b"v1 again"), PutMode::Create)
        .await;
    assert!(
        matches!(again, Err(StoreError::PreconditionFailed(_))),
        "{again:?}"
    );
    let etag = first.etag.clone().expect("etag");
    let second = store
        .put_bytes(
            &k,
            Bytes::from_static(b"v2"),
            PutMode::IfMatch(etag.clone()),
        )
        .await
        .unwrap();
    let stale = store
        .put_bytes(&k, Bytes::from_static(b"v3"), PutMode::IfMatch(etag))
        .await;
    assert!(
        matches!(stale, Err(StoreError::PreconditionFailed(_))),
        "{stale:?}"
    );
    assert_eq!(read_all(store, &k).await, b"v2");
    assert_ne!(second.etag, first.etag);
}

async fn failed_body_changes_nothing(store: &dyn Store) {
    let k = key("f/obj");
    store
        .put_bytes(&k, Bytes::from_static(b"old"), PutMode::Overwrite)
        .await
        .unwrap();
    // 9 MiB before the failure: past one S3 part, so the multipart upload is aborted too.
    let mut parts: Vec<Result<Bytes, StoreError>> = (0..9)
        .map(|_| Ok(Bytes::from(vec![1u8; 1 << 20])))
        .collect();
    parts.push(Err(StoreError::BadRequest("client went away".into())));
    let body: ByteStream = futures::stream::iter(parts).boxed();
    assert!(store.put(&k, body, PutMode::Overwrite).await.is_err());
    assert_eq!(read_all(store, &k).await, b"old");
    let listed = store.list(&KeyPrefix::parse("f/").unwrap()).await.unwrap();
    assert_eq!(listed.len(), 1, "no partial object listed: {listed:?}");
}

async fn encoded_slash_is_one_segment(store: &dyn Store) {
    let k = key("s/a%2Fb");
    store
        .put_bytes(&k, Bytes::from_static(b"slash"), PutMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(read_all(store, &k).await, b"slash");
    assert!(matches!(
        store.head(&key("s/a/b")).await,
        Err(StoreError::NotFound { .. })
    ));
    let listed = store.list(&KeyPrefix::parse("s/").unwrap()).await.unwrap();
    assert_eq!(
        listed.iter().map(|m| m.key.as_str()).collect::<Vec<_>>(),
        ["s/a%2Fb"]
    );
    let odd = key("s/100% sure?");
    store
        .put_bytes(&odd, Bytes::from_static(b"odd"), PutMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(read_all(store, &odd).await, b"odd");
}

async fn concurrent_creates_admit_exactly_one(store: &dyn Store) {
    let k = key("race/manifest.json");
    let attempts = (0..8u8).map(|i| store.put_bytes(&k, Bytes::from(vec![i; 64]), PutMode::Create));
    let results = futures::future::join_all(attempts).await;
    let won: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(StoreError::PreconditionFailed(_)))),
        "{results:?}"
    );
    let body = read_all(store, &k).await;
    assert!(body.iter().all(|b| *b == body[0]) && body.len() == 64);
}

async fn hash_in_keys_round_trips(store: &dyn Store) {
    for text in ["h/notes#draft", "h/a#b#c", "h/#tag"] {
        let k = key(text);
        store
            .put_bytes(&k, Bytes::from_static(b"#"), PutMode::Overwrite)
            .await
            .unwrap();
        assert_eq!(read_all(store, &k).await, b"#", "{text}");
    }
    let listed = store.list(&KeyPrefix::parse("h/").unwrap()).await.unwrap();
    assert_eq!(listed.len(), 3, "{listed:?}");
}

/// The bytes of `range` of `k`, and the range the store says it served.
async fn read_range(
    store: &dyn Store,
    k: &ObjectKey,
    range: std::ops::Range<u64>,
) -> Result<(Vec<u8>, std::ops::Range<u64>, u64), StoreError> {
    let part = store.get_range(k, range).await?;
    let body: Vec<Bytes> = part.body.map(|c| c.unwrap()).collect().await;
    Ok((body.concat(), part.range, part.meta.size))
}

async fn ranged_reads(store: &dyn Store) {
    let small = key("r/small");
    store
        .put_bytes(
            &small,
            Bytes::from_static(b"0123456789"),
            PutMode::Overwrite,
        )
        .await
        .unwrap();
    let ok = |bytes: &[u8], range: std::ops::Range<u64>| (bytes.to_vec(), range, 10);
    assert_eq!(
        read_range(store, &small, 2..5).await.unwrap(),
        ok(b"234", 2..5)
    );
    // The end past the object's: clipped.
    assert_eq!(
        read_range(store, &small, 7..100).await.unwrap(),
        ok(b"789", 7..10)
    );
    assert_eq!(
        read_range(store, &small, 0..u64::MAX).await.unwrap(),
        ok(b"0123456789", 0..10)
    );
    assert_eq!(
        read_range(store, &small, 9..10).await.unwrap(),
        ok(b"9", 9..10)
    );
    // Starting at or past the end: nothing to read, and the size said.
    for start in [10, 11, u64::MAX - 1] {
        match read_range(store, &small, start..start + 1).await {
            Err(StoreError::RangeNotSatisfiable { size: 10, .. }) => {}
            other => panic!("{start}: {:?}", other.map(|(_, r, s)| (r, s))),
        }
    }
    assert!(matches!(
        store.get_range(&small, 3..3).await,
        Err(StoreError::BadRequest(_))
    ));
    assert!(matches!(
        store.get_range(&key("r/missing"), 0..1).await,
        Err(StoreError::NotFound { .. })
    ));
    let empty = key("r/empty");
    store
        .put_bytes(&empty, Bytes::new(), PutMode::Overwrite)
        .await
        .unwrap();
    assert!(matches!(
        store.get_range(&empty, 0..1).await,
        Err(StoreError::RangeNotSatisfiable { size: 0, .. })
    ));

    // A larger object (read from a file, and in several chunks): ranges anywhere in it.
    let bytes = test_support::pseudo_random(3 << 20, 11);
    let large = key("r/large");
    store
        .put_bytes(&large, Bytes::from(bytes.clone()), PutMode::Overwrite)
        .await
        .unwrap();
    let n = bytes.len() as u64;
    for range in [
        0..1,
        100_000..1_300_000,
        n - 5..n,
        n - 70_000..n + 1_000_000,
    ] {
        let (got, served, size) = read_range(store, &large, range.clone()).await.unwrap();
        let end = range.end.min(n);
        assert_eq!((served, size), (range.start..end, n));
        assert!(
            got == bytes[range.start as usize..end as usize],
            "bytes of {range:?}"
        );
    }
}

/// `StoreObjects`: `object_store`'s API over the store, as DataFusion's scans use it.
async fn as_object_store(store: Arc<dyn Store>) {
    use object_store::path::Path;
    use object_store::{
        GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode as OsPutMode, PutOptions,
        UpdateVersion,
    };
    let objects = StoreObjects::new(store.clone());
    let path = |text: &str| Path::parse(text).unwrap();
    let read = |result: object_store::GetResult| async move { result.bytes().await.unwrap() };

    // Writes, whole reads, and each kind of range.
    let p = path("os/d/a");
    let put = objects
        .put(&p, Bytes::from_static(b"0123456789").into())
        .await
        .unwrap();
    assert_eq!(
        read(objects.get(&p).await.unwrap()).await,
        &b"0123456789"[..]
    );
    assert_eq!(objects.get_range(&p, 2..5).await.unwrap(), &b"234"[..]);
    let ranged = |range| GetOptions {
        range: Some(range),
        ..Default::default()
    };
    let got = objects
        .get_opts(&p, ranged(GetRange::Offset(7)))
        .await
        .unwrap();
    assert_eq!((got.range.clone(), got.meta.size), (7..10, 10));
    assert_eq!(read(got).await, &b"789"[..]);
    let got = objects
        .get_opts(&p, ranged(GetRange::Suffix(4)))
        .await
        .unwrap();
    assert_eq!(got.range, 6..10);
    assert_eq!(read(got).await, &b"6789"[..]);
    // A suffix longer than the object is all of it; nothing to read is an empty answer.
    let got = objects
        .get_opts(&p, ranged(GetRange::Suffix(100)))
        .await
        .unwrap();
    assert_eq!(got.range, 0..10);
    assert_eq!(read(got).await, &b"0123456789"[..]);
    let got = objects
        .get_opts(&p, ranged(GetRange::Suffix(0)))
        .await
        .unwrap();
    assert_eq!((got.range.clone(), got.meta.size), (10..10, 10));
    assert!(read(got).await.is_empty());
    let hollow = path("os/hollow");
    objects.put(&hollow, Bytes::new().into()).await.unwrap();
    let got = objects
        .get_opts(&hollow, ranged(GetRange::Suffix(3)))
        .await
        .unwrap();
    assert_eq!((got.range.clone(), got.meta.size), (0..0, 0));
    objects.delete(&hollow).await.unwrap();
    let parts = objects.get_ranges(&p, &[0..1, 3..4, 8..10]).await.unwrap();
    assert_eq!(parts, [&b"0"[..], &b"3"[..], &b"89"[..]]);
    assert!(
        objects
            .get_opts(&p, ranged(GetRange::Offset(10)))
            .await
            .is_err()
    );

    // Metadata and preconditions, checked on what the read returns.
    let head = objects.head(&p).await.unwrap();
    assert_eq!((head.location.as_ref(), head.size), ("os/d/a", 10));
    assert_eq!(head.e_tag, put.e_tag);
    let stale = GetOptions {
        if_match: Some("\"stale\"".into()),
        ..Default::default()
    };
    assert!(matches!(
        objects.get_opts(&p, stale).await,
        Err(object_store::Error::Precondition { .. })
    ));
    if let Some(etag) = &head.e_tag {
        let same = GetOptions {
            if_match: Some(etag.clone()),
            ..Default::default()
        };
        assert_eq!(
            read(objects.get_opts(&p, same).await.unwrap()).await.len(),
            10
        );
    }
    let missing = path("os/missing");
    assert!(matches!(
        objects.get(&missing).await,
        Err(object_store::Error::NotFound { .. })
    ));
    assert!(matches!(
        objects.head(&missing).await,
        Err(object_store::Error::NotFound { .. })
    ));

    // Conditional writes: create once, update by etag.
    let create = PutOptions {
        mode: OsPutMode::Create,
        ..Default::default()
    };
    assert!(matches!(
        objects
            .put_opts(&p, Bytes::from_static(b"x").into(), create.clone())
            .await,
        Err(object_store::Error::AlreadyExists { .. })
    ));
    let update = |e_tag: Option<String>| PutOptions {
        mode: OsPutMode::Update(UpdateVersion {
            e_tag,
            version: None,
        }),
        ..Default::default()
    };
    assert!(matches!(
        objects
            .put_opts(
                &p,
                Bytes::from_static(b"x").into(),
                update(Some("\"stale\"".into()))
            )
            .await,
        Err(object_store::Error::Precondition { .. })
    ));
    if head.e_tag.is_some() {
        objects
            .put_opts(
                &p,
                Bytes::from_static(b"0123456789").into(),
                update(head.e_tag.clone()),
            )
            .await
            .unwrap();
    }
    assert_eq!(
        read(objects.get(&p).await.unwrap()).await,
        &b"0123456789"[..]
    );

    // LIST: a prefix is whole segments; the delimiter form groups what lies deeper.
    for other in ["os/d/b/c", "os/d/b/e", "os/dx/f"] {
        objects
            .put(&path(other), Bytes::from_static(b"y").into())
            .await
            .unwrap();
    }
    let mut listed: Vec<String> = objects
        .list(Some(&path("os/d")))
        .map(|m| m.unwrap().location.to_string())
        .collect()
        .await;
    listed.sort();
    assert_eq!(listed, ["os/d/a", "os/d/b/c", "os/d/b/e"]);
    let grouped = objects
        .list_with_delimiter(Some(&path("os/d")))
        .await
        .unwrap();
    let names = |paths: Vec<Path>| paths.into_iter().map(|p| p.to_string()).collect::<Vec<_>>();
    assert_eq!(names(grouped.common_prefixes), ["os/d/b"]);
    assert_eq!(
        names(grouped.objects.into_iter().map(|m| m.location).collect()),
        ["os/d/a"]
    );

    // A path object_store encodes (`~` as `%7E`) comes back from LIST and HEAD as the
    // path it was written by.
    let odd = Path::from("os/x~1/f g");
    objects
        .put(&odd, Bytes::from_static(b"z").into())
        .await
        .unwrap();
    assert_eq!(objects.head(&odd).await.unwrap().location, odd);
    let listed: Vec<Path> = objects
        .list(Some(&Path::from("os/x~1")))
        .map(|m| m.unwrap().location)
        .collect()
        .await;
    assert_eq!(listed, std::slice::from_ref(&odd));
    let grouped = objects
        .list_with_delimiter(Some(&path("os")))
        .await
        .unwrap();
    assert!(
        grouped.common_prefixes.contains(&Path::from("os/x~1")),
        "{grouped:?}"
    );
    objects.delete(&odd).await.unwrap();

    // Copy, copy-if-absent, rename, delete.
    let copy = path("os/copy");
    objects.copy(&p, &copy).await.unwrap();
    assert_eq!(
        read(objects.get(&copy).await.unwrap()).await,
        &b"0123456789"[..]
    );
    assert!(matches!(
        objects.copy_if_not_exists(&p, &copy).await,
        Err(object_store::Error::AlreadyExists { .. })
    ));
    let moved = path("os/moved");
    objects.rename(&copy, &moved).await.unwrap();
    assert!(matches!(
        objects.head(&copy).await,
        Err(object_store::Error::NotFound { .. })
    ));
    objects.delete(&moved).await.unwrap();
    assert!(matches!(
        objects.head(&moved).await,
        Err(object_store::Error::NotFound { .. })
    ));

    // A multipart upload is one streamed write, visible only once completed; an aborted
    // one writes nothing.
    let big = test_support::pseudo_random(3 << 20, 5);
    let up = path("os/upload");
    let mut upload = objects.put_multipart(&up).await.unwrap();
    let sends: Vec<_> = big
        .chunks(1 << 20)
        .map(|c| upload.put_part(Bytes::copy_from_slice(c).into()))
        .collect();
    futures::future::try_join_all(sends).await.unwrap();
    upload.complete().await.unwrap();
    assert!(
        read(objects.get(&up).await.unwrap()).await == big,
        "the upload's bytes"
    );
    let aborted = path("os/aborted");
    let mut upload = objects.put_multipart(&aborted).await.unwrap();
    upload
        .put_part(Bytes::from_static(b"partial").into())
        .await
        .unwrap();
    upload.abort().await.unwrap();
    assert!(matches!(
        objects.head(&aborted).await,
        Err(object_store::Error::NotFound { .. })
    ));
    assert!(store.head(&key("os/aborted")).await.is_err());
}

macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod in_process_local { $( #[tokio::test] async fn $check() { let w = super::local().await; super::$check(&*w.store).await } )* }
        mod in_process_s3 { $( #[tokio::test] async fn $check() { let w = super::s3().await; super::$check(&*w.store).await } )* }
        mod http_local { $( #[tokio::test] async fn $check() { let w = super::over_http(super::local().await).await; super::$check(&*w.store).await } )* }
        mod http_s3 { $( #[tokio::test] async fn $check() { let w = super::over_http(super::s3().await).await; super::$check(&*w.store).await } )* }
    };
}

mod adapter {
    #[tokio::test]
    async fn in_process_local() {
        let w = super::local().await;
        super::as_object_store(w.store.clone()).await
    }
    #[tokio::test]
    async fn in_process_s3() {
        let w = super::s3().await;
        super::as_object_store(w.store.clone()).await
    }
    #[tokio::test]
    async fn http_local() {
        let w = super::over_http(super::local().await).await;
        super::as_object_store(w.store.clone()).await
    }
    #[tokio::test]
    async fn http_s3() {
        let w = super::over_http(super::s3().await).await;
        super::as_object_store(w.store.clone()).await
    }
}

conformance!(
    put_get_roundtrip,
    empty_object,
    multi_chunk_body_and_large_object,
    head_reports_size_and_etag,
    missing_is_typed_not_found,
    delete_is_idempotent,
    list_by_prefix,
    overwrite_replaces,
    conditional_puts,
    failed_body_changes_nothing,
    encoded_slash_is_one_segment,
    concurrent_creates_admit_exactly_one,
    hash_in_keys_round_trips,
    ranged_reads,
);
