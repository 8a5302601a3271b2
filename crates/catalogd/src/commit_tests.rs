use chrono::Utc;

use super::*;
use crate::manifest::{ColumnType, Field};

fn schema(nullable: bool) -> Schema {
    Schema {
        fields: vec![Field {
            name: "id".into(),
            data_type: ColumnType::Int64,
            nullable,
        }],
    }
}

fn commit(mode: CommitMode, keys: &[&str]) -> Commit {
    Commit {
        name: "t".parse().unwrap(),
        mode,
        schema: schema(false),
        files: keys
            .iter()
            .map(|k| DataFile {
                key: format!("datasets/t/{k}"),
                rows: 2,
                bytes: 10,
                partition_values: Default::default(),
                stats: Default::default(),
            })
            .collect(),
        source_sha256: None,
        idempotency_key: None,
        evolve: false,
        partition_by: vec![],
    }
}

fn write(current: Option<&Manifest>, c: Commit, keep: u32) -> (Manifest, Vec<String>) {
    match plan(current, &checked(c).unwrap(), keep, Utc::now()).unwrap() {
        Plan::Write { manifest, garbage } => (*manifest, garbage),
        Plan::Existing => panic!("expected a write"),
    }
}

fn bad(c: Commit) -> String {
    match checked(c) {
        Err(CatalogError::BadCommit(m)) => m,
        other => panic!("expected bad_commit, got {other:?}"),
    }
}

#[test]
fn the_keep_window_drops_only_files_no_kept_version_references() {
    let (m1, _) = write(None, commit(CommitMode::Create, &["a"]), 2);
    let (m2, g2) = write(Some(&m1), commit(CommitMode::Append, &["b"]), 2);
    assert!(g2.is_empty());
    assert_eq!((m2.current.version, m2.current.rows), (2, 4));
    // v3 overwrites with c: v1 (a) falls out, but v2 (a, b) is kept, so nothing goes.
    let (m3, g3) = write(Some(&m2), commit(CommitMode::Overwrite, &["c"]), 2);
    assert!(g3.is_empty(), "{g3:?}");
    assert_eq!(m3.versions.len(), 1);
    // v4 overwrites with d: v2 (a, b) falls out and nothing kept references a or b.
    let (m4, g4) = write(Some(&m3), commit(CommitMode::Overwrite, &["d"]), 2);
    assert_eq!(g4, ["datasets/t/a", "datasets/t/b"]);
    let kept: Vec<u64> = m4.all_versions().map(|v| v.version).collect();
    assert_eq!(kept, [4, 3]);
}

#[test]
fn keep_one_keeps_no_older_versions() {
    let (m1, _) = write(None, commit(CommitMode::Create, &["a"]), 1);
    let (m2, g) = write(Some(&m1), commit(CommitMode::Overwrite, &["b"]), 1);
    assert!(m2.versions.is_empty());
    assert_eq!(g, ["datasets/t/a"]);
    let (_, g) = write(Some(&m2), commit(CommitMode::Append, &["c"]), 0);
    assert!(g.is_empty(), "appended versions still reference b: {g:?}");
}

#[test]
fn an_append_widens_nullability_and_keeps_the_dataset_schema() {
    let (m1, _) = write(None, commit(CommitMode::Create, &["a"]), 5);
    let mut c = commit(CommitMode::Append, &["b"]);
    c.schema = schema(true);
    let (m2, _) = write(Some(&m1), c, 5);
    assert!(m2.current.schema.fields[0].nullable);
}

#[test]
fn an_uppercase_sha_matches_its_lowercase_twin() {
    let mut c = commit(CommitMode::Overwrite, &["a"]);
    c.source_sha256 = Some("AB".repeat(32));
    let (m1, _) = write(None, c.clone(), 5);
    assert_eq!(m1.current.source_sha256, Some("ab".repeat(32)));
    let c = checked(c).unwrap();
    assert!(matches!(
        plan(Some(&m1), &c, 5, Utc::now()),
        Ok(Plan::Existing)
    ));
}

fn planned_bad(current: Option<&Manifest>, c: Commit) -> String {
    match plan(current, &checked(c).unwrap(), 5, Utc::now()) {
        Err(CatalogError::BadCommit(m)) => m,
        other => panic!("expected bad_commit, got {other:?}"),
    }
}

/// An external table: files go under its location, dropped versions' files are its
/// owner's (no garbage), a read-only one refuses every commit with the reason, and a
/// partitioned one's appends name each file's partition values.
#[test]
fn external_tables_keep_their_files_and_refuse_what_they_cannot_take() {
    let (mut m, _) = write(None, commit(CommitMode::Create, &[]), 1);
    m.location = Some("external/t/".into());
    let mut c = commit(CommitMode::Overwrite, &[]);
    c.files.push(DataFile::new("external/t/v2/a", 2, 10));
    let (m2, garbage) = write(Some(&m), c, 1);
    assert_eq!(m2.location.as_deref(), Some("external/t/"));
    let mut c = commit(CommitMode::Overwrite, &[]);
    c.files.push(DataFile::new("external/t/v3/a", 2, 10));
    let (_, garbage3) = write(Some(&m2), c, 1);
    assert!(garbage.is_empty() && garbage3.is_empty(), "{garbage3:?}");
    assert!(
        planned_bad(Some(&m2), commit(CommitMode::Append, &["a"]))
            .contains("not under external/t/")
    );

    let mut read_only = m2.clone();
    read_only.read_only = Some("column \"n\" is Delta type integer".into());
    let mut c = commit(CommitMode::Append, &[]);
    c.files.push(DataFile::new("external/t/v3/a", 2, 10));
    match plan(Some(&read_only), &checked(c).unwrap(), 5, Utc::now()) {
        Err(CatalogError::ReadOnly { reason, .. }) => assert!(reason.contains("integer")),
        other => panic!("expected read_only, got {other:?}"),
    }

    let mut append_only = m2.clone();
    append_only.appends_only = Some("the table is append-only (delta.appendOnly)".into());
    let mut c = commit(CommitMode::Overwrite, &[]);
    c.files.push(DataFile::new("external/t/v3/a", 2, 10));
    match plan(Some(&append_only), &checked(c).unwrap(), 5, Utc::now()) {
        Err(CatalogError::ReadOnly { reason, .. }) => {
            assert!(reason.contains("takes appends only"))
        }
        other => panic!("expected read_only, got {other:?}"),
    }

    let mut partitioned = m2;
    partitioned.current.partition_by = vec!["day".into()];
    let mut c = commit(CommitMode::Append, &[]);
    c.files.push(DataFile::new("external/t/day=1/a", 2, 10));
    assert!(planned_bad(Some(&partitioned), c.clone()).contains("partitioned by [day]"));
    c.files[0]
        .partition_values
        .insert("day".into(), Some("x".into()));
    let day = Field {
        name: "day".into(),
        data_type: ColumnType::Int64,
        nullable: true,
    };
    partitioned.current.schema.fields.push(day.clone());
    c.schema.fields.push(day);
    assert!(bad(c.clone()).contains("\"x\" of column \"day\" is not a int64"));
    c.files[0]
        .partition_values
        .insert("day".into(), Some("1".into()));
    let (m3, _) = write(Some(&partitioned), c, 5);
    assert_eq!(m3.current.partition_by, ["day"]);
}

#[test]
fn unusable_commits_are_refused_with_the_reason() {
    assert!(bad(commit(CommitMode::Create, &["a", "a"])).contains("twice"));
    let mut c = commit(CommitMode::Create, &[]);
    c.files.push(DataFile::new("datasets/other/x", 0, 0));
    assert!(planned_bad(None, c).contains("not under datasets/t/"));
    let mut c = commit(CommitMode::Create, &[]);
    c.files.push(DataFile::new("datasets/t/x", 0, 0));
    c.files[0].partition_values.insert("day".into(), None);
    let m = bad(c);
    assert!(
        m.contains("partition values for [day], but this create is partitioned by []"),
        "{m}"
    );
    let mut c = commit(CommitMode::Create, &[]);
    c.files.push(DataFile {
        key: "datasets/t/../x".into(),
        rows: 0,
        bytes: 0,
        partition_values: Default::default(),
        stats: Default::default(),
    });
    assert!(bad(c).contains("not a valid key"));
    let mut c = commit(CommitMode::Create, &["a"]);
    c.schema.fields.clear();
    assert!(bad(c).contains("no columns"));
    let mut c = commit(CommitMode::Create, &["a"]);
    c.schema.fields.push(c.schema.fields[0].clone());
    assert!(bad(c).contains("twice"));
    let mut c = commit(CommitMode::Create, &["a"]);
    c.source_sha256 = Some("xyz".into());
    assert!(bad(c).contains("64 hex"));
    let mut c = commit(CommitMode::Create, &["a"]);
    c.idempotency_key = Some(String::new());
    assert!(bad(c).contains("idempotency_key"));
    for mode in [CommitMode::Create, CommitMode::Overwrite] {
        let mut c = commit(mode, &["a"]);
        c.evolve = true;
        assert!(bad(c).contains("evolve applies to mode append only"));
    }
}

#[test]
fn an_evolving_append_names_new_columns_out_of_place() {
    let (m1, _) = write(None, commit(CommitMode::Create, &["a"]), 5);
    let mut c = commit(CommitMode::Append, &["b"]);
    c.evolve = true;
    let new = c.schema.fields[0].clone();
    c.schema.fields.insert(
        0,
        Field {
            name: "added".into(),
            ..new
        },
    );
    let c = checked(c).unwrap();
    match plan(Some(&m1), &c, 5, Utc::now()) {
        Err(CatalogError::SchemaMismatch { differences, .. }) => assert!(
            differences
                .last()
                .is_some_and(|d| d.starts_with("new columns go after the dataset's")),
            "{differences:?}"
        ),
        other => panic!("expected a schema mismatch, got {other:?}"),
    }
}

#[test]
fn appending_a_file_already_in_the_dataset_is_refused() {
    let (m1, _) = write(None, commit(CommitMode::Create, &["a"]), 5);
    let c = checked(commit(CommitMode::Append, &["a"])).unwrap();
    assert!(matches!(
        plan(Some(&m1), &c, 5, Utc::now()),
        Err(CatalogError::BadCommit(m)) if m.contains("already part of version 1")
    ));
}

#[test]
fn an_overwrite_with_the_sha_of_an_append_writes_a_version() {
    let sha = Some("ab".repeat(32));
    let mut create = commit(CommitMode::Create, &["a"]);
    create.source_sha256 = sha.clone();
    let (m1, _) = write(None, create, 5);
    // The same body appended: the version's sha is the appended body's, its rows both.
    let mut append = commit(CommitMode::Append, &["b"]);
    append.source_sha256 = sha.clone();
    let (m2, _) = write(Some(&m1), append, 5);
    assert_eq!(
        (m2.current.rows, m2.current.source_sha256.clone()),
        (4, sha.clone())
    );
    // Overwriting with that body must leave only its rows: not a no-op.
    let mut overwrite = commit(CommitMode::Overwrite, &["c"]);
    overwrite.source_sha256 = sha.clone();
    let (m3, _) = write(Some(&m2), overwrite.clone(), 5);
    assert_eq!((m3.current.version, m3.current.rows), (3, 2));
    assert_eq!(m3.current.files.len(), 1);
    // Now the current version is that body alone: the same overwrite again is a no-op.
    let again = checked(overwrite).unwrap();
    assert!(matches!(
        plan(Some(&m3), &again, 5, Utc::now()),
        Ok(Plan::Existing)
    ));
    // And so is it right after a create of that body.
    let mut over_create = commit(CommitMode::Overwrite, &["d"]);
    over_create.source_sha256 = sha;
    assert!(matches!(
        plan(Some(&m1), &checked(over_create).unwrap(), 5, Utc::now()),
        Ok(Plan::Existing)
    ));
}

#[test]
fn file_statistics_name_the_commits_columns_with_bounds_of_their_types() {
    let with_stats = |stats: serde_json::Value| {
        let mut c = commit(CommitMode::Create, &["a"]);
        c.files[0].stats = crate::FileStats::from_delta(&stats);
        c
    };
    let good = with_stats(serde_json::json!({
        "minValues": {"id": -4}, "maxValues": {"id": 9}, "nullCount": {"id": 0}
    }));
    let (m1, _) = write(None, good.clone(), 5);
    assert_eq!(m1.current.files[0].stats, good.files[0].stats);
    let m = bad(with_stats(serde_json::json!({"nullCount": {"other": 1}})));
    assert!(
        m.contains("\"other\", which the commit's schema does not have"),
        "{m}"
    );
    let m = bad(with_stats(serde_json::json!({"minValues": {"id": "x"}})));
    assert!(
        m.contains("bound \"x\" of column \"id\" is not a int64"),
        "{m}"
    );
    let m = bad(with_stats(serde_json::json!({"maxValues": {"id": 1.5}})));
    assert!(m.contains("bound 1.5"), "{m}");
}

/// A partitioned create lists its partition columns last; they must be columns of the
/// schema, of a type with exact text, named once, and leave a column for the files, and
/// every file names its value of each.
#[test]
fn a_partitioned_create_names_its_columns_and_each_files_values() {
    let field = |name: &str, data_type| Field {
        name: name.into(),
        data_type,
        nullable: true,
    };
    let partitioned = |by: &[&str]| {
        let mut c = commit(CommitMode::Create, &[]);
        c.schema.fields = vec![
            field("region", ColumnType::Utf8),
            field("id", ColumnType::Int64),
            field("day", ColumnType::Date),
            field("price", ColumnType::Float64),
        ];
        c.partition_by = by.iter().map(|s| s.to_string()).collect();
        let mut file = DataFile::new("datasets/t/region=eu/day=2024-01-02/a", 2, 10);
        for column in by {
            file.partition_values.insert(column.to_string(), None);
        }
        c.files.push(file);
        c
    };
    let (m, _) = write(None, partitioned(&["day", "region"]), 5);
    let names: Vec<&str> = m
        .current
        .schema
        .fields
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(names, ["id", "price", "day", "region"]);
    assert_eq!(m.current.partition_by, ["day", "region"]);

    assert!(bad(partitioned(&["nope"])).contains("\"nope\" is not a column of the schema"));
    assert!(bad(partitioned(&["price"])).contains("\"price\" is float64; partitions are by"));
    assert!(bad(partitioned(&["day", "day"])).contains("named twice"));
    let mut c = partitioned(&["day"]);
    c.files[0].partition_values.clear();
    assert!(bad(c).contains("partition values for [], but this create is partitioned by [day]"));
    let mut c = partitioned(&["id"]);
    c.schema.fields.retain(|f| f.name == "id");
    assert!(bad(c).contains("every column is a partition column"));

    // An append naming the partitioning creates a missing table with it; naming another
    // than the table's is a conflict; without partition_by, partition values need a table.
    let mut append = partitioned(&["day"]);
    append.mode = CommitMode::Append;
    let (created, _) = write(None, append.clone(), 5);
    assert_eq!(created.current.partition_by, ["day"]);
    let mut other = partitioned(&["region"]);
    other.mode = CommitMode::Append;
    other.files[0].key = "datasets/t/region=eu/b".into();
    assert!(matches!(
        plan(Some(&created), &checked(other).unwrap(), 5, Utc::now()),
        Err(CatalogError::ConcurrentUpdate(_))
    ));
    let mut unnamed = append.clone();
    unnamed.partition_by.clear();
    assert!(planned_bad(None, unnamed).contains("names no partition_by"));
    // The same source overwritten with another partitioning is a new version.
    let mut first = partitioned(&[]);
    first.mode = CommitMode::Overwrite;
    first.source_sha256 = Some("ab".repeat(32));
    let (m1, _) = write(None, first, 5);
    let mut again = partitioned(&["day"]);
    again.mode = CommitMode::Overwrite;
    again.source_sha256 = Some("ab".repeat(32));
    let (m2, _) = write(Some(&m1), again, 5);
    assert_eq!(m2.current.version, 2);
    assert_eq!(m2.current.partition_by, ["day"]);
}
