//! A bounded byte reader: every read is checked against what is left, so parsing code never indexes.
//!
//! Modelled on rustls' `codec::Reader`: the only way to get bytes is [`Reader::take`], which fails instead
//! of reading past the end, and [`Reader::finish`] tells whether anything was left over.

/// Reads a byte slice front to back.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    /// The next `len` bytes, or `None` (and nothing consumed) when fewer are left.
    pub(crate) fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.rest.split_at_checked(len)?;
        self.rest = tail;
        Some(head)
    }

    /// The next `N` bytes as an array.
    pub(crate) fn take_array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, tail) = self.rest.split_first_chunk::<N>()?;
        self.rest = tail;
        Some(*head)
    }

    /// Whether everything was read (no trailing data).
    pub(crate) fn finish(self) -> bool {
        self.rest.is_empty()
    }
}
