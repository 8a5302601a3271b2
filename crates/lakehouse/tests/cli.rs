//! The client commands against the real server with an API key: `storage put|get|ls|rm`,
//! `datasets [ls]|show|versions|rm`, `--api-key` and `LAKEHOUSE_API_KEY`, the exit codes
//! (0 ok, 1 the request failed, 2 bad usage) and `--help` examples.

use test_support::{Lakehouse, Launch, lakehouse_bin, run};

#[tokio::test]
async fn storage_and_dataset_commands_with_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::start(
        lakehouse_bin!(),
        Launch::standalone(&dir.path().join("data")).env("LAKEHOUSE_API_KEY", "k3y"),
    )
    .await;
    let server = lh.url.as_str();
    let keyed = [("LAKEHOUSE_SERVER", server), ("LAKEHOUSE_API_KEY", "k3y")];
    let cli = |args: &[&str]| run(lakehouse_bin!(), args, &keyed);

    // storage: put a file and standard input, list, get to stdout and to a file, delete.
    let src = dir.path().join("payload.bin");
    let payload = test_support::pseudo_random(3 << 20, 5);
    std::fs::write(&src, &payload).unwrap();
    let (code, _, err) = cli(&["storage", "put", "docs/payload.bin", src.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("stored docs/payload.bin (3.0 MiB)"), "{err}");
    let (code, out, err) = cli(&["storage", "ls", "docs/"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("KEY") && out.contains("docs/payload.bin") && out.contains("3.0 MiB"),
        "{out}"
    );
    let copy = dir.path().join("copy.bin");
    let (code, _, err) = cli(&[
        "storage",
        "get",
        "docs/payload.bin",
        "-o",
        copy.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read(&copy).unwrap(), payload);
    let out = std::process::Command::new(lakehouse_bin!())
        .args(["storage", "get", "docs/payload.bin"])
        .envs(keyed)
        .output()
        .unwrap();
    assert_eq!(
        (out.status.code(), out.stdout.len()),
        (Some(0), payload.len())
    );
    assert!(out.stdout == payload);
    let (code, _, err) = cli(&[
        "storage",
        "put",
        "docs/payload.bin",
        src.to_str().unwrap(),
        "--if-absent",
    ]);
    assert_eq!(
        code, 1,
        "an existing key with --if-absent fails the request"
    );
    assert!(err.contains("already exists"), "{err}");
    let (code, _, err) = cli(&["storage", "rm", "docs/payload.bin"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cli(&[
        "storage",
        "get",
        "docs/payload.bin",
        "-o",
        copy.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("not found") || err.contains("no object"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        payload,
        "a failed download leaves the file as it was"
    );
    let (code, _, err) = cli(&["storage", "put", "a//b", src.to_str().unwrap()]);
    assert_eq!(code, 2, "a bad key is bad usage: {err}");
    let (code, _, err) = cli(&["storage", "put", "k", "/no/such/file"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/no/such/file"), "{err}");

    // Without the key, or with a wrong one: the request fails (exit 1) saying why.
    let (code, _, err) = run(
        lakehouse_bin!(),
        &["storage", "ls"],
        &[("LAKEHOUSE_SERVER", server)],
    );
    assert_eq!(code, 1);
    assert!(err.contains("API key"), "{err}");
    let (code, _, err) = run(
        lakehouse_bin!(),
        &["datasets", "--server", server, "--api-key", "wrong"],
        &[],
    );
    assert_eq!(code, 1);
    assert!(err.contains("API key is wrong"), "{err}");

    // datasets: ingest twice, then show, versions, rm.
    let csv = dir.path().join("sales.csv");
    std::fs::write(&csv, "id,amount\n1,2.5\n2,4\n").unwrap();
    for mode in ["overwrite", "append"] {
        let (code, _, err) = cli(&[
            "ingest",
            csv.to_str().unwrap(),
            "--name",
            "sales",
            "--mode",
            mode,
        ]);
        assert_eq!(code, 0, "{err}");
    }
    let (code, out, err) = run(
        lakehouse_bin!(),
        &[
            "datasets",
            "show",
            "sales",
            "--server",
            server,
            "--api-key",
            "k3y",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("sales  version 2  4 rows"), "{out}");
    assert!(out.contains("amount") && out.contains("float64"), "{out}");
    assert!(out.contains("datasets/sales/v2/"), "{out}");
    let (code, out, _) = cli(&["datasets", "versions", "sales"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("VERSION"), "{out}");
    assert!(lines[1].trim_start().starts_with("2  append"), "{out}");
    assert_eq!(lines.len(), 3, "{out}");
    let (code, out, _) = cli(&["datasets", "ls", "--json"]);
    assert_eq!(code, 0);
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed["datasets"][0]["name"], "sales");
    let (code, _, err) = cli(&["datasets", "rm", "sales"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cli(&["datasets", "show", "sales"]);
    assert_eq!(code, 1);
    assert!(err.contains("dataset_not_found"), "{err}");
    let (code, out, _) = cli(&["datasets"]);
    assert_eq!(
        (code, out.lines().count()),
        (0, 1),
        "only the header: {out}"
    );
}

#[test]
fn help_has_examples_and_bad_usage_exits_2() {
    for args in [
        &["--help"][..],
        &["storage", "--help"],
        &["storage", "put", "--help"],
        &["datasets", "--help"],
        &["sql", "--help"],
        &["vectors", "--help"],
        &["ingest", "--help"],
    ] {
        let (code, out, err) = run(lakehouse_bin!(), args, &[]);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.contains("Example"), "{args:?}: {out}");
    }
    let (code, _, err) = run(lakehouse_bin!(), &["storage", "frobnicate"], &[]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(lakehouse_bin!(), &["storage", "put", "only-a-key"], &[]);
    assert_eq!(code, 2, "{err}");
}
