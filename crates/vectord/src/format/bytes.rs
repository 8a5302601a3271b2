//! Little-endian reading with bounds checks: every read either returns the bytes or a
//! [`FormatError::Undecodable`] naming the offset, and counts are checked against what
//! remains before anything is allocated for them.

use super::FormatError;

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// An error at the current offset.
    pub(crate) fn error(&self, reason: impl Into<String>) -> FormatError {
        self.error_at(self.pos, reason)
    }

    pub(crate) fn error_at(&self, offset: usize, reason: impl Into<String>) -> FormatError {
        FormatError::Undecodable {
            offset,
            reason: reason.into(),
        }
    }

    pub(crate) fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8], FormatError> {
        if n > self.remaining() {
            return Err(self.error(format!(
                "{what} needs {n} bytes but only {} remain",
                self.remaining()
            )));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], FormatError> {
        let bytes = self.bytes(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &str) -> Result<u8, FormatError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &str) -> Result<u16, FormatError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u32(&mut self, what: &str) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// `n` f32s into `out` (cleared first), after checking that they are all there.
    pub(crate) fn f32s(
        &mut self,
        n: usize,
        out: &mut Vec<f32>,
        what: &str,
    ) -> Result<(), FormatError> {
        let bytes = self.bytes(n.saturating_mul(4), what)?;
        out.clear();
        out.extend(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
        Ok(())
    }

    /// A UTF-8 string of `n` bytes.
    pub(crate) fn str(&mut self, n: usize, what: &str) -> Result<&'a str, FormatError> {
        let at = self.pos;
        let bytes = self.bytes(n, what)?;
        std::str::from_utf8(bytes)
            .map_err(|e| self.error_at(at, format!("{what} is not UTF-8: {e}")))
    }

    pub(crate) fn finish(&self, what: &str) -> Result<(), FormatError> {
        if self.remaining() > 0 {
            return Err(self.error(format!(
                "{} bytes follow the end of the {what}",
                self.remaining()
            )));
        }
        Ok(())
    }
}

/// Little-endian writing into a `Vec<u8>`.
pub(crate) trait Put {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_f32s(&mut self, v: &[f32]);
}

impl Put for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_f32s(&mut self, v: &[f32]) {
        self.reserve(v.len() * 4);
        for x in v {
            self.extend_from_slice(&x.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_end_are_errors_naming_the_offset() {
        let mut r = Reader::new(&[1, 0, 2]);
        assert_eq!(r.u16("a").unwrap(), 1);
        match r.u32("the count") {
            Err(FormatError::Undecodable { offset, reason }) => {
                assert_eq!(offset, 2);
                assert!(
                    reason.contains("the count needs 4 bytes but only 1 remain"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
        let mut out = Vec::new();
        assert!(
            r.f32s(usize::MAX, &mut out, "v").is_err(),
            "no overflow, no allocation"
        );
        assert!(out.is_empty());
        assert!(r.finish("body").is_err());
    }
}
