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
    let mut seen = HashSet::new();
    for file in &commit.files {
        let canonical = ObjectKey::parse(&file.key).map(|k| k.as_str() == file.key);
        match canonical {
            Err(e) => return bad(format!("file key {:?} is not a valid key: {e}", file.key)),
            Ok(false) => return bad(format!("file key {:?} is not in canonical form", file.key)),
            Ok(true) => {}
        }
        if commit.mode != CommitMode::Append && !file.partition_values.is_empty() {
            return bad(format!(
                "file key {:?} has partition values, but a {} makes an unpartitioned table",
                file.key,
                commit.mode.as_str()
            ));
        }
        if !seen.insert(file.key.as_str()) {
            return bad(format!("file key {:?} is listed twice", file.key));
        }
    }
    check_schema(&commit.schema)?;
    for file in &commit.files {
        check_stats(file, &commit.schema)?;
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
        (Some(m), CommitMode::Overwrite)
            if commit.source_sha256.is_some()
                && commit.source_sha256 == m.current.source_sha256
                && m.current.mode != CommitMode::Append =>
        {
            return Ok(Plan::Existing);
        }
        (Some(m), CommitMode::Append) => appended(m, commit)?,
        _ => (commit.schema.clone(), commit.files.clone()),
    };
    let (rows, bytes) = totals(&files)?;
    let version = Version {
        version: current.map_or(1, |m| m.current.version + 1),
        mode: commit.mode,
        rows,
        bytes,
        schema,
        // Appends keep the table's partitioning; our other commits write unpartitioned
        // files.
        partition_by: match (current, commit.mode) {
            (Some(m), CommitMode::Append) => m.current.partition_by.clone(),
            _ => vec![],
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
        for (column, value) in &f.partition_values {
            let field = m.current.schema.fields.iter().find(|c| &c.name == column);
            if let (Some(field), Some(text)) = (field, value)
                && !field.data_type.parses(text)
            {
                return Err(CatalogError::BadCommit(format!(
                    "file key {:?}: partition value {text:?} of column {column:?} is not a {}",
                    f.key, field.data_type
                )));
            }
        }
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
