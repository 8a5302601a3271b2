//! `POST /v1/sql` (docs/api.md): `{"sql": "...", "format": "json|ndjson|csv|arrow"}`.
//!
//! The response streams: the query runs as the client reads, one batch at a time, so a
//! result of any size holds only a batch or two in memory. The status is decided by the
//! first batch — planning errors and failures before any row answer with a 4xx/5xx and the
//! JSON error shape. A failure after rows were sent cannot change the status: a JSON or
//! NDJSON body then ends with an `error` member or line, and every format's response is cut
//! short (no final chunk), so no client takes it for a whole result.

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use futures::StreamExt;
use serde::Deserialize;

use crate::engine::{QueryEngine, ResultStream};
use crate::error::QueryError;
use crate::format::{Encoder, Format};

/// Largest request body: the SQL text and options.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlRequest {
    sql: String,
    #[serde(default)]
    format: Option<String>,
}

/// The `/v1/sql` route.
pub fn router(engine: QueryEngine) -> Router {
    Router::new()
        .route("/v1/sql", post(run_sql))
        .method_not_allowed_fallback(common::error::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(engine)
}

async fn run_sql(
    State(engine): State<QueryEngine>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match respond(engine, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// The body is read as JSON whatever its `Content-Type` (so `curl -d '{...}'` works).
async fn respond(
    engine: QueryEngine,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, QueryError> {
    let body = body.map_err(|rejection| match rejection {
        BytesRejection::FailedToBufferBody(_) if rejection.status() == 413 => {
            QueryError::BadRequest(format!(
                "the request is larger than {MAX_REQUEST_BYTES} bytes"
            ))
        }
        other => QueryError::BadRequest(format!("reading the request: {}", other.body_text())),
    })?;
    let request: SqlRequest = serde_json::from_slice(&body).map_err(|e| {
        QueryError::BadRequest(format!(
            "the body must be JSON {{\"sql\": \"...\", \"format\": \"json|ndjson|csv|arrow\"}}: {e}"
        ))
    })?;
    let format = match request.format.as_deref() {
        None => Format::Json,
        Some(text) => text.parse()?,
    };
    let query = engine.plan(&request.sql).await?;
    let mut stream = query.execute().await?;
    let mut encoder = Encoder::new(format, stream.schema());
    let mut head = Vec::new();
    head.push(encoder.begin()?);
    // The first batch decides the status.
    match stream.next().await {
        Some(Err(e)) => return Err(e),
        Some(Ok(batch)) => head.push(encoder.batch(&batch)?),
        None => {
            head.push(encoder.finish()?);
            return Ok(response(format, Body::from(head.concat())));
        }
    }
    let body = Body::from_stream(body_stream(head, stream, encoder));
    Ok(response(format, body))
}

fn response(format: Format, body: Body) -> Response {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    response
}

/// The rest of the result: `head`, then a chunk per batch, then the end — or, on a
/// failure, the format's error trailer and an error that cuts the response short.
fn body_stream(
    head: Vec<Bytes>,
    stream: ResultStream,
    encoder: Encoder,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    enum Phase {
        Running,
        Failed(QueryError),
        Done,
    }
    let head = futures::stream::iter(head.into_iter().map(Ok));
    let rest = futures::stream::unfold(
        (stream, encoder, Phase::Running),
        |(mut stream, mut encoder, phase)| async move {
            match phase {
                Phase::Done => None,
                Phase::Failed(e) => {
                    tracing::warn!(error = %e, rows = encoder.rows(), "query failed after its first rows");
                    let cut = std::io::Error::other(e.to_string());
                    Some((Err(cut), (stream, encoder, Phase::Done)))
                }
                Phase::Running => loop {
                    let chunk = match stream.next().await {
                        Some(Ok(batch)) if batch.num_rows() == 0 => continue,
                        Some(Ok(batch)) => encoder.batch(&batch),
                        None => match encoder.finish() {
                            Ok(tail) => return Some((Ok(tail), (stream, encoder, Phase::Done))),
                            Err(e) => Err(e),
                        },
                        Some(Err(e)) => Err(e),
                    };
                    return Some(match chunk {
                        Ok(bytes) => (Ok(bytes), (stream, encoder, Phase::Running)),
                        Err(e) => {
                            let trailer = encoder.fail(&e);
                            (Ok(trailer), (stream, encoder, Phase::Failed(e)))
                        }
                    });
                },
            }
        },
    );
    head.chain(rest)
}
