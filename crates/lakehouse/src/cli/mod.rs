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
use common::client::{CallError, ServiceClient};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

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
    /// The server's HTTP API with this command's key and trust, on the client core every
    /// service client uses.
    pub fn api(&self) -> Api {
        if let Err(e) = common::tls::trust(self.ca_file.as_ref(), "--ca-file") {
            // Bad usage, like an unreadable input file: exit 2.
            eprintln!("lakehouse: {e}");
            std::process::exit(2);
        }
        Api {
            server: self.server.clone(),
            // No bound on a whole call: uploads and results stream for as long as they take.
            core: ServiceClient::new("the server", &self.server, None)
                .with_api_key(self.api_key.as_deref()),
        }
    }
}

/// Calls to the server, each failure a [`Failure`] worded for the command line.
#[derive(Clone)]
pub struct Api {
    server: String,
    core: ServiceClient,
}

impl Api {
    /// A request to `path` (from `/v1/...`; segments through [`segment`]).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.core.request(method, path)
    }

    /// Sends `request`: the 2xx answer (its body not yet read), or why there was none.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, Failure> {
        self.core.send(request).await.map_err(|e| self.failure(e))
    }

    /// Sends `request` and reads its JSON answer.
    pub async fn json(&self, request: RequestBuilder) -> Result<Value, Failure> {
        let response = self.send(request).await?;
        self.body(response).await
    }

    /// The JSON body of an answer [`Api::send`] gave.
    pub async fn body(&self, response: Response) -> Result<Value, Failure> {
        self.core.json(response).await.map_err(|e| self.failure(e))
    }

    fn failure(&self, e: CallError) -> Failure {
        Failure::Request(match e {
            CallError::Unreachable { connect: true, .. } => format!(
                "{}: cannot connect (is `lakehouse serve` running?)",
                self.server
            ),
            CallError::Unreachable { message, .. } => message,
            CallError::Refused { said, .. } => format!(
                "{said} (401, unauthorized): give the server's key with --api-key or \
                 LAKEHOUSE_API_KEY"
            ),
            CallError::Answered {
                status,
                detail: Some(detail),
                ..
            } => format!("{} ({status}, {})", detail.message, detail.code),
            CallError::Answered { message, .. } => message,
        })
    }
}

/// A name or id as one URL path segment: all but `[A-Za-z0-9_-]` percent-encoded (the
/// server refuses a bad name with its own message).
pub fn segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
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
