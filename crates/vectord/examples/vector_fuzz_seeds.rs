//! Writes seed inputs for the `lhv1_reader` and `wal_reader` fuzz targets (`fuzz/`): valid
//! snapshots and log records, whole and as bodies with the two-byte parameter prefix the
//! targets read.
//!
//! `cargo run -p vectord --example vector_fuzz_seeds -- fuzz/corpus`

use std::path::Path;
use std::sync::Arc;

use vectord::format::lhv1::{self, IndexMeta};
use vectord::format::wal::{self, Record, RecordKey};
use vectord::{Index, IndexParams, Metric, PreparedItem};

fn main() -> std::io::Result<()> {
    let root = std::env::args().nth(1).unwrap_or_else(|| "corpus".into());
    let lhv1_dir = Path::new(&root).join("lhv1_reader");
    let wal_dir = Path::new(&root).join("wal_reader");
    std::fs::create_dir_all(&lhv1_dir)?;
    std::fs::create_dir_all(&wal_dir)?;
    let mut seeds = 0;
    for (dim, m, n) in [(1usize, 2usize, 0usize), (2, 2, 5), (3, 4, 30), (2, 3, 120)] {
        let params = IndexParams::new(dim, Metric::L2, m, 16).expect("valid parameters");
        let index = Index::new(params, n as u64);
        let items: Vec<PreparedItem> = (0..n)
            .map(|i| PreparedItem {
                id: format!("id{i}").into(),
                vector: (0..dim)
                    .map(|d| ((i * 7 + d * 3) % 11) as f32 - 5.0)
                    .collect(),
                metadata: (i % 3 == 0).then(|| {
                    let mut map = serde_json::Map::new();
                    map.insert("n".into(), serde_json::Value::from(i));
                    Arc::new(map)
                }),
            })
            .collect();
        index.upsert(&items).expect("room");
        if n > 2 {
            index.delete(&["id1".into(), "id2".into()]);
        }
        let meta = IndexMeta {
            name: "seed".into(),
            params,
            created_at: chrono::Utc::now(),
            incarnation: "00000000000000aa".into(),
        };
        let file = lhv1::encode_file(&meta, 3, &index);
        std::fs::write(lhv1_dir.join(format!("file-{dim}-{m}-{n}")), &file)?;
        let envelope = u32::from_be_bytes([file[4], file[5], file[6], file[7]]) as usize;
        let mut body = vec![(dim - 1) as u8, (m - 2) as u8];
        body.extend_from_slice(&file[8 + envelope..]);
        std::fs::write(lhv1_dir.join(format!("graph-{dim}-{m}-{n}")), &body)?;

        if dim <= 8 {
            let key = RecordKey {
                index: "seed",
                incarnation: "aa",
                seq: 1,
            };
            let upsert = wal::encode(
                &key,
                dim,
                &Record::Upsert(items.iter().take(4).cloned().collect()),
            );
            let delete = wal::encode(&key, dim, &Record::Delete(vec!["id0".into(), "id3".into()]));
            for (op, record, count) in [(0u8, upsert, items.len().min(4)), (1, delete, 2)] {
                let envelope =
                    u32::from_be_bytes([record[4], record[5], record[6], record[7]]) as usize;
                if dim == 3 {
                    std::fs::write(wal_dir.join(format!("record-{op}-{n}")), &record)?;
                }
                let mut body = vec![op | ((dim as u8 - 1) << 1), count as u8];
                body.extend_from_slice(&record[8 + envelope..]);
                std::fs::write(wal_dir.join(format!("body-{op}-{dim}-{n}")), &body)?;
                seeds += 2;
            }
        }
        seeds += 2;
    }
    println!("wrote {seeds} seeds under {root}");
    Ok(())
}
