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
//! stops the file at that count.
//!
//! The crate reads a field it knows by the type the format declares for it, whatever type
//! the field's header names, and skips one it does not know by the header's type. So the
//! walk knows the format's structures too ([`FILE_META_DATA`], [`PAGE_HEADER`]): a known
//! field, or a known list's elements, whose wire type is not the declared one is refused
//! (no writer produces one, and reading it the crate's way would take the walk where the
//! crate does not go); an unknown one is skipped as the crate skips it. Any other
//! malformation the crate would fail on too (an unknown type code, a field id or a count
//! past its type, nesting past the crate's limit) is refused as well: the walk cannot
//! vouch for what follows it, and the crate, reading on, might not fail before it has
//! spun on what the walk did not check. The walk reads numbers as the crate does, wrapping
//! where it narrows.

/// The type the format declares for a field or a list's elements.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Decl {
    Bool,
    Byte,
    I16,
    /// Also every enum.
    I32,
    I64,
    Double,
    /// Also every string.
    Binary,
    List(&'static Decl),
    Struct(Fields),
}

/// A struct's (or union's) fields: id and declared type.
pub(crate) type Fields = &'static [(i16, Decl)];

impl Decl {
    /// The compact protocol's code for this type, as a field's or an element's.
    fn code(self) -> u8 {
        match self {
            Decl::Bool => 1,
            Decl::Byte => 3,
            Decl::I16 => 4,
            Decl::I32 => 5,
            Decl::I64 => 6,
            Decl::Double => 7,
            Decl::Binary => 8,
            Decl::List(_) => 9,
            Decl::Struct(_) => 12,
        }
    }
}

// The format's structures as parquet 59.3 reads them (parquet.thrift). A struct with no
// fields here (an empty one, or a union member without data) has every field skipped.
const EMPTY: Fields = &[];
const TIME_UNIT: Fields = &[
    (1, Decl::Struct(EMPTY)),
    (2, Decl::Struct(EMPTY)),
    (3, Decl::Struct(EMPTY)),
];
const DECIMAL_TYPE: Fields = &[(1, Decl::I32), (2, Decl::I32)];
const TIMESTAMP_TYPE: Fields = &[(1, Decl::Bool), (2, Decl::Struct(TIME_UNIT))];
const INT_TYPE: Fields = &[(1, Decl::Byte), (2, Decl::Bool)];
const VARIANT_TYPE: Fields = &[(1, Decl::Byte)];
const GEOMETRY_TYPE: Fields = &[(1, Decl::Binary)];
const GEOGRAPHY_TYPE: Fields = &[(1, Decl::Binary), (2, Decl::I32)];
const LOGICAL_TYPE: Fields = &[
    (1, Decl::Struct(EMPTY)),
    (2, Decl::Struct(EMPTY)),
    (3, Decl::Struct(EMPTY)),
    (4, Decl::Struct(EMPTY)),
    (5, Decl::Struct(DECIMAL_TYPE)),
    (6, Decl::Struct(EMPTY)),
    (7, Decl::Struct(TIMESTAMP_TYPE)),
    (8, Decl::Struct(TIMESTAMP_TYPE)),
    (10, Decl::Struct(INT_TYPE)),
    (11, Decl::Struct(EMPTY)),
    (12, Decl::Struct(EMPTY)),
    (13, Decl::Struct(EMPTY)),
    (14, Decl::Struct(EMPTY)),
    (15, Decl::Struct(EMPTY)),
    (16, Decl::Struct(VARIANT_TYPE)),
    (17, Decl::Struct(GEOMETRY_TYPE)),
    (18, Decl::Struct(GEOGRAPHY_TYPE)),
];
const SCHEMA_ELEMENT: Fields = &[
    (1, Decl::I32),
    (2, Decl::I32),
    (3, Decl::I32),
    (4, Decl::Binary),
    (5, Decl::I32),
    (6, Decl::I32),
    (7, Decl::I32),
    (8, Decl::I32),
    (9, Decl::I32),
    (10, Decl::Struct(LOGICAL_TYPE)),
];
const STATISTICS: Fields = &[
    (1, Decl::Binary),
    (2, Decl::Binary),
    (3, Decl::I64),
    (4, Decl::I64),
    (5, Decl::Binary),
    (6, Decl::Binary),
    (7, Decl::Bool),
    (8, Decl::Bool),
];
const KEY_VALUE: Fields = &[(1, Decl::Binary), (2, Decl::Binary)];
const PAGE_ENCODING_STATS: Fields = &[(1, Decl::I32), (2, Decl::I32), (3, Decl::I32)];
const SIZE_STATISTICS: Fields = &[
    (1, Decl::I64),
    (2, Decl::List(&Decl::I64)),
    (3, Decl::List(&Decl::I64)),
];
const BOUNDING_BOX: Fields = &[
    (1, Decl::Double),
    (2, Decl::Double),
    (3, Decl::Double),
    (4, Decl::Double),
    (5, Decl::Double),
    (6, Decl::Double),
    (7, Decl::Double),
    (8, Decl::Double),
];
const GEOSPATIAL_STATISTICS: Fields =
    &[(1, Decl::Struct(BOUNDING_BOX)), (2, Decl::List(&Decl::I32))];
const COLUMN_META_DATA: Fields = &[
    (1, Decl::I32),
    (2, Decl::List(&Decl::I32)),
    (3, Decl::List(&Decl::Binary)),
    (4, Decl::I32),
    (5, Decl::I64),
    (6, Decl::I64),
    (7, Decl::I64),
    (8, Decl::List(&Decl::Struct(KEY_VALUE))),
    (9, Decl::I64),
    (10, Decl::I64),
    (11, Decl::I64),
    (12, Decl::Struct(STATISTICS)),
    (13, Decl::List(&Decl::Struct(PAGE_ENCODING_STATS))),
    (14, Decl::I64),
    (15, Decl::I32),
    (16, Decl::Struct(SIZE_STATISTICS)),
    (17, Decl::Struct(GEOSPATIAL_STATISTICS)),
];
const ENCRYPTION_WITH_COLUMN_KEY: Fields = &[(1, Decl::List(&Decl::Binary)), (2, Decl::Binary)];
const COLUMN_CRYPTO_META_DATA: Fields = &[
    (1, Decl::Struct(EMPTY)),
    (2, Decl::Struct(ENCRYPTION_WITH_COLUMN_KEY)),
];
const COLUMN_CHUNK: Fields = &[
    (1, Decl::Binary),
    (2, Decl::I64),
    (3, Decl::Struct(COLUMN_META_DATA)),
    (4, Decl::I64),
    (5, Decl::I32),
    (6, Decl::I64),
    (7, Decl::I32),
    (8, Decl::Struct(COLUMN_CRYPTO_META_DATA)),
    (9, Decl::Binary),
];
const SORTING_COLUMN: Fields = &[(1, Decl::I32), (2, Decl::Bool), (3, Decl::Bool)];
const ROW_GROUP: Fields = &[
    (1, Decl::List(&Decl::Struct(COLUMN_CHUNK))),
    (2, Decl::I64),
    (3, Decl::I64),
    (4, Decl::List(&Decl::Struct(SORTING_COLUMN))),
    (5, Decl::I64),
    (6, Decl::I64),
    (7, Decl::I16),
];
const AES_GCM: Fields = &[(1, Decl::Binary), (2, Decl::Binary), (3, Decl::Bool)];
const ENCRYPTION_ALGORITHM: Fields = &[(1, Decl::Struct(AES_GCM)), (2, Decl::Struct(AES_GCM))];

/// `FileMetaData`, the footer.
pub(crate) const FILE_META_DATA: Fields = &[
    (1, Decl::I32),
    (2, Decl::List(&Decl::Struct(SCHEMA_ELEMENT))),
    (3, Decl::I64),
    (4, Decl::List(&Decl::Struct(ROW_GROUP))),
    (5, Decl::List(&Decl::Struct(KEY_VALUE))),
    (6, Decl::Binary),
    (7, Decl::List(&Decl::Struct(EMPTY_UNION_OF_ONE))),
    (8, Decl::Struct(ENCRYPTION_ALGORITHM)),
    (9, Decl::Binary),
];
/// `ColumnOrder`: a union whose one member (`TypeDefinedOrder`) is empty.
const EMPTY_UNION_OF_ONE: Fields = &[(1, Decl::Struct(EMPTY))];

const DATA_PAGE_HEADER: Fields = &[
    (1, Decl::I32),
    (2, Decl::I32),
    (3, Decl::I32),
    (4, Decl::I32),
    (5, Decl::Struct(STATISTICS)),
];
const DICTIONARY_PAGE_HEADER: Fields = &[(1, Decl::I32), (2, Decl::I32), (3, Decl::Bool)];
const DATA_PAGE_HEADER_V2: Fields = &[
    (1, Decl::I32),
    (2, Decl::I32),
    (3, Decl::I32),
    (4, Decl::I32),
    (5, Decl::I32),
    (6, Decl::I32),
    (7, Decl::Bool),
    (8, Decl::Struct(STATISTICS)),
];

/// `PageHeader`, before every page.
pub(crate) const PAGE_HEADER: Fields = &[
    (1, Decl::I32),
    (2, Decl::I32),
    (3, Decl::I32),
    (4, Decl::I32),
    (5, Decl::Struct(DATA_PAGE_HEADER)),
    (6, Decl::Struct(EMPTY)),
    (7, Decl::Struct(DICTIONARY_PAGE_HEADER)),
    (8, Decl::Struct(DATA_PAGE_HEADER_V2)),
];

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
    /// Malformed in another way, which the crate would fail on too (what is wrong): the
    /// file is refused, since a walk that stopped there has not checked what follows.
    Malformed(&'static str),
    /// It declares more elements than it has bytes: the file is refused.
    TooManyElements { declared: u64, bytes: usize },
    /// A known field (or a known list's elements) of another type than the format's: the
    /// file is refused.
    Mistyped { field: i16, wire: u8, declared: u8 },
}

/// Walks the compact-protocol struct with `fields` at the start of `bytes`, noting the
/// top-level i32 fields whose ids are in `wanted`. A struct whose lists, sets and maps hold
/// more elements in all than it has bytes is refused, so what the crate spends on it is
/// bounded by its length, and so is one with a known field of another type than declared.
pub(crate) fn walk_struct(bytes: &[u8], fields: Fields, wanted: &[i16]) -> Walk {
    let mut walker = Walker {
        bytes,
        at: 0,
        elements: 0,
        wanted,
        fields: vec![None; wanted.len()],
    };
    match walker.structure(true, fields) {
        Ok(()) if walker.elements > walker.at as u64 => Walk::TooManyElements {
            declared: walker.elements,
            bytes: walker.at,
        },
        Ok(()) => Walk::Read {
            len: walker.at,
            fields: walker.fields,
        },
        Err(Stop::Truncated) => Walk::Truncated,
        Err(Stop::Malformed(what)) => Walk::Malformed(what),
        Err(Stop::TooManyElements(declared)) => Walk::TooManyElements {
            declared,
            bytes: bytes.len(),
        },
        Err(Stop::Mistyped {
            field,
            wire,
            declared,
        }) => Walk::Mistyped {
            field,
            wire,
            declared,
        },
    }
}

enum Stop {
    Truncated,
    Malformed(&'static str),
    TooManyElements(u64),
    Mistyped { field: i16, wire: u8, declared: u8 },
}

/// The crate's limit on nesting in each skip (of one field it does not know).
const SKIP_DEPTH: u8 = 64;

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

    /// A known struct's fields up to its stop (`top`: the one walked): the known ones as
    /// declared, the others skipped.
    fn structure(&mut self, top: bool, known: Fields) -> Result<(), Stop> {
        let mut id = 0i16;
        loop {
            let header = self.byte()?;
            let ty = header & 0x0f;
            if ty == 0 {
                return Ok(());
            }
            let delta = header >> 4;
            id = if delta == 0 {
                // The crate reads a full field id as an i16 as it reads any i16: the
                // zigzag varint's value truncated (`as`), however long it is.
                zigzag(self.varint()?) as i16
            } else {
                id.checked_add(i16::from(delta))
                    .ok_or(Stop::Malformed("a field id past 32767"))?
            };
            let Some(&(_, declared)) = known.iter().find(|(known, _)| *known == id) else {
                self.skip_value(ty, SKIP_DEPTH)?;
                continue;
            };
            // (A boolean field's value is its type: 1 true, 2 false.)
            let wire = if ty == 2 { 1 } else { ty };
            if wire != declared.code() {
                return Err(Stop::Mistyped {
                    field: id,
                    wire: ty,
                    declared: declared.code(),
                });
            }
            if top
                && let Some(slot) = self.wanted.iter().position(|&w| w == id)
                && matches!(declared, Decl::I32)
            {
                // (Truncated, as the crate reads an i32.)
                self.fields[slot] = Some(zigzag(self.varint()?) as i32);
                continue;
            }
            match declared {
                Decl::List(element) => self.list(id, *element)?,
                Decl::Struct(fields) => self.structure(false, fields)?,
                _ => self.skip_value(ty, 1)?,
            }
        }
    }

    /// A list's (or set's) header, as the crate reads it: its elements' type code and
    /// their number, counted; `None` for the one-byte empty list.
    fn list_header(&mut self) -> Result<Option<(u8, u64)>, Stop> {
        let header = self.byte()?;
        if header == 0 {
            return Ok(None);
        }
        let code = element_type(header & 0x0f)?;
        let n = match header >> 4 {
            15 => self.varint()?,
            n => u64::from(n),
        };
        if n > i32::MAX as u64 {
            return Err(Stop::Malformed("a list of more than 2^31 - 1 elements"));
        }
        self.elements(n)?;
        Ok(Some((code, n)))
    }

    /// A known list (field `id`) of `element`s: the elements are read as declared.
    fn list(&mut self, id: i16, element: Decl) -> Result<(), Stop> {
        let Some((wire, n)) = self.list_header()? else {
            return Ok(());
        };
        if wire != element.code() {
            return Err(Stop::Mistyped {
                field: id,
                wire,
                declared: element.code(),
            });
        }
        for _ in 0..n {
            match element {
                Decl::List(inner) => self.list(id, *inner)?,
                Decl::Struct(fields) => self.structure(false, fields)?,
                other => self.skip_value(other.code(), 1)?,
            }
        }
        Ok(())
    }

    /// Skips a value of field type `ty` as the crate's skip does, nested at most `depth`
    /// deep.
    fn skip_value(&mut self, ty: u8, depth: u8) -> Result<(), Stop> {
        if depth == 0 {
            return Err(Stop::Malformed("values nested more than 64 deep"));
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
                let Some((element, n)) = self.list_header()? else {
                    return Ok(());
                };
                for _ in 0..n {
                    self.skip_value(element, depth - 1)?;
                }
                Ok(())
            }
            11 => {
                let n = self.varint()?;
                if n > i32::MAX as u64 {
                    return Err(Stop::Malformed("a map of more than 2^31 - 1 entries"));
                }
                if n == 0 {
                    return Ok(());
                }
                let kinds = self.byte()?;
                let (key, value) = (element_type(kinds >> 4)?, element_type(kinds & 0x0f)?);
                self.elements(n)?;
                for _ in 0..n {
                    self.skip_value(key, depth - 1)?;
                    self.skip_value(value, depth - 1)?;
                }
                Ok(())
            }
            12 => loop {
                // (Field ids do not matter to a skip.)
                let header = self.byte()?;
                let ty = header & 0x0f;
                if ty == 0 {
                    return Ok(());
                }
                if header >> 4 == 0 {
                    self.varint()?;
                }
                self.skip_value(ty, depth - 1)?;
            },
            13 => self.skip(16),
            _ => Err(Stop::Malformed("an unknown type code")),
        }
    }
}

/// A zigzag varint's value, as the crate decodes it before narrowing it.
fn zigzag(varint: u64) -> i64 {
    (varint >> 1) as i64 ^ -((varint & 1) as i64)
}

/// The field type an element type code is skipped as.
fn element_type(code: u8) -> Result<u8, Stop> {
    match code {
        1..=13 => Ok(code),
        _ => Err(Stop::Malformed("an unknown element type code")),
    }
}

#[cfg(test)]
mod tests {
    use super::{
        DATA_PAGE_HEADER_V2, Decl, FILE_META_DATA, Fields, PAGE_HEADER, Walk, walk_struct,
    };

    /// Fields 1 i32, 2 binary, 3 list of i32, 5 i32.
    const KNOWN: Fields = &[
        (1, Decl::I32),
        (2, Decl::Binary),
        (3, Decl::List(&Decl::I32)),
        (5, Decl::I32),
    ];

    #[test]
    fn a_well_formed_struct_reads_to_its_stop_and_gives_the_fields_asked_for() {
        // field 1 i32 = 7 (zigzag 14), field 2 binary "ab", field 3 list of 3 i32, field 5
        // (delta 2) i32 = -1 (zigzag 1), stop.
        let bytes = [
            0x15, 14, 0x18, 2, b'a', b'b', 0x19, 0x35, 2, 4, 6, 0x25, 1, 0x00,
        ];
        assert_eq!(
            walk_struct(&bytes, KNOWN, &[5, 1, 9]),
            Walk::Read {
                len: bytes.len(),
                fields: vec![Some(-1), Some(7), None]
            }
        );
        assert_eq!(walk_struct(&bytes[..5], KNOWN, &[]), Walk::Truncated);
        // Numbers narrow as the crate narrows them: a full field id of 65537 is field 1
        // (zigzag 131074 = 0x82 0x80 0x08), and a value of 2^32 + 7 of an i32 is 7.
        let wrapped = [0x05, 0x82, 0x80, 0x08, 0x8e, 0x80, 0x80, 0x80, 0x20, 0x00];
        assert_eq!(
            walk_struct(&wrapped, KNOWN, &[1]),
            Walk::Read {
                len: wrapped.len(),
                fields: vec![Some(7)]
            }
        );
        // Unknown fields are skipped by their header's type, as the crate skips them.
        assert_eq!(
            walk_struct(&bytes, &[], &[]),
            Walk::Read {
                len: bytes.len(),
                fields: vec![]
            }
        );
    }

    #[test]
    fn more_declared_elements_than_bytes_is_refused_wherever_they_hide() {
        // A list of 2^31 - 1 booleans (the crate skips each as no bytes).
        let list = [0x19, 0xf1, 0xff, 0xff, 0xff, 0xff, 0x07, 0x00];
        assert!(matches!(
            walk_struct(&list, &[], &[]),
            Walk::TooManyElements {
                declared: 0x7fff_ffff,
                ..
            }
        ));
        // A map of booleans to booleans, inside a struct inside a struct.
        let map = [0x1c, 0x1b, 0xff, 0xff, 0x7f, 0x11, 0x00, 0x00];
        assert!(matches!(
            walk_struct(&map, &[], &[]),
            Walk::TooManyElements { .. }
        ));
        // Many small lists of booleans, each within the bytes, but not all together.
        let mut many = vec![0x19, 0xf9, 40];
        many.extend(std::iter::repeat_n(0xd1, 40));
        many.push(0x00);
        assert!(matches!(
            walk_struct(&many, &[], &[]),
            Walk::TooManyElements { .. }
        ));
        // Fewer elements than the bytes that follow, more than the struct's own: a page
        // header followed by its page's data.
        let mut header = vec![0x19, 0x91, 0x00];
        header.extend([0u8; 64]);
        assert_eq!(
            walk_struct(&header, &[], &[]),
            Walk::TooManyElements {
                declared: 9,
                bytes: 3
            }
        );
    }

    #[test]
    fn a_known_field_or_element_of_another_type_than_declared_is_refused() {
        // The footer's version (an i32) sent as a list of one i64.
        assert_eq!(
            walk_struct(&[0x19, 0x16, 0x02, 0x00], FILE_META_DATA, &[]),
            Walk::Mistyped {
                field: 1,
                wire: 9,
                declared: 5
            }
        );
        // Its schema (a list of structs) sent as a list of binaries.
        assert_eq!(
            walk_struct(&[0x29, 0x18, 0x01, b'a', 0x00], FILE_META_DATA, &[]),
            Walk::Mistyped {
                field: 2,
                wire: 8,
                declared: 12
            }
        );
        // A page header's data page header (a struct) whose num_values is a binary.
        assert_eq!(
            walk_struct(&[0x5c, 0x18, 0x01, b'a', 0x00, 0x00], PAGE_HEADER, &[]),
            Walk::Mistyped {
                field: 1,
                wire: 8,
                declared: 5
            }
        );
        // Booleans are either wire type (field 7 true); unknown fields any type (9, 10).
        assert_eq!(
            walk_struct(
                &[0x15, 0x02, 0x61, 0x22, 0x19, 0x00, 0x00],
                DATA_PAGE_HEADER_V2,
                &[]
            ),
            Walk::Read {
                len: 7,
                fields: vec![]
            }
        );
    }

    #[test]
    fn a_skip_nests_as_deep_as_the_crates_wherever_it_starts() {
        // Inside a page header's data page header (known), an unknown field 9 holding 63
        // nested structs: the crate skips it (64 levels per skip), so the walk must too,
        // not stop short of it for being nested in known structs.
        let nested = |levels: usize| {
            let mut bytes = vec![0x5c, 0x9c];
            bytes.extend(std::iter::repeat_n(0x1c, levels));
            bytes.extend(std::iter::repeat_n(0x00, levels + 3));
            bytes
        };
        let bytes = nested(63);
        assert_eq!(
            walk_struct(&bytes, PAGE_HEADER, &[]),
            Walk::Read {
                len: bytes.len(),
                fields: vec![]
            }
        );
        // One more level is past the crate's limit (it fails; so does the walk).
        assert_eq!(
            walk_struct(&nested(64), PAGE_HEADER, &[]),
            Walk::Malformed("values nested more than 64 deep")
        );
    }

    #[test]
    fn a_footer_the_parquet_writer_wrote_walks_to_its_end() {
        use std::sync::Arc;

        use arrow_array::{Int64Array, RecordBatch, StringArray};
        use parquet::arrow::ArrowWriter;

        let batch = RecordBatch::try_from_iter([
            (
                "n",
                Arc::new(Int64Array::from_iter_values(0..10_000)) as arrow_array::ArrayRef,
            ),
            (
                "s",
                Arc::new(StringArray::from_iter_values(
                    (0..10_000).map(|i| format!("value {i}")),
                )),
            ),
        ])
        .unwrap();
        let mut file = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut file, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let footer_len =
            u32::from_le_bytes(file[file.len() - 8..file.len() - 4].try_into().unwrap()) as usize;
        let footer = &file[file.len() - 8 - footer_len..file.len() - 8];
        assert_eq!(
            walk_struct(footer, FILE_META_DATA, &[]),
            Walk::Read {
                len: footer_len,
                fields: vec![]
            }
        );
        // And its first page header, which is followed by the page.
        assert!(matches!(
            walk_struct(&file[4..], PAGE_HEADER, &[3]),
            Walk::Read { fields, .. } if fields[0].is_some()
        ));
    }
}
