//! PostgreSQL's binary `numeric`: `ndigits`, `weight`, `sign`, `dscale` (each 16 bits,
//! network order), then `ndigits` base-10000 digits; the value is
//! `sum(digit[i] * 10000^(weight - i))`, shown with `dscale` fraction digits.
//!
//! Both directions go through decimal text (`-123.4500`), the form Arrow decimals,
//! `u64`s and parameters already have, so precision and scale are never lost.

use bytes::{BufMut, BytesMut};

const POSITIVE: u16 = 0x0000;
const NEGATIVE: u16 = 0x4000;
const NAN: u16 = 0xC000;

/// Appends the binary form of decimal `text` (`[-]digits[.digits]`); the scale is the
/// number of fraction digits written.
pub fn write_binary(buf: &mut BytesMut, text: &str) {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let int = int.trim_start_matches('0');
    let dscale = frac.len();
    // Integer digits left-padded, fraction digits right-padded, to whole groups of 4.
    let int_pad = (4 - int.len() % 4) % 4;
    let frac_pad = (4 - frac.len() % 4) % 4;
    let int_groups = (int.len() + int_pad) / 4;
    let padded: Vec<u8> = std::iter::repeat_n(b'0', int_pad)
        .chain(int.bytes())
        .chain(frac.bytes())
        .chain(std::iter::repeat_n(b'0', frac_pad))
        .collect();
    let mut digits: Vec<i16> = padded
        .chunks(4)
        .map(|g| g.iter().fold(0i16, |acc, d| acc * 10 + i16::from(d - b'0')))
        .collect();
    let mut weight = int_groups as i32 - 1;
    let leading = digits.iter().take_while(|d| **d == 0).count();
    digits.drain(..leading);
    weight -= leading as i32;
    while digits.last() == Some(&0) {
        digits.pop();
    }
    let sign = if negative && !digits.is_empty() {
        NEGATIVE
    } else {
        POSITIVE
    };
    if digits.is_empty() {
        weight = 0;
    }
    buf.put_i16(digits.len() as i16);
    buf.put_i16(weight as i16);
    buf.put_u16(sign);
    buf.put_i16(dscale as i16);
    for d in digits {
        buf.put_i16(d);
    }
}

/// The decimal text of a binary numeric, with exactly `dscale` fraction digits.
pub fn read_binary(bytes: &[u8]) -> Result<String, String> {
    let word = |i: usize| -> Result<i16, String> {
        bytes
            .get(i * 2..i * 2 + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "a binary numeric is shorter than its header says".to_string())
    };
    let ndigits = usize::try_from(word(0)?).map_err(|_| "negative digit count")?;
    let weight = i32::from(word(1)?);
    let sign = word(2)? as u16;
    let dscale = usize::try_from(word(3)?).map_err(|_| "negative display scale")?;
    if sign == NAN {
        return Err("NaN is not a supported numeric value".into());
    }
    if sign != POSITIVE && sign != NEGATIVE {
        return Err(format!("invalid numeric sign 0x{sign:04x}"));
    }
    if bytes.len() != (4 + ndigits) * 2 {
        return Err("a binary numeric's length does not match its digit count".into());
    }
    let digits = (0..ndigits)
        .map(|i| {
            let d = word(4 + i)?;
            if (0..10_000).contains(&d) {
                Ok(d)
            } else {
                Err(format!("invalid numeric digit {d}"))
            }
        })
        .collect::<Result<Vec<i16>, String>>()?;
    // Group i holds the 4 decimal digits of 10000^(weight - i).
    let group = |power: i32| -> i16 {
        let index = weight - power;
        usize::try_from(index)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut int = String::new();
    for power in (0..=weight.max(0)).rev() {
        int.push_str(&format!("{:04}", group(power)));
    }
    let int = int.trim_start_matches('0');
    let mut frac = String::new();
    let mut power = -1;
    while frac.len() < dscale {
        frac.push_str(&format!("{:04}", group(power)));
        power -= 1;
    }
    frac.truncate(dscale);
    let mut text = String::new();
    // Zero has no sign, as PostgreSQL reads it (digits cut off by `dscale` included).
    if sign == NEGATIVE && (!int.is_empty() || frac.bytes().any(|b| b != b'0')) {
        text.push('-');
    }
    text.push_str(if int.is_empty() { "0" } else { int });
    if dscale > 0 {
        text.push('.');
        text.push_str(&frac);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn binary(text: &str) -> Vec<u8> {
        let mut buf = BytesMut::new();
        write_binary(&mut buf, text);
        buf.to_vec()
    }

    #[test]
    fn known_encodings() {
        // 12345.678: digits [1, 2345, 6780], weight 1, dscale 3 (PostgreSQL's numeric_send).
        assert_eq!(
            binary("12345.678"),
            vec![0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c]
        );
        assert_eq!(binary("0.00"), vec![0, 0, 0, 0, 0, 0, 0, 2]);
        assert_eq!(
            binary("-0.0001"),
            vec![0, 1, 0xff, 0xff, 0x40, 0, 0, 4, 0, 1]
        );
    }

    #[test]
    fn negative_zero_reads_as_zero() {
        // Found by the pg_messages fuzz target: PostgreSQL reads a numeric whose digits are
        // zero, or cut off by its display scale, as 0 whatever its sign bit; the text read
        // here kept the sign ("-0.00"), which no writer gives back.
        assert_eq!(
            read_binary(&[0, 1, 0, 0, 0x40, 0, 0, 2, 0, 0]).unwrap(),
            "0.00"
        );
        assert_eq!(read_binary(&[0, 0, 0, 0, 0x40, 0, 0, 0]).unwrap(), "0");
        // -0.001 shown with two fraction digits.
        assert_eq!(
            read_binary(&[0, 1, 0xff, 0xff, 0x40, 0, 0, 2, 0, 10]).unwrap(),
            "0.00"
        );
        assert_eq!(
            read_binary(&[0, 1, 0xff, 0xff, 0x40, 0, 0, 3, 0, 10]).unwrap(),
            "-0.001"
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(read_binary(&[0, 1]).is_err());
        assert!(read_binary(&[0, 0, 0, 0, 0xC0, 0, 0, 0]).is_err());
        assert!(read_binary(&[0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10]).is_err());
    }

    proptest! {
        #[test]
        fn text_round_trips(negative: bool, int in "[1-9][0-9]{0,20}|0", frac in "[0-9]{0,12}") {
            let mut text = String::new();
            if negative && (int != "0" || frac.bytes().any(|b| b != b'0')) {
                text.push('-');
            }
            text.push_str(&int);
            if !frac.is_empty() {
                text.push('.');
                text.push_str(&frac);
            }
            prop_assert_eq!(read_binary(&binary(&text)).unwrap(), text);
        }

        #[test]
        fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = read_binary(&bytes);
        }
    }
}
