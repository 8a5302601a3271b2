//! The write-ahead log reader must never panic or over-allocate, whatever the bytes: tried
//! as a whole record, and as a body alone (the first byte chooses op and dim, the second
//! the item count), past the digest a fuzzer cannot forge. A record it accepts must write
//! back to itself, and replay into an index as a restart replays it without a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vectord::format::frame::BodyDigest;
use vectord::format::wal::{self, LogEnvelope, Op, Record, RecordKey};
use vectord::{Index, IndexParams, Metric, Query};

fn accepted(envelope: &LogEnvelope, record: Record) {
    let key = RecordKey {
        index: &envelope.index,
        incarnation: &envelope.incarnation,
        seq: envelope.seq,
    };
    let bytes = wal::encode(&key, envelope.dim, &record);
    let (_, back) = wal::decode(&bytes, envelope.dim).expect("a record we wrote decodes");
    assert_eq!(back, record, "the record changed through the log");
    // Replayed as a restart does (persist::replay_one).
    let params = IndexParams::new(envelope.dim, Metric::L2, 4, 16).expect("in range");
    let index = Index::new(params, 1);
    match record {
        Record::Upsert(items) => {
            let _ = index.upsert(&items);
            if let Some(first) = items.first() {
                let query = Query {
                    vector: first.vector.clone(),
                    k: 2,
                    ef: 4,
                    filter: None,
                };
                assert!(index.search(&query).len() <= 2);
            }
        }
        Record::Delete(ids) => {
            index.delete(&ids);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok((envelope, record)) = wal::decode(data, 3) {
        accepted(&envelope, record);
    }
    if let [a, b, body @ ..] = data {
        let envelope = LogEnvelope {
            format_version: wal::FORMAT_VERSION,
            index: "f".into(),
            incarnation: "0".into(),
            seq: 1,
            op: if a & 1 == 0 { Op::Upsert } else { Op::Delete },
            items: u64::from(*b),
            dim: 1 + usize::from(a >> 1) % 8,
            body: BodyDigest::of(body),
        };
        if let Ok(record) = wal::decode_body(&envelope, body) {
            accepted(&envelope, record);
        }
    }
});
