//! A gzip-encoded ingest body: ingestd's body reader (gunzip of any number of members,
//! `max_ingest_bytes` counted on the decoded bytes, the `max_gzip_ratio` cap, the BOM
//! dropped), then the whole CSV converter on it.
//!
//! - Decoded, the body is exactly what flate2 alone decodes from the same bytes, minus one
//!   leading BOM; it stops with the limit's error as soon as it passes `max_bytes` and
//!   never hands over more; a body that stops always says why (too large, ratio, bad gzip),
//!   and one within its limits never stops.
//! - The converter on the gzip body answers as it does on the decoded bytes sent plain, or,
//!   when the body fails within the sample the sniffer reads first, with the body's error
//!   (of a corrupt stream: that error, or the other refusal reads of its sizes meet first).
//!
//! Input: six control bytes (mode and level, byte limit, ratio cap, read chunk, two member
//! split points), then the payload: raw bytes as sent (mode bit 0 clear), or text that is
//! gzipped here into one to three members (set).

#![no_main]

use std::io::{Read, Write};

use ingestd::body::{BodyFailure, BodyLimits, BodyReader, BodyState};
use ingestd::convert::csv::sniff::CsvOptions;
use ingestd::{Format, IngestError};
use lakehouse_fuzz::{Chunked, assert_sent_in_order};
use libfuzzer_sys::fuzz_target;

const BOM: &[u8] = b"\xEF\xBB\xBF";
/// `body::RATIO_GRACE`: decoded bytes before the ratio is checked.
const RATIO_GRACE: usize = 1 << 20;
/// `csv::SAMPLE_BYTES`: what the converter reads before it parses anything.
const SAMPLE_BYTES: usize = 1 << 20;
/// Decoded bodies up to this size are also converted as plain text, to compare.
const CONVERTED_BYTES: usize = 64 << 10;

fn gzip(members: &[&[u8]], level: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for member in members {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
        gz.write_all(member).expect("writing to a Vec");
        out.extend(gz.finish().expect("writing to a Vec"));
    }
    out
}

fn csv() -> Format {
    Format::Csv(CsvOptions::default())
}

fuzz_target!(|data: &[u8]| {
    let [mode, limit, ratio, chunk, cut1, cut2, payload @ ..] = data else {
        return;
    };
    let wire = if mode & 1 == 0 {
        payload.to_vec()
    } else {
        let a = usize::from(*cut1) * payload.len() / 255;
        let b = (a + usize::from(*cut2) * payload.len() / 255).min(payload.len());
        let members: &[&[u8]] = match mode & 6 {
            0 => &[payload],
            2 => &[&payload[..a], &payload[a..]],
            _ => &[&payload[..a], &payload[a..b], &payload[b..]],
        };
        gzip(members, u32::from(mode >> 4) % 10)
    };
    let limits = BodyLimits {
        max_bytes: match limit {
            0 => 0,
            l if l & 0x80 != 0 => u64::from(l & 0x7f) << 14,
            l => u64::from(*l) * 16,
        },
        max_gzip_ratio: [0, 1, 2, 10, 200][usize::from(ratio % 5)],
    };
    let chunk = 1 + usize::from(*chunk);

    // flate2 alone on the same bytes, all at once.
    let mut decoded = Vec::new();
    let reference = flate2::read::MultiGzDecoder::new(&wire[..]).read_to_end(&mut decoded);
    let plain = decoded.strip_prefix(BOM).unwrap_or(&decoded);

    // The body reader, read in pieces of any size the converter could ask for (3 bytes at
    // least: the BOM is gathered within one read; a large body, a bomb's, in the
    // converter's own large reads, or the fuzzer would spend its time in call overhead).
    let state = BodyState::default();
    let mut reader = BodyReader::new(Chunked::new(&wire, chunk), true, limits, state.clone());
    let mut out = Vec::new();
    let small = 3 + usize::from(*cut1 ^ *cut2);
    let mut buf = vec![
        0;
        if decoded.len() > CONVERTED_BYTES {
            64 << 10
        } else {
            small
        }
    ];
    let read = loop {
        match reader.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => break Err(e),
        }
    };
    if reference.is_ok() {
        assert!(
            plain.starts_with(&out),
            "the body reader decoded other bytes than flate2"
        );
    } else if decoded.len() >= BOM.len() || !BOM.starts_with(&decoded) {
        // Where a corrupt stream stops depends on how much each read asks for: up to
        // there, the same bytes.
        let n = out.len().min(plain.len());
        assert_eq!(
            out[..n],
            plain[..n],
            "the body reader decoded other bytes than flate2"
        );
    }
    if limits.max_bytes > 0 {
        assert!(
            out.len() as u64 <= limits.max_bytes,
            "handed over past the limit"
        );
    }
    let within_bytes = limits.max_bytes == 0 || decoded.len() as u64 <= limits.max_bytes;
    let within_grace = limits.max_gzip_ratio == 0 || decoded.len() <= RATIO_GRACE;
    match (&read, state.failure()) {
        (Ok(()), None) => {
            assert!(
                reference.is_ok(),
                "flate2 fails where the body reader does not"
            );
            assert_eq!(out, plain, "the body reader ended early");
            assert!(
                within_bytes,
                "{} decoded bytes passed {limits:?}",
                decoded.len()
            );
        }
        // (Of a corrupt stream, flate2's one read_to_end may stop short of what reads of
        // other sizes decode before the fault: then its length bounds nothing.)
        (Err(_), Some(BodyFailure::TooLarge { limit })) => {
            assert_eq!(limit, limits.max_bytes);
            assert!(
                decoded.len() as u64 > limit || reference.is_err(),
                "too large at {} bytes",
                decoded.len()
            );
        }
        (Err(_), Some(BodyFailure::GzipRatio { ratio })) => {
            assert_eq!(ratio, limits.max_gzip_ratio);
            assert!(
                decoded.len() > RATIO_GRACE || reference.is_err(),
                "the ratio checked before its grace"
            );
        }
        (Err(_), Some(BodyFailure::BadGzip(_))) => {
            assert!(reference.is_err(), "bad gzip that flate2 reads");
        }
        (read, failure) => panic!("read {read:?} with failure {failure:?}"),
    }
    if reference.is_ok() && within_bytes && within_grace {
        assert!(read.is_ok(), "a body within its limits failed: {read:?}");
    }

    // The whole converter on the gzip body: compared with the decoded bytes sent plain
    // when they are few enough to convert twice (a decompression bomb's are left to the
    // reader's checks above), or with the body's error when it fails inside the sample
    // the converter reads first. (Past the ratio's grace, whether the cap stops a body
    // depends on how much each read asks for: not compared.)
    let compare = read.is_ok() && within_grace && decoded.len() <= CONVERTED_BYTES;
    let failure = state.failure().filter(|_| decoded.len() < SAMPLE_BYTES);
    if !compare && failure.is_none() {
        return;
    }
    let (result, sent) =
        ingestd::fuzzing::convert(Chunked::new(&wire, chunk), &csv(), true, limits, 4096, None);
    assert_sent_in_order(&result, &sent);
    if compare {
        let (want, want_sent) = ingestd::fuzzing::convert(
            Chunked::new(&decoded, chunk),
            &csv(),
            false,
            BodyLimits::default(),
            4096,
            None,
        );
        match (&result, &want) {
            (Ok(got), Ok(want)) => {
                assert_eq!(got, want);
                assert_eq!(sent.rows, want_sent.rows);
            }
            (Err(got), Err(want)) => assert_eq!(got.to_string(), want.to_string()),
            _ => panic!("gzip gave {result:?}, plain {want:?}"),
        }
    } else if let Some(failure) = failure {
        // Of a corrupt stream (flate2 fails on it too), where the fault is found depends on
        // how much each read asks for: the converter's reads may reach the fault before
        // the limit that stopped the reads above, or pass the limit first. Either refusal
        // is right.
        let corrupt = reference.is_err();
        let matches = match (&failure, &result) {
            (BodyFailure::TooLarge { limit }, Err(IngestError::TooLarge { limit: l })) => {
                limit == l
            }
            (BodyFailure::GzipRatio { ratio }, Err(IngestError::GzipRatio { ratio: r })) => {
                ratio == r
            }
            (BodyFailure::BadGzip(_), Err(IngestError::BadGzip(_))) => true,
            (_, Err(IngestError::BadGzip(_))) => corrupt,
            (BodyFailure::BadGzip(_), Err(IngestError::TooLarge { limit })) => {
                corrupt && *limit == limits.max_bytes
            }
            (BodyFailure::BadGzip(_), Err(IngestError::GzipRatio { ratio })) => {
                corrupt && *ratio == limits.max_gzip_ratio
            }
            _ => false,
        };
        assert!(
            matches,
            "the body failed with {failure:?}, the ingest with {result:?}"
        );
    }
});
