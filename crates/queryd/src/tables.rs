//! Catalog datasets as DataFusion tables.
//!
//! [`DatasetSchema`] is the `public` schema: `table(name)` reads the manifest from the
//! [`Catalog`] at planning time, so an ingest is visible to the very next query. A name
//! `"trips@v3"` (quoted: `@` is not an identifier character) names a kept older version.
//!
//! [`DatasetTable`] scans exactly the files the manifest lists — no LIST call — with each
//! file's Parquet statistics (footers are cached by path: data files are immutable), split
//! across the session's target partitions so a scan runs on every core.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use catalogd::{Catalog, CatalogError, DatasetName, Manifest, Version};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::{DFSchema, DataFusionError, ScalarValue, Statistics};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::listing::helpers::{expr_applicable_for_cols, filter_partitioned_file};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectMeta;
use object_store::path::Path as ObjectPath;

use crate::error::QueryError;
use crate::skipping::{self, FileBounds};

/// The URL the data store is registered under in DataFusion's object-store registry.
pub const STORE_URL: &str = "lakehouse://data/";

/// The arrow type a manifest column reads as: the type ingestd wrote (formats.md), with
/// text as `Utf8View` — the Parquet reader builds views without copying strings, and
/// DataFusion's string kernels are fastest on them.
pub fn arrow_type(ty: catalogd::ColumnType) -> DataType {
    use catalogd::ColumnType::*;
    match ty {
        Int64 => DataType::Int64,
        Float64 => DataType::Float64,
        Boolean => DataType::Boolean,
        Date => DataType::Date32,
        Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        Utf8 => DataType::Utf8View,
        // (The element as ingestd writes it: a float32 that is never null.)
        Vector(n) => DataType::FixedSizeList(
            Arc::new(Field::new("item", DataType::Float32, false)),
            n as i32,
        ),
    }
}

/// A table reference split into dataset name and optional version: `trips`, `trips@v3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub dataset: String,
    pub version: Option<u64>,
}

impl TableName {
    pub fn parse(text: &str) -> TableName {
        if let Some((dataset, version)) = text.rsplit_once("@v")
            && let Ok(version) = version.parse::<u64>()
            && !version.to_string().is_empty()
        {
            return TableName {
                dataset: dataset.to_string(),
                version: Some(version),
            };
        }
        TableName {
            dataset: text.to_string(),
            version: None,
        }
    }
}

/// The `public` schema: every catalog dataset.
pub struct DatasetSchema {
    catalog: Arc<dyn Catalog>,
    /// Dataset names as of the last listing, for `table_names` (information_schema,
    /// `SHOW TABLES`, psql's `\dt`) and for "did you mean" suggestions. Planning a
    /// table reference never depends on it.
    names: RwLock<BTreeSet<String>>,
}

impl fmt::Debug for DatasetSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatasetSchema").finish_non_exhaustive()
    }
}

impl DatasetSchema {
    pub fn new(catalog: Arc<dyn Catalog>) -> DatasetSchema {
        DatasetSchema {
            catalog,
            names: RwLock::new(BTreeSet::new()),
        }
    }

    /// Re-reads the dataset list from the catalog.
    pub async fn refresh_names(&self) -> Result<(), QueryError> {
        let manifests = self.catalog.list().await.map_err(QueryError::from)?;
        let names = manifests.into_iter().map(|m| m.name.to_string()).collect();
        *self.names.write().unwrap_or_else(|e| e.into_inner()) = names;
        Ok(())
    }

    /// The known names, sorted.
    pub fn names(&self) -> Vec<String> {
        let names = self.names.read().unwrap_or_else(|e| e.into_inner());
        names.iter().cloned().collect()
    }

    fn remember(&self, name: &str, exists: bool) {
        let mut names = self.names.write().unwrap_or_else(|e| e.into_inner());
        if exists {
            if !names.contains(name) {
                names.insert(name.to_string());
            }
        } else {
            names.remove(name);
        }
    }

    /// The error for a table that does not exist, naming the closest existing datasets.
    pub async fn unknown_table(&self, name: &str) -> QueryError {
        if let Err(e) = self.refresh_names().await {
            tracing::debug!(error = %e, "listing datasets for suggestions failed");
        }
        QueryError::UnknownTable {
            name: name.to_string(),
            suggestions: closest(name, &self.names()),
        }
    }

    async fn manifest(&self, name: &TableName) -> Result<Option<Manifest>, QueryError> {
        let Ok(dataset) = name.dataset.parse::<DatasetName>() else {
            return Ok(None);
        };
        match self.catalog.get(&dataset).await {
            Ok(manifest) => Ok(Some(manifest)),
            Err(CatalogError::NotFound { .. }) => Ok(None),
            Err(e) => Err(QueryError::from(e)),
        }
    }
}

#[async_trait]
impl SchemaProvider for DatasetSchema {
    fn table_names(&self) -> Vec<String> {
        self.names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        let table_name = TableName::parse(name);
        let Some(manifest) = self.manifest(&table_name).await? else {
            // None, not an error: DataFusion asks for table functions' names here too. The
            // planner's "not found" becomes [`QueryError::UnknownTable`] in the engine.
            self.remember(&table_name.dataset, false);
            return Ok(None);
        };
        self.remember(&table_name.dataset, true);
        let version = match table_name.version {
            None => manifest.current.clone(),
            Some(n) => match manifest.versions.iter().find(|v| v.version == n) {
                Some(v) => v.clone(),
                None if manifest.current.version == n => manifest.current.clone(),
                None => {
                    let mut kept: Vec<u64> = manifest.versions.iter().map(|v| v.version).collect();
                    kept.push(manifest.current.version);
                    kept.sort_unstable();
                    kept.dedup();
                    return Err(QueryError::UnknownVersion {
                        dataset: table_name.dataset,
                        version: n,
                        kept,
                    }
                    .into());
                }
            },
        };
        Ok(Some(Arc::new(DatasetTable::new(&version)?)))
    }

    fn table_exist(&self, name: &str) -> bool {
        let names = self.names.read().unwrap_or_else(|e| e.into_inner());
        names.contains(&TableName::parse(name).dataset)
    }
}

/// Up to three existing names closest to `name` (edit distance, case-insensitive), nearest
/// first; only plausible ones (distance at most a third of the longer name, at least 2).
pub fn closest(name: &str, names: &[String]) -> Vec<String> {
    let wanted = name.to_ascii_lowercase();
    let mut scored: Vec<(usize, &String)> = names
        .iter()
        .map(|n| (edit_distance(&wanted, &n.to_ascii_lowercase()), n))
        .filter(|(d, n)| *d <= (wanted.len().max(n.len()) / 3).max(2))
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, n)| n.clone()).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[derive(Debug)]
struct TableFile {
    meta: ObjectMeta,
    /// Its values of the partition columns.
    partition: Vec<ScalarValue>,
    bounds: FileBounds,
}

/// One version of one dataset: its schema and the files its manifest lists. A partitioned
/// table's partition columns come last, their values from the manifest, not the files.
#[derive(Debug)]
pub struct DatasetTable {
    /// File columns, then partition columns.
    schema: SchemaRef,
    /// The columns the files hold.
    file_schema: SchemaRef,
    /// The partition columns, as a schema of their own (to evaluate filters on a file's
    /// values).
    partitions: SchemaRef,
    files: Vec<TableFile>,
    rows: u64,
}

impl DatasetTable {
    pub fn new(version: &Version) -> Result<DatasetTable, QueryError> {
        let field = |f: &catalogd::Field| Field::new(&f.name, arrow_type(f.data_type), f.nullable);
        let partitioned = |f: &&catalogd::Field| version.partition_by.contains(&f.name);
        let file_fields: Vec<Field> = version
            .schema
            .fields
            .iter()
            .filter(|f| !partitioned(f))
            .map(field)
            .collect();
        let partition_fields: Vec<Field> = version
            .partition_by
            .iter()
            .filter_map(|name| version.schema.fields.iter().find(|f| &f.name == name))
            .map(field)
            .collect();
        let bad = |why: String| {
            QueryError::Internal(format!("dataset version {}: {why}", version.version))
        };
        let mut files = Vec::with_capacity(version.files.len());
        for file in &version.files {
            let values = partition_fields
                .iter()
                .map(|f| match file.partition_values.get(f.name()) {
                    Some(Some(text)) => ScalarValue::try_from_string(text.clone(), f.data_type())
                        .map_err(|e| {
                            bad(format!(
                                "file {}: partition value {text:?} of {:?} is not a {}: {e}",
                                file.key,
                                f.name(),
                                f.data_type()
                            ))
                        }),
                    Some(None) => {
                        ScalarValue::try_from(f.data_type()).map_err(|e| bad(e.to_string()))
                    }
                    None => Err(bad(format!(
                        "file {} has no value for partition column {:?}",
                        file.key,
                        f.name()
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let meta = ObjectMeta {
                location: ObjectPath::from(file.key.as_str()),
                // Files are immutable under unique keys: the version's creation time is a
                // stable stamp for the footer cache.
                last_modified: version.created_at,
                size: file.bytes,
                e_tag: None,
                version: None,
            };
            files.push((meta, values, file));
        }
        let all: Vec<Field> = file_fields
            .iter()
            .chain(&partition_fields)
            .cloned()
            .collect();
        let schema = Arc::new(Schema::new(all));
        let files = files
            .into_iter()
            .map(|(meta, partition, file)| TableFile {
                bounds: FileBounds::new(&schema, file, &partition),
                meta,
                partition,
            })
            .collect();
        Ok(DatasetTable {
            schema,
            file_schema: Arc::new(Schema::new(file_fields)),
            partitions: Arc::new(Schema::new(partition_fields)),
            files,
            rows: version.rows,
        })
    }

    /// Whether a file's partition values alone decide `filter` (it names partition columns
    /// only).
    fn decides(&self, filter: &Expr) -> bool {
        let names: Vec<&str> = self
            .partitions
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        !names.is_empty() && expr_applicable_for_cols(&names, filter)
    }
}

#[async_trait]
impl TableProvider for DatasetTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn statistics(&self) -> Option<Statistics> {
        let mut stats = Statistics::new_unknown(&self.schema);
        stats.num_rows = datafusion::common::stats::Precision::Exact(self.rows as usize);
        Some(stats)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>, DataFusionError> {
        // Partitions and files the filters rule out are never opened (their footers not
        // read): first by partition values, then by the log's statistics.
        let partition_filters: Vec<Expr> = filters
            .iter()
            .filter(|f| self.decides(f))
            .cloned()
            .collect();
        let mut in_partitions = Vec::with_capacity(self.files.len());
        let df_schema = DFSchema::try_from(self.partitions.clone())?;
        for table_file in &self.files {
            let file = PartitionedFile::new_from_meta(table_file.meta.clone())
                .with_partition_values(table_file.partition.clone());
            if partition_filters.is_empty() {
                in_partitions.push((file, &table_file.bounds));
            } else if let Some(file) =
                filter_partitioned_file(file, &partition_filters, &df_schema)?
            {
                in_partitions.push((file, &table_file.bounds));
            }
        }
        let bounds: Vec<&FileBounds> = in_partitions.iter().map(|(_, b)| *b).collect();
        let kept = skipping::keep(state, &self.schema, filters, &bounds)?;
        let candidates: Vec<PartitionedFile> = in_partitions
            .into_iter()
            .zip(kept)
            .filter_map(|((file, _), keep)| keep.then_some(file))
            .collect();
        if candidates.is_empty() {
            let schema = datafusion::physical_plan::project_schema(&self.schema, projection)?;
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        let url = ObjectStoreUrl::parse(STORE_URL)?;
        let store = state.runtime_env().object_store(&url)?;
        let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
        let concurrency = state
            .config_options()
            .execution
            .meta_fetch_concurrency
            .get();
        // Footer statistics (row counts, min/max, nulls) drive join order and pruning; the
        // runtime's metadata cache keeps each footer after its first read.
        let files: Vec<PartitionedFile> = futures::stream::iter(candidates)
            .map(|file| {
                let store = store.clone();
                let format = &format;
                let schema = self.file_schema.clone();
                async move {
                    let stats = format
                        .infer_stats(state, &store, schema, &file.object_meta)
                        .await?;
                    Ok::<_, DataFusionError>(file.with_statistics(Arc::new(stats)))
                }
            })
            .buffered(concurrency)
            .try_collect()
            .await?;
        let statistics = Statistics::try_merge_iter(
            files.iter().filter_map(|f| f.statistics.as_deref()),
            &self.schema,
        )?;
        let groups = FileGroup::new(files).split_files(state.config().target_partitions());
        let source = format.file_source(
            TableSchema::builder(self.file_schema.clone())
                .with_table_partition_cols(self.partitions.fields().clone())
                .build(),
        );
        let config = FileScanConfigBuilder::new(url, source)
            .with_file_groups(groups)
            .with_statistics(statistics)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        format.create_physical_plan(state, config).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>, DataFusionError> {
        // Inexact: the scan keeps only the files whose partition values may pass a filter
        // on partition columns alone, and prunes row groups and pages with the others; a
        // filter above it still checks every row (a null partition value makes a filter
        // null, which file pruning cannot tell from true).
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_with_versions() {
        assert_eq!(
            TableName::parse("trips@v3"),
            TableName {
                dataset: "trips".into(),
                version: Some(3)
            }
        );
        assert_eq!(TableName::parse("trips").version, None);
        assert_eq!(TableName::parse("trips@vx").dataset, "trips@vx");
        assert_eq!(TableName::parse("trips@v").version, None);
    }

    #[test]
    fn suggestions_are_close_names_only() {
        let names: Vec<String> = ["trips", "trip_stats", "orders", "customers"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(closest("trip", &names), vec!["trips"]);
        assert_eq!(closest("TRIPS", &names), vec!["trips"]);
        assert_eq!(closest("ordres", &names), vec!["orders"]);
        assert!(closest("zebra", &names).is_empty());
    }
}
