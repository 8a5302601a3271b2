//! TLS and SCRAM with real clients, against a certificate authority and a server
//! certificate made in the test (openssl): curl and the CLI over HTTPS; psql and psycopg
//! with `sslmode=require` / `verify-full` and SCRAM-SHA-256 (`require_auth`); plain
//! connections refused on both protocols; and a split deployment whose roles call each
//! other over HTTPS, verifying with `[gateway] tls_ca`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use test_support::{Lakehouse, Launch, SplitLayout, client_trusting, lakehouse_bin, send_json};

const KEY: &str = "tls-test-k3y";

/// A CA, and a certificate it signed for `localhost` and `127.0.0.1`.
struct Certificates {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Certificates {
    fn make(dir: &Path) -> Certificates {
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec![
            "req",
            "-x509",
            "-days",
            "2",
            "-subj",
            "/CN=lakehouse test CA",
        ];
        ca.extend(ec);
        ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
        openssl(dir, &ca);
        let mut request = vec!["req", "-subj", "/CN=localhost"];
        request.extend(ec);
        request.extend(["-keyout", "server.key", "-out", "server.csr"]);
        openssl(dir, &request);
        std::fs::write(
            dir.join("san.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "san.cnf",
                "-out",
                "server.pem",
            ],
        );
        Certificates {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        }
    }

    /// `[gateway]` lines that turn TLS on.
    fn config_lines(&self) -> [String; 3] {
        [
            format!("tls_cert = {:?}", self.cert.display().to_string()),
            format!("tls_key = {:?}", self.key.display().to_string()),
            format!("tls_ca = {:?}", self.ca.display().to_string()),
        ]
    }
}

/// Runs `program`; (exit code, stdout, stderr).
fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn psql(conninfo: &str, sql: &str, password: &str) -> (i32, String, String) {
    run(
        "psql",
        &[conninfo, "-X", "-A", "-t", "-c", sql],
        &[("PGPASSWORD", password), ("PGCONNECT_TIMEOUT", "10")],
    )
}

/// A standalone server with TLS and a key: HTTPS for curl and the CLI, TLS and SCRAM for
/// psql and psycopg, and every plain-text attempt refused.
#[tokio::test]
async fn standalone_speaks_tls_only_to_real_clients() {
    let dir = tempfile::tempdir().unwrap();
    let certs = Certificates::make(dir.path());
    let config = dir.path().join("lakehouse.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\nbackend = \"local\"\ndata_dir = {:?}\n\n[gateway]\napi_key = {KEY:?}\n{}\n",
            dir.path().join("data").display().to_string(),
            certs.config_lines().join("\n")
        ),
    )
    .unwrap();
    let mut launch = Launch::standalone_with_config(&config);
    let port = launch
        .health_url
        .as_ref()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let pg = launch
        .env
        .iter()
        .find(|(k, _)| k == "LAKEHOUSE_QUERYD_PG_BIND")
        .map(|(_, v)| v.rsplit(':').next().unwrap().to_string())
        .unwrap();
    let url = format!("https://localhost:{port}");
    launch.health_url = Some(url.clone());
    launch.ca = Some(certs.ca.clone());
    let lh = Lakehouse::start(lakehouse_bin!(), launch).await;
    let ca = certs.ca.display().to_string();
    let bearer = format!("Authorization: Bearer {KEY}");

    // curl: ingest a file and query it over HTTPS, verifying the certificate.
    let csv = dir.path().join("sales.csv");
    std::fs::write(&csv, "id,amount\n1,10.5\n2,20\n").unwrap();
    let (code, out, err) = run(
        "curl",
        &[
            "-sS",
            "--fail-with-body",
            "--cacert",
            &ca,
            "-H",
            &bearer,
            "-X",
            "POST",
            "-T",
            &csv.display().to_string(),
            &format!("{url}/v1/ingest/sales"),
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(
        "curl",
        &[
            "-sS",
            "--fail-with-body",
            "--cacert",
            &ca,
            "-H",
            &bearer,
            "-d",
            r#"{"sql": "SELECT sum(amount) AS total FROM sales"}"#,
            &format!("{url}/v1/sql"),
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let answer: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["rows"], json!([[30.5]]), "{out}");
    // Without the CA the certificate is not trusted; plain HTTP gets no answer.
    let (code, _, err) = run("curl", &["-sS", &format!("{url}/health")], &[]);
    assert_eq!(code, 60, "an untrusted certificate: {err}");
    let (code, out, _) = run(
        "curl",
        &[
            "-sS",
            "-m",
            "10",
            &format!("http://127.0.0.1:{port}/health"),
        ],
        &[],
    );
    assert_ne!(code, 0, "plain HTTP answered: {out}");

    // The CLI, trusting the CA by flag.
    let (code, out, err) = run(
        lakehouse_bin!().to_str().unwrap(),
        &[
            "sql",
            "--server",
            &url,
            "--ca-file",
            &ca,
            "SELECT count(*) AS n FROM sales",
        ],
        &[("LAKEHOUSE_API_KEY", KEY)],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains('2'), "{out}");

    // psql: TLS required and verified, the key proven by SCRAM.
    let base = format!("host=localhost port={pg} user=analyst dbname=lakehouse");
    let (code, out, err) = psql(
        &format!("{base} sslmode=verify-full sslrootcert={ca}"),
        "SELECT count(*) FROM sales",
        KEY,
    );
    assert_eq!((code, out.trim()), (0, "2"), "{err}");
    let (code, out, err) = psql(&format!("{base} sslmode=require"), "SELECT 6 * 7", KEY);
    assert_eq!((code, out.trim()), (0, "42"), "{err}");
    let (code, _, err) = psql(&format!("{base} sslmode=disable"), "SELECT 1", KEY);
    assert_ne!(code, 0);
    assert!(err.contains("TLS connections only"), "{err}");
    let (code, _, err) = psql(&format!("{base} sslmode=require"), "SELECT 1", "wrong");
    assert_ne!(code, 0);
    assert!(
        err.to_lowercase()
            .contains("password authentication failed"),
        "{err}"
    );

    // psycopg (libpq from PyPI): verify-full, and SCRAM demanded by the client itself.
    let script = format!(
        "import psycopg\n\
         with psycopg.connect(host='localhost', port={pg}, user='analyst', dbname='lakehouse', \
         password={KEY:?}, sslmode='verify-full', sslrootcert={ca:?}, \
         require_auth='scram-sha-256') as conn:\n\
         \x20   assert conn.info.pgconn.ssl_in_use\n\
         \x20   print(conn.execute('SELECT sum(amount) FROM sales').fetchone()[0])\n"
    );
    let (code, out, err) = run("python3", &["-c", &script], &[]);
    assert_eq!((code, out.trim()), (0, "30.5"), "{err}");

    // The server said nothing of the key in its log.
    assert!(!lh.log_text().contains(KEY));
}

/// Every role of a split deployment serves HTTPS, and calls the others over HTTPS,
/// trusting the test's CA through `[gateway] tls_ca`.
#[tokio::test]
async fn a_split_deployment_calls_itself_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let certs = Certificates::make(dir.path());
    let layout = SplitLayout::new();
    let storage = format!(
        "[storage]\nbackend = \"local\"\ndata_dir = {:?}\n",
        dir.path().join("data").display().to_string()
    );
    let lines = certs.config_lines();
    let extra: Vec<(&str, &str)> = lines.iter().map(|l| ("gateway", l.as_str())).collect();
    let text = layout
        .config(&storage, &extra)
        .replace("\"http://127.0.0.1:", "\"https://127.0.0.1:");
    let file = dir.path().join("lakehouse.toml");
    std::fs::write(&file, text).unwrap();
    let mut running = Vec::new();
    for role in SplitLayout::ROLES {
        let mut launch = layout.launch(role, &file, &[]);
        launch.health_url = Some(format!("https://127.0.0.1:{}", layout.port(role)));
        launch.ca = Some(certs.ca.clone());
        running.push(Lakehouse::start(lakehouse_bin!(), launch).await);
    }
    let gateway = format!("https://127.0.0.1:{}", layout.gateway);
    let http = client_trusting(&certs.ca);

    // Through the gateway: ingest (gateway → ingestd → catalogd, storaged), query (→
    // queryd → catalogd), vectors (→ vectord → storaged).
    let (status, body) = send_json(
        http.post(format!("{gateway}/v1/ingest/sales"))
            .header("content-type", "text/csv")
            .body("id,amount\n1,10.5\n2,20\n"),
    )
    .await;
    assert!(status.is_success(), "{status}: {body}");
    let (status, body) = send_json(
        http.post(format!("{gateway}/v1/sql"))
            .json(&json!({"sql": "SELECT sum(amount) FROM sales"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows"], json!([[30.5]]));
    let (status, body) = send_json(
        http.post(format!("{gateway}/v1/vectors"))
            .json(&json!({"name": "emb", "dim": 2, "metric": "l2"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = send_json(http.get(format!("{gateway}/health"))).await;
    assert_eq!(status, 200, "{body}");

    // A role whose peers' URLs say http:// while TLS is on refuses to start, saying why.
    let plain = dir.path().join("plain.toml");
    std::fs::write(&plain, layout.config(&storage, &extra)).unwrap();
    let (code, _, err) = test_support::run(
        lakehouse_bin!(),
        &[
            "serve",
            "--config",
            plain.to_str().unwrap(),
            "--services",
            "gateway",
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("https://"), "{err}");
    drop(running);
}
