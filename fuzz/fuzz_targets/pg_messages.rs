//! The PostgreSQL front end on a client's bytes: pgwire's frontend decoders in every state
//! of a connection (SSL/GSS negotiation, startup or cancel, password, then the simple and
//! extended query messages), and what queryd does with what they decode — a Query's
//! statements split and classified, a Bind's parameters decoded (text and binary, the
//! binary `numeric` included) to the types the plan expects.
//!
//! - Every decoded message encodes, and decodes back to itself.
//! - A parameter decodes to a value of its target type, or to a PostgreSQL error, and a
//!   NULL to a typed null; a binary numeric reads to decimal text that writes back to the
//!   same bytes' value; decimal text of any `i128` and scale round-trips through the binary
//!   form.
//! - The split pieces are the statements between top-level `;`, in order, with their
//!   character offsets.
//! - Nothing panics.
//!
//! Input: one control byte (the starting state, the protocol version, what a password
//! message answers), eight parameter target types, then the bytes a client sends.

#![no_main]

use bytes::BytesMut;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use lakehouse_fuzz::caught;
use libfuzzer_sys::fuzz_target;
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::FieldFormat;
use pgwire::messages::{DecodeContext, PgWireFrontendMessage, ProtocolVersion};
use queryd::fuzzing::{compat, numeric, params, statements, types};

/// Plan types a parameter may be cast to.
fn target(code: u8) -> Option<DataType> {
    Some(match code % 14 {
        0 => return None,
        1 => DataType::Int16,
        2 => DataType::Int32,
        3 => DataType::Int64,
        4 => DataType::Float32,
        5 => DataType::Float64,
        6 => DataType::Boolean,
        7 => DataType::Utf8,
        8 => DataType::Date32,
        9 => DataType::Timestamp(TimeUnit::Microsecond, None),
        10 => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        11 => DataType::Decimal128(38, 10),
        12 => DataType::Time64(TimeUnit::Microsecond),
        _ => DataType::Binary,
    })
}

/// Runs pgwire's decoder. pgwire 0.42 reads some messages' fields without checking that
/// they are there: a Parse or Bind message whose counts or lengths run past the bytes
/// received, or a SCRAM initial response whose data length does, panics inside pgwire
/// (docs/benchmarks.md, "Fuzzing"). That panic ends the connection's task and nothing
/// else (tokio contains it), and queryd cannot see the bytes before pgwire does; so it is
/// caught here and the input counts as refused, for the rest of the front end to stay
/// fuzzable.
fn pgwire<T>(decode: impl FnOnce() -> T) -> Option<T> {
    caught(decode).ok()
}

fn context(version: ProtocolVersion, ssl: bool, startup: bool) -> DecodeContext {
    let mut ctx = DecodeContext::new(version);
    ctx.awaiting_frontend_ssl = ssl;
    ctx.awaiting_frontend_startup = startup;
    ctx
}

/// Encodes `message`, decodes it in the state it was decoded in, and compares.
fn round_trip(message: &PgWireFrontendMessage, version: ProtocolVersion, ssl: bool, startup: bool) {
    let mut encoded = BytesMut::new();
    if message.encode(&mut encoded).is_err() || encoded.is_empty() {
        // Too large to send back, or the SSL negotiation's "no request" marker.
        return;
    }
    let mut again = encoded.clone();
    let decoded =
        pgwire(|| PgWireFrontendMessage::decode(&mut again, &context(version, ssl, startup)))
            .expect("decoding what pgwire encoded does not panic");
    let Ok(Some(back)) = decoded else {
        panic!("{message:?} encodes to {encoded:?}, which decodes to {decoded:?}");
    };
    assert!(
        again.is_empty(),
        "{} bytes left after {back:?}",
        again.len()
    );
    assert_eq!(
        format!("{back:?}"),
        format!("{message:?}"),
        "a different message back"
    );
}

/// The binary numeric reader and writer.
fn numerics(bytes: &[u8]) {
    if let Ok(text) = numeric::read_binary(bytes) {
        let mut buf = BytesMut::new();
        numeric::write_binary(&mut buf, &text);
        assert_eq!(numeric::read_binary(&buf).as_deref(), Ok(text.as_str()));
    }
    if let (Some(int), Some(&scale)) = (bytes.get(..16), bytes.get(16)) {
        let value = i128::from_le_bytes(int.try_into().expect("16 bytes"));
        let scale = usize::from(scale % 39);
        let digits = value.unsigned_abs().to_string();
        let digits = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = digits.split_at(digits.len() - scale);
        let sign = if value < 0 { "-" } else { "" };
        let text = if scale == 0 {
            format!("{sign}{int}")
        } else {
            format!("{sign}{int}.{frac}")
        };
        let mut buf = BytesMut::new();
        numeric::write_binary(&mut buf, &text);
        assert_eq!(
            numeric::read_binary(&buf).as_deref(),
            Ok(text.as_str()),
            "{text}"
        );
    }
}

fn statements(sql: &str) {
    let pieces = statements::split(sql);
    let mut end = 0;
    for piece in &pieces {
        let start = piece.sql.as_ptr() as usize - sql.as_ptr() as usize;
        assert!(start >= end, "pieces overlap or go back");
        assert!(
            start == 0 || sql.as_bytes()[start - 1] == b';',
            "{piece:?} not after a ;"
        );
        end = start + piece.sql.len();
        assert!(
            end == sql.len() || sql.as_bytes()[end] == b';',
            "{piece:?} not before a ;"
        );
        assert_eq!(
            piece.offset,
            sql[..start].chars().count(),
            "offset of {piece:?}"
        );
        let blank = |c: char| c.is_ascii_whitespace();
        assert!(
            !piece.sql.trim_matches(blank).is_empty(),
            "an empty statement"
        );
        if let Some(local) = compat::classify(piece.sql) {
            assert!(!local.tag().is_empty());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [control, t0, t1, t2, t3, t4, t5, t6, t7, wire @ ..] = data else {
        return;
    };
    let targets: Vec<Option<DataType>> = [t0, t1, t2, t3, t4, t5, t6, t7]
        .iter()
        .map(|&&t| target(t))
        .collect();
    let version = if control & 0x04 != 0 {
        ProtocolVersion::PROTOCOL3_2
    } else {
        ProtocolVersion::PROTOCOL3_0
    };
    let (mut ssl, mut startup) = match control & 0x03 {
        0 => (true, true),
        1 => (false, true),
        _ => (false, false),
    };
    numerics(wire);

    let mut buf = BytesMut::from(wire);
    let mut declared: Vec<Type> = Vec::new();
    for _ in 0..64 {
        let ctx = context(version, ssl, startup);
        let message = match pgwire(|| PgWireFrontendMessage::decode(&mut buf, &ctx)) {
            Some(Ok(Some(message))) => message,
            _ => break,
        };
        round_trip(&message, version, ssl, startup);
        match message {
            PgWireFrontendMessage::SslNegotiation(_) => ssl = false,
            PgWireFrontendMessage::Startup(_) => startup = false,
            PgWireFrontendMessage::CancelRequest(_) => break,
            PgWireFrontendMessage::PasswordMessageFamily(family) => {
                // What it is depends on what the server asked for: a SCRAM exchange's
                // initial response, then its final one (startup.rs), or a password.
                let _ = pgwire(|| match control >> 6 {
                    0 => family.into_sasl_initial_response().map(drop),
                    1 => family.into_sasl_response().map(drop),
                    _ => family.into_password().map(drop),
                });
            }
            PgWireFrontendMessage::Query(query) => statements(&query.query),
            PgWireFrontendMessage::Parse(parse) => {
                statements(&parse.query);
                declared = parse
                    .type_oids
                    .iter()
                    .map(|&oid| Type::from_oid(oid).unwrap_or(Type::UNKNOWN))
                    .collect();
            }
            PgWireFrontendMessage::Bind(bind) => {
                // As the extended protocol's portal reads the format codes.
                let format = match bind.parameter_format_codes.as_slice() {
                    [] => Format::UnifiedText,
                    [code] => Format::from(*code),
                    codes => Format::Individual(codes.to_vec()),
                };
                for (i, value) in bind.parameters.iter().enumerate() {
                    let ty = declared
                        .get(i)
                        .filter(|t| **t != Type::UNKNOWN)
                        .cloned()
                        .unwrap_or(Type::TEXT);
                    let target = targets[i % targets.len()].as_ref();
                    let field_format = types::field_format(&format, i);
                    let Ok(scalar) = params::decode(value.as_deref(), &ty, field_format, target)
                    else {
                        continue;
                    };
                    match (value, target) {
                        (None, _) => assert!(scalar.is_null(), "NULL decoded to {scalar:?}"),
                        (Some(_), Some(target)) => {
                            assert_eq!(&scalar.data_type(), target, "{ty} as {field_format:?}");
                        }
                        (Some(_), None) => match (scalar.data_type(), params::arrow_type(&ty)) {
                            // A numeric keeps its text's own precision and scale.
                            (DataType::Decimal128(..), DataType::Decimal128(..)) => {}
                            (got, want) => assert_eq!(got, want, "{ty} as {field_format:?}"),
                        },
                    }
                    if let (Some(bytes), FieldFormat::Binary, &Type::NUMERIC) =
                        (value, field_format, &ty)
                    {
                        numerics(bytes);
                    }
                }
            }
            _ => {}
        }
    }
});
