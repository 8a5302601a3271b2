//! `lakehouse sql "SELECT ..."`: runs a query through `POST /v1/sql` and prints the result
//! as an aligned table (the default), or streams it as CSV, JSON or NDJSON unchanged.

use std::io::{Read, Write};

use clap::{Args, ValueEnum};
use futures::StreamExt;

use reqwest::Method;

use super::{Failure, Remote, align};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Output {
    /// Aligned columns with a header, numbers right-aligned, nulls empty.
    Table,
    Csv,
    Json,
    Ndjson,
}

#[derive(Args, Debug)]
pub struct SqlArgs {
    #[command(flatten)]
    remote: Remote,
    /// The query; `-` or nothing reads it from standard input.
    query: Option<String>,
    /// How to print the result.
    #[arg(long, value_enum, default_value = "table")]
    format: Output,
}

pub async fn run(args: SqlArgs) -> Result<(), Failure> {
    let query = match args.query.as_deref() {
        None | Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Failure::Usage(format!("reading the query from stdin: {e}")))?;
            text
        }
        Some(text) => text.to_string(),
    };
    if query.trim().is_empty() {
        return Err(Failure::Usage("no query given".into()));
    }
    let remote = &args.remote;
    let format = match args.format {
        Output::Table | Output::Json => "json",
        Output::Csv => "csv",
        Output::Ndjson => "ndjson",
    };
    let api = remote.api();
    let request = api
        .request(Method::POST, "/v1/sql")
        .json(&serde_json::json!({"sql": query, "format": format}));
    let response = api.send(request).await?;
    match args.format {
        Output::Table => print_table(&api.body(response).await?),
        Output::Json | Output::Csv | Output::Ndjson => stream(response).await,
    }
}

/// Copies the body to stdout as it arrives (a large result never sits in memory).
async fn stream(response: reqwest::Response) -> Result<(), Failure> {
    let mut body = response.bytes_stream();
    let mut out = std::io::stdout().lock();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Failure::Request(format!("the result broke off: {e}")))?;
        if let Err(e) = out.write_all(&chunk) {
            // A closed pipe (`| head`) ends the output quietly.
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(());
            }
            return Err(Failure::Request(format!("writing the result: {e}")));
        }
    }
    let _ = out.flush();
    Ok(())
}

fn print_table(body: &serde_json::Value) -> Result<(), Failure> {
    if let Some(error) = body.get("error") {
        return Err(Failure::Request(format!(
            "the query failed part-way: {}",
            error["message"].as_str().unwrap_or("?")
        )));
    }
    let columns = body["columns"].as_array().cloned().unwrap_or_default();
    let rows = body["rows"].as_array().cloned().unwrap_or_default();
    let numeric: Vec<bool> = columns
        .iter()
        .map(|c| {
            let ty = c["type"].as_str().unwrap_or("");
            ty.starts_with("int")
                || ty.starts_with("uint")
                || ty.starts_with("float")
                || ty.starts_with("decimal")
        })
        .collect();
    let mut table = vec![
        columns
            .iter()
            .map(|c| c["name"].as_str().unwrap_or("?").to_string())
            .collect::<Vec<_>>(),
    ];
    for row in &rows {
        let cells = row.as_array().cloned().unwrap_or_default();
        table.push(
            cells
                .iter()
                .map(|v| match v {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
        );
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(align(&table, &numeric).as_bytes());
    let n = rows.len();
    eprintln!("({n} row{})", if n == 1 { "" } else { "s" });
    Ok(())
}
