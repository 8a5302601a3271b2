//! `lakehouse datasets`: the catalog as a table (name, version, rows, size, updated).

use clap::Args;

use super::{Failure, Remote, align, human_bytes, json_body, print_json};

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
    let body = json_body(response).await?;
    if args.json {
        print_json(&body);
        return Ok(());
    }
    let datasets = body["datasets"].as_array().cloned().unwrap_or_default();
    let mut table = vec![
        ["NAME", "VERSION", "ROWS", "SIZE", "UPDATED"]
            .map(String::from)
            .to_vec(),
    ];
    for d in &datasets {
        table.push(vec![
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
    print!("{}", align(&table, &[false, true, true, true, false]));
    if datasets.is_empty() {
        eprintln!("(no datasets yet: `lakehouse ingest FILE --name NAME` makes one)");
    }
    Ok(())
}
