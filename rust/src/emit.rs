//! A sweep's operand columns: an operand's value at each kept row, narrowed
//! to 1, 2, 4 or 8 bytes (native order), so a table of small sizes costs
//! bytes, not words. The width is dispatched once per call (`by_width!`);
//! every writer below is generic over it.

use crate::mesh::{Lane, MeshRow};

/// One output column: operand `operand` at the kept rows, `width` bytes each.
pub struct Column<'a> {
    pub operand: usize,
    pub width: usize,
    pub bytes: &'a mut [u8],
}

/// Runs `$body` with `$w` a `const usize` equal to `$width` (1, 2, 4, else 8).
macro_rules! by_width {
    ($width:expr, $w:ident => $body:expr) => {
        match $width {
            1 => {
                const $w: usize = 1;
                $body
            }
            2 => {
                const $w: usize = 2;
                $body
            }
            4 => {
                const $w: usize = 4;
                $body
            }
            _ => {
                const $w: usize = 8;
                $body
            }
        }
    };
}

impl<'a> Column<'a> {
    /// Cuts the first `rows` rows off this column.
    pub fn split_off_rows(&mut self, rows: usize) -> Column<'a> {
        let bytes = std::mem::take(&mut self.bytes);
        let (head, tail) = bytes.split_at_mut(rows * self.width);
        self.bytes = tail;
        Column { operand: self.operand, width: self.width, bytes: head }
    }

    /// Writes the operand at the row's first `n` points, from output row `at`
    /// on: a fill or a narrowing copy, which vectorise.
    #[inline(always)]
    pub(crate) fn write_prefix(&mut self, at: usize, row: &MeshRow, n: usize) {
        let k = self.operand;
        match row.lane(k) {
            Lane::Const(v) => by_width!(self.width, W => put::<W>(self.bytes, at, n, |_| v)),
            Lane::Contig(p) => {
                // SAFETY: a contiguous lane holds the row's values from its pointer.
                let values = unsafe { std::slice::from_raw_parts(p, n) };
                by_width!(self.width, W => put_slice::<W>(self.bytes, at, values))
            }
            Lane::Strided(..) => by_width!(self.width, W => put::<W>(self.bytes, at, n, |j| row.get(k, j))),
        }
    }

    /// Writes the operand at row points `kept` (positions along the row)
    /// to output rows `at`, `at + 1`, ...
    #[inline(always)]
    pub(crate) fn write_at(&mut self, at: usize, row: &MeshRow, kept: &[u32]) {
        let k = self.operand;
        if row.varies(k) {
            by_width!(self.width, W => put::<W>(self.bytes, at, kept.len(), |t| row.get(k, kept[t] as usize)))
        } else {
            let v = row.get(k, 0);
            by_width!(self.width, W => put::<W>(self.bytes, at, kept.len(), |_| v))
        }
    }

    /// Writes the operand at row points `j0..j0 + n` to output rows `at`,
    /// `at + stride`, ... (one row of interleaved rows).
    #[inline(always)]
    pub(crate) fn write_every(&mut self, at: usize, stride: usize, row: &MeshRow, j0: usize, n: usize) {
        let k = self.operand;
        if row.varies(k) {
            by_width!(self.width, W => put_every::<W>(self.bytes, at, stride, n, |j| row.get(k, j0 + j)))
        } else {
            let v = row.get(k, 0);
            by_width!(self.width, W => put_every::<W>(self.bytes, at, stride, n, |_| v))
        }
    }

    /// Writes one value at output row `at`.
    #[inline(always)]
    pub(crate) fn set(&mut self, at: usize, value: i64) {
        by_width!(self.width, W => store::<W>(&mut self.bytes[at * W..(at + 1) * W], value))
    }
}

/// Stores `v` as a `W`-byte unsigned integer (the caller chose a width that
/// holds every value of the operand).
#[inline(always)]
fn store<const W: usize>(slot: &mut [u8], v: i64) {
    match W {
        1 => slot[0] = v as u8,
        2 => slot.copy_from_slice(&(v as u16).to_ne_bytes()),
        4 => slot.copy_from_slice(&(v as u32).to_ne_bytes()),
        _ => slot.copy_from_slice(&v.to_ne_bytes()),
    }
}

/// Stores `value(j)` for `j` in `0..n` at output rows `at..at + n`.
#[inline(always)]
fn put<const W: usize>(bytes: &mut [u8], at: usize, n: usize, value: impl Fn(usize) -> i64) {
    for (j, slot) in bytes[at * W..(at + n) * W].chunks_exact_mut(W).enumerate() {
        store::<W>(slot, value(j));
    }
}

/// Stores `value(j)` for `j` in `0..n` at output row `at + j·stride`.
#[inline(always)]
fn put_every<const W: usize>(bytes: &mut [u8], at: usize, stride: usize, n: usize, value: impl Fn(usize) -> i64) {
    for j in 0..n {
        let o = (at + j * stride) * W;
        store::<W>(&mut bytes[o..o + W], value(j));
    }
}

/// Stores `values` from output row `at` on.
#[inline(always)]
fn put_slice<const W: usize>(bytes: &mut [u8], at: usize, values: &[i64]) {
    for (slot, &v) in bytes[at * W..(at + values.len()) * W].chunks_exact_mut(W).zip(values) {
        store::<W>(slot, v);
    }
}
