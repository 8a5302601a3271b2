//! The split deployment on S3: storaged and gateway as separate processes reading
//! `lakehouse.toml`, against a real S3-compatible server on loopback.

use std::path::Path;

use test_support::{Lakehouse, Launch, S3Server, free_port};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_lakehouse"))
}

struct Split {
    _s3: S3Server,
    _dir: tempfile::TempDir,
    storaged: Lakehouse,
    gateway: Lakehouse,
}

async fn start_split() -> Split {
    let s3 = S3Server::start();
    let bucket = s3.bucket("split").await;
    let dir = tempfile::tempdir().unwrap();
    let (storaged_port, gateway_port) = (free_port(), free_port());
    let config = format!(
        "{}\n[storaged]\nbind = \"127.0.0.1:{storaged_port}\"\n\n[gateway]\nbind = \"127.0.0.1:{gateway_port}\"\n\
         storaged_url = \"http://127.0.0.1:{storaged_port}\"\n",
        s3.config_toml(&bucket)
    );
    let file = dir.path().join("lakehouse.toml");
    std::fs::write(&file, config).unwrap();
    let launch = |role: &str, port: u16| Launch {
        args: vec![
            "serve".into(),
            "--config".into(),
            file.display().to_string(),
            "--services".into(),
            role.into(),
        ],
        env: vec![],
        health_url: Some(format!("http://127.0.0.1:{port}")),
    };
    let storaged = Lakehouse::start(bin(), launch("storaged", storaged_port)).await;
    let gateway = Lakehouse::start(bin(), launch("gateway", gateway_port)).await;
    Split {
        _s3: s3,
        _dir: dir,
        storaged,
        gateway,
    }
}

#[tokio::test]
async fn the_storage_contract_holds_directly_and_through_the_gateway() {
    let split = start_split().await;
    let client = reqwest::Client::new();
    for base in [&split.storaged.url, &split.gateway.url] {
        let url = format!("{base}/v1/storage/dir/a%2Fb.bin");
        let body = vec![9u8; 3 << 20];
        let r = client.put(&url).body(body.clone()).send().await.unwrap();
        assert_eq!(r.status(), 201, "{base}");
        let got = client.get(&url).send().await.unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.bytes().await.unwrap().to_vec(), body);
        let head = client.head(&url).send().await.unwrap();
        assert_eq!(
            head.headers()["content-length"],
            (3 << 20).to_string().as_str()
        );
        let list: serde_json::Value = client
            .get(format!("{base}/v1/storage?prefix=dir/"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["keys"][0]["key"], "dir/a%2Fb.bin");
        let r = client
            .get(format!("{base}/v1/storage/a//b"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(test_support::status_of(client.delete(&url)).await, 204);
        assert_eq!(test_support::status_of(client.get(&url)).await, 404);
        assert_eq!(test_support::status_of(client.delete(&url)).await, 204);
    }
    let health: serde_json::Value = client
        .get(format!("{}/health", split.gateway.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["services"]["storaged"]["status"], "ok", "{health}");
}

#[tokio::test]
async fn the_gateway_answers_503_when_storaged_is_down() {
    let mut split = start_split().await;
    split.storaged.kill9();
    let client = reqwest::Client::new();
    let r = client
        .get(format!("{}/v1/storage/x", split.gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("storaged"),
        "{v}"
    );
    let r = client
        .get(format!("{}/health", split.gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
}

#[tokio::test]
async fn a_missing_bucket_stops_start_up_with_a_message_naming_it() {
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lakehouse.toml");
    std::fs::write(&file, s3.config_toml("absent-bucket")).unwrap();
    let port = free_port();
    let (code, _, err) = test_support::run(
        bin(),
        &[
            "serve",
            "--config",
            file.to_str().unwrap(),
            "--services",
            "storaged",
        ],
        &[("LAKEHOUSE_STORAGED_BIND", &format!("127.0.0.1:{port}"))],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("absent-bucket") && err.contains(s3.endpoint()),
        "{err}"
    );
}

#[tokio::test]
async fn the_gateway_refuses_dot_segments_instead_of_resolving_them() {
    let split = start_split().await;
    let addr = split.gateway.url.trim_start_matches("http://").to_string();
    for path in [
        "/v1/storage/tmp/%2e%2e/_catalog/t.json",
        "/v1/storage/tmp/../x",
        "/v1/storage/%2e%2e/%2e%2e/metrics",
    ] {
        let req = format!(
            "PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx"
        );
        let (status, body) = test_support::raw_http(&addr, req.as_bytes()).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("invalid_path"), "{path}: {body}");
    }
    let list: serde_json::Value = reqwest::get(format!("{}/v1/storage", split.storaged.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["keys"].as_array().unwrap().len(),
        0,
        "nothing stored: {list}"
    );
}
