//! Ingest through the real binary in standalone mode: HTTP and the CLI, the values checked
//! with an independent Parquet reader (pyarrow), kill -9 in the middle of an ingest. The
//! split deployment's ingest test is in `split.rs`.

use std::time::Duration;

use serde_json::Value;
use test_support::{
    Lakehouse, Launch, files_under, free_port, lakehouse_bin, post_csv, run, wait_until,
};

const CSV: &str = "id,price,ok,day,at,name\n\
                   1,2.5,true,2024-02-29,2024-02-29 10:11:12.5,\"Zoë, \"\"the\"\" 🦀\"\n\
                   2,,false,,,\n\
                   3,-1e3,TRUE,1999-12-31,1999-12-31T23:59:59+01:00,\"\"\n";

/// Reads the given Parquet files with pyarrow; returns `{"types": [...], "rows": [...]}`.
fn pyarrow_read(files: &[std::path::PathBuf]) -> Value {
    let script = r#"
import json, sys
import pyarrow as pa, pyarrow.parquet as pq
table = pa.concat_tables([pq.read_table(f) for f in sys.argv[1:]])
rows = [[None if v is None else str(v) for v in row.values()] for row in table.to_pylist()]
print(json.dumps({"types": [f"{f.name}:{f.type}" for f in table.schema], "rows": rows}))
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(files)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "pyarrow could not read the files (scripts/test installs pyarrow): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn standalone_ingest_over_http_is_read_back_by_pyarrow() {
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::start(lakehouse_bin!(), Launch::standalone(dir.path())).await;
    let (status, m) = post_csv(&format!("{}/v1/ingest/sales", lh.url), CSV).await;
    assert_eq!(status, 201, "{m}");
    assert_eq!(
        (m["version"].as_u64(), m["rows"].as_u64()),
        (Some(1), Some(3))
    );

    let files: Vec<_> = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| dir.path().join(f["key"].as_str().unwrap()))
        .collect();
    let read = pyarrow_read(&files);
    assert_eq!(
        read["types"],
        serde_json::json!([
            "id:int64",
            "price:double",
            "ok:bool",
            "day:date32[day]",
            "at:timestamp[us]",
            "name:string"
        ])
    );
    assert_eq!(
        read["rows"],
        serde_json::json!([
            [
                "1",
                "2.5",
                "True",
                "2024-02-29",
                "2024-02-29 10:11:12.500000",
                "Zoë, \"the\" 🦀"
            ],
            ["2", null, "False", null, null, null],
            [
                "3",
                "-1000.0",
                "True",
                "1999-12-31",
                "1999-12-31 22:59:59",
                ""
            ]
        ])
    );

    // The catalog shows it; errors are JSON naming what was wrong.
    let got: Value = reqwest::get(format!("{}/v1/datasets/sales", lh.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["rows"], 3);
    let (status, e) = post_csv(&format!("{}/v1/ingest/sales", lh.url), CSV).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (409, Some("dataset_exists"))
    );
    let (status, e) = post_csv(&format!("{}/v1/ingest/1sales", lh.url), CSV).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (400, Some("invalid_name"))
    );
    let (status, e) = post_csv(&format!("{}/v1/ingest/x?mode=upsert", lh.url), CSV).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (400, Some("invalid_option"))
    );
    let (status, e) = post_csv(
        &format!("{}/v1/ingest/x?schema=n:int64", lh.url),
        "n\n1\n2\nthree\n",
    )
    .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (422, Some("type_mismatch"))
    );
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("line 4") && message.contains("three"),
        "{message}"
    );
    let (status, e) = post_csv(&format!("{}/v1/ingest/x", lh.url), "").await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (400, Some("empty_body"))
    );
    let r = reqwest::get(format!("{}/v1/datasets/x", lh.url))
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "failed ingests registered nothing");

    // gzip-encoded bodies, and a Parquet body (the file we just wrote), through HTTP.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, CSV.as_bytes()).unwrap();
    let r = reqwest::Client::new()
        .post(format!("{}/v1/ingest/zipped", lh.url))
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let zipped: Value = r.json().await.unwrap();
    assert_eq!(zipped["rows"], 3);
    let r = reqwest::Client::new()
        .post(format!("{}/v1/ingest/copied", lh.url))
        .header("content-type", "application/vnd.apache.parquet")
        .body(std::fs::read(&files[0]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let copied: Value = r.json().await.unwrap();
    assert_eq!(copied["schema"], m["schema"]);
    assert_eq!(copied["rows"], 3);
}

#[tokio::test]
async fn the_cli_ingests_with_progress_and_lists_datasets() {
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::start(lakehouse_bin!(), Launch::standalone(dir.path())).await;
    let file = dir.path().join("people.csv");
    let mut csv = String::from("name;age\n");
    for i in 0..5000 {
        csv.push_str(&format!("person {i};{}\n", i % 90));
    }
    std::fs::write(&file, csv).unwrap();
    let file = file.display().to_string();
    let server = lh.url.as_str();
    let (code, out, err) = run(
        lakehouse_bin!(),
        &["ingest", &file, "--name", "people", "--server", server],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("people: version 1 created, 5000 rows"),
        "{out}"
    );
    let (code, out, err) = run(
        lakehouse_bin!(),
        &[
            "ingest",
            &file,
            "--name",
            "people",
            "--mode",
            "overwrite",
            "--server",
            server,
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("version 1 unchanged"),
        "same bytes are a no-op: {out}"
    );
    let (code, out, _) = run(lakehouse_bin!(), &["datasets", "--server", server], &[]);
    assert_eq!(code, 0);
    let line = out
        .lines()
        .find(|l| l.starts_with("people"))
        .unwrap_or_default();
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cells[..3], ["people", "1", "5000"], "{out}");

    // Failures: a refused request exits 1 with the server's message; bad usage exits 2.
    let (code, _, err) = run(
        lakehouse_bin!(),
        &["ingest", &file, "--name", "people", "--server", server],
        &[],
    );
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
    let (code, _, err) = run(
        lakehouse_bin!(),
        &["ingest", "/no/such.csv", "--name", "p", "--server", server],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(
        lakehouse_bin!(),
        &["ingest", &file, "--name", "people#x", "--server", server],
        &[],
    );
    assert_eq!(
        code, 2,
        "a name that is not a dataset name is bad usage: {err}"
    );
    assert!(err.contains("--name"), "{err}");
    // Piped input (no size known): `-` and /dev/stdin.
    for source in ["-", "/dev/stdin"] {
        let name = if source == "-" { "piped" } else { "devstdin" };
        let mut child = std::process::Command::new(lakehouse_bin!())
            .args(["ingest", source, "--name", name, "--server", server])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"a,b\n1,x\n2,y\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{source}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("version 1 created, 2 rows"),
            "{source}: {text}"
        );
    }
    let dead = format!("http://127.0.0.1:{}", free_port());
    let (code, _, err) = run(lakehouse_bin!(), &["datasets", "--server", &dead], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot connect"), "{err}");
}

#[tokio::test]
async fn kill_9_during_an_ingest_leaves_the_previous_version_intact() {
    let dir = tempfile::tempdir().unwrap();
    let launch = Launch::standalone(dir.path());
    let mut lh = Lakehouse::start(lakehouse_bin!(), launch.clone()).await;
    let (status, v1) = post_csv(
        &format!("{}/v1/ingest/t?mode=create", lh.url),
        "n,s\n1,a\n2,b\n",
    )
    .await;
    assert_eq!(status, 201);

    // An overwrite whose body trickles in; the server dies while it is being converted.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(4);
    let url = format!("{}/v1/ingest/t?mode=overwrite", lh.url);
    let upload = tokio::spawn(async move {
        let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
        reqwest::Client::new().post(url).body(body).send().await
    });
    tx.send(Ok("n,s\n".into())).await.unwrap();
    for i in 0..200 {
        let chunk: String = (0..1000).map(|j| format!("{},x\n", i * 1000 + j)).collect();
        if tx.send(Ok(chunk.into())).await.is_err() {
            break;
        }
    }
    // Killed once the new version's first part is on its way to the store.
    let new_version = dir.path().join("datasets/t/v2");
    wait_until(
        "the overwrite's first part",
        Duration::from_secs(30),
        || new_version.exists(),
    )
    .await;
    lh.kill9();
    drop(tx);
    let _ = upload.await;
    // A stray part as a crash after an upload would leave it.
    let orphan = dir.path().join("datasets/t/v2/part-0-0123456789ab.parquet");
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, b"PAR1 stray").unwrap();

    let lh = Lakehouse::start(lakehouse_bin!(), launch).await;
    let m: Value = reqwest::get(format!("{}/v1/datasets/t", lh.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (m["version"].as_u64(), m["rows"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(m["files"], v1["files"]);
    // Only the committed file and the table's one log entry are left: the start-up sweep
    // (in the background: the server answers before it ends) removed the stray part, and
    // the store removed the interrupted upload's staging file.
    wait_until("the start-up sweep", Duration::from_secs(20), || {
        !orphan.exists()
    })
    .await;
    let left: Vec<String> = files_under(&dir.path().join("datasets"));
    let committed = v1["files"][0]["key"]
        .as_str()
        .unwrap()
        .trim_start_matches("datasets/");
    assert_eq!(
        left,
        [
            "t/_delta_log/00000000000000000000.json".to_string(),
            committed.to_string()
        ],
        "{left:?}"
    );
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, std::io::Error>>,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
