//! `lakehouse datasets [ls|show|versions|register|rm]`: the catalog — the datasets as a
//! table (the default), one dataset's manifest, its kept versions, registering a Delta table
//! another tool wrote, deleting one.

use clap::{Args, Subcommand};
use serde_json::Value;

use reqwest::Method;

use super::{Failure, Remote, align, human_bytes, print_json, segment};

#[derive(Args, Debug)]
pub struct DatasetsArgs {
    #[command(subcommand)]
    command: Option<DatasetsCommand>,
    #[command(flatten)]
    remote: Remote,
    /// Print the manifests as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum DatasetsCommand {
    /// List the datasets: name, version, rows, size, last update (the default).
    Ls {
        /// Print the manifests as JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// One dataset: its current version, rows, size, columns and files.
    #[command(
        after_help = "Examples:\n  lakehouse datasets show sales\n  lakehouse datasets show sales --json"
    )]
    Show {
        name: String,
        /// Print the manifest as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// A dataset's kept versions, newest first (query one as "name@vN").
    #[command(after_help = "Example:\n  lakehouse datasets versions sales")]
    Versions {
        name: String,
        /// Print the versions as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Register the Delta table at a path in the store as a dataset (an external table).
    #[command(
        after_help = "The location is the table's path in the store (the directory holding \
its _delta_log/), outside datasets/.\n\nExample:\n  lakehouse datasets register trips external/trips"
    )]
    Register {
        name: String,
        location: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Delete a dataset: every version's manifest and data files (an external table is only
    /// unregistered; its files stay).
    #[command(after_help = "Example:\n  lakehouse datasets rm sales")]
    Rm {
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
}

pub async fn run(args: DatasetsArgs) -> Result<(), Failure> {
    match args.command {
        None => list(&args.remote, args.json).await,
        Some(DatasetsCommand::Ls { json, remote }) => list(&remote, json).await,
        Some(DatasetsCommand::Show { name, json, remote }) => {
            let m = get(&remote, &format!("/v1/datasets/{}", segment(&name))).await?;
            if json {
                print_json(&m);
                return Ok(());
            }
            println!(
                "{}  version {}  {} rows  {}  {}",
                m["name"].as_str().unwrap_or(&name),
                m["version"],
                m["rows"],
                human_bytes(m["bytes"].as_u64().unwrap_or(0)),
                when(&m["created_at"])
            );
            if let Some(location) = m["location"].as_str() {
                println!("external table at {location}");
            }
            if let Some(partitions) = m["partition_by"].as_array() {
                let names: Vec<&str> = partitions.iter().filter_map(Value::as_str).collect();
                println!("partitioned by {}", names.join(", "));
            }
            if let Some(reason) = m["read_only"].as_str() {
                println!("read-only: {reason}");
            }
            let fields = m["schema"]["fields"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let mut table = vec![["COLUMN", "TYPE", "NULLABLE"].map(String::from).to_vec()];
            for f in &fields {
                table.push(vec![
                    f["name"].as_str().unwrap_or("?").to_string(),
                    f["type"].as_str().unwrap_or("?").to_string(),
                    if f["nullable"].as_bool().unwrap_or(true) {
                        "yes"
                    } else {
                        "no"
                    }
                    .into(),
                ]);
            }
            print!("\n{}", align(&table, &[false, false, false]));
            let files = m["files"].as_array().cloned().unwrap_or_default();
            let mut table = vec![["FILE", "ROWS", "SIZE"].map(String::from).to_vec()];
            for f in &files {
                table.push(vec![
                    f["key"].as_str().unwrap_or("?").to_string(),
                    f["rows"].to_string(),
                    human_bytes(f["bytes"].as_u64().unwrap_or(0)),
                ]);
            }
            print!("\n{}", align(&table, &[false, true, true]));
            Ok(())
        }
        Some(DatasetsCommand::Versions { name, json, remote }) => {
            let body = get(
                &remote,
                &format!("/v1/datasets/{}/versions", segment(&name)),
            )
            .await?;
            if json {
                print_json(&body);
                return Ok(());
            }
            let mut table = vec![
                ["VERSION", "MODE", "ROWS", "SIZE", "CREATED"]
                    .map(String::from)
                    .to_vec(),
            ];
            for v in body["versions"].as_array().cloned().unwrap_or_default() {
                table.push(vec![
                    v["version"].to_string(),
                    v["mode"].as_str().unwrap_or("?").to_string(),
                    v["rows"].to_string(),
                    human_bytes(v["bytes"].as_u64().unwrap_or(0)),
                    when(&v["created_at"]),
                ]);
            }
            print!("{}", align(&table, &[true, false, true, true, false]));
            Ok(())
        }
        Some(DatasetsCommand::Register {
            name,
            location,
            remote,
        }) => {
            let api = remote.api();
            let request = api
                .request(Method::POST, "/v1/datasets")
                .json(&serde_json::json!({"name": name, "location": location}));
            let m = api.json(request).await?;
            eprintln!(
                "registered the Delta table at {} as dataset {name}: version {}, {} rows",
                m["location"].as_str().unwrap_or(&location),
                m["version"],
                m["rows"]
            );
            if let Some(reason) = m["read_only"].as_str() {
                eprintln!("read-only: {reason}");
            }
            Ok(())
        }
        Some(DatasetsCommand::Rm { name, remote }) => {
            let api = remote.api();
            let path = format!("/v1/datasets/{}", segment(&name));
            api.send(api.request(Method::DELETE, &path)).await?;
            eprintln!("deleted dataset {name}");
            Ok(())
        }
    }
}

async fn list(remote: &Remote, json: bool) -> Result<(), Failure> {
    let body = get(remote, "/v1/datasets").await?;
    if json {
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
            when(&d["created_at"]),
        ]);
    }
    print!("{}", align(&table, &[false, true, true, true, false]));
    if datasets.is_empty() {
        eprintln!("(no datasets yet: `lakehouse ingest FILE --name NAME` makes one)");
    }
    Ok(())
}

async fn get(remote: &Remote, path: &str) -> Result<Value, Failure> {
    let api = remote.api();
    api.json(api.request(Method::GET, path)).await
}

/// `2026-11-26T07:09:48.89Z` → `2026-11-26 07:09:48`.
fn when(v: &Value) -> String {
    v.as_str()
        .unwrap_or("")
        .chars()
        .take(19)
        .collect::<String>()
        .replace('T', " ")
}
