//! `lakehouse storage put|get|ls|rm`: objects by key through `/v1/storage`, streamed both
//! ways (a file of any size goes up and comes down without being held in memory).
//!
//! The client is storaged's own [`StoreClient`], so keys are checked with the server's rules
//! before anything is sent (a bad key is exit 2) and errors read as the server's.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use futures::{StreamExt, TryStreamExt};
use storaged::{KeyPrefix, ObjectKey, PutMode, Store, StoreClient, StoreError};
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

use super::{Failure, Remote, align, human_bytes, print_json};

#[derive(Args, Debug)]
pub struct StorageArgs {
    #[command(subcommand)]
    command: StorageCommand,
}

#[derive(Subcommand, Debug)]
enum StorageCommand {
    /// Upload FILE (or standard input: `-`) under KEY, replacing any object there.
    #[command(
        after_help = "Examples:\n  lakehouse storage put reports/2026/q3.pdf q3.pdf\n  tar c dir | lakehouse storage put backups/dir.tar -\n  lakehouse storage put raw/a.csv a.csv --if-absent"
    )]
    Put {
        key: String,
        file: PathBuf,
        /// Only if no object has this key yet (412 otherwise).
        #[arg(long)]
        if_absent: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Download KEY to standard output, or to --output FILE.
    #[command(
        after_help = "Examples:\n  lakehouse storage get reports/2026/q3.pdf -o q3.pdf\n  lakehouse storage get raw/a.csv | head"
    )]
    Get {
        key: String,
        /// Write here instead of standard output (replaced only once the download is whole).
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        remote: Remote,
    },
    /// List the objects whose key starts with PREFIX (every object without it).
    #[command(
        after_help = "Examples:\n  lakehouse storage ls\n  lakehouse storage ls reports/ --json"
    )]
    Ls {
        prefix: Option<String>,
        /// Print the listing as JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Delete KEY (deleting a missing key succeeds).
    #[command(after_help = "Example:\n  lakehouse storage rm reports/2026/q3.pdf")]
    Rm {
        key: String,
        #[command(flatten)]
        remote: Remote,
    },
}

fn client(remote: &Remote) -> StoreClient {
    StoreClient::new(&remote.server).with_api_key(remote.api_key.as_deref())
}

fn key(text: &str) -> Result<ObjectKey, Failure> {
    ObjectKey::parse(text).map_err(|e| Failure::Usage(e.to_string()))
}

/// A store error as the command's failure (an unreachable server is named in it).
fn failed(e: StoreError) -> Failure {
    Failure::Request(e.to_string())
}

pub async fn run(args: StorageArgs) -> Result<(), Failure> {
    match args.command {
        StorageCommand::Put {
            key: k,
            file,
            if_absent,
            remote,
        } => {
            let key = key(&k)?;
            let body: storaged::ByteStream = if file.as_os_str() == "-" {
                ReaderStream::new(tokio::io::stdin())
                    .map_err(|e| StoreError::BadRequest(format!("reading standard input: {e}")))
                    .boxed()
            } else {
                let f = tokio::fs::File::open(&file)
                    .await
                    .map_err(|e| Failure::Usage(format!("{}: {e}", file.display())))?;
                let name = file.display().to_string();
                ReaderStream::with_capacity(f, 256 << 10)
                    .map_err(move |e| StoreError::BadRequest(format!("reading {name}: {e}")))
                    .boxed()
            };
            let store = client(&remote);
            let mode = if if_absent {
                // The server refuses an existing key before reading the body and closes the
                // connection, which a client still sending can see as a broken pipe instead
                // of the answer: ask first (the PUT's condition still decides a race).
                match store.head(&key).await {
                    Ok(_) => {
                        return Err(Failure::Request(format!(
                            "object {key} already exists (--if-absent)"
                        )));
                    }
                    Err(StoreError::NotFound { .. }) => {}
                    Err(e) => return Err(failed(e)),
                }
                PutMode::Create
            } else {
                PutMode::Overwrite
            };
            let meta = store.put(&key, body, mode).await.map_err(failed)?;
            eprintln!("stored {} ({})", meta.key, human_bytes(meta.size));
            Ok(())
        }
        StorageCommand::Get {
            key: k,
            output,
            remote,
        } => {
            let key = key(&k)?;
            let object = client(&remote).get(&key).await.map_err(failed)?;
            match output {
                Some(path) => download(object, &path).await,
                None => {
                    let mut out = tokio::io::stdout();
                    copy(object.body, &mut out).await?;
                    out.flush()
                        .await
                        .map_err(|e| Failure::Request(format!("writing standard output: {e}")))
                }
            }
        }
        StorageCommand::Ls {
            prefix,
            json,
            remote,
        } => {
            let prefix = KeyPrefix::parse(prefix.as_deref().unwrap_or(""))
                .map_err(|e| Failure::Usage(e.to_string()))?;
            let objects = client(&remote).list(&prefix).await.map_err(failed)?;
            if json {
                print_json(&serde_json::json!({ "keys": objects }));
                return Ok(());
            }
            let mut table = vec![["KEY", "SIZE", "MODIFIED"].map(String::from).to_vec()];
            for o in &objects {
                table.push(vec![
                    o.key.clone(),
                    human_bytes(o.size),
                    o.last_modified.format("%Y-%m-%d %H:%M:%S").to_string(),
                ]);
            }
            print!("{}", align(&table, &[false, true, false]));
            if objects.is_empty() {
                eprintln!("(no objects under {:?})", prefix.as_str());
            }
            Ok(())
        }
        StorageCommand::Rm { key: k, remote } => {
            let key = key(&k)?;
            client(&remote).delete(&key).await.map_err(failed)?;
            eprintln!("deleted {key}");
            Ok(())
        }
    }
}

async fn copy(
    mut body: storaged::ByteStream,
    out: &mut (impl tokio::io::AsyncWrite + Unpin),
) -> Result<(), Failure> {
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Failure::Request(e.to_string()))?;
        out.write_all(&chunk)
            .await
            .map_err(|e| Failure::Request(format!("writing: {e}")))?;
    }
    Ok(())
}

/// Writes the object next to `path`, then renames it into place: a download that fails
/// leaves no partial file, and never clobbers what was there.
async fn download(object: storaged::GetObject, path: &std::path::Path) -> Result<(), Failure> {
    let storaged::GetObject { meta, body } = object;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".into());
    let partial = path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let result = async {
        let mut file = tokio::fs::File::create(&partial)
            .await
            .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
        copy(body, &mut file).await?;
        file.sync_all()
            .await
            .map_err(|e| Failure::Request(format!("{}: {e}", path.display())))?;
        tokio::fs::rename(&partial, path)
            .await
            .map_err(|e| Failure::Request(format!("{}: {e}", path.display())))
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&partial).await;
    } else {
        eprintln!("wrote {} ({})", path.display(), human_bytes(meta.size));
    }
    result
}
