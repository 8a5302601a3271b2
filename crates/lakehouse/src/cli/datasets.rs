//! `lakehouse datasets`: the catalog as a table (name, version, rows, size, updated).

use clap::Args;

use super::{Failure, Remote, error_message, human_bytes};

#[derive(Args, Debug)]
pub struct DatasetsArgs {
    #[command(flatten)]
    remote: Remote,
    /// Print the manifests as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: DatasetsArgs) -> Result<(), Failure> {
    let remote = &args.remote;
    let response = remote
        .client()
        .get(remote.url("/v1/datasets"))
        .send()
        .await
        .map_err(|e| Failure::transport(remote, e))?;
    if !response.status().is_success() {
        return Err(Failure::Request(error_message(response).await));
    }
    let body: serde_json::Value = response
        .json()
        .await
        .map_err(|e| Failure::Request(format!("unreadable answer: {e}")))?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&body).unwrap_or_default()
        );
        return Ok(());
    }
    let datasets = body["datasets"].as_array().cloned().unwrap_or_default();
    let mut table = vec![["NAME", "VERSION", "ROWS", "SIZE", "UPDATED"].map(String::from)];
    for d in &datasets {
        table.push([
            d["name"].as_str().unwrap_or("?").to_string(),
            d["version"].to_string(),
            d["rows"].to_string(),
            human_bytes(d["bytes"].as_u64().unwrap_or(0)),
            d["created_at"]
                .as_str()
                .unwrap_or("")
                .chars()
                .take(19)
                .collect::<String>()
                .replace('T', " "),
        ]);
    }
    print!("{}", align(&table));
    if datasets.is_empty() {
        eprintln!("(no datasets yet: `lakehouse ingest FILE --name NAME` makes one)");
    }
    Ok(())
}

/// Left-aligned text columns, numbers right-aligned, two spaces apart.
fn align(rows: &[[String; 5]]) -> String {
    let mut widths = [0usize; 5];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (cell, w))| match i {
                1..=3 => format!("{cell:>w$}"),
                _ => format!("{cell:<w$}"),
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
