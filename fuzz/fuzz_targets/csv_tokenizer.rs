//! ingestd's CSV tokenizer over arbitrary bytes must give the same records, lines and
//! errors however the input is cut: read in chunks of any size into a buffer of any
//! starting size, in batches of any row or byte limit, or handed over as a sniffed prefix
//! plus the rest — as it gives reading the whole input at once, and as `parse_sample` gives
//! on the whole input. It must never panic.
//!
//! Input: six control bytes (delimiter, starting buffer size, batch rows, batch bytes,
//! read chunk size, expected field count), then the CSV.

#![no_main]

use std::io::Read;

use ingestd::convert::csv::sniff::DELIMITERS;
use ingestd::convert::csv::tokenizer::{BatchLimits, CsvError, Rows, Tokenizer, parse_sample};
use lakehouse_fuzz::Chunked;
use libfuzzer_sys::fuzz_target;

/// A record as (line, [(bytes, quoted)]).
type Record = (u64, Vec<(Vec<u8>, bool)>);

fn records_of(rows: &Rows, out: &mut Vec<Record>) {
    assert_eq!(
        rows.starts.len(),
        rows.len() + 1,
        "one start per record, plus the end"
    );
    assert_eq!(rows.spans.len(), rows.quoted.len());
    for r in 0..rows.len() {
        let fields = (0..rows.width(r))
            .map(|c| {
                let (bytes, quoted) = rows.field(r, c);
                (bytes.to_vec(), quoted)
            })
            .collect();
        out.push((rows.lines[r], fields));
    }
}

/// Every record the tokenizer hands over, then its error if it stopped on one.
fn tokenize<R: Read>(
    mut t: Tokenizer<R>,
    expected: Option<usize>,
    limits: BatchLimits,
) -> (Vec<Record>, Option<CsvError>) {
    if let Some(n) = expected {
        t.expect_fields(n);
    }
    let mut out = Vec::new();
    let mut rows = Rows::default();
    loop {
        rows.clear();
        let before = t.line();
        match t.read_rows(&mut rows, limits) {
            Ok(0) => return (out, None),
            Ok(n) => {
                assert_eq!(n, rows.len());
                assert!(
                    n <= limits.rows,
                    "{n} rows past the batch limit {}",
                    limits.rows
                );
                assert!(rows.lines[0] >= before, "lines go forward");
                records_of(&rows, &mut out);
            }
            Err(e) => return (out, Some(e)),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [
        d,
        capacity,
        batch_rows,
        batch_bytes,
        chunk,
        expected,
        csv @ ..,
    ] = data
    else {
        return;
    };
    // Any delimiter the `delimiter` option accepts: ASCII, not a quote or a newline.
    let delimiter = if d & 0x80 != 0 || matches!(*d, 0 | b'"' | b'\r' | b'\n') {
        DELIMITERS[usize::from(*d) % DELIMITERS.len()]
    } else {
        *d
    };
    let expected = (*expected != 0).then_some(usize::from(*expected % 8));
    let whole = BatchLimits {
        rows: 1,
        bytes: usize::MAX,
    };

    // The reference: the whole input in the buffer at once, one record per batch (so the
    // records before an error are all seen).
    let reference = tokenize(
        Tokenizer::with_capacity(csv, delimiter, csv.len() + 1),
        expected,
        whole,
    );
    for (i, (line, _)) in reference.0.iter().enumerate().skip(1) {
        assert!(*line > reference.0[i - 1].0, "line numbers increase");
    }

    // parse_sample (the sniffer's reader) on the whole input agrees.
    if expected.is_none() {
        match parse_sample(csv, true, delimiter, usize::MAX) {
            Ok(rows) => {
                let mut sample = Vec::new();
                records_of(&rows, &mut sample);
                assert_eq!(
                    sample, reference.0,
                    "parse_sample and the tokenizer disagree"
                );
                assert_eq!(
                    reference.1, None,
                    "the tokenizer failed where parse_sample did not"
                );
            }
            Err(e) => assert_eq!(Some(e), reference.1, "parse_sample failed differently"),
        }
    }

    // Cut anyhow: the same records (those of whole batches before an error) and the same
    // error.
    let limits = BatchLimits {
        rows: 1 + usize::from(*batch_rows % 16),
        bytes: 1 + usize::from(*batch_bytes) * 8,
    };
    let chunked = tokenize(
        Tokenizer::with_capacity(
            Chunked::new(csv, 1 + usize::from(*chunk % 32)),
            delimiter,
            1 + usize::from(*capacity % 64),
        ),
        expected,
        limits,
    );
    assert_eq!(
        chunked.1, reference.1,
        "a different error when read in pieces"
    );
    match &chunked.1 {
        None => assert_eq!(
            chunked.0, reference.0,
            "different records when read in pieces"
        ),
        Some(_) => assert!(
            reference.0.starts_with(&chunked.0),
            "records before the error differ when read in pieces"
        ),
    }

    // The sniffed sample as a prefix, then the rest from the reader.
    let cut = usize::from(*capacity) * csv.len() / 255;
    let prefixed = tokenize(
        Tokenizer::with_prefix(&csv[cut..], delimiter, &csv[..cut]),
        expected,
        limits,
    );
    assert_eq!(prefixed.1, reference.1, "a different error after a prefix");
    match &prefixed.1 {
        None => assert_eq!(prefixed.0, reference.0, "different records after a prefix"),
        Some(_) => assert!(reference.0.starts_with(&prefixed.0)),
    }
});
