//! `POST /v1/ingest/{name}` (docs/api.md): parse the request, run the ingest, answer the
//! manifest — 201 when this request made a new version, 200 when an idempotent retry or an
//! identical overwrite answered the existing one.

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use catalogd::{CommitMode, DatasetName};
use futures::TryStreamExt;

use crate::convert::csv::sniff::CsvOptions;
use crate::error::IngestError;
use crate::ingest::{Format, IngestRequest, Ingestor};
use crate::schema::parse_schema_option;

pub const PARQUET_MEDIA_TYPES: [&str; 2] =
    ["application/vnd.apache.parquet", "application/x-parquet"];
const OPTIONS: &str = "mode, delimiter, header, null, schema, widen, evolve, partition_by";

pub fn router(ingestor: Ingestor) -> Router {
    Router::new()
        .route("/v1/ingest/{name}", post(ingest))
        .method_not_allowed_fallback(common::error::method_not_allowed)
        .with_state(ingestor)
}

async fn ingest(
    State(ingestor): State<Ingestor>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IngestError> {
    let name: DatasetName = name.parse()?;
    let request = parse_request(name, query.as_deref().unwrap_or(""), &headers)?;
    let limit = ingestor.max_ingest_bytes();
    // A plain body's wire size is its size; a gzip one is counted as it decodes.
    if let Some(length) = content_length(&headers)
        && limit > 0
        && !request.gzip
        && length > limit
    {
        return Err(IngestError::TooLarge { limit });
    }
    let started = Instant::now();
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let dataset = request.name.clone();
    let outcome = ingestor.ingest(request, stream).await?;
    let m = &outcome.manifest;
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        dataset = %dataset,
        version = m.current.version,
        rows = m.current.rows,
        bytes = m.current.bytes,
        created = outcome.created,
        seconds,
        "ingest done"
    );
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(outcome.manifest.head())).into_response())
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// The query options and headers → an [`IngestRequest`]; anything unknown or malformed is
/// refused by name rather than ignored.
pub fn parse_request(
    name: DatasetName,
    query: &str,
    headers: &HeaderMap,
) -> Result<IngestRequest, IngestError> {
    let bad = |m: String| IngestError::InvalidOption(m);
    let mut mode = CommitMode::Create;
    let mut options = CsvOptions::default();
    let mut evolve = false;
    let mut partition_by: Option<Vec<String>> = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "mode" => {
                mode = match value.as_ref() {
                    "create" => CommitMode::Create,
                    "overwrite" => CommitMode::Overwrite,
                    "append" => CommitMode::Append,
                    other => {
                        return Err(bad(format!(
                            "mode={other:?}: expected create, overwrite or append"
                        )));
                    }
                }
            }
            "delimiter" => options.delimiter = Some(parse_delimiter(&value)?),
            "header" => {
                options.header = Some(match value.as_ref() {
                    "true" | "1" | "yes" => true,
                    "false" | "0" | "no" => false,
                    other => return Err(bad(format!("header={other:?}: expected true or false"))),
                })
            }
            "null" => options.null = Some(value.into_owned()),
            "widen" => {
                options.widen = match value.as_ref() {
                    "true" | "1" | "yes" => true,
                    "false" | "0" | "no" => false,
                    other => return Err(bad(format!("widen={other:?}: expected true or false"))),
                }
            }
            "schema" => options.schema = Some(parse_schema_option(&value).map_err(bad)?),
            "evolve" => {
                evolve = match value.as_ref() {
                    "true" | "1" | "yes" => true,
                    "false" | "0" | "no" => false,
                    other => return Err(bad(format!("evolve={other:?}: expected true or false"))),
                }
            }
            // Empty: no partitions (an overwrite that unpartitions a table).
            "partition_by" if value.trim().is_empty() => partition_by = Some(Vec::new()),
            "partition_by" => {
                let columns: Vec<String> = value.split(',').map(|c| c.trim().to_string()).collect();
                if let Some(empty) = columns.iter().position(String::is_empty) {
                    return Err(bad(format!(
                        "partition_by={value:?}: column {} has no name (expected \
                         partition_by=col[,col])",
                        empty + 1
                    )));
                }
                if let Some(twice) = columns
                    .iter()
                    .enumerate()
                    .find(|(i, c)| columns[..*i].contains(c))
                {
                    return Err(bad(format!(
                        "partition_by={value:?}: column {:?} is named twice",
                        twice.1
                    )));
                }
                partition_by = Some(columns);
            }
            other => {
                return Err(bad(format!(
                    "unknown option {other:?} (options: {OPTIONS})"
                )));
            }
        }
    }
    if evolve && mode != CommitMode::Append {
        return Err(bad(
            "evolve=true applies to mode=append only (create and overwrite take the upload's columns)"
                .into(),
        ));
    }
    let gzip = match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str()) {
        None => false,
        Some(Ok(v)) if v.eq_ignore_ascii_case("gzip") || v.eq_ignore_ascii_case("x-gzip") => true,
        Some(Ok(v)) if v.eq_ignore_ascii_case("identity") => false,
        Some(v) => {
            return Err(bad(format!(
                "Content-Encoding {:?} is not supported (gzip is)",
                v.unwrap_or("?")
            )));
        }
    };
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let format = match media_type {
        Some(t) if PARQUET_MEDIA_TYPES.contains(&t.as_str()) => {
            if gzip {
                return Err(bad(
                    "a Parquet body is already compressed: send it without Content-Encoding".into(),
                ));
            }
            if query.contains("delimiter=")
                || query.contains("header=")
                || query.contains("null=")
                || query.contains("schema=")
            {
                return Err(bad(
                    "delimiter, header, null and schema apply to CSV bodies only".into(),
                ));
            }
            Format::Parquet
        }
        // Common mistakes that would otherwise be read as a strange one-column CSV.
        Some(t) if t.starts_with("multipart/") => {
            return Err(IngestError::UnsupportedMediaType(format!(
                "{t}: send the file itself as the body (curl -T FILE or --data-binary @FILE), \
                 not as a form (curl -F)"
            )));
        }
        Some(t)
            if t == "application/json" || t.ends_with("+json") || t == "application/x-ndjson" =>
        {
            return Err(IngestError::UnsupportedMediaType(format!(
                "{t}: the body must be CSV (text/csv) or Parquet (application/vnd.apache.parquet)"
            )));
        }
        _ => Format::Csv(options),
    };
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let key = v.to_str().ok().filter(|k| !k.is_empty() && k.len() <= 255);
            Some(
                key.ok_or_else(|| {
                    bad("Idempotency-Key must be 1 to 255 visible ASCII characters".into())
                })?
                .to_string(),
            )
        }
    };
    Ok(IngestRequest {
        name,
        mode,
        format,
        gzip,
        idempotency_key,
        evolve,
        partition_by,
    })
}

fn parse_delimiter(value: &str) -> Result<u8, IngestError> {
    let d = match value {
        "tab" | "\\t" => b'\t',
        v if v.len() == 1 => v.as_bytes()[0],
        _ => 0,
    };
    if d == 0 || matches!(d, b'"' | b'\r' | b'\n') || !d.is_ascii() {
        return Err(IngestError::InvalidOption(format!(
            "delimiter={value:?}: expected one ASCII character other than a quote or newline (or \"tab\")"
        )));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str, headers: &[(&str, &str)]) -> Result<IngestRequest, IngestError> {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        parse_request("t".parse().unwrap(), query, &map)
    }

    #[test]
    fn partition_columns_are_named_once_each() {
        let r = parse("partition_by=region,%20day", &[]).unwrap();
        assert_eq!(r.partition_by.unwrap(), ["region", "day"]);
        assert_eq!(parse("", &[]).unwrap().partition_by, None);
        assert_eq!(
            parse("partition_by=", &[]).unwrap().partition_by,
            Some(vec![])
        );
        let e = parse("partition_by=a,,b", &[]).err().unwrap().to_string();
        assert!(e.contains("column 2 has no name"), "{e}");
        let e = parse("partition_by=a,b,a", &[]).err().unwrap().to_string();
        assert!(e.contains("\"a\" is named twice"), "{e}");
    }

    #[test]
    fn options_parse_and_unknown_ones_are_refused() {
        let r = parse(
            "mode=append&delimiter=tab&header=false&null=NA&schema=a:int64",
            &[],
        )
        .unwrap();
        assert_eq!((r.mode, r.evolve), (CommitMode::Append, false));
        assert!(parse("mode=append&evolve=true", &[]).unwrap().evolve);
        let Format::Csv(o) = r.format else { panic!() };
        assert_eq!(
            (o.delimiter, o.header, o.null.as_deref()),
            (Some(b'\t'), Some(false), Some("NA"))
        );
        for bad in [
            "mode=replace",
            "delimiter=ab",
            "header=maybe",
            "schema=a:int",
            "colour=red",
            "mode=append&evolve=maybe",
            "evolve=true",
            "mode=overwrite&evolve=true",
        ] {
            let e = parse(bad, &[]).err().unwrap();
            assert_eq!(e.code(), "invalid_option", "{bad}");
        }
    }

    #[test]
    fn headers_choose_format_encoding_and_key() {
        let r = parse(
            "",
            &[
                ("content-type", "application/vnd.apache.parquet"),
                ("idempotency-key", "k1"),
            ],
        )
        .unwrap();
        assert!(matches!(r.format, Format::Parquet));
        assert_eq!(r.idempotency_key.as_deref(), Some("k1"));
        assert!(parse("", &[("content-encoding", "gzip")]).unwrap().gzip);
        assert!(parse("", &[("content-encoding", "br")]).is_err());
        for t in ["multipart/form-data; boundary=x", "application/json"] {
            let e = parse("", &[("content-type", t)]).err().unwrap();
            assert_eq!(
                (e.status().as_u16(), e.code()),
                (415, "unsupported_media_type"),
                "{t}"
            );
        }
        // curl's default for --data-binary is form-urlencoded: read as CSV.
        assert!(parse("", &[("content-type", "application/x-www-form-urlencoded")]).is_ok());
        assert!(
            parse(
                "",
                &[
                    ("content-type", "application/vnd.apache.parquet"),
                    ("content-encoding", "gzip")
                ]
            )
            .is_err()
        );
    }
}
