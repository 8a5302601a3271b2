//! `lakehouse ingest FILE --name N`: streams a CSV (or `.csv.gz`, or `.parquet`) to
//! `POST /v1/ingest/{name}` with a progress bar (bytes sent, rate, ETA), then prints the
//! new version. The file is never read whole into memory.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::io::ReaderStream;

use reqwest::Method;

use super::{Failure, Remote, human_bytes, print_json, segment};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    Create,
    Overwrite,
    Append,
}

#[derive(Args, Debug)]
pub struct IngestArgs {
    /// The CSV file (`.gz` is sent gzip-encoded, `.parquet` as Parquet; `-` reads stdin).
    file: PathBuf,
    /// Dataset name (a SQL identifier: letters, digits, `_`).
    #[arg(long)]
    name: String,
    /// create fails if the dataset exists; overwrite makes a new version with only this
    /// file; append adds this file's rows as a new version.
    #[arg(long, value_enum, default_value = "create")]
    mode: Mode,
    /// Field delimiter (default: sniffed among , ; tab |).
    #[arg(long)]
    delimiter: Option<String>,
    /// Whether the first line is a header (default: sniffed).
    #[arg(long)]
    header: Option<bool>,
    /// A text that means null, besides an empty field.
    #[arg(long)]
    null: Option<String>,
    /// Column types, `name:type,...` (int64, float64, boolean, date, timestamp, utf8,
    /// vector(N)).
    #[arg(long)]
    schema: Option<String>,
    /// On a value that breaks a column's inferred type, widen the column and restart
    /// instead of failing.
    #[arg(long)]
    widen: bool,
    /// With --mode append: add the file's columns the dataset lacks (after its own,
    /// nullable) instead of refusing them.
    #[arg(long)]
    evolve: bool,
    /// With --mode create (or overwrite): partition the table by these columns,
    /// `col[,col]` (int64, date, boolean or utf8).
    #[arg(long)]
    partition_by: Option<String>,
    /// Makes a retry safe: a key the dataset already committed answers that result.
    #[arg(long)]
    idempotency_key: Option<String>,
    /// Print the resulting manifest as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: Remote,
}

pub async fn run(args: IngestArgs) -> Result<(), Failure> {
    let remote = &args.remote;
    let name: catalogd::DatasetName = args
        .name
        .parse()
        .map_err(|e| Failure::Usage(format!("--name: {e}")))?;
    let mut query = vec![("mode", format!("{:?}", args.mode).to_lowercase())];
    for (key, value) in [
        ("delimiter", args.delimiter.clone()),
        ("header", args.header.map(|h| h.to_string())),
        ("null", args.null.clone()),
        ("schema", args.schema.clone()),
        ("widen", args.widen.then(|| "true".to_string())),
        ("evolve", args.evolve.then(|| "true".to_string())),
        ("partition_by", args.partition_by.clone()),
    ] {
        if let Some(value) = value {
            query.push((key, value));
        }
    }
    let (reader, size): (Box<dyn tokio::io::AsyncRead + Send + Unpin>, Option<u64>) =
        if args.file.as_os_str() == "-" {
            (Box::new(tokio::io::stdin()), None)
        } else {
            let file = tokio::fs::File::open(&args.file)
                .await
                .map_err(|e| Failure::Usage(format!("{}: {e}", args.file.display())))?;
            // A pipe or process substitution has no size worth sending (it reads as 0).
            let size = file
                .metadata()
                .await
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len());
            (Box::new(file), size)
        };
    let progress = progress_bar(size);
    let counter = progress.clone();
    let body = ReaderStream::with_capacity(reader, 256 << 10).inspect(move |chunk| {
        if let Ok(chunk) = chunk {
            counter.inc(chunk.len() as u64);
        }
    });
    let file_name = args.file.to_string_lossy().to_lowercase();
    let api = remote.api();
    let path = format!("/v1/ingest/{}", segment(name.as_str()));
    let mut request = api.request(Method::POST, &path).query(&query);
    if file_name.ends_with(".parquet") {
        request = request.header("content-type", "application/vnd.apache.parquet");
    } else {
        request = request.header("content-type", "text/csv");
        if file_name.ends_with(".gz") {
            request = request.header("content-encoding", "gzip");
        }
    }
    if let Some(size) = size {
        request = request.header("content-length", size);
    }
    if let Some(key) = &args.idempotency_key {
        request = request.header("idempotency-key", key);
    }
    let started = Instant::now();
    let response = api
        .send(request.body(reqwest::Body::wrap_stream(body)))
        .await;
    progress.finish_and_clear();
    let response = response?;
    let status = response.status();
    let manifest = api.body(response).await?;
    if args.json {
        print_json(&manifest);
        return Ok(());
    }
    let seconds = started.elapsed().as_secs_f64();
    let sent = progress.position();
    let what = if status == reqwest::StatusCode::CREATED {
        "created"
    } else {
        "unchanged (same data or same idempotency key)"
    };
    println!(
        "{}: version {} {what}, {} rows, {} Parquet ({} sent in {seconds:.1} s, {}/s)",
        manifest["name"].as_str().unwrap_or(&args.name),
        manifest["version"],
        manifest["rows"],
        human_bytes(manifest["bytes"].as_u64().unwrap_or(0)),
        human_bytes(sent),
        human_bytes((sent as f64 / seconds.max(1e-3)) as u64),
    );
    Ok(())
}

fn progress_bar(size: Option<u64>) -> ProgressBar {
    let bar = match size {
        Some(size) => ProgressBar::new(size).with_style(
            ProgressStyle::with_template(
                "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {bytes} {binary_bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    // Drawn on stderr only when it is a terminal, so scripts see just the result line.
    bar.set_draw_target(ProgressDrawTarget::stderr());
    bar
}
