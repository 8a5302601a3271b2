//! The manifest: what a dataset is, as stored at `_catalog/{name}.json` (docs/formats.md).
//!
//! Invariants of a [`Manifest`] written by the catalog:
//! - `current` is the newest version; `versions` holds older kept versions, newest first,
//!   never repeating `current`, and version numbers strictly decrease along them;
//! - each version's `rows` and `bytes` are the sums over its `files`, and every file key
//!   lies under `datasets/{name}/`;
//! - data files are immutable: a key names the same bytes in every version that lists it.
//!
//! [`Commit`] is what a writer (ingestd) asks for; [`crate::commit`] turns a commit and the
//! current manifest into the next manifest.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::name::DatasetName;

/// A column's type, as Arrow/Parquet will hold it. On the wire (manifests, the API) it is
/// its name: `int64`, …, `utf8`, and `vector(N)` for a vector column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColumnType {
    Int64,
    Float64,
    Boolean,
    Date,
    Timestamp,
    Utf8,
    /// pgvector's `vector(N)`: `N` float32 components (Arrow `FixedSizeList<Float32, N>`),
    /// `N` in `1..=`[`MAX_VECTOR_DIMENSIONS`].
    Vector(u32),
}

/// The most components a vector column holds (pgvector's limit too).
pub const MAX_VECTOR_DIMENSIONS: u32 = 16_000;

impl ColumnType {
    /// Every scalar type (and a vector, `vector(N)` for any `N`).
    pub const ALL: [ColumnType; 6] = [
        ColumnType::Int64,
        ColumnType::Float64,
        ColumnType::Boolean,
        ColumnType::Date,
        ColumnType::Timestamp,
        ColumnType::Utf8,
    ];

    /// A scalar type's name; `vector` for a vector (its name with the dimension is its
    /// `Display`).
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::Int64 => "int64",
            ColumnType::Float64 => "float64",
            ColumnType::Boolean => "boolean",
            ColumnType::Date => "date",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Utf8 => "utf8",
            ColumnType::Vector(_) => "vector",
        }
    }

    /// The number of components of a vector type.
    pub fn dimensions(self) -> Option<u32> {
        match self {
            ColumnType::Vector(n) => Some(n),
            _ => None,
        }
    }
}

impl ColumnType {
    /// Whether `text` is a value of this type as Delta writes partition values: decimal
    /// integers and numbers, `true`/`false`, `2024-01-31`, `2024-01-31 08:00:00[.ffffff]`.
    pub fn parses(self, text: &str) -> bool {
        match self {
            ColumnType::Int64 => text.parse::<i64>().is_ok(),
            ColumnType::Float64 => text.parse::<f64>().is_ok(),
            ColumnType::Boolean => matches!(text, "true" | "false"),
            ColumnType::Date => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok(),
            ColumnType::Timestamp => {
                chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").is_ok()
                    || chrono::DateTime::parse_from_rfc3339(text).is_ok()
            }
            ColumnType::Utf8 => true,
            ColumnType::Vector(_) => false,
        }
    }

    /// Whether a table we write may be partitioned by a column of this type (its values
    /// are exact as text and few enough to be directories).
    pub fn partitions(self) -> bool {
        matches!(
            self,
            ColumnType::Int64 | ColumnType::Date | ColumnType::Boolean | ColumnType::Utf8
        )
    }

    /// Whether `value` is a statistics bound of this type, as Delta's `add.stats` writes
    /// one: a JSON number for numbers, text for the others.
    pub fn bounds_with(self, value: &serde_json::Value) -> bool {
        match (self, value) {
            (ColumnType::Int64, serde_json::Value::Number(n)) => n.is_i64(),
            (ColumnType::Float64, serde_json::Value::Number(_)) => true,
            (ColumnType::Boolean, serde_json::Value::Bool(_)) => true,
            (_, serde_json::Value::String(text)) => {
                !matches!(
                    self,
                    ColumnType::Int64 | ColumnType::Float64 | ColumnType::Boolean
                ) && self.parses(text)
            }
            _ => false,
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::Vector(n) => write!(f, "vector({n})"),
            scalar => f.write_str(scalar.as_str()),
        }
    }
}

/// Why a type name was refused: it lists the known ones.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown column type {0:?} (known: int64, float64, boolean, date, timestamp, utf8, \
     vector(N) with N from 1 to 16000)"
)]
pub struct UnknownColumnType(pub String);

impl FromStr for ColumnType {
    type Err = UnknownColumnType;

    fn from_str(text: &str) -> Result<ColumnType, UnknownColumnType> {
        let unknown = || UnknownColumnType(text.to_string());
        if let Some(n) = text
            .strip_prefix("vector(")
            .and_then(|rest| rest.strip_suffix(')'))
        {
            // Written as it prints: digits, no sign, space or leading zero.
            let canonical = n.bytes().all(|b| b.is_ascii_digit()) && !n.starts_with('0');
            return match n.parse::<u32>() {
                Ok(n) if canonical && n <= MAX_VECTOR_DIMENSIONS => Ok(ColumnType::Vector(n)),
                _ => Err(unknown()),
            };
        }
        ColumnType::ALL
            .into_iter()
            .find(|t| t.as_str() == text)
            .ok_or_else(unknown)
    }
}

impl Serialize for ColumnType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ColumnType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: ColumnType,
    pub nullable: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    pub fields: Vec<Field>,
}

impl Schema {
    /// Every way `upload` differs from `self` (the dataset's schema) by column names, their
    /// order, and types; nullability is not compared. Empty when an append may proceed.
    pub fn differences(&self, upload: &Schema) -> Vec<String> {
        self.compare(upload, false)
    }

    /// The schema an append of `upload` makes: the dataset's columns, nullable where the
    /// upload's are, and with `evolve` the upload's columns after them, nullable (earlier
    /// rows have none). Else every difference; with `evolve`, columns after the dataset's
    /// are not one.
    pub fn appended(&self, upload: &Schema, evolve: bool) -> Result<Schema, Vec<String>> {
        let differences = self.compare(upload, evolve);
        if !differences.is_empty() {
            return Err(differences);
        }
        let mut schema = self.clone();
        for (mine, theirs) in schema.fields.iter_mut().zip(&upload.fields) {
            mine.nullable |= theirs.nullable;
        }
        if evolve {
            schema
                .fields
                .extend(upload.fields[self.fields.len()..].iter().map(|f| Field {
                    nullable: true,
                    ..f.clone()
                }));
        }
        Ok(schema)
    }

    fn compare(&self, upload: &Schema, evolve: bool) -> Vec<String> {
        let position =
            |schema: &Schema, name: &str| schema.fields.iter().position(|f| f.name == name);
        let mut out = Vec::new();
        let mut misplaced = false;
        for (i, field) in self.fields.iter().enumerate() {
            misplaced |= position(upload, &field.name) != Some(i);
            match position(upload, &field.name) {
                None => out.push(format!("missing column {:?}", field.name)),
                Some(j) => {
                    let theirs = &upload.fields[j];
                    if theirs.data_type != field.data_type {
                        out.push(format!(
                            "column {} {:?}: {} in the dataset, {} in the upload",
                            i + 1,
                            field.name,
                            field.data_type,
                            theirs.data_type
                        ));
                    }
                    if i != j {
                        out.push(format!(
                            "column {:?} is column {} in the dataset, column {} in the upload",
                            field.name,
                            i + 1,
                            j + 1
                        ));
                    }
                }
            }
        }
        if evolve {
            for (j, field) in upload.fields.iter().enumerate().skip(self.fields.len()) {
                if position(upload, &field.name) != Some(j) {
                    out.push(format!(
                        "column {:?} appears twice in the upload",
                        field.name
                    ));
                }
            }
            if misplaced && upload.fields.len() > self.fields.len() {
                out.push("new columns go after the dataset's, which keep their order".into());
            }
        } else {
            for field in &upload.fields {
                if position(self, &field.name).is_none() {
                    out.push(format!(
                        "extra column {:?} (evolve=true adds new columns after the dataset's)",
                        field.name
                    ));
                }
            }
        }
        out
    }
}

/// One immutable data file of a version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFile {
    /// Canonical object key, under the dataset's location (`datasets/{name}/` unless the
    /// dataset is an external table).
    pub key: String,
    pub rows: u64,
    pub bytes: u64,
    /// A partitioned table's file: the value of each partition column for every row of
    /// the file, as Delta writes it (text; `None` is null). Empty otherwise.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub partition_values: BTreeMap<String, Option<String>>,
    /// Bounds and null counts of the file's columns, as Delta's `add.stats` holds them.
    #[serde(default, skip_serializing_if = "FileStats::is_empty")]
    pub stats: FileStats,
}

impl DataFile {
    /// An unpartitioned file without statistics.
    pub fn new(key: impl Into<String>, rows: u64, bytes: u64) -> DataFile {
        DataFile {
            key: key.into(),
            rows,
            bytes,
            partition_values: BTreeMap::new(),
            stats: FileStats::default(),
        }
    }
}

/// Per-column statistics of a data file, in Delta's JSON form (docs/formats.md): a column's
/// `min`/`max` are bounds of its non-null values — numbers for `int64` and `float64`,
/// `YYYY-MM-DD` for dates, `YYYY-MM-DD HH:MM:SS.fff` (milliseconds; the maximum rounded up)
/// for timestamps, strings cut to [`FileStats::TEXT_PREFIX`] characters for text. A column
/// missing from a map has no known bound or count; readers skip files by these, so a bound
/// must never be tighter than the data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStats {
    #[serde(
        rename = "minValues",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub min: BTreeMap<String, serde_json::Value>,
    #[serde(
        rename = "maxValues",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub max: BTreeMap<String, serde_json::Value>,
    #[serde(
        rename = "nullCount",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub nulls: BTreeMap<String, u64>,
}

impl FileStats {
    /// Text bounds keep at most this many characters (Delta's and Spark's default).
    pub const TEXT_PREFIX: usize = 32;

    pub fn is_empty(&self) -> bool {
        self.min.is_empty() && self.max.is_empty() && self.nulls.is_empty()
    }

    /// The statistics in a Delta `stats` object (its `minValues`, `maxValues` and
    /// `nullCount`, top-level scalar columns only; anything else is left out).
    pub fn from_delta(stats: &serde_json::Value) -> FileStats {
        let scalars = |key: &str| -> BTreeMap<String, serde_json::Value> {
            stats[key]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, v)| v.is_number() || v.is_string() || v.is_boolean())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        FileStats {
            min: scalars("minValues"),
            max: scalars("maxValues"),
            nulls: stats["nullCount"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                .collect(),
        }
    }
}

/// How a commit relates to the current version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitMode {
    /// A new dataset; refused when one exists.
    Create,
    /// Replace every file (creates the dataset when missing).
    Overwrite,
    /// Add files to the current ones (creates the dataset when missing).
    Append,
}

impl CommitMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CommitMode::Create => "create",
            CommitMode::Overwrite => "overwrite",
            CommitMode::Append => "append",
        }
    }
}

/// One version of a dataset: the files that make it up and how it came to be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub version: u64,
    pub mode: CommitMode,
    pub rows: u64,
    pub bytes: u64,
    pub schema: Schema,
    /// The partition columns (the schema's last ones, in order), when the table is
    /// partitioned: each file holds the other columns, and its `partition_values` these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partition_by: Vec<String>,
    pub files: Vec<DataFile>,
    pub created_at: DateTime<Utc>,
    /// Lowercase hex SHA-256 of the source the version was made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// A dataset: its current version and the older versions kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: DatasetName,
    #[serde(flatten)]
    pub current: Version,
    /// Older kept versions, newest first; `current` is not repeated here.
    #[serde(default)]
    pub versions: Vec<Version>,
    /// Where the dataset's table is, when it is not `datasets/{name}/` (an external table,
    /// registered at its own location).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Why lakehouse does not write this table (a table feature it does not write, say),
    /// when it does not: ingests are refused with this reason; queries work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<String>,
    /// Why the table takes appends only (`delta.appendOnly`, a change data feed), when it
    /// does: an overwrite is refused with this reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appends_only: Option<String>,
}

/// A manifest without its older versions: what a commit (and an ingest) answers, so that
/// the answer's size does not grow with `keep_versions` × files. Decodes as a [`Manifest`]
/// with no older versions.
#[derive(Debug, Serialize)]
pub struct Head<'a> {
    pub name: &'a DatasetName,
    #[serde(flatten)]
    pub current: &'a Version,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appends_only: &'a Option<String>,
}

impl Manifest {
    /// The name and the current version, without the older ones.
    pub fn head(&self) -> Head<'_> {
        Head {
            name: &self.name,
            current: &self.current,
            location: &self.location,
            read_only: &self.read_only,
            appends_only: &self.appends_only,
        }
    }

    /// A dataset of the current version alone, at `datasets/{name}/`.
    pub fn new(name: DatasetName, current: Version) -> Manifest {
        Manifest {
            name,
            current,
            versions: vec![],
            location: None,
            read_only: None,
            appends_only: None,
        }
    }

    /// The store prefix its data files are under (ending in `/`).
    pub fn location(&self) -> String {
        match &self.location {
            Some(location) => location.clone(),
            None => format!("datasets/{}/", self.name),
        }
    }

    /// Version `n`, when it is current or kept.
    pub fn version(&self, n: u64) -> Option<&Version> {
        self.all_versions().find(|v| v.version == n)
    }

    /// Every kept version, newest (current) first.
    pub fn all_versions(&self) -> impl Iterator<Item = &Version> {
        std::iter::once(&self.current).chain(self.versions.iter())
    }

    /// Every data file key some kept version references.
    pub fn referenced_keys(&self) -> impl Iterator<Item = &str> {
        self.all_versions()
            .flat_map(|v| v.files.iter().map(|f| f.key.as_str()))
    }
}

/// A request to make a new version: the body of `POST /v1/datasets`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    pub name: DatasetName,
    pub mode: CommitMode,
    pub schema: Schema,
    pub files: Vec<DataFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// An append may add columns after the dataset's ([`Schema::appended`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub evolve: bool,
    /// A create's or an overwrite's partition columns (Hive-style, as Delta partitions):
    /// each file then names its value of each. An append keeps the table's and leaves this
    /// empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partition_by: Vec<String>,
}

/// What a commit did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Committed {
    /// A new version was written; the manifest as it now is.
    Created(Manifest),
    /// Nothing was written: an overwrite with the source SHA-256 of a current version made
    /// by create or overwrite, or a replayed idempotency key. The manifest as it is; the caller deletes the data files it
    /// wrote for this commit.
    Existing(Manifest),
}

impl Committed {
    pub fn manifest(&self) -> &Manifest {
        match self {
            Committed::Created(m) | Committed::Existing(m) => m,
        }
    }

    pub fn into_manifest(self) -> Manifest {
        match self {
            Committed::Created(m) | Committed::Existing(m) => m,
        }
    }

    pub fn is_created(&self) -> bool {
        matches!(self, Committed::Created(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, data_type: ColumnType) -> Field {
        Field {
            name: name.into(),
            data_type,
            nullable: true,
        }
    }

    fn version(n: u64) -> Version {
        Version {
            version: n,
            mode: CommitMode::Overwrite,
            rows: 3,
            bytes: 100,
            schema: Schema {
                fields: vec![field("id", ColumnType::Int64)],
            },
            files: vec![DataFile {
                key: format!("datasets/t/v{n}/part-0.parquet"),
                rows: 3,
                bytes: 100,
                partition_values: Default::default(),
                stats: Default::default(),
            }],
            created_at: "2026-01-02T03:04:05Z".parse().unwrap(),
            source_sha256: None,
            idempotency_key: None,
            partition_by: vec![],
        }
    }

    #[test]
    fn manifest_json_has_the_documented_shape() {
        let mut current = version(2);
        current.source_sha256 = Some("ab".repeat(32));
        let manifest = Manifest {
            name: "t".parse().unwrap(),
            current,
            versions: vec![version(1)],
            location: None,
            read_only: None,
            appends_only: None,
        };
        let text = serde_json::to_string(&manifest).unwrap();
        assert!(
            text.starts_with(
                r#"{"name":"t","version":2,"mode":"overwrite","rows":3,"bytes":100,"schema":{"fields":[{"name":"id","type":"int64","nullable":true}]},"files":[{"key":"datasets/t/v2/part-0.parquet","rows":3,"bytes":100}],"created_at":"2026-01-02T03:04:05Z","source_sha256":"abab"#
            ),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["mode"], "overwrite");
        assert_eq!(json["schema"]["fields"][0]["type"], "int64");
        assert_eq!(json["files"][0]["key"], "datasets/t/v2/part-0.parquet");
        assert_eq!(json["created_at"], "2026-01-02T03:04:05Z");
        assert!(json["versions"][0].get("idempotency_key").is_none());
        assert!(json["versions"][0].get("versions").is_none());
        let back: Manifest = serde_json::from_value(json).unwrap();
        assert_eq!(back, manifest);
        assert_eq!(back.version(1).map(|v| v.version), Some(1));
        assert_eq!(back.version(3), None);
        let order: Vec<u64> = back.all_versions().map(|v| v.version).collect();
        assert_eq!(order, [2, 1]);
    }

    #[test]
    fn a_manifest_with_a_bad_name_does_not_decode() {
        let mut json = serde_json::to_value(Manifest {
            name: "t".parse().unwrap(),
            current: version(1),
            versions: vec![],
            location: None,
            read_only: None,
            appends_only: None,
        })
        .unwrap();
        json["name"] = "no/slashes".into();
        assert!(serde_json::from_value::<Manifest>(json).is_err());
    }

    #[test]
    fn column_types_print_and_parse_as_on_the_wire() {
        for t in ColumnType::ALL {
            let wire = serde_json::to_value(t).unwrap();
            assert_eq!(wire, t.to_string());
            assert_eq!(t.as_str().parse::<ColumnType>(), Ok(t));
        }
        let err = "varchar".parse::<ColumnType>().unwrap_err();
        assert!(err.to_string().contains("utf8"), "{err}");
        for n in [1, 384, 16_000] {
            let t = ColumnType::Vector(n);
            assert_eq!(serde_json::to_value(t).unwrap(), format!("vector({n})"));
            assert_eq!(t.to_string().parse::<ColumnType>(), Ok(t));
            assert_eq!(
                serde_json::from_value::<ColumnType>(format!("vector({n})").into()).unwrap(),
                t
            );
        }
        for bad in [
            "vector",
            "vector()",
            "vector(0)",
            "vector(16001)",
            "vector(-3)",
            "vector(+3)",
            "vector( 3)",
            "vector(03)",
            "vector(3",
            "vector(3)x",
        ] {
            let err = bad.parse::<ColumnType>().unwrap_err();
            assert!(err.to_string().contains("vector(N)"), "{bad}: {err}");
            assert!(
                serde_json::from_value::<ColumnType>(bad.into()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn schema_differences_list_every_one() {
        use ColumnType::*;
        let dataset = Schema {
            fields: vec![
                field("id", Int64),
                field("x", Utf8),
                field("price", Float64),
            ],
        };
        let upload = Schema {
            fields: vec![
                field("id", Int64),
                field("y", Boolean),
                field("price", Utf8),
            ],
        };
        assert_eq!(
            dataset.differences(&upload),
            [
                "missing column \"x\"",
                "column 3 \"price\": float64 in the dataset, utf8 in the upload",
                "extra column \"y\" (evolve=true adds new columns after the dataset's)",
            ]
        );
        let swapped = Schema {
            fields: vec![
                field("x", Utf8),
                field("id", Int64),
                field("price", Float64),
            ],
        };
        assert_eq!(dataset.differences(&swapped).len(), 2);
        let mut same = dataset.clone();
        same.fields[0].nullable = false;
        assert!(
            dataset.differences(&same).is_empty(),
            "nullability is not compared"
        );
    }
}
