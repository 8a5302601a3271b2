//! `lakehouse vectors create|add|search|ls|info|rm`: vector indexes through `/v1/vectors`.
//!
//! `add` streams a JSON Lines or CSV file (see [`input`]) in batches of `--batch` items
//! (and at most [`MAX_BATCH_BYTES`] of JSON), one request in flight while the next batch is
//! read, with a progress bar. Each batch is checked with the server's own rules before it
//! is sent, so a bad line stops the command with its line number (exit 2) and nothing of
//! its batch is sent; batches before it were added. Adds replace by id, so running the
//! command again once the line is fixed is safe.

mod input;

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead};

use self::input::{Batch, Format};
use reqwest::Method;

use super::{Api, Failure, Remote, align, human_bytes, print_json, segment};

/// The most JSON one add request carries (the server takes up to 64 MiB).
const MAX_BATCH_BYTES: usize = 16 << 20;

#[derive(Args, Debug)]
pub struct VectorsArgs {
    #[command(subcommand)]
    command: VectorsCommand,
}

#[derive(Subcommand, Debug)]
enum VectorsCommand {
    /// Create an empty index.
    #[command(after_help = "Example:\n  lakehouse vectors create docs --dim 384 --metric cosine")]
    Create(CreateArgs),
    /// Add items (replacing any with the same id) from a JSON Lines or CSV file, with progress.
    #[command(after_help = "\
File formats:
  JSON Lines  one item per line: {\"id\": \"a1\", \"vector\": [0.1, 0.2, 0.3], \"metadata\": {\"lang\": \"en\"}}
              (metadata optional)
  CSV         id,x1,x2,...          one column per value, e.g. a1,0.1,0.2,0.3
              id,vector[,metadata]  the vector (and metadata) as JSON in quoted fields,
                                    e.g. a1,\"[0.1,0.2,0.3]\",\"{\"\"lang\"\":\"\"en\"\"}\"
              A first line whose second field is not a number or a JSON array is a header.
              One record per line; double quotes as in RFC 4180.
The format comes from the extension (.jsonl/.ndjson/.json, .csv), else from the first line.
A repeated id replaces the earlier line's item, as adding the lines one by one would.

Examples:
  lakehouse vectors add docs embeddings.jsonl
  lakehouse vectors add docs vectors.csv --batch 5000
  producer | lakehouse vectors add docs - --format jsonl")]
    Add(AddArgs),
    /// The nearest items to a vector: id, distance, metadata.
    #[command(
        after_help = "Examples:\n  lakehouse vectors search docs --vector '[0.1, 0.2, 0.3]' -k 5\n  lakehouse vectors search docs --vector 0.1,0.2,0.3 --filter '{\"lang\": \"en\", \"year\": {\"$gte\": 2020}}'"
    )]
    Search(SearchArgs),
    /// List the indexes: name, dim, metric, count.
    Ls(LsArgs),
    /// One index's parameters, size and creation time.
    Info(InfoArgs),
    /// Delete an index and its files, or (with --item) one item of it.
    Rm(RmArgs),
}

#[derive(Args, Debug)]
struct CreateArgs {
    /// Index name: a letter or `_`, then letters, digits, `_` (at most 63).
    name: String,
    /// Dimension of every vector (1 to 16384).
    #[arg(long)]
    dim: usize,
    /// How vectors are compared.
    #[arg(long, default_value = "cosine", value_parser = ["cosine", "l2", "dot"])]
    metric: String,
    /// Links per node (2 to 128; more: better recall, more memory).
    #[arg(long)]
    m: Option<usize>,
    /// Candidates considered when linking a new item (1 to 10000; more: better graph, slower adds).
    #[arg(long)]
    ef_construction: Option<usize>,
    /// Print the answer as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Args, Debug)]
struct AddArgs {
    /// The index.
    name: String,
    /// JSON Lines or CSV; `-` reads standard input.
    file: PathBuf,
    /// The file's format (default: from the extension, else from the first line).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Items per request.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch: u32,
    /// Check every line against the index and send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the totals as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Args, Debug)]
struct SearchArgs {
    /// The index.
    name: String,
    /// The query: a JSON array (`'[0.1, 0.2]'`) or comma-separated numbers.
    #[arg(long, allow_hyphen_values = true)]
    vector: String,
    /// How many results (1 to 10000).
    #[arg(short, long, default_value_t = 10)]
    k: usize,
    /// Search beam width (default: the larger of k and 64; more: better recall, slower).
    #[arg(long)]
    ef: Option<usize>,
    /// Only items whose metadata meets these conditions (a JSON object: equality,
    /// `{"year": {"$gte": 2020}}`, `$in`, `$ne`, `$or`, ...; see docs/api.md).
    #[arg(long)]
    filter: Option<String>,
    /// Print the answer as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Args, Debug)]
struct LsArgs {
    /// Print the answer as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Args, Debug)]
struct InfoArgs {
    /// The index.
    name: String,
    /// Print the answer as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Args, Debug)]
struct RmArgs {
    /// The index.
    name: String,
    /// Delete only this item (by id).
    #[arg(long)]
    item: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

pub async fn run(args: VectorsArgs) -> Result<(), Failure> {
    match args.command {
        VectorsCommand::Create(a) => create(a).await,
        VectorsCommand::Add(a) => add(a).await,
        VectorsCommand::Search(a) => search(a).await,
        VectorsCommand::Ls(a) => ls(a).await,
        VectorsCommand::Info(a) => info(a).await,
        VectorsCommand::Rm(a) => rm(a).await,
    }
}

/// `/v1/vectors/{segments...}`, each segment percent-encoded.
fn path(segments: &[&str]) -> String {
    let mut path = "/v1/vectors".to_string();
    for s in segments {
        path.push('/');
        path.push_str(&segment(s));
    }
    path
}

fn checked_name(name: &str) -> Result<&str, Failure> {
    name.parse::<vectord::IndexName>()
        .map_err(|e| Failure::Usage(e.to_string()))?;
    Ok(name)
}

fn parse_json_arg(flag: &str, text: &str) -> Result<Value, Failure> {
    serde_json::from_str(text).map_err(|e| Failure::Usage(format!("{flag}: not JSON: {e}")))
}

async fn create(args: CreateArgs) -> Result<(), Failure> {
    let remote = &args.remote;
    let name = checked_name(&args.name)?;
    let mut body = json!({"name": name, "dim": args.dim, "metric": args.metric});
    if let Some(m) = args.m {
        body["m"] = m.into();
    }
    if let Some(ef) = args.ef_construction {
        body["ef_construction"] = ef.into();
    }
    let api = remote.api();
    let info = api
        .json(api.request(Method::POST, &path(&[])).json(&body))
        .await?;
    if args.json {
        print_json(&info);
        return Ok(());
    }
    println!(
        "created index {name}: dim {}, metric {}, m {}, ef_construction {}",
        info["dim"],
        info["metric"].as_str().unwrap_or("?"),
        info["m"],
        info["ef_construction"]
    );
    Ok(())
}

async fn search(args: SearchArgs) -> Result<(), Failure> {
    let remote = &args.remote;
    let name = checked_name(&args.name)?;
    let text = args.vector.trim();
    let vector = if text.starts_with('[') {
        parse_json_arg("--vector", text)?
    } else {
        parse_json_arg("--vector", &format!("[{text}]"))?
    };
    if !vector
        .as_array()
        .is_some_and(|v| !v.is_empty() && v.iter().all(Value::is_number))
    {
        return Err(Failure::Usage(
            "--vector: expected numbers, as a JSON array or separated by commas".into(),
        ));
    }
    let mut body = json!({"vector": vector, "k": args.k});
    if let Some(ef) = args.ef {
        body["ef"] = ef.into();
    }
    if let Some(filter) = &args.filter {
        let filter = parse_json_arg("--filter", filter)?;
        if !filter.is_object() {
            return Err(Failure::Usage(
                "--filter: expected a JSON object, e.g. '{\"lang\": \"en\"}'".into(),
            ));
        }
        body["filter"] = filter;
    }
    let api = remote.api();
    let request = api
        .request(Method::POST, &path(&[name, "search"]))
        .json(&body);
    let answer = api.json(request).await?;
    if args.json {
        print_json(&answer);
        return Ok(());
    }
    let results = answer["results"].as_array().cloned().unwrap_or_default();
    let mut table = vec![["ID", "DISTANCE", "METADATA"].map(String::from).to_vec()];
    for hit in &results {
        table.push(vec![
            hit["id"].as_str().unwrap_or("?").to_string(),
            hit["distance"].to_string(),
            match &hit["metadata"] {
                Value::Null => String::new(),
                metadata => metadata.to_string(),
            },
        ]);
    }
    print!("{}", align(&table, &[false, true, false]));
    let n = results.len();
    eprintln!("({n} result{})", if n == 1 { "" } else { "s" });
    Ok(())
}

async fn ls(args: LsArgs) -> Result<(), Failure> {
    let remote = &args.remote;
    let api = remote.api();
    let body = api.json(api.request(Method::GET, &path(&[]))).await?;
    if args.json {
        print_json(&body);
        return Ok(());
    }
    let indexes = body["indexes"].as_array().cloned().unwrap_or_default();
    let mut table = vec![
        ["NAME", "DIM", "METRIC", "COUNT"]
            .map(String::from)
            .to_vec(),
    ];
    for index in &indexes {
        table.push(vec![
            index["name"].as_str().unwrap_or("?").to_string(),
            index["dim"].to_string(),
            index["metric"].as_str().unwrap_or("?").to_string(),
            index["count"].to_string(),
        ]);
    }
    print!("{}", align(&table, &[false, true, false, true]));
    if indexes.is_empty() {
        eprintln!("(no vector indexes yet: `lakehouse vectors create NAME --dim N` makes one)");
    }
    Ok(())
}

async fn info(args: InfoArgs) -> Result<(), Failure> {
    let remote = &args.remote;
    let name = checked_name(&args.name)?;
    let api = remote.api();
    let info = api.json(api.request(Method::GET, &path(&[name]))).await?;
    if args.json {
        print_json(&info);
        return Ok(());
    }
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut table: Vec<Vec<String>> = [
        "name",
        "dim",
        "metric",
        "m",
        "ef_construction",
        "count",
        "nodes",
    ]
    .iter()
    .map(|k| vec![k.to_string(), text(&info[*k])])
    .collect();
    table.push(vec![
        "memory".into(),
        human_bytes(info["memory_bytes"].as_u64().unwrap_or(0)),
    ]);
    table.push(vec!["created_at".into(), text(&info["created_at"])]);
    print!("{}", align(&table, &[]));
    Ok(())
}

async fn rm(args: RmArgs) -> Result<(), Failure> {
    let api = args.remote.api();
    let name = checked_name(&args.name)?;
    match &args.item {
        Some(id) => {
            if matches!(id.as_str(), "" | "." | "..") {
                // URL paths resolve `.` and `..` away: such an id cannot be named in one.
                return Err(Failure::Usage(format!(
                    "--item {id:?}: this id cannot be named in a URL path"
                )));
            }
            let request = api.request(Method::DELETE, &path(&[name, "items", id]));
            api.send(request).await?;
            println!("deleted item {id:?} of index {name}");
        }
        None => {
            api.send(api.request(Method::DELETE, &path(&[name])))
                .await?;
            println!("deleted index {name}");
        }
    }
    Ok(())
}

/// The index's parameters, as the server reports them (to check lines before sending).
async fn index_params(api: &Api, name: &str) -> Result<vectord::IndexParams, Failure> {
    let info = api.json(api.request(Method::GET, &path(&[name]))).await?;
    let number = |k: &str| info[k].as_u64().map(|n| n as usize);
    let metric = serde_json::from_value(info["metric"].clone()).ok();
    match (
        number("dim"),
        metric,
        number("m"),
        number("ef_construction"),
    ) {
        (Some(dim), Some(metric), Some(m), Some(ef)) => {
            vectord::IndexParams::new(dim, metric, m, ef).map_err(Failure::Request)
        }
        _ => Err(Failure::Request(format!(
            "unexpected answer for index {name}: {info}"
        ))),
    }
}

/// A batch on its way: the request, and the lines it holds.
struct InFlight {
    task: tokio::task::JoinHandle<Result<Value, Failure>>,
    batch: Batch,
    first_line: u64,
    last_line: u64,
}

/// What has been acknowledged so far.
#[derive(Default)]
struct Totals {
    added: u64,
    count: u64,
    /// Every line up to this one was added (or blank).
    through_line: u64,
}

impl Totals {
    fn so_far(&self) -> String {
        match self.added {
            0 => "nothing was added".into(),
            n => format!(
                "{n} items up to line {} were added before it (adds replace by id: \
                 running the command again once fixed is safe)",
                self.through_line
            ),
        }
    }
}

async fn add(args: AddArgs) -> Result<(), Failure> {
    let remote = &args.remote;
    let name = checked_name(&args.name)?.to_string();
    let api = remote.api();
    let params = index_params(&api, &name).await?;
    let shown = if args.file.as_os_str() == "-" {
        "standard input".to_string()
    } else {
        args.file.display().to_string()
    };
    let (reader, size) = open_input(&args.file).await?;
    let mut lines = tokio::io::BufReader::with_capacity(256 << 10, reader);
    let progress = progress_bar(size);
    let add_path = path(&[&name, "add"]);
    let started = Instant::now();
    let mut format = args.format;
    let mut totals = Totals::default();
    let mut inflight: Option<InFlight> = None;
    let mut batch = Batch::default();
    let mut batch_first = 0;
    let (mut line_no, mut items, mut seen_first) = (0u64, 0u64, false);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = lines
            .read_until(b'\n', &mut buf)
            .await
            .map_err(|e| Failure::Usage(format!("{shown}: {e}")))?;
        let at_end = n == 0;
        if !at_end {
            line_no += 1;
            progress.inc(n as u64);
            let bad = |reason: String, totals: &Totals| {
                Failure::Usage(format!(
                    "{shown} line {line_no}: {reason}; {}",
                    totals.so_far()
                ))
            };
            let Ok(text) = std::str::from_utf8(&buf) else {
                settle(&mut inflight, &mut totals).await?;
                return Err(bad("not UTF-8 text".into(), &totals));
            };
            if text.trim().is_empty() {
                continue;
            }
            let format = *format.get_or_insert_with(|| Format::guess(&shown, text));
            match input::parse_line(format, text, !seen_first) {
                Ok(Some(parsed)) => {
                    if batch.is_empty() {
                        batch_first = line_no;
                    }
                    batch.push(line_no, parsed);
                    items += 1;
                }
                Ok(None) => {}
                Err(reason) => {
                    settle(&mut inflight, &mut totals).await?;
                    return Err(bad(reason, &totals));
                }
            }
            seen_first = true;
            if batch.len() < args.batch as usize && batch.bytes() < MAX_BATCH_BYTES {
                continue;
            }
        }
        if !batch.is_empty() {
            if let Err((line, reason)) = batch.check(&params) {
                settle(&mut inflight, &mut totals).await?;
                let at = line.map_or(String::new(), |l| format!(" line {l}"));
                return Err(Failure::Usage(format!(
                    "{shown}{at}: {reason}; {}",
                    totals.so_far()
                )));
            }
            let full = std::mem::take(&mut batch);
            if args.dry_run {
                totals.added += full.len() as u64;
            } else {
                settle(&mut inflight, &mut totals).await?;
                let request = api
                    .request(Method::POST, &add_path)
                    .header("content-type", "application/json")
                    .body(full.body());
                let api = api.clone();
                inflight = Some(InFlight {
                    task: tokio::spawn(async move { api.json(request).await }),
                    batch: full,
                    first_line: batch_first,
                    last_line: line_no,
                });
            }
            progress.set_message(format!("{items} items"));
        }
        if at_end {
            break;
        }
    }
    settle(&mut inflight, &mut totals).await?;
    progress.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    if args.json && args.dry_run {
        print_json(&json!({"checked": totals.added, "lines": line_no}));
    } else if args.json {
        print_json(&json!({"added": totals.added, "count": totals.count, "lines": line_no}));
    } else if args.dry_run {
        println!(
            "{shown}: {items} items on {line_no} lines fit index {name}; nothing was sent (--dry-run)"
        );
    } else if items == 0 {
        eprintln!("(no items in {shown})");
    } else {
        println!(
            "{name}: added {} items from {shown} ({line_no} lines) in {seconds:.1} s ({:.0} items/s); the index holds {}",
            totals.added,
            totals.added as f64 / seconds.max(1e-3),
            totals.count
        );
    }
    Ok(())
}

/// Waits for the batch in flight, if any, and adds it to the totals; a refused batch is the
/// failure, naming its lines (and the line of the item the server names).
async fn settle(inflight: &mut Option<InFlight>, totals: &mut Totals) -> Result<(), Failure> {
    let Some(sent) = inflight.take() else {
        return Ok(());
    };
    let answer = match sent.task.await {
        Ok(answer) => answer,
        Err(e) => Err(Failure::Request(format!("sending a batch failed: {e}"))),
    };
    match answer {
        Ok(body) => {
            totals.added += body["added"].as_u64().unwrap_or(0);
            totals.count = body["count"].as_u64().unwrap_or(totals.count);
            totals.through_line = sent.last_line;
            Ok(())
        }
        Err(Failure::Request(message)) | Err(Failure::Usage(message)) => {
            // "item 12 (id ...): ..." names a position in the request.
            let position: Option<usize> = message
                .strip_prefix("item ")
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok());
            let at = position
                .and_then(|i| Some(format!(" (item {i} is line {})", sent.batch.line_of(i)?)))
                .unwrap_or_default();
            Err(Failure::Request(format!(
                "lines {}–{} were not added: {message}{at}; {}",
                sent.first_line,
                sent.last_line,
                totals.so_far()
            )))
        }
    }
}

async fn open_input(
    file: &Path,
) -> Result<(Box<dyn AsyncRead + Send + Unpin>, Option<u64>), Failure> {
    if file.as_os_str() == "-" {
        return Ok((Box::new(tokio::io::stdin()), None));
    }
    let opened = tokio::fs::File::open(file)
        .await
        .map_err(|e| Failure::Usage(format!("{}: {e}", file.display())))?;
    let size = opened
        .metadata()
        .await
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    Ok((Box::new(opened), size))
}

fn progress_bar(size: Option<u64>) -> ProgressBar {
    let bar = match size {
        Some(size) => ProgressBar::new(size).with_style(
            ProgressStyle::with_template(
                "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {bytes} {binary_bytes_per_sec}  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    // Drawn on stderr only when it is a terminal, so scripts see just the result line.
    bar.set_draw_target(ProgressDrawTarget::stderr());
    bar
}
