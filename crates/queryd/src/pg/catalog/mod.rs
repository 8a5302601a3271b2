//! `pg_catalog`, emulated: the relations psql's `\d` family and BI tools' connection
//! tests read, built at planning time from the catalog's datasets, so a new dataset is
//! in `pg_class` on the very next query (the engine refreshes dataset names before any
//! query that reads `pg_catalog`).
//!
//! OIDs are stable without being stored: a dataset's is a hash of its name in the user
//! range (≥ 16385), so the `c.oid = '16391'` psql sends after looking a name up finds it
//! again; the emulated relations and types have fixed OIDs below 16384.

pub mod defs;
mod rows;

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::DataFusionError;
use datafusion::datasource::MemTable;
use futures::StreamExt;

use super::compat;
use super::types::TYPES;
use crate::engine::{CATALOG_NAME, QueryOptions};
use crate::tables::DatasetSchema;
use defs::{RELATIONS, Relation};
use rows::{NULL, V, attribute_rows, batch, class_row, row, type_row};

pub const PG_CATALOG: u32 = 11;
pub const PUBLIC: u32 = 2200;
pub const INFORMATION_SCHEMA: u32 = 13_000;
/// The one role, owner of everything.
pub const OWNER: u32 = 10;
pub const OWNER_NAME: &str = "lakehouse";
pub const DATABASE: u32 = 16_384;
const FIRST_USER_OID: u32 = 16_385;
/// The emulated relations are `RELATION_OIDS + their index`.
const RELATION_OIDS: u32 = 12_000;

/// A dataset's OID: FNV-1a of its name, folded into [16385, 2^31).
pub fn dataset_oid(name: &str) -> u32 {
    let hash = name.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    FIRST_USER_OID + hash % (i32::MAX as u32 - FIRST_USER_OID)
}

pub fn relation_oid(name: &str) -> Option<u32> {
    defs::relation(name).map(|(i, _)| RELATION_OIDS + i as u32)
}

/// The namespace and name of the relation `oid` (for `::regclass`).
pub fn relation_name(oid: u32, datasets: &DatasetSchema) -> Option<String> {
    if let Some(relation) = oid
        .checked_sub(RELATION_OIDS)
        .and_then(|i| RELATIONS.get(i as usize))
    {
        return Some(format!("pg_catalog.{}", relation.name));
    }
    datasets.names().into_iter().find(|n| dataset_oid(n) == oid)
}

pub fn namespace_name(oid: u32) -> Option<&'static str> {
    match oid {
        PG_CATALOG => Some("pg_catalog"),
        PUBLIC => Some("public"),
        INFORMATION_SCHEMA => Some("information_schema"),
        _ => None,
    }
}

/// One dataset as the catalog relations describe it.
struct Table {
    oid: u32,
    namespace: u32,
    name: String,
    kind: &'static str,
    schema: SchemaRef,
    rows: Option<usize>,
}

/// The `pg_catalog` schema.
pub struct PgCatalog {
    datasets: Arc<DatasetSchema>,
    settings: Vec<compat::Setting>,
}

impl std::fmt::Debug for PgCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCatalog").finish_non_exhaustive()
    }
}

impl PgCatalog {
    pub fn new(datasets: Arc<DatasetSchema>, options: &QueryOptions) -> PgCatalog {
        PgCatalog {
            datasets,
            settings: compat::defaults(options),
        }
    }

    /// The datasets (as of the last refresh) and the emulated relations themselves.
    async fn tables(&self) -> Vec<Table> {
        let datasets: Vec<Table> = futures::stream::iter(self.datasets.names())
            .map(|name| async move {
                match self.datasets.table(&name).await {
                    Ok(Some(table)) => Some(Table {
                        oid: dataset_oid(&name),
                        namespace: PUBLIC,
                        kind: "r",
                        schema: table.schema(),
                        rows: table
                            .statistics()
                            .and_then(|s| s.num_rows.get_value().copied()),
                        name,
                    }),
                    // Deleted since the names were listed.
                    _ => None,
                }
            })
            .buffered(8)
            .filter_map(std::future::ready)
            .collect()
            .await;
        let relations = RELATIONS.iter().map(|r| Table {
            oid: relation_oid(r.name).unwrap_or(0),
            namespace: PG_CATALOG,
            name: r.name.to_string(),
            kind: if r.view { "v" } else { "r" },
            schema: defs::schema(r),
            rows: None,
        });
        datasets.into_iter().chain(relations).collect()
    }

    async fn rows(&self, relation: &Relation) -> Vec<Vec<V>> {
        match relation.name {
            "pg_namespace" => vec![
                row![PG_CATALOG, "pg_catalog", OWNER, NULL],
                row![PUBLIC, "public", OWNER, NULL],
                row![INFORMATION_SCHEMA, "information_schema", OWNER, NULL],
            ],
            "pg_class" => self.tables().await.iter().map(class_row).collect(),
            "pg_attribute" => self
                .tables()
                .await
                .iter()
                .flat_map(attribute_rows)
                .collect(),
            "pg_tables" => self
                .tables()
                .await
                .iter()
                .filter(|t| t.kind == "r")
                .map(|t| {
                    let schema = namespace_name(t.namespace).unwrap_or("public");
                    row![
                        schema,
                        t.name.as_str(),
                        OWNER_NAME,
                        NULL,
                        false,
                        false,
                        false,
                        false
                    ]
                })
                .collect(),
            "pg_type" => TYPES.iter().map(type_row).collect(),
            "pg_database" => vec![row![
                DATABASE,
                CATALOG_NAME,
                OWNER,
                6,
                "c",
                false,
                true,
                -1,
                0i64,
                1i64,
                1663u32,
                "C.UTF-8",
                "C.UTF-8",
                NULL,
                NULL,
                NULL,
                NULL
            ]],
            "pg_am" => vec![
                row![2u32, "heap", "heap_tableam_handler", "t"],
                row![403u32, "btree", "bthandler", "i"],
            ],
            "pg_tablespace" => vec![
                row![1663u32, "pg_default", OWNER, NULL, NULL],
                row![1664u32, "pg_global", OWNER, NULL, NULL],
            ],
            "pg_roles" => vec![row![
                OWNER_NAME, false, true, false, false, true, false, -1, "********", NULL, false,
                NULL, OWNER
            ]],
            "pg_user" => vec![row![
                OWNER_NAME, OWNER, false, false, false, false, "********", NULL, NULL
            ]],
            "pg_settings" => self
                .settings
                .iter()
                .map(|(name, value, description)| {
                    row![
                        *name,
                        value.as_str(),
                        NULL,
                        "Lakehouse",
                        *description,
                        NULL,
                        "user",
                        "string",
                        "default",
                        NULL,
                        NULL,
                        NULL,
                        value.as_str(),
                        value.as_str(),
                        NULL,
                        NULL,
                        false
                    ]
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[async_trait]
impl SchemaProvider for PgCatalog {
    fn table_names(&self) -> Vec<String> {
        RELATIONS.iter().map(|r| r.name.to_string()).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        let Some((_, relation)) = defs::relation(name) else {
            return Ok(None);
        };
        let schema = defs::schema(relation);
        let rows = self.rows(relation).await;
        let batch = batch(&schema, rows)?;
        Ok(Some(Arc::new(MemTable::try_new(
            schema,
            vec![vec![batch]],
        )?)))
    }

    fn table_exist(&self, name: &str) -> bool {
        defs::relation(name).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_oids_are_stable_user_oids() {
        let oid = dataset_oid("trips");
        assert_eq!(oid, dataset_oid("trips"));
        assert_ne!(oid, dataset_oid("trip"));
        assert!(oid >= FIRST_USER_OID && oid < i32::MAX as u32);
    }

    #[test]
    fn static_rows_fit_their_columns() {
        for relation in RELATIONS {
            let schema = defs::schema(relation);
            let rows = match relation.name {
                "pg_type" => TYPES.iter().map(type_row).collect(),
                _ => Vec::new(),
            };
            batch(&schema, rows).unwrap();
        }
    }
}
