//! Test helpers shared by every crate's integration tests: free ports, a real S3-compatible
//! server (moto) on loopback, and the real `lakehouse` binary started on free ports.
//! Every wait here is bounded; every process started is killed on drop.
//! [`FaultProxy`] sits between a client and a server to reset or stall their connections.

mod proxy;
pub use proxy::{FaultMode, FaultProxy};

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port that was free a moment ago on 127.0.0.1, for a server the test starts next.
///
/// Drawn below the kernel's ephemeral range (`ip_local_port_range`, 32768–60999 by
/// default): a port from `bind(0)` is an ephemeral one, which any outgoing connection of
/// the parallel tests may take as its local port before the server binds it ("Address
/// already in use", seen in CI). Drawn at random, so parallel test processes rarely pick
/// the same one; checked free before it is returned.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static DRAWS: AtomicU64 = AtomicU64::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (low, high) = (10_000u16, ephemeral_low.max(12_000));
    let seed = u64::from(std::process::id()) << 32
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
    for _ in 0..200 {
        // splitmix64 over (seed, draw number): cheap, well spread.
        let mut x = seed.wrapping_add(
            DRAWS
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        let port = low + (x % u64::from(high - low)) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn wait_for_tcp(addr: SocketAddr, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A real S3-compatible server on loopback. Uses the one the test script started
/// (`LAKEHOUSE_TEST_S3_ENDPOINT`), else starts `moto_server` for this test.
pub struct S3Server {
    endpoint: String,
    child: Option<Child>,
}

pub const S3_ACCESS_KEY: &str = "testing";
pub const S3_SECRET_KEY: &str = "testing";

impl S3Server {
    pub fn start() -> S3Server {
        if let Ok(endpoint) = std::env::var("LAKEHOUSE_TEST_S3_ENDPOINT") {
            return S3Server {
                endpoint: endpoint.trim_end_matches('/').to_string(),
                child: None,
            };
        }
        let port = free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server must be installed (pip install 'moto[server]'); scripts/test does this");
        let addr: SocketAddr = format!("127.0.0.1:{port}")
            .parse()
            .expect("loopback address");
        let server = S3Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            child: Some(child),
        };
        assert!(
            wait_for_tcp(addr, Duration::from_secs(30)),
            "moto_server did not start on {addr}"
        );
        server
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Creates a bucket with a unique name and returns the name.
    pub async fn bucket(&self, hint: &str) -> String {
        let name = format!("{}-{}", hint.replace('_', "-"), unique());
        let response = reqwest::Client::new()
            .put(format!("{}/{name}", self.endpoint))
            .send()
            .await
            .expect("S3 server reachable");
        assert!(
            response.status().is_success(),
            "create bucket {name}: {}",
            response.status()
        );
        name
    }

    /// The `[s3]` settings selecting this server and `bucket`.
    pub fn s3_config(&self, bucket: &str) -> storaged::config::S3Config {
        storaged::config::S3Config {
            endpoint: Some(self.endpoint.clone()),
            region: "us-east-1".into(),
            bucket: bucket.into(),
            access_key_id: Some(S3_ACCESS_KEY.into()),
            secret_access_key: Some(S3_SECRET_KEY.into()),
            use_path_style: true,
            timeouts: Default::default(),
        }
    }

    /// A `lakehouse.toml` body selecting this server and `bucket`.
    pub fn config_toml(&self, bucket: &str) -> String {
        format!(
            "[storage]\nbackend = \"s3\"\n\n[s3]\nendpoint = {:?}\nregion = \"us-east-1\"\nbucket = {bucket:?}\n\
             access_key_id = {S3_ACCESS_KEY:?}\nsecret_access_key = {S3_SECRET_KEY:?}\nuse_path_style = true\n",
            self.endpoint
        )
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A process-unique, time-salted suffix for names.
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos % 100_000
    )
}

/// Waits until `ready` holds, checking every 20 ms, and fails the test naming `what` when
/// `limit` passes first: the wait for a state the test can observe, where a fixed sleep
/// would race it on a loaded machine (and waste the time on an idle one).
pub async fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < limit,
            "waited {limit:?} for {what}, in vain"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `lakehouse` binary cargo built for the running test: `Path` of
/// `CARGO_BIN_EXE_lakehouse`, which cargo sets when it compiles an integration test of the
/// `lakehouse` crate (so a macro: it must expand in that test, not here).
#[macro_export]
macro_rules! lakehouse_bin {
    () => {
        ::std::path::Path::new(env!("CARGO_BIN_EXE_lakehouse"))
    };
}

/// The real binary, running.
pub struct Lakehouse {
    child: Option<Child>,
    /// Base URL of the gateway (or of the first role's bind in split mode).
    pub url: String,
    pub log: PathBuf,
    pub bin: PathBuf,
}

/// How to start the binary.
#[derive(Clone, Debug, Default)]
pub struct Launch {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// URL to poll `/health` on; defaults to the gateway bind set in `env`.
    pub health_url: Option<String>,
    /// A PEM certificate authority to trust when polling an `https://` health URL.
    pub ca: Option<PathBuf>,
}

impl Launch {
    /// Standalone on a fresh gateway port, data in `data_dir`.
    pub fn standalone(data_dir: &Path) -> Launch {
        let port = free_port();
        Launch {
            args: vec![
                "serve".into(),
                "--data-dir".into(),
                data_dir.display().to_string(),
            ],
            env: vec![
                ("LAKEHOUSE_GATEWAY_BIND".into(), format!("127.0.0.1:{port}")),
                (
                    "LAKEHOUSE_QUERYD_PG_BIND".into(),
                    format!("127.0.0.1:{}", free_port()),
                ),
            ],
            health_url: Some(format!("http://127.0.0.1:{port}")),
            ca: None,
        }
    }

    /// Standalone reading the config file `file` (its `[storage]` decides where the data
    /// is), on a fresh gateway port.
    pub fn standalone_with_config(file: &Path) -> Launch {
        let mut launch = Launch::standalone(Path::new("unused"));
        launch.args = vec![
            "serve".into(),
            "--config".into(),
            file.display().to_string(),
        ];
        launch
    }

    pub fn env(mut self, key: &str, value: &str) -> Launch {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// A deployment's ports, fresh: its `lakehouse.toml` and the launch of each of its six
/// roles (split), or of the one process (standalone).
#[derive(Clone, Copy, Debug)]
pub struct SplitLayout {
    pub storaged: u16,
    pub catalogd: u16,
    pub ingestd: u16,
    pub queryd: u16,
    /// queryd's PostgreSQL port.
    pub pg: u16,
    pub vectord: u16,
    pub gateway: u16,
}

impl SplitLayout {
    /// The roles in the order they start: the stores first, the gateway last.
    pub const ROLES: [&'static str; 6] = [
        "storaged", "catalogd", "ingestd", "queryd", "vectord", "gateway",
    ];

    pub fn new() -> SplitLayout {
        SplitLayout {
            storaged: free_port(),
            catalogd: free_port(),
            ingestd: free_port(),
            queryd: free_port(),
            pg: free_port(),
            vectord: free_port(),
            gateway: free_port(),
        }
    }

    /// The base URL of the service on `port`.
    pub fn url(port: u16) -> String {
        format!("http://127.0.0.1:{port}")
    }

    /// The HTTP port of `role`, one of [`SplitLayout::ROLES`].
    pub fn port(&self, role: &str) -> u16 {
        match role {
            "storaged" => self.storaged,
            "catalogd" => self.catalogd,
            "ingestd" => self.ingestd,
            "queryd" => self.queryd,
            "vectord" => self.vectord,
            "gateway" => self.gateway,
            other => panic!("no role {other:?} in a split deployment"),
        }
    }

    /// `lakehouse.toml`: `storage` (its `[storage]` section), every role's bind and the URLs
    /// of the services it calls (catalogd, ingestd, queryd and vectord use storaged's when
    /// the data is in a local directory, which only storaged opens; on S3 they open the
    /// bucket).
    /// `extra` adds lines to sections: `("catalogd", "keep_versions = 2")`.
    pub fn config(&self, storage: &str, extra: &[(&str, &str)]) -> String {
        let url = SplitLayout::url;
        let bind = |port: u16| format!("bind = \"127.0.0.1:{port}\"");
        let storaged_url = format!("storaged_url = \"{}\"", url(self.storaged));
        let catalogd_url = format!("catalogd_url = \"{}\"", url(self.catalogd));
        let mut sections: Vec<(&str, Vec<String>)> = vec![
            ("storaged", vec![bind(self.storaged)]),
            ("catalogd", vec![bind(self.catalogd), storaged_url.clone()]),
            (
                "ingestd",
                vec![
                    bind(self.ingestd),
                    storaged_url.clone(),
                    catalogd_url.clone(),
                ],
            ),
            (
                "queryd",
                vec![
                    bind(self.queryd),
                    format!("pg_bind = \"127.0.0.1:{}\"", self.pg),
                    storaged_url.clone(),
                    catalogd_url.clone(),
                    format!("vectord_url = \"{}\"", url(self.vectord)),
                ],
            ),
            ("vectord", vec![bind(self.vectord), storaged_url.clone()]),
            (
                "gateway",
                vec![
                    bind(self.gateway),
                    storaged_url.clone(),
                    catalogd_url,
                    format!("ingestd_url = \"{}\"", url(self.ingestd)),
                    format!("queryd_url = \"{}\"", url(self.queryd)),
                    format!("vectord_url = \"{}\"", url(self.vectord)),
                ],
            ),
        ];
        for (section, line) in extra {
            let Some((_, lines)) = sections.iter_mut().find(|(name, _)| name == section) else {
                panic!("no section [{section}] in a split deployment's config");
            };
            lines.push(line.to_string());
        }
        let mut text = format!("{}\n", storage.trim_end());
        for (name, lines) in sections {
            text += &format!("\n[{name}]\n{}\n", lines.join("\n"));
        }
        text
    }

    /// How to start `role` reading the config file `file`, with `env`.
    pub fn launch(&self, role: &str, file: &Path, env: &[(String, String)]) -> Launch {
        Launch {
            args: vec![
                "serve".into(),
                "--config".into(),
                file.display().to_string(),
                "--services".into(),
                role.into(),
            ],
            env: env.to_vec(),
            health_url: Some(SplitLayout::url(self.port(role))),
            ca: None,
        }
    }
}

impl SplitLayout {
    /// How to start every service in one process (standalone) from the config file `file`:
    /// the gateway's bind serves every route.
    pub fn launch_standalone(&self, file: &Path, env: &[(String, String)]) -> Launch {
        Launch {
            args: vec![
                "serve".into(),
                "--config".into(),
                file.display().to_string(),
            ],
            env: env.to_vec(),
            health_url: Some(SplitLayout::url(self.gateway)),
            ca: None,
        }
    }
}

impl Default for SplitLayout {
    fn default() -> Self {
        SplitLayout::new()
    }
}

/// The two deployments: every service in one process, or one process per role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Standalone,
    Split,
}

/// A deployment running, of either shape, every process reading the same
/// `lakehouse.toml` ([`SplitLayout::config`]) in `dir`: standalone serves every route on
/// the gateway's bind, split runs [`SplitLayout::ROLES`] as six processes.
pub struct Deployment {
    pub shape: Shape,
    pub dir: tempfile::TempDir,
    pub layout: SplitLayout,
    /// Each process: its role (`lakehouse` standalone), how it starts, the process.
    processes: Vec<(&'static str, Launch, Lakehouse)>,
}

impl Deployment {
    /// Writes `dir/lakehouse.toml` ([`SplitLayout::config`] of `storage` and `extra`) and
    /// starts `bin` as `shape` with `env`, each process healthy before the next starts.
    pub async fn start(
        bin: &Path,
        shape: Shape,
        dir: tempfile::TempDir,
        storage: &str,
        extra: &[(&str, &str)],
        env: &[(String, String)],
    ) -> Deployment {
        let layout = SplitLayout::new();
        let file = dir.path().join("lakehouse.toml");
        std::fs::write(&file, layout.config(storage, extra)).expect("write lakehouse.toml");
        let launches: Vec<(&'static str, Launch)> = match shape {
            Shape::Standalone => vec![("lakehouse", layout.launch_standalone(&file, env))],
            Shape::Split => SplitLayout::ROLES
                .into_iter()
                .map(|role| (role, layout.launch(role, &file, env)))
                .collect(),
        };
        let mut processes = Vec::new();
        for (role, launch) in launches {
            let running = Lakehouse::start(bin, launch.clone()).await;
            processes.push((role, launch, running));
        }
        Deployment {
            shape,
            dir,
            layout,
            processes,
        }
    }

    /// The gateway's base URL: every route of the deployment.
    pub fn gateway(&self) -> &str {
        &self.process("gateway").url
    }

    /// queryd's PostgreSQL port.
    pub fn pg_port(&self) -> u16 {
        self.layout.pg
    }

    fn index(&self, role: &str) -> usize {
        let role = match self.shape {
            Shape::Standalone => "lakehouse",
            Shape::Split => role,
        };
        self.processes
            .iter()
            .position(|(r, ..)| *r == role)
            .unwrap_or_else(|| panic!("no role {role:?} in a {:?} deployment", self.shape))
    }

    /// The process running `role` (standalone: the one process, whatever the role).
    pub fn process(&self, role: &str) -> &Lakehouse {
        &self.processes[self.index(role)].2
    }

    /// kill -9 of the process running `role`.
    pub fn kill9(&mut self, role: &str) {
        let at = self.index(role);
        self.processes[at].2.kill9();
    }

    /// Starts the process running `role` again (after a kill), as it first started.
    pub async fn restart(&mut self, role: &str) {
        self.restart_with(role, &[]).await;
    }

    /// As [`Deployment::restart`], with `env` added to the process's environment from now
    /// on.
    pub async fn restart_with(&mut self, role: &str, env: &[(&str, &str)]) {
        let at = self.index(role);
        let (_, launch, running) = &mut self.processes[at];
        for (key, value) in env {
            *launch = launch.clone().env(key, value);
        }
        let bin = running.bin.clone();
        *running = Lakehouse::start(&bin, launch.clone()).await;
    }

    /// Every process's log, headed by its role.
    pub fn logs(&self) -> String {
        self.processes
            .iter()
            .map(|(role, _, p)| format!("--- {role}\n{}", p.log_text()))
            .collect()
    }
}

impl Lakehouse {
    /// Starts `bin` and waits (at most 60 s) until `/health` answers 200.
    pub async fn start(bin: &Path, launch: Launch) -> Lakehouse {
        let log = std::env::temp_dir().join(format!("lakehouse-test-{}.log", unique()));
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(bin)
            .args(&launch.args)
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .env("LAKEHOUSE_LOG_LEVEL", "info")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("start lakehouse");
        let url = launch.health_url.clone().expect("health_url");
        let mut lh = Lakehouse {
            child: Some(child),
            url,
            log,
            bin: bin.to_path_buf(),
        };
        lh.wait_healthy(Duration::from_secs(60), launch.ca.as_deref())
            .await;
        lh
    }

    async fn wait_healthy(&mut self, limit: Duration, ca: Option<&Path>) {
        let client = match ca {
            None => reqwest::Client::new(),
            Some(ca) => client_trusting(ca),
        };
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "lakehouse exited with {status} before becoming healthy:\n{}",
                    self.log_text()
                );
            }
            if let Ok(r) = client.get(format!("{}/health", self.url)).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "lakehouse not healthy after {limit:?}:\n{}",
            self.log_text()
        );
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).expect("running")
    }

    /// kill -9, and reap.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits (at most `limit`) for the process to exit on its own; kills it past that.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// SIGTERM, then wait (at most `limit`) for the exit status.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Lakehouse {
    fn drop(&mut self) {
        self.kill9();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// An HTTP client that trusts the PEM certificate authority in `ca` (besides the
/// system's roots).
pub fn client_trusting(ca: &Path) -> reqwest::Client {
    common::tls::install_provider();
    let pem = std::fs::read(ca).expect("read the CA file");
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("a PEM certificate"))
        .build()
        .expect("an HTTP client")
}

/// Runs the binary to completion (for commands that exit) and returns (code, stdout, stderr).
pub fn run(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(bin)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run lakehouse");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `n` deterministic pseudo-random bytes (xorshift), different for each `seed`.
pub fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Every file under `root`, as sorted paths relative to it.
pub fn files_under(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// Sends `request` as raw bytes (no client normalises the path first) and returns the
/// status and body of the answer. The request should say `Connection: close`.
pub async fn raw_http(addr: &str, request: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("send request");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("answer within 10 s")
        .expect("read answer");
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Sends `request` and returns the status of the answer.
pub async fn status_of(request: reqwest::RequestBuilder) -> reqwest::StatusCode {
    request.send().await.expect("request sent").status()
}

/// POSTs `body` as `text/csv`; returns the status and the JSON answer (`Null` if none).
pub async fn post_csv(url: &str, body: impl Into<reqwest::Body>) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .expect("POST");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// Sends `request`; returns the status and the JSON answer (`Null` for an empty body).
/// Panics on a body that is not JSON, showing it.
pub async fn send_json(
    request: reqwest::RequestBuilder,
) -> (reqwest::StatusCode, serde_json::Value) {
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let text = response.text().await.expect("response body");
    let body = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, body)
}

/// `(code, message)` of an error body `{"error": {"code", "message"}}` ("" where absent).
pub fn error_of(body: &serde_json::Value) -> (&str, &str) {
    (
        body["error"]["code"].as_str().unwrap_or_default(),
        body["error"]["message"].as_str().unwrap_or_default(),
    )
}
