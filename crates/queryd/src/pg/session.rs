//! Answers to the statements compat.rs recognises: settings remembered in the session,
//! transaction control as command tags, `SHOW` as a one-column text result.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use futures::stream;
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::error::PgWireResult;
use pgwire::messages::response::TransactionStatus;

use super::backend::Backend;
use super::compat::{Local, Session};
use super::encode;
use super::error::{pg_error, user_error};
use super::types::{field_format, fields};
use crate::error::QueryError;

const SHOW_ALL: [&str; 3] = ["name", "setting", "description"];

impl Backend {
    /// Answers a local statement. `status` is the transaction state before it.
    pub fn local(
        &self,
        local: &Local,
        session: &Session,
        status: TransactionStatus,
        result_format: &Format,
    ) -> PgWireResult<Response> {
        let tag = Tag::new(&local.tag());
        Ok(match local {
            Local::Set {
                name: Some(name),
                value,
            } => {
                match value.as_deref() {
                    Some(v) if !v.eq_ignore_ascii_case("default") => session.set(name, v),
                    _ => session.reset(Some(name)),
                }
                Response::Execution(tag)
            }
            Local::Reset(name) => {
                session.reset(name.as_deref());
                Response::Execution(tag)
            }
            Local::Discard(_) => {
                session.reset(None);
                Response::Execution(tag)
            }
            Local::Begin(_) => Response::TransactionStart(tag),
            // COMMIT of a failed transaction rolls it back, and says so.
            Local::Commit if status == TransactionStatus::Error => {
                Response::TransactionEnd(Tag::new("ROLLBACK"))
            }
            Local::Commit | Local::Rollback => Response::TransactionEnd(tag),
            Local::Show(name) => Response::Query(self.show(name, session, result_format)?),
            Local::Set { name: None, .. }
            | Local::Savepoint(_)
            | Local::Deallocate(_)
            | Local::Unlisten => Response::Execution(tag),
        })
    }

    /// The columns of a local statement: `SHOW`'s, or none.
    pub fn describe_local(&self, local: &Local, format: &Format) -> Vec<FieldInfo> {
        let Local::Show(name) = local else {
            return Vec::new();
        };
        let names: Vec<String> = if name.eq_ignore_ascii_case("all") {
            SHOW_ALL.iter().map(|n| n.to_string()).collect()
        } else {
            // The canonical spelling of a server setting, else the name as given.
            let fresh = Session::default();
            vec![
                fresh
                    .show(name, &self.settings)
                    .map_or_else(|| name.to_ascii_lowercase(), |(n, _)| n),
            ]
        };
        names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                FieldInfo::new(n.clone(), None, None, Type::TEXT, field_format(format, i))
            })
            .collect()
    }

    fn show(&self, name: &str, session: &Session, format: &Format) -> PgWireResult<QueryResponse> {
        let (names, columns): (Vec<String>, Vec<Vec<String>>) = if name.eq_ignore_ascii_case("all")
        {
            let rows = session.all(&self.settings);
            (
                SHOW_ALL.iter().map(|n| n.to_string()).collect(),
                vec![
                    rows.iter().map(|r| r.0.clone()).collect(),
                    rows.iter().map(|r| r.1.clone()).collect(),
                    rows.iter().map(|r| r.2.clone()).collect(),
                ],
            )
        } else {
            let (name, value) = session.show(name, &self.settings).ok_or_else(|| {
                user_error(
                    "42704",
                    format!("unrecognized configuration parameter \"{name}\""),
                )
            })?;
            (vec![name], vec![vec![value]])
        };
        let schema = Arc::new(Schema::new(
            names
                .iter()
                .map(|n| Field::new(n, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let arrays = columns
            .into_iter()
            .map(|c| Arc::new(StringArray::from(c)) as ArrayRef)
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), arrays)
            .map_err(|e| pg_error(&QueryError::Internal(e.to_string())))?;
        let fields = Arc::new(fields(&schema, format));
        let formats: Vec<FieldFormat> = fields.iter().map(FieldInfo::format).collect();
        let rows = encode::encode(&batch, &formats).map_err(|e| pg_error(&e))?;
        let mut response = QueryResponse::new(fields, stream::iter(rows.into_iter().map(Ok)));
        response.set_command_tag("SHOW");
        Ok(response)
    }
}
