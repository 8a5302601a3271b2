//! `lakehouse`: one binary for every deployment (docs/architecture.md). This crate parses the command
//! line and wires services together; what the services do lives in their crates.

mod cli;
mod config;
mod serve;
mod services;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "lakehouse",
    version,
    about = "A self-hosted lakehouse: CSV in, Parquet datasets, SQL and vector search out.",
    after_help = "Examples:\n  lakehouse serve                                # everything in one process, data in ./lakehouse-data\n  lakehouse ingest sales.csv --name sales        # a CSV as a dataset\n  lakehouse sql 'SELECT count(*) FROM sales'\n  lakehouse vectors create docs --dim 384\n  lakehouse storage ls\n\nClient commands reach the server at --server (LAKEHOUSE_SERVER, default http://127.0.0.1:3110)\nwith --api-key (LAKEHOUSE_API_KEY). Exit codes: 0 ok, 1 the request failed, 2 bad usage."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: every service in one process (standalone, the default), or the
    /// roles named by --services (split deployment).
    Serve(serve::ServeArgs),
    /// Upload a CSV (or .csv.gz, or .parquet) as a new version of a dataset, with progress.
    #[command(
        after_help = "Examples:\n  lakehouse ingest sales.csv --name sales\n  lakehouse ingest more.csv.gz --name sales --mode append\n  lakehouse ingest prices.csv --name prices --schema 'sku:utf8,price:float64'"
    )]
    Ingest(cli::ingest::IngestArgs),
    /// The datasets: list them (the default), show one, its versions, delete one.
    #[command(
        after_help = "Examples:\n  lakehouse datasets\n  lakehouse datasets show sales\n  lakehouse datasets versions sales\n  lakehouse datasets rm sales"
    )]
    Datasets(cli::datasets::DatasetsArgs),
    /// Run a SQL query; prints an aligned table (or --format csv|json|ndjson).
    #[command(
        after_help = "Examples:\n  lakehouse sql 'SELECT day, count(*) FROM sales GROUP BY day'\n  lakehouse sql --format csv 'SELECT * FROM \"sales@v1\"' > v1.csv"
    )]
    Sql(cli::sql::SqlArgs),
    /// Objects by key: upload, download, list, delete (streamed both ways).
    #[command(
        after_help = "Examples:\n  lakehouse storage put docs/readme.md README.md\n  lakehouse storage get docs/readme.md -o copy.md\n  lakehouse storage ls docs/\n  lakehouse storage rm docs/readme.md"
    )]
    Storage(cli::storage::StorageArgs),
    /// Vector indexes: create, add items from JSON Lines or CSV, search, list, delete.
    #[command(
        after_help = "Examples:\n  lakehouse vectors create docs --dim 3 --metric cosine\n  lakehouse vectors add docs items.jsonl\n  lakehouse vectors search docs --vector '[0.1, 0.2, 0.3]' -k 5\n  lakehouse vectors ls\n  lakehouse vectors rm docs"
    )]
    Vectors(cli::vectors::VectorsArgs),
    /// Print the configuration in effect (defaults, the file, LAKEHOUSE_* overrides), every
    /// key of every section, secrets hidden; or, with --reference, every key's default and
    /// doc line (docs/configuration.md).
    Config {
        /// lakehouse.toml to load (the Go system's file loads unchanged).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print the Markdown reference of every key instead.
        #[arg(long, conflicts_with = "config")]
        reference: bool,
    },
}

/// Exit code for a configuration or usage error.
pub const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    cap_malloc_arenas();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Ingest(args) => cli::run(cli::ingest::run(args)),
        Command::Datasets(args) => cli::run(cli::datasets::run(args)),
        Command::Sql(args) => cli::run(cli::sql::run(args)),
        Command::Storage(args) => cli::run(cli::storage::run(args)),
        Command::Vectors(args) => cli::run(cli::vectors::run(args)),
        Command::Config {
            reference: true, ..
        } => {
            print!("{}", config::declared().reference());
            ExitCode::SUCCESS
        }
        Command::Config { config, .. } => {
            match serve::load_config(config.as_deref(), &Default::default()) {
                Ok((config, report)) => {
                    print!("{}", config.describe(&report.effective));
                    ExitCode::SUCCESS
                }
                Err(code) => code,
            }
        }
    }
}

/// Caps glibc's malloc arenas at the number of cores (glibc's default is 8 × cores).
///
/// Each thread that allocates gets an arena, and memory freed into one arena is not reused
/// by the others, so a server whose busy threads change from request to request (an
/// ingest's encoder threads) saw its RSS climb ingest after ingest: 177 → 317 MiB over four
/// 1 GiB ingests in one process, against 164 → 189 MiB capped (decision 003).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn cap_malloc_arenas() {
    let cores = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2);
    let cores = i32::try_from(cores).unwrap_or(i32::MAX);
    // SAFETY: mallopt only sets an allocator parameter; it is called before any other
    // thread exists, as glibc recommends.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, cores);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn cap_malloc_arenas() {}
