//! Client subcommands: talk to a running server over its HTTP API (the gateway by default).
//!
//! Exit codes: 0 success, 1 the request failed (the server's message is printed), 2 bad
//! usage (clap's own errors, an unreadable input file).

pub mod datasets;
pub mod ingest;
pub mod sql;
pub mod storage;
pub mod vectors;

use std::process::ExitCode;

use clap::Args;

/// Where the server is and how to authenticate.
#[derive(Args, Debug, Clone)]
pub struct Remote {
    /// Base URL of the gateway (or of the service itself).
    #[arg(
        long,
        env = "LAKEHOUSE_SERVER",
        default_value = "http://127.0.0.1:3110"
    )]
    pub server: String,
    /// API key, sent as `Authorization: Bearer KEY`.
    #[arg(long, env = "LAKEHOUSE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// PEM file of a certificate authority to trust for an `https://` server, besides the
    /// system's (a private or self-signed certificate).
    #[arg(long, env = "LAKEHOUSE_CA_FILE")]
    pub ca_file: Option<std::path::PathBuf>,
}

impl Remote {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.trim_end_matches('/'))
    }

    pub fn client(&self) -> reqwest::Client {
        if let Err(e) = common::tls::trust(self.ca_file.as_ref(), "--ca-file") {
            // Bad usage, like an unreadable input file: exit 2.
            eprintln!("lakehouse: {e}");
            std::process::exit(2);
        }
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(value) = common::auth::bearer_header(self.api_key.as_deref()) {
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        common::tls::http_client()
            .default_headers(headers)
            .connect_timeout(std::time::Duration::from_secs(5))
            .build()
            .unwrap_or_default()
    }
}

/// Why a client command failed.
pub enum Failure {
    /// Bad usage: exit 2.
    Usage(String),
    /// The request failed: exit 1.
    Request(String),
}

impl Failure {
    pub fn exit(self) -> ExitCode {
        match self {
            Failure::Usage(m) => {
                eprintln!("lakehouse: {m}");
                ExitCode::from(crate::EXIT_CONFIG)
            }
            Failure::Request(m) => {
                eprintln!("lakehouse: {m}");
                ExitCode::FAILURE
            }
        }
    }

    /// A transport error, naming the server.
    pub fn transport(remote: &Remote, e: reqwest::Error) -> Failure {
        let why = if e.is_connect() {
            "cannot connect (is `lakehouse serve` running?)".to_string()
        } else {
            e.to_string()
        };
        Failure::Request(format!("{}: {why}", remote.server))
    }
}

/// The server's error message from a non-2xx response, or the status when there is none.
pub async fn error_message(response: reqwest::Response) -> String {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    match serde_json::from_str::<common::error::ErrorBody>(&text) {
        Ok(body) => format!("{} ({status}, {})", body.error.message, body.error.code),
        Err(_) if text.trim().is_empty() => format!("the server answered {status}"),
        Err(_) => format!("the server answered {status}: {}", text.trim()),
    }
}

/// The JSON body of a successful response; the server's message as a failure otherwise.
pub async fn json_body(response: reqwest::Response) -> Result<serde_json::Value, Failure> {
    if !response.status().is_success() {
        return Err(Failure::Request(error_message(response).await));
    }
    response
        .json()
        .await
        .map_err(|e| Failure::Request(format!("unreadable answer: {e}")))
}

/// Prints a JSON value for `--json`.
pub fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// Runs a client command on a small runtime.
pub fn run<F>(command: F) -> ExitCode
where
    F: std::future::Future<Output = Result<(), Failure>>,
{
    common::tls::install_provider();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Failure::Request(format!("cannot start the runtime: {e}")).exit(),
    };
    match runtime.block_on(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.exit(),
    }
}

/// `1536` → `1.5 KiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Rows as text columns two spaces apart; `right[i]` right-aligns column `i` (numbers).
pub fn align(rows: &[Vec<String>], right: &[bool]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, &w))| {
                if right.get(i).copied().unwrap_or(false) {
                    format!("{cell:>w$}")
                } else {
                    format!("{cell:<w$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
