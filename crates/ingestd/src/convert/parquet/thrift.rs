//! A walk over a Parquet file's Thrift structures (the footer and every page header)
//! before the parquet crate reads them, refusing the ones that would cost it unbounded CPU.
//!
//! The crate (59.3) skips a field it does not know element by element, and reads a boolean
//! element of a list or map as taking no bytes: a few bytes declaring a map of 2^31
//! booleans cost it seconds of CPU, and a footer of such maps, or one in every page header,
//! pins a core for as long as an attacker likes (found by the `parquet_ingest` fuzz
//! target). In a well-formed compact encoding every element takes at least a byte, so a
//! structure declaring more elements in all than it has bytes is corrupt: the walk counts
//! the elements the crate would visit, with the crate's own reading of every type, and
//! stops the file at that count. Any other malformation is left to the crate, which names
//! it.
//!
//! The walk reads every field by its wire type; the crate reads a field it knows by its
//! declared type whatever the wire says, so a structure lying about a known field's type
//! can still steer the crate into bytes the walk skipped (docs/benchmarks.md, Fuzzing).

/// What a walk found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Walk {
    /// The structure read to its end in `len` bytes; `fields` holds the top-level i32
    /// fields asked for, in the order asked (None where absent).
    Read {
        len: usize,
        fields: Vec<Option<i32>>,
    },
    /// The bytes ended before the structure did.
    Truncated,
    /// Malformed in another way (the crate reports it).
    Malformed,
    /// It declares more elements than it has bytes: the file is refused.
    TooManyElements { declared: u64, bytes: usize },
}

/// Walks the compact-protocol struct at the start of `bytes`, noting the top-level i32
/// fields whose ids are in `wanted`. A struct whose lists, sets and maps hold more elements
/// in all than it has bytes is refused, so what the crate spends on it is bounded by its
/// length.
pub(crate) fn walk_struct(bytes: &[u8], wanted: &[i16]) -> Walk {
    let mut walker = Walker {
        bytes,
        at: 0,
        elements: 0,
        wanted,
        fields: vec![None; wanted.len()],
    };
    match walker.structure(0) {
        Ok(()) if walker.elements > walker.at as u64 => Walk::TooManyElements {
            declared: walker.elements,
            bytes: walker.at,
        },
        Ok(()) => Walk::Read {
            len: walker.at,
            fields: walker.fields,
        },
        Err(Stop::Truncated) => Walk::Truncated,
        Err(Stop::Malformed) => Walk::Malformed,
        Err(Stop::TooManyElements(declared)) => Walk::TooManyElements {
            declared,
            bytes: bytes.len(),
        },
    }
}

enum Stop {
    Truncated,
    Malformed,
    TooManyElements(u64),
}

/// The crate's limit on nesting when it skips.
const MAX_DEPTH: u8 = 64;

struct Walker<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Elements of lists, sets and maps visited so far.
    elements: u64,
    wanted: &'a [i16],
    fields: Vec<Option<i32>>,
}

impl Walker<'_> {
    fn byte(&mut self) -> Result<u8, Stop> {
        let b = *self.bytes.get(self.at).ok_or(Stop::Truncated)?;
        self.at += 1;
        Ok(b)
    }

    fn skip(&mut self, n: u64) -> Result<(), Stop> {
        let left = (self.bytes.len() - self.at) as u64;
        if n > left {
            return Err(Stop::Truncated);
        }
        self.at += n as usize;
        Ok(())
    }

    /// An unsigned varint, read as the crate does (any number of bytes).
    fn varint(&mut self) -> Result<u64, Stop> {
        let mut value = 0u64;
        let mut shift = 0u32;
        loop {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f).wrapping_shl(shift);
            if b & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
    }

    /// Counts `n` more elements, stopping as soon as they outnumber all the bytes there are
    /// (the struct's own length, checked at its end, can only be shorter).
    fn elements(&mut self, n: u64) -> Result<(), Stop> {
        self.elements = self.elements.saturating_add(n);
        if self.elements > self.bytes.len() as u64 {
            return Err(Stop::TooManyElements(self.elements));
        }
        Ok(())
    }

    fn structure(&mut self, depth: u8) -> Result<(), Stop> {
        let mut id = 0i16;
        loop {
            let header = self.byte()?;
            let ty = header & 0x0f;
            if ty == 0 {
                return Ok(());
            }
            let delta = header >> 4;
            id = if delta == 0 {
                let zigzag = self.varint()?;
                i16::try_from((zigzag >> 1) as i64 ^ -((zigzag & 1) as i64))
                    .map_err(|_| Stop::Malformed)?
            } else {
                id.checked_add(i16::from(delta)).ok_or(Stop::Malformed)?
            };
            if depth == 0
                && ty == 5
                && let Some(slot) = self.wanted.iter().position(|&w| w == id)
            {
                let zigzag = self.varint()?;
                let value = (zigzag >> 1) as i64 ^ -((zigzag & 1) as i64);
                self.fields[slot] = Some(i32::try_from(value).map_err(|_| Stop::Malformed)?);
                continue;
            }
            self.value(ty, depth + 1)?;
        }
    }

    /// Skips a value of field type `ty` as the crate's skip does.
    fn value(&mut self, ty: u8, depth: u8) -> Result<(), Stop> {
        if depth > MAX_DEPTH {
            return Err(Stop::Malformed);
        }
        match ty {
            // The crate reads a boolean, in a field or (wrongly) as an element, as no bytes.
            1 | 2 => Ok(()),
            3 => self.skip(1),
            4..=6 => self.varint().map(drop),
            7 => self.skip(8),
            8 => {
                let len = self.varint()?;
                self.skip(len)
            }
            9 | 10 => {
                let header = self.byte()?;
                if header == 0 {
                    return Ok(());
                }
                let element = element_type(header & 0x0f)?;
                let n = match header >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                if n > i32::MAX as u64 {
                    return Err(Stop::Malformed);
                }
                self.elements(n)?;
                for _ in 0..n {
                    self.value(element, depth + 1)?;
                }
                Ok(())
            }
            11 => {
                let n = self.varint()?;
                if n > i32::MAX as u64 {
                    return Err(Stop::Malformed);
                }
                if n == 0 {
                    return Ok(());
                }
                let kinds = self.byte()?;
                let (key, value) = (element_type(kinds >> 4)?, element_type(kinds & 0x0f)?);
                self.elements(n)?;
                for _ in 0..n {
                    self.value(key, depth + 1)?;
                    self.value(value, depth + 1)?;
                }
                Ok(())
            }
            12 => self.structure(depth),
            13 => self.skip(16),
            _ => Err(Stop::Malformed),
        }
    }
}

/// The field type an element type code is skipped as.
fn element_type(code: u8) -> Result<u8, Stop> {
    match code {
        1..=13 => Ok(code),
        _ => Err(Stop::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::{Walk, walk_struct};

    #[test]
    fn a_well_formed_struct_reads_to_its_stop_and_gives_the_fields_asked_for() {
        // field 1 i32 = 7 (zigzag 14), field 2 binary "ab", field 3 list of 3 i32, field 5
        // (delta 2) i32 = -1 (zigzag 1), stop.
        let bytes = [
            0x15, 14, 0x18, 2, b'a', b'b', 0x19, 0x35, 2, 4, 6, 0x25, 1, 0x00,
        ];
        assert_eq!(
            walk_struct(&bytes, &[5, 1, 9]),
            Walk::Read {
                len: bytes.len(),
                fields: vec![Some(-1), Some(7), None]
            }
        );
        assert_eq!(walk_struct(&bytes[..5], &[]), Walk::Truncated);
    }

    #[test]
    fn more_declared_elements_than_bytes_is_refused_wherever_they_hide() {
        // A list of 2^31 - 1 booleans (the crate skips each as no bytes).
        let list = [0x19, 0xf1, 0xff, 0xff, 0xff, 0xff, 0x07, 0x00];
        assert!(matches!(
            walk_struct(&list, &[]),
            Walk::TooManyElements {
                declared: 0x7fff_ffff,
                ..
            }
        ));
        // A map of booleans to booleans, inside a struct inside a struct.
        let map = [0x1c, 0x1b, 0xff, 0xff, 0x7f, 0x11, 0x00, 0x00];
        assert!(matches!(
            walk_struct(&map, &[]),
            Walk::TooManyElements { .. }
        ));
        // Many small lists of booleans, each within the bytes, but not all together.
        let mut many = vec![0x19, 0xf9, 40];
        many.extend(std::iter::repeat_n(0xd1, 40));
        many.push(0x00);
        assert!(matches!(
            walk_struct(&many, &[]),
            Walk::TooManyElements { .. }
        ));
        // Fewer elements than the bytes that follow, more than the struct's own: a page
        // header followed by its page's data.
        let mut header = vec![0x19, 0x91, 0x00];
        header.extend([0u8; 64]);
        assert_eq!(
            walk_struct(&header, &[]),
            Walk::TooManyElements {
                declared: 9,
                bytes: 3
            }
        );
    }
}
