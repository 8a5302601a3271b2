//! The write-ahead log reader must never panic or over-allocate, whatever the bytes: tried
//! as a whole record, and as a body alone (the first byte chooses op and dim, the second
//! the item count), past the digest a fuzzer cannot forge.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vectord::format::frame::BodyDigest;
use vectord::format::wal::{self, LogEnvelope, Op};

fuzz_target!(|data: &[u8]| {
    let _ = wal::decode(data, 3);
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
        let _ = wal::decode_body(&envelope, body);
    }
});
