//! Commit planning: from the current manifest (if any) and a [`Commit`], the next manifest
//! and the data files that fell out of the keep window — pure, no I/O, so every rule is
//! tested here and [`crate::StoreCatalog`] only adds reading, the conditional PUT and retries.
//!
//! Rules (docs/api.md): an idempotency key equal to a kept version's makes any commit a
//! no-op; create refuses an existing dataset; an overwrite whose source SHA-256 equals that
//! of a current version made by create or overwrite (so it holds exactly that source) is a
//! no-op; an append needs the current schema (names, order, types)
//! and adds its files to the current ones. The new version is `current + 1` (1 for a new
//! dataset). The manifest keeps the newest `keep_versions` versions, current included.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use storaged::ObjectKey;

use crate::error::CatalogError;
use crate::manifest::{Commit, CommitMode, DataFile, Manifest, Schema, Version};

/// Longest idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY: usize = 256;

/// What a commit will do to the store.
#[derive(Debug)]
pub(crate) enum Plan {
    /// Nothing to write: answer the current manifest.
    Existing,
    /// Write `manifest`; afterwards delete `garbage` (files no kept version references).
    Write {
        manifest: Box<Manifest>,
        garbage: Vec<String>,
    },
}

/// Checks what can be checked without the current manifest; returns the commit with its
/// SHA-256 in lowercase.
pub(crate) fn checked(mut commit: Commit) -> Result<Commit, CatalogError> {
    let bad = |m: String| Err(CatalogError::BadCommit(m));
    check_schema(&commit.schema)?;
    commit.schema = partitions_last(commit.schema, &commit.partition_by, commit.mode)?;
    let mut seen = HashSet::new();
    for file in &commit.files {
        let canonical = ObjectKey::parse(&file.key).map(|k| k.as_str() == file.key);
        match canonical {
            Err(e) => return bad(format!("file key {:?} is not a valid key: {e}", file.key)),
            Ok(false) => return bad(format!("file key {:?} is not in canonical form", file.key)),
            Ok(true) => {}
        }
        // An append naming no partitioning follows the table's (checked when planned).
        if (commit.mode != CommitMode::Append || !commit.partition_by.is_empty())
            && (file.partition_values.len() != commit.partition_by.len()
                || commit
                    .partition_by
                    .iter()
                    .any(|c| !file.partition_values.contains_key(c)))
        {
            return bad(format!(
                "file key {:?} has partition values for [{}], but this {} is partitioned \
                 by [{}]",
                file.key,
                file.partition_values
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                commit.mode.as_str(),
                commit.partition_by.join(", ")
            ));
        }
        if !seen.insert(file.key.as_str()) {
            return bad(format!("file key {:?} is listed twice", file.key));
        }
    }
    for file in &commit.files {
        check_stats(file, &commit.schema)?;
        check_partition_values(file, &commit.schema)?;
    }
    if let Some(sha) = &commit.source_sha256 {
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return bad(format!("source_sha256 {sha:?} is not 64 hex digits"));
        }
        commit.source_sha256 = Some(sha.to_ascii_lowercase());
    }
    if commit.evolve && commit.mode != CommitMode::Append {
        return bad(
            "evolve applies to mode append only (create and overwrite take the \
                    commit's schema as it is)"
                .into(),
        );
    }
    if let Some(key) = &commit.idempotency_key
        && (key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY || key.chars().any(char::is_control))
    {
        return bad(format!(
            "idempotency_key must be 1 to {MAX_IDEMPOTENCY_KEY} bytes without control characters"
        ));
    }
    Ok(commit)
}

fn check_schema(schema: &Schema) -> Result<(), CatalogError> {
    if schema.fields.is_empty() {
        return Err(CatalogError::BadCommit("the schema has no columns".into()));
    }
    let mut names = HashSet::new();
    for (i, field) in schema.fields.iter().enumerate() {
        if field.name.is_empty() {
            return Err(CatalogError::BadCommit(format!(
                "column {} has an empty name",
                i + 1
            )));
        }
        if !names.insert(field.name.as_str()) {
            return Err(CatalogError::BadCommit(format!(
                "column {:?} appears twice in the schema",
                field.name
            )));
        }
    }
    Ok(())
}

/// Plans `commit` (already [`checked`]) against `current`.
pub(crate) fn plan(
    current: Option<&Manifest>,
    commit: &Commit,
    keep_versions: u32,
    now: DateTime<Utc>,
) -> Result<Plan, CatalogError> {
    let name = commit.name.as_str();
    if let (Some(m), Some(key)) = (current, &commit.idempotency_key)
        && m.all_versions()
            .any(|v| v.idempotency_key.as_ref() == Some(key))
    {
        return Ok(Plan::Existing);
    }
    if current.is_some() && commit.mode == CommitMode::Create {
        return Err(CatalogError::Exists { name: name.into() });
    }
    // The commit names the dataset: an external table's location, else its own prefix.
    let location = current
        .and_then(|m| m.location.clone())
        .unwrap_or_else(|| format!("datasets/{name}/"));
    if let Some(file) = commit.files.iter().find(|f| !f.key.starts_with(&location)) {
        return Err(CatalogError::BadCommit(format!(
            "file key {:?} is not under {location}",
            file.key
        )));
    }
    if let Some(reason) = current.and_then(|m| m.read_only.clone()) {
        return Err(CatalogError::ReadOnly {
            name: name.into(),
            reason,
        });
    }
    if commit.mode == CommitMode::Overwrite
        && let Some(reason) = current.and_then(|m| m.appends_only.as_ref())
    {
        return Err(CatalogError::ReadOnly {
            name: name.into(),
            reason: format!("{reason}: it takes appends only"),
        });
    }
    let (schema, files) = match (current, commit.mode) {
        (Some(_), CommitMode::Create) => {
            return Err(CatalogError::Exists { name: name.into() });
        }
        // Only when the current version *is* that source alone: an append's SHA-256 is of
        // the appended body, while the version holds the earlier rows too.
        // (A repartitioning overwrite of the same source is a new version.)
        (Some(m), CommitMode::Overwrite)
            if commit.source_sha256.is_some()
                && commit.source_sha256 == m.current.source_sha256
                && m.current.mode != CommitMode::Append
                && commit.partition_by == m.current.partition_by =>
        {
            return Ok(Plan::Existing);
        }
        (Some(m), CommitMode::Append)
            if !commit.partition_by.is_empty() && commit.partition_by != m.current.partition_by =>
        {
            return Err(CatalogError::ConcurrentUpdate(format!(
                "dataset {name:?} is partitioned by [{}] now, not [{}] as this append's \
                 files are: another writer changed it; retry",
                m.current.partition_by.join(", "),
                commit.partition_by.join(", ")
            )));
        }
        (Some(m), CommitMode::Append) => appended(m, commit)?,
        (None, CommitMode::Append)
            if commit.partition_by.is_empty()
                && commit.files.iter().any(|f| !f.partition_values.is_empty()) =>
        {
            return Err(CatalogError::BadCommit(format!(
                "dataset {name:?} does not exist, and this append's files have partition \
                 values but the commit names no partition_by"
            )));
        }
        _ => (commit.schema.clone(), commit.files.clone()),
    };
    let (rows, bytes) = totals(&files)?;
    let version = Version {
        version: current.map_or(1, |m| m.current.version + 1),
        mode: commit.mode,
        rows,
        bytes,
        schema,
        // Appends keep the table's partitioning (an append that creates the table sets
        // it); a create or an overwrite sets it.
        partition_by: match (current, commit.mode) {
            (Some(m), CommitMode::Append) => m.current.partition_by.clone(),
            _ => commit.partition_by.clone(),
        },
        files,
        created_at: now,
        source_sha256: commit.source_sha256.clone(),
        idempotency_key: commit.idempotency_key.clone(),
    };
    let keep_older = keep_versions.max(1) as usize - 1;
    let (mut versions, mut dropped) = (Vec::new(), Vec::new());
    if let Some(m) = current {
        let older = std::iter::once(&m.current).chain(&m.versions).cloned();
        for (i, v) in older.enumerate() {
            if i < keep_older {
                versions.push(v)
            } else {
                dropped.push(v)
            }
        }
    }
    let manifest = Manifest {
        name: commit.name.clone(),
        current: version,
        versions,
        location: current.and_then(|m| m.location.clone()),
        read_only: None,
        appends_only: current.and_then(|m| m.appends_only.clone()),
    };
    let kept: HashSet<&str> = manifest.referenced_keys().collect();
    // An external table's files are its owner's to delete (their VACUUM): other tools may
    // still read the versions that fell out of our window.
    if manifest.location.is_some() {
        dropped.clear();
    }
    let mut garbage: Vec<String> = dropped
        .iter()
        .flat_map(|v| &v.files)
        .filter(|f| !kept.contains(f.key.as_str()))
        .map(|f| f.key.clone())
        .collect();
    garbage.sort();
    garbage.dedup();
    Ok(Plan::Write {
        manifest: Box::new(manifest),
        garbage,
    })
}

/// The schema of a partitioned commit, its partition columns moved last in `partition_by`'s
/// order (where Delta readers put them, and ours). They must be distinct columns of the
/// schema leaving at least one for the files, and a create's or an overwrite's of a type
/// ingest writes partitions of.
fn partitions_last(
    schema: Schema,
    partition_by: &[String],
    mode: CommitMode,
) -> Result<Schema, CatalogError> {
    if partition_by.is_empty() {
        return Ok(schema);
    }
    let bad = |m: String| Err(CatalogError::BadCommit(m));
    let mut moved = Vec::with_capacity(partition_by.len());
    for (i, column) in partition_by.iter().enumerate() {
        if partition_by[..i].contains(column) {
            return bad(format!("partition column {column:?} is named twice"));
        }
        let Some(field) = schema.fields.iter().find(|f| &f.name == column) else {
            return bad(format!(
                "partition column {column:?} is not a column of the schema ({})",
                schema
                    .fields
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        // An append names the table's partitioning, whatever wrote it.
        if mode != CommitMode::Append && !field.data_type.partitions() {
            return bad(format!(
                "partition column {column:?} is {}; partitions are by int64, date, boolean \
                 or utf8 columns",
                field.data_type
            ));
        }
        moved.push(field.clone());
    }
    if moved.len() == schema.fields.len() {
        return bad("every column is a partition column; the files need at least one".into());
    }
    let mut fields: Vec<_> = schema
        .fields
        .into_iter()
        .filter(|f| !partition_by.contains(&f.name))
        .collect();
    fields.extend(moved);
    Ok(Schema { fields })
}

/// A file's partition values are values of their columns' types.
fn check_partition_values(file: &DataFile, schema: &Schema) -> Result<(), CatalogError> {
    for (column, value) in &file.partition_values {
        let field = schema.fields.iter().find(|c| &c.name == column);
        if let (Some(field), Some(text)) = (field, value)
            && !field.data_type.parses(text)
        {
            return Err(CatalogError::BadCommit(format!(
                "file key {:?}: partition value {text:?} of column {column:?} is not a {}",
                file.key, field.data_type
            )));
        }
    }
    Ok(())
}

/// A file's statistics name the commit's columns, each bound a value of its column's type
/// (they are written into the table's log as they are).
fn check_stats(file: &DataFile, schema: &Schema) -> Result<(), CatalogError> {
    let stats = &file.stats;
    let named = stats
        .min
        .keys()
        .chain(stats.max.keys())
        .chain(stats.nulls.keys());
    for column in named {
        let Some(field) = schema.fields.iter().find(|f| &f.name == column) else {
            return Err(CatalogError::BadCommit(format!(
                "file key {:?}: statistics of column {column:?}, which the commit's schema \
                 does not have",
                file.key
            )));
        };
        let bounds = stats
            .min
            .get(column)
            .into_iter()
            .chain(stats.max.get(column));
        for value in bounds {
            if !field.data_type.bounds_with(value) {
                return Err(CatalogError::BadCommit(format!(
                    "file key {:?}: statistics bound {value} of column {column:?} is not a {}",
                    file.key, field.data_type
                )));
            }
        }
    }
    Ok(())
}

/// The schema and files of an append to `m`: the current schema (a column becomes nullable
/// when the upload's is; with `evolve`, the upload's new columns after it), the current
/// files then the new ones.
fn appended(m: &Manifest, commit: &Commit) -> Result<(Schema, Vec<DataFile>), CatalogError> {
    let partition_by = &m.current.partition_by;
    if let Some(f) = commit.files.iter().find(|f| {
        f.partition_values.len() != partition_by.len()
            || partition_by
                .iter()
                .any(|c| !f.partition_values.contains_key(c))
    }) {
        return Err(CatalogError::BadCommit(format!(
            "file key {:?}: dataset {:?} is partitioned by [{}]; each file of an append \
             names exactly those partition values",
            f.key,
            commit.name.as_str(),
            partition_by.join(", ")
        )));
    }
    for f in &commit.files {
        check_partition_values(f, &m.current.schema)?;
    }
    let schema = m
        .current
        .schema
        .appended(&commit.schema, commit.evolve)
        .map_err(|differences| CatalogError::SchemaMismatch {
            name: commit.name.to_string(),
            differences,
        })?;
    let current: HashSet<&str> = m.current.files.iter().map(|f| f.key.as_str()).collect();
    if let Some(f) = commit
        .files
        .iter()
        .find(|f| current.contains(f.key.as_str()))
    {
        return Err(CatalogError::BadCommit(format!(
            "file key {:?} is already part of version {}",
            f.key, m.current.version
        )));
    }
    let files = m
        .current
        .files
        .iter()
        .chain(&commit.files)
        .cloned()
        .collect();
    Ok((schema, files))
}

fn totals(files: &[DataFile]) -> Result<(u64, u64), CatalogError> {
    let overflow = || CatalogError::BadCommit("the files' rows or bytes overflow u64".into());
    files.iter().try_fold((0u64, 0u64), |(rows, bytes), f| {
        Ok((
            rows.checked_add(f.rows).ok_or_else(overflow)?,
            bytes.checked_add(f.bytes).ok_or_else(overflow)?,
        ))
    })
}

#[cfg(test)]
#[path = "commit_tests.rs"]
mod tests;
