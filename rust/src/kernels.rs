//! The kernels: counts over a grid, and sweeps that filter and fill tables.
//!
//! Every kernel works on a range of the grid's flat C-order points, in
//! chunks spread over rayon's pool, and row by row within a chunk. A row
//! where only the two sizes vary (the usual case: other axes are constant
//! along the innermost axis) gets the formula's coefficients once and a tight
//! loop over the sizes; when the sizes are also sorted, counts grow along the
//! row and a budget keeps a prefix, found by binary search, so points that
//! do not fit are never even computed.

use std::ops::Range;

use crate::error::{Error, Result};
use crate::formula::{fits_everywhere, params, params_checked, Checked, Coeffs, Layer};
use crate::grid::{chunk_ranges, config, run_chunks, with_lanes, Field, Grid, Lane, Row, N_FIELDS};
use crate::simd::{count_at_most as count_values_at_most, select_at_most, sizes_row};

/// The count at one point, or why there is none. `FAST` skips overflow checks
/// (the caller proved them unnecessary); `GROUPS` checks divisibility.
#[inline(always)]
fn count_at<const FAST: bool, const GROUPS: bool>(layer: Layer, index: usize, v: &[i64; N_FIELDS]) -> Result<i64> {
    let c = config(v);
    if GROUPS && (c.n_features % c.groups != 0 || c.n_units % c.groups != 0) {
        return Err(Error::GroupsDoNotDivide { index });
    }
    if FAST {
        Ok(params::<i64>(layer, &c))
    } else {
        params_checked(layer, &c).ok_or(Error::Overflow { index })
    }
}

/// The count of one configuration, every field checked: what a scalar call
/// needs, without building a grid. Errors name grid point 0.
pub fn count_one(layer: Layer, values: &[i64; N_FIELDS]) -> Result<i64> {
    for (field, &v) in Field::ALL.iter().zip(values) {
        let (lo, hi) = field.domain();
        if v < lo || v > hi {
            return Err(Error::Operand { field: *field, reason: format!("{v} is outside [{lo}, {hi}]") });
        }
    }
    count_at::<false, true>(layer, 0, values)
}

/// Picks the monomorphised variant of a kernel for the grid: the fast path
/// when the count at the grid's per-axis maxima fits in i64, divisibility
/// checks only when some `groups` exceeds 1.
macro_rules! dispatch {
    ($grid:expr, $layer:expr, $f:ident ( $($arg:expr),* )) => {{
        let fast = fits_everywhere($layer, &$grid.max);
        match (fast, $grid.any_groups) {
            (true, false) => $f::<true, false>($($arg),*),
            (true, true) => $f::<true, true>($($arg),*),
            (false, false) => $f::<false, false>($($arg),*),
            (false, true) => $f::<false, true>($($arg),*),
        }
    }};
}

/// The counts of a sizes-only `row` at points `from..from + out.len()`.
#[inline(always)]
fn row_counts(k: &Coeffs<i64>, row: &Row, from: usize, out: &mut [i64]) {
    let (f, u) = (row.lane(Field::NFeatures).skip(from), row.lane(Field::NUnits).skip(from));
    with_lanes!(f, u, |f, u| sizes_row(k, f, u, out));
}

/// Whether the formula's coefficients are constant along the row and its
/// groups are 1, so the count depends on the two sizes alone.
#[inline(always)]
fn sizes_only<const GROUPS: bool>(row: &Row) -> bool {
    row.only_sizes_vary() && (!GROUPS || row.get(Field::Groups as usize, 0) == 1)
}

/// Writes the count at every point of `range` into `out` (which holds
/// exactly those points). Fails on the first point, in grid order, whose
/// count overflows or whose groups do not divide.
pub fn evaluate(layer: Layer, grid: &Grid, range: Range<usize>, out: &mut [i64]) -> Result<()> {
    if out.len() != range.len() || range.end > grid.len() {
        return Err(Error::Shape(format!("output holds {} values for points {range:?} of {}", out.len(), grid.len())));
    }
    dispatch!(grid, layer, evaluate_with(layer, grid, range, out))
}

fn evaluate_with<const FAST: bool, const GROUPS: bool>(
    layer: Layer,
    grid: &Grid,
    range: Range<usize>,
    out: &mut [i64],
) -> Result<()> {
    let pieces: Vec<&mut [i64]> = out.chunks_mut(crate::grid::CHUNK).collect();
    run_chunks(range, pieces, |chunk, out| {
        let mut scratch = Scratch::new();
        grid.for_each_run(chunk.start, chunk.end, |first, rows, _| {
            let at = first - chunk.start;
            let [row] = rows else {
                return evaluate_interleaved::<FAST, GROUPS>(layer, first, rows, &mut scratch, &mut out[at..]);
            };
            let out = &mut out[at..at + row.len];
            if let Some(k) = shared_coeffs::<FAST, GROUPS>(layer, row) {
                row_counts(&k, row, 0, out);
                return Ok(());
            }
            for (j, o) in out.iter_mut().enumerate() {
                *o = count_at::<FAST, GROUPS>(layer, first + j, &row.values(j))?;
            }
            Ok(())
        })
    })
    .map(|_| ())
}

/// Writes the counts of interleaved rows (see `for_each_run`): point `j` of
/// row `q` into `out[j·m + q]`. Rows with shared coefficients first, then the
/// others point by point in grid order, so an error names the first failing
/// point.
fn evaluate_interleaved<const FAST: bool, const GROUPS: bool>(
    layer: Layer,
    first: usize,
    rows: &[Row],
    scratch: &mut Scratch,
    out: &mut [i64],
) -> Result<()> {
    let m = rows.len();
    let fast: Vec<Option<Coeffs<i64>>> = rows.iter().map(|row| shared_coeffs::<FAST, GROUPS>(layer, row)).collect();
    for (q, (row, k)) in rows.iter().zip(&fast).enumerate() {
        let Some(k) = k else { continue };
        for b0 in (0..row.len).step_by(BLOCK) {
            let counts = &mut scratch.counts[..BLOCK.min(row.len - b0)];
            row_counts(k, row, b0, counts);
            for (j, &p) in counts.iter().enumerate() {
                out[(b0 + j) * m + q] = p;
            }
        }
    }
    if fast.iter().any(Option::is_none) {
        for j in 0..rows[0].len {
            for (q, row) in rows.iter().enumerate().filter(|&(q, _)| fast[q].is_none()) {
                out[j * m + q] = count_at::<FAST, GROUPS>(layer, first + j * m + q, &row.values(j))?;
            }
        }
    }
    Ok(())
}

/// The formula's coefficients along `row` when they are shared by all its
/// points and no count on the grid can overflow.
#[inline(always)]
fn shared_coeffs<const FAST: bool, const GROUPS: bool>(layer: Layer, row: &Row) -> Option<Coeffs<i64>> {
    (FAST && sizes_only::<GROUPS>(row)).then(|| Coeffs::of(layer, &config(&row.values(0))))
}

/// Whether a sweep keeps the point: its groups divide, and with a budget its
/// count fits (an overflowing count does not). Without a budget an
/// overflowing count is an error.
#[inline(always)]
fn keep<const FAST: bool, const GROUPS: bool>(
    layer: Layer,
    budget: Option<i64>,
    index: usize,
    v: &[i64; N_FIELDS],
) -> Result<Option<i64>> {
    match count_at::<FAST, GROUPS>(layer, index, v) {
        Ok(p) if budget.is_none_or(|b| p <= b) => Ok(Some(p)),
        Ok(_) | Err(Error::GroupsDoNotDivide { .. }) => Ok(None),
        Err(Error::Overflow { .. }) if budget.is_some() => Ok(None),
        Err(e) => Err(e),
    }
}

/// What a sweep does with one row.
enum Plan {
    /// The first `n` points are kept, the rest are not: compute them directly.
    /// (All points without a budget; a prefix under one when both sizes grow
    /// along the row.) `n > 0` implies these coefficients did not overflow.
    Prefix(usize, Coeffs<i64>),
    /// One size varies along the row, and counts grow with it: a point is
    /// kept when that size is at most `limit`, a compare with no arithmetic.
    Threshold(Field, i64, Coeffs<i64>),
    /// Test every point; coefficients when they are shared and safe.
    Filter(Option<Coeffs<i64>>),
}

/// How many of `0..n` satisfy `holds`, for a `holds` true on a prefix.
fn prefix(n: u64, holds: impl Fn(u64) -> bool) -> u64 {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if holds(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Rows shorter than this are filtered point by point: a threshold search
/// (63 checked counts) would cost more than it saves.
const THRESHOLD_MIN_ROW: usize = 64;

#[inline(always)]
fn plan<const FAST: bool, const GROUPS: bool>(layer: Layer, sorted: bool, row: &Row, budget: Option<i64>) -> Plan {
    if !sizes_only::<GROUPS>(row) {
        return Plan::Filter(None);
    }
    let c = config(&row.values(0));
    let Some(b) = budget else {
        return if FAST { Plan::Prefix(row.len, Coeffs::of(layer, &c)) } else { Plan::Filter(None) };
    };
    // Every formula grows with both sizes. Checked arithmetic: an overflowing
    // count does not fit. Kept counts are at most `b`, and so is every
    // intermediate, so coefficients of a row that keeps anything are safe.
    let k = Coeffs::<Checked>::of(layer, &c);
    let fits = |f: i64, u: i64| k.eval(Checked(Some(f)), Checked(Some(u))).0.is_some_and(|p| p <= b);
    let (fk, uk) = (Field::NFeatures as usize, Field::NUnits as usize);
    let safe = |keeps: bool| {
        if keeps {
            Coeffs::of(layer, &c)
        } else {
            Coeffs { input: 0, recurrent: 0, bias: 0 }
        }
    };
    if sorted {
        let n = prefix(row.len as u64, |j| fits(row.get(fk, j as usize), row.get(uk, j as usize))) as usize;
        return Plan::Prefix(n, safe(n > 0));
    }
    match (row.varies(Field::NFeatures), row.varies(Field::NUnits)) {
        (true, true) => Plan::Filter(FAST.then(|| Coeffs::of(layer, &c))),
        _ if row.len < THRESHOLD_MIN_ROW => Plan::Filter(FAST.then(|| Coeffs::of(layer, &c))),
        (true, false) => {
            let u = row.get(uk, 0);
            let limit = prefix(i64::MAX as u64, |v| fits(v as i64 + 1, u)) as i64;
            Plan::Threshold(Field::NFeatures, limit, safe(limit > 0))
        }
        (false, _) => {
            let f = row.get(fk, 0);
            let limit = prefix(i64::MAX as u64, |v| fits(f, v as i64 + 1)) as i64;
            Plan::Threshold(Field::NUnits, limit, safe(limit > 0))
        }
    }
}

/// How many points of the row have `field` at most `limit`.
#[inline(always)]
fn count_at_most(row: &Row, field: Field, limit: i64) -> usize {
    match row.lane(field) {
        Lane::Const(v) => (v <= limit) as usize * row.len,
        // SAFETY: a contiguous lane holds `row.len` values from its pointer.
        Lane::Contig(p) => count_values_at_most(unsafe { std::slice::from_raw_parts(p, row.len) }, limit),
        Lane::Strided(..) => (0..row.len).filter(|&j| row.get(field as usize, j) <= limit).count(),
    }
}

/// Points a filtering row examines at once: its counts and kept positions stay in L1.
const BLOCK: usize = 256;

/// A filtering row's working space: one per chunk, reused by its rows, which
/// may be only a couple of points long.
struct Scratch {
    counts: [i64; BLOCK],
    kept_at: [u32; BLOCK],
    /// Counts of a strip of interleaved rows, row by row.
    strip: [i64; STRIP],
}

impl Scratch {
    fn new() -> Scratch {
        Scratch { counts: [0; BLOCK], kept_at: [0; BLOCK], strip: [0; STRIP] }
    }
}

/// Points of interleaved rows a sweep examines at once.
const STRIP: usize = 1024;

/// Tests every point of a filtered or thresholded row, a block at a time,
/// and hands each block's kept positions (within the row) and counts to `sink`.
#[inline(always)]
fn filter_row<const FAST: bool, const GROUPS: bool>(
    layer: Layer,
    budget: Option<i64>,
    plan: &Plan,
    first: usize,
    row: &Row,
    scratch: &mut Scratch,
    mut sink: impl FnMut(&[u32], &[i64]),
) -> Result<()> {
    let Scratch { counts, kept_at, .. } = scratch;
    for b0 in (0..row.len).step_by(BLOCK) {
        let n = BLOCK.min(row.len - b0);
        let mut kept = 0;
        match plan {
            Plan::Threshold(field, limit, k) => {
                // Select by the varying size, then count only what is kept.
                let mut select = |j: usize, v: i64| {
                    kept_at[kept] = j as u32;
                    kept += (v <= *limit) as usize; // branch-free: always write, advance if kept
                };
                match row.lane(*field).skip(b0) {
                    Lane::Contig(p) => {
                        // SAFETY: a contiguous lane holds the row's values from its pointer.
                        let values = unsafe { std::slice::from_raw_parts(p, n) };
                        kept = select_at_most(values, *limit, b0 as u32, kept_at);
                    }
                    _ => (b0..b0 + n).for_each(|j| select(j, row.get(*field as usize, j))),
                }
                let (fk, uk) = (Field::NFeatures as usize, Field::NUnits as usize);
                for t in 0..kept {
                    let j = kept_at[t] as usize;
                    counts[t] = k.eval(row.get(fk, j), row.get(uk, j));
                }
            }
            Plan::Filter(Some(k)) => {
                row_counts(k, row, b0, &mut counts[..n]);
                kept = select_at_most(&counts[..n], budget.unwrap_or(i64::MAX), b0 as u32, kept_at);
                for t in 0..kept {
                    counts[t] = counts[kept_at[t] as usize - b0]; // moves left: t <= its source
                }
            }
            _ => {
                for j in b0..b0 + n {
                    if let Some(p) = keep::<FAST, GROUPS>(layer, budget, first + j, &row.values(j))? {
                        counts[kept] = p;
                        kept_at[kept] = j as u32;
                        kept += 1;
                    }
                }
            }
        }
        sink(&kept_at[..kept], &counts[..kept]);
    }
    Ok(())
}

/// How many points of each chunk of `range` a sweep keeps: points whose
/// groups divide and, with a budget, whose count is at most `budget`.
pub fn chunk_counts(layer: Layer, grid: &Grid, budget: Option<i64>, range: Range<usize>) -> Result<Vec<usize>> {
    dispatch!(grid, layer, chunk_counts_with(layer, grid, budget, range))
}

fn chunk_counts_with<const FAST: bool, const GROUPS: bool>(
    layer: Layer,
    grid: &Grid,
    budget: Option<i64>,
    range: Range<usize>,
) -> Result<Vec<usize>> {
    let pieces = chunk_ranges(range.clone());
    if budget.is_none() && !GROUPS && FAST {
        // Nothing is filtered and no count can overflow: every point is a row.
        return Ok(pieces.iter().map(|r| r.len()).collect());
    }
    let states = vec![(); pieces.len()];
    run_chunks(range, states, |chunk, ()| {
        let (mut n, mut scratch) = (0usize, Scratch::new());
        grid.for_each_run(chunk.start, chunk.end, |first, rows, sorted| {
            let [row] = rows else {
                // Counting does not depend on the order of the points; an
                // error, though, must name the first failing one in grid order.
                for row in rows {
                    match count_row::<FAST, GROUPS>(layer, budget, sorted, first, row, &mut scratch) {
                        Ok(kept) => n += kept,
                        Err(e) => return Err(first_failure::<FAST, GROUPS>(layer, budget, first, rows).unwrap_or(e)),
                    }
                }
                return Ok(());
            };
            n += count_row::<FAST, GROUPS>(layer, budget, sorted, first, row, &mut scratch)?;
            Ok(())
        })?;
        Ok(n)
    })
}

/// How many points of `row` (point `j` at flat index `first + j`) a sweep keeps.
#[inline(always)]
fn count_row<const FAST: bool, const GROUPS: bool>(
    layer: Layer,
    budget: Option<i64>,
    sorted: bool,
    first: usize,
    row: &Row,
    scratch: &mut Scratch,
) -> Result<usize> {
    let mut n = 0;
    match plan::<FAST, GROUPS>(layer, sorted, row, budget) {
        Plan::Prefix(kept, _) => n += kept,
        Plan::Threshold(field, limit, _) => n += count_at_most(row, field, limit),
        Plan::Filter(Some(k)) if budget.is_some() => {
            // Counting stores nothing: a vectorisable compare-and-sum.
            let b = budget.unwrap_or(i64::MAX);
            for b0 in (0..row.len).step_by(BLOCK) {
                let block = &mut scratch.counts[..BLOCK.min(row.len - b0)];
                row_counts(&k, row, b0, block);
                n += block.iter().map(|&p| (p <= b) as usize).sum::<usize>();
            }
        }
        other => filter_row::<FAST, GROUPS>(layer, budget, &other, first, row, scratch, |kept, _| n += kept.len())?,
    }
    Ok(n)
}

/// The first error, in grid order, of interleaved rows (see `for_each_run`).
#[cold]
fn first_failure<const FAST: bool, const GROUPS: bool>(
    layer: Layer,
    budget: Option<i64>,
    first: usize,
    rows: &[Row],
) -> Option<Error> {
    let m = rows.len();
    (0..rows[0].len).find_map(|j| {
        rows.iter()
            .enumerate()
            .find_map(|(q, row)| keep::<FAST, GROUPS>(layer, budget, first + j * m + q, &row.values(j)).err())
    })
}

/// Number of points of `range` a sweep keeps (see [`chunk_counts`]).
pub fn sweep_count(layer: Layer, grid: &Grid, budget: Option<i64>, range: Range<usize>) -> Result<usize> {
    Ok(chunk_counts(layer, grid, budget, range)?.iter().sum())
}

/// One output column of a sweep: the values of `field` at the kept points,
/// stored in native byte order in `width` bytes (1, 2, 4 or 8) per row.
pub struct Column<'a> {
    pub field: Field,
    pub width: usize,
    pub bytes: &'a mut [u8],
}

impl<'a> Column<'a> {
    /// Cuts the first `rows` rows off this column.
    pub fn split_off_rows(&mut self, rows: usize) -> Column<'a> {
        let bytes = std::mem::take(&mut self.bytes);
        let (head, tail) = bytes.split_at_mut(rows * self.width);
        self.bytes = tail;
        Column { field: self.field, width: self.width, bytes: head }
    }

    /// Writes the field's values at row positions `points`, from output row `at` on.
    #[inline(always)]
    fn write(&mut self, at: usize, row: &Row, points: impl Iterator<Item = usize>) {
        let k = self.field as usize;
        if row.varies(self.field) {
            self.put(at, points, |j| row.get(k, j));
        } else {
            let v = row.get(k, 0);
            self.put(at, points, |_| v);
        }
    }

    /// Writes the field's values at the row's first `n` points, from output
    /// row `at` on: a fill or a narrowing copy, which vectorise.
    #[inline(always)]
    fn write_prefix(&mut self, at: usize, row: &Row, n: usize) {
        match row.lane(self.field) {
            Lane::Const(v) => self.put(at, 0..n, |_| v),
            Lane::Contig(p) => {
                // SAFETY: a contiguous lane holds the row's values from its pointer.
                let values = unsafe { std::slice::from_raw_parts(p, n) };
                match self.width {
                    1 => put_slice::<1>(self.bytes, at, values),
                    2 => put_slice::<2>(self.bytes, at, values),
                    4 => put_slice::<4>(self.bytes, at, values),
                    _ => put_slice::<8>(self.bytes, at, values),
                }
            }
            Lane::Strided(..) => self.write(at, row, 0..n),
        }
    }

    /// Writes one value at output row `at`.
    #[inline(always)]
    fn set(&mut self, at: usize, value: i64) {
        self.put(at, std::iter::once(0), |_| value);
    }

    /// Writes the field's values at row points `j0..j0 + n` to output rows
    /// `at`, `at + stride`, … (one row of interleaved rows).
    #[inline(always)]
    fn write_every(&mut self, at: usize, stride: usize, row: &Row, j0: usize, n: usize) {
        let k = self.field as usize;
        let (varies, v) = (row.varies(self.field), row.get(k, j0));
        let value = |j: usize| if varies { row.get(k, j0 + j) } else { v };
        match self.width {
            1 => put_every::<1>(self.bytes, at, stride, n, value),
            2 => put_every::<2>(self.bytes, at, stride, n, value),
            4 => put_every::<4>(self.bytes, at, stride, n, value),
            _ => put_every::<8>(self.bytes, at, stride, n, value),
        }
    }

    #[inline(always)]
    fn put(&mut self, at: usize, points: impl Iterator<Item = usize>, value: impl Fn(usize) -> i64) {
        match self.width {
            1 => put::<1>(self.bytes, at, points, value),
            2 => put::<2>(self.bytes, at, points, value),
            4 => put::<4>(self.bytes, at, points, value),
            _ => put::<8>(self.bytes, at, points, value),
        }
    }
}

/// Stores `value(j)` for each `j` of `points` as a `W`-byte unsigned
/// integer, from output row `at` on.
#[inline(always)]
fn put<const W: usize>(bytes: &mut [u8], at: usize, points: impl Iterator<Item = usize>, value: impl Fn(usize) -> i64) {
    for (slot, j) in bytes[at * W..].chunks_exact_mut(W).zip(points) {
        let v = value(j);
        // The caller chose a width that holds every value of the field.
        match W {
            1 => slot.copy_from_slice(&(v as u8).to_ne_bytes()),
            2 => slot.copy_from_slice(&(v as u16).to_ne_bytes()),
            4 => slot.copy_from_slice(&(v as u32).to_ne_bytes()),
            _ => slot.copy_from_slice(&v.to_ne_bytes()),
        }
    }
}

/// Stores `value(j)` for `j` in `0..n` as a `W`-byte unsigned integer at
/// output row `at + j·stride`.
#[inline(always)]
fn put_every<const W: usize>(bytes: &mut [u8], at: usize, stride: usize, n: usize, value: impl Fn(usize) -> i64) {
    for j in 0..n {
        let (o, v) = ((at + j * stride) * W, value(j));
        match W {
            1 => bytes[o] = v as u8,
            2 => bytes[o..o + 2].copy_from_slice(&(v as u16).to_ne_bytes()),
            4 => bytes[o..o + 4].copy_from_slice(&(v as u32).to_ne_bytes()),
            _ => bytes[o..o + 8].copy_from_slice(&v.to_ne_bytes()),
        }
    }
}

/// Stores `values` as `W`-byte unsigned integers from output row `at` on.
#[inline(always)]
fn put_slice<const W: usize>(bytes: &mut [u8], at: usize, values: &[i64]) {
    for (slot, &v) in bytes[at * W..(at + values.len()) * W].chunks_exact_mut(W).zip(values) {
        match W {
            1 => slot.copy_from_slice(&(v as u8).to_ne_bytes()),
            2 => slot.copy_from_slice(&(v as u16).to_ne_bytes()),
            4 => slot.copy_from_slice(&(v as u32).to_ne_bytes()),
            _ => slot.copy_from_slice(&v.to_ne_bytes()),
        }
    }
}

/// Writes the rows a sweep keeps in `range`: the count into `params` and each
/// column's field value into its column, in grid order. `counts` are
/// `chunk_counts` for the same range; the outputs hold exactly their sum.
pub fn sweep_fill(
    layer: Layer,
    grid: &Grid,
    budget: Option<i64>,
    range: Range<usize>,
    counts: &[usize],
    params: &mut [i64],
    columns: Vec<Column>,
) -> Result<usize> {
    let rows: usize = counts.iter().sum();
    if counts.len() != chunk_ranges(range.clone()).len() || params.len() != rows {
        return Err(Error::Shape(format!("params holds {} rows, the sweep keeps {rows}", params.len())));
    }
    for c in &columns {
        if ![1, 2, 4, 8].contains(&c.width) || c.bytes.len() != rows * c.width {
            return Err(Error::Shape(format!(
                "column {} does not hold {rows} rows of {} bytes",
                c.field.name(),
                c.width
            )));
        }
    }
    // Give every chunk its own slice of each output, sized by its count.
    let mut pieces = Vec::with_capacity(counts.len());
    let (mut params_rest, mut cols_rest) = (params, columns);
    for &n in counts {
        let (head, tail) = std::mem::take(&mut params_rest).split_at_mut(n);
        params_rest = tail;
        let cols: Vec<Column> = cols_rest.iter_mut().map(|c| c.split_off_rows(n)).collect();
        pieces.push((head, cols));
    }
    dispatch!(grid, layer, sweep_fill_with(layer, grid, budget, range, pieces))?;
    Ok(rows)
}

fn sweep_fill_with<const FAST: bool, const GROUPS: bool>(
    layer: Layer,
    grid: &Grid,
    budget: Option<i64>,
    range: Range<usize>,
    pieces: Vec<(&mut [i64], Vec<Column>)>,
) -> Result<()> {
    run_chunks(range, pieces, |chunk, (params, mut cols)| {
        let (mut at, mut scratch) = (0usize, Scratch::new());
        grid.for_each_run(chunk.start, chunk.end, |first, rows, sorted| {
            let [row] = rows else {
                return fill_interleaved::<FAST, GROUPS>(
                    layer,
                    budget,
                    first,
                    rows,
                    &mut scratch,
                    params,
                    &mut cols,
                    &mut at,
                );
            };
            match plan::<FAST, GROUPS>(layer, sorted, row, budget) {
                Plan::Prefix(n, k) => {
                    // Kept points are the first n: write straight into the outputs.
                    row_counts(&k, row, 0, &mut params[at..at + n]);
                    for col in cols.iter_mut() {
                        col.write_prefix(at, row, n);
                    }
                    at += n;
                }
                other => {
                    filter_row::<FAST, GROUPS>(layer, budget, &other, first, row, &mut scratch, |kept, counts| {
                        params[at..at + counts.len()].copy_from_slice(counts);
                        for col in cols.iter_mut() {
                            col.write(at, row, kept.iter().map(|&j| j as usize));
                        }
                        at += counts.len();
                    })?
                }
            }
            Ok(())
        })
    })
    .map(|_| ())
}

/// Writes the rows a sweep keeps among interleaved rows (see
/// `for_each_run`), in grid order, a strip at a time: rows with shared
/// coefficients are counted into the strip first, a row at a time.
#[allow(clippy::too_many_arguments)]
fn fill_interleaved<const FAST: bool, const GROUPS: bool>(
    layer: Layer,
    budget: Option<i64>,
    first: usize,
    rows: &[Row],
    scratch: &mut Scratch,
    params: &mut [i64],
    cols: &mut [Column],
    at: &mut usize,
) -> Result<()> {
    let (m, len) = (rows.len(), rows[0].len);
    let fast: Vec<Option<Coeffs<i64>>> = rows.iter().map(|row| shared_coeffs::<FAST, GROUPS>(layer, row)).collect();
    let (width, b) = (STRIP / m, budget.unwrap_or(i64::MAX));
    let keeps_all = budget.is_none() && fast.iter().all(Option::is_some);
    for j0 in (0..len).step_by(width) {
        let n = width.min(len - j0);
        if keeps_all {
            // Every point is kept: write each row at stride m, a strip (in
            // cache) at a time.
            for (q, (row, k)) in rows.iter().zip(fast.iter().flatten()).enumerate() {
                row_counts(k, row, j0, &mut scratch.strip[..n]);
                for (j, &p) in scratch.strip[..n].iter().enumerate() {
                    params[*at + j * m + q] = p;
                }
                for col in cols.iter_mut() {
                    col.write_every(*at + q, m, row, j0, n);
                }
            }
            *at += n * m;
            continue;
        }
        for (q, (row, k)) in rows.iter().zip(&fast).enumerate() {
            if let Some(k) = k {
                row_counts(k, row, j0, &mut scratch.strip[q * width..q * width + n]);
            }
        }
        for j in j0..j0 + n {
            for (q, row) in rows.iter().enumerate() {
                let kept = match fast[q] {
                    Some(_) => Some(scratch.strip[q * width + j - j0]).filter(|&p| p <= b),
                    None => keep::<FAST, GROUPS>(layer, budget, first + j * m + q, &row.values(j))?,
                };
                if let Some(p) = kept {
                    params[*at] = p;
                    for col in cols.iter_mut() {
                        col.set(*at, row.get(col.field as usize, j));
                    }
                    *at += 1;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formula::{Config, Convention};
    use ndarray::ArrayViewD;
    use ndarray::{arr0, Array, ArrayD};

    fn scalar(v: i64) -> ArrayD<i64> {
        arr0(v).into_dyn()
    }

    /// Operands for a sweep-like open mesh: n_features along axis 0, n_units along axis 1.
    fn mesh(f: &[i64], u: &[i64], groups: i64) -> [ArrayD<i64>; N_FIELDS] {
        let fa = Array::from_shape_vec((f.len(), 1), f.to_vec()).unwrap().into_dyn();
        let ua = Array::from_shape_vec((1, u.len()), u.to_vec()).unwrap().into_dyn();
        [fa, ua, scalar(1), scalar(1), scalar(3), scalar(1), scalar(0), scalar(0), scalar(1), scalar(groups)]
    }

    fn views(ops: &[ArrayD<i64>; N_FIELDS]) -> [ArrayViewD<'_, i64>; N_FIELDS] {
        std::array::from_fn(|k| ops[k].view())
    }

    fn reference(layer: Layer, f: i64, u: i64, groups: i64) -> Option<i64> {
        let c = Config {
            n_features: f,
            n_units: u,
            kernel: [1, 1, 3],
            bias: true,
            bidirectional: false,
            convention: Convention::Keras,
            reset_after: true,
            groups,
        };
        params_checked(layer, &c)
    }

    #[test]
    fn evaluate_matches_formula_across_chunks_and_threads() {
        // 700 × 400 = 280_000 points: several chunks, the parallel path, and
        // chunk boundaries that fall mid-row.
        let f: Vec<i64> = (1..=700).collect();
        let u: Vec<i64> = (1..=400).collect();
        let ops = mesh(&f, &u, 1);
        let grid = Grid::new(&[700, 400], &views(&ops)).unwrap();
        let mut out = vec![0i64; grid.len()];
        evaluate(Layer::Lstm, &grid, 0..grid.len(), &mut out).unwrap();
        for (i, &p) in out.iter().enumerate() {
            assert_eq!(Some(p), reference(Layer::Lstm, f[i / 400], u[i % 400], 1), "at {i}");
        }
    }

    #[test]
    fn evaluate_reports_first_overflow_in_grid_order() {
        let f = vec![1, 2, 3];
        let u = vec![5, 3_037_000_499, 7, 3_037_000_499];
        let ops = mesh(&f, &u, 1);
        let grid = Grid::new(&[3, 4], &views(&ops)).unwrap();
        let mut out = vec![0i64; 12];
        assert_eq!(evaluate(Layer::Lstm, &grid, 0..grid.len(), &mut out), Err(Error::Overflow { index: 1 }));
        assert_eq!(evaluate(Layer::Dense, &grid, 0..grid.len(), &mut out), Ok(()));
    }

    #[test]
    fn evaluate_rejects_groups_that_do_not_divide() {
        let ops = mesh(&[4, 6], &[8, 12], 4);
        let grid = Grid::new(&[2, 2], &views(&ops)).unwrap();
        let mut out = vec![0i64; 4];
        assert_eq!(evaluate(Layer::Conv1d, &grid, 0..grid.len(), &mut out), Err(Error::GroupsDoNotDivide { index: 2 }));
    }

    #[test]
    fn sweep_filters_by_budget_and_groups_in_grid_order() {
        let f: Vec<i64> = (1..=600).collect();
        let u: Vec<i64> = (1..=300).collect();
        for (groups, budget) in [(1, None), (1, Some(50_000)), (2, None), (3, Some(10_000))] {
            let ops = mesh(&f, &u, groups);
            let grid = Grid::new(&[600, 300], &views(&ops)).unwrap();
            let mut expected = Vec::new();
            for &fi in &f {
                for &ui in &u {
                    if fi % groups != 0 || ui % groups != 0 {
                        continue;
                    }
                    let p = reference(Layer::Conv1d, fi, ui, groups).unwrap();
                    if budget.is_none_or(|b| p <= b) {
                        expected.push((fi, ui, p));
                    }
                }
            }
            let rows = sweep_count(Layer::Conv1d, &grid, budget, 0..grid.len()).unwrap();
            assert_eq!(rows, expected.len());
            let mut params = vec![0i64; rows];
            let (mut fb, mut ub) = (vec![0u8; rows * 2], vec![0u8; rows * 8]);
            let columns = vec![
                Column { field: Field::NFeatures, width: 2, bytes: &mut fb },
                Column { field: Field::NUnits, width: 8, bytes: &mut ub },
            ];
            assert_eq!(
                sweep_fill(
                    Layer::Conv1d,
                    &grid,
                    budget,
                    0..grid.len(),
                    &chunk_counts(Layer::Conv1d, &grid, budget, 0..grid.len()).unwrap(),
                    &mut params,
                    columns
                )
                .unwrap(),
                rows
            );
            for (r, &(fi, ui, p)) in expected.iter().enumerate() {
                assert_eq!(params[r], p);
                assert_eq!(u16::from_ne_bytes([fb[2 * r], fb[2 * r + 1]]) as i64, fi);
                assert_eq!(i64::from_ne_bytes(ub[8 * r..8 * r + 8].try_into().unwrap()), ui);
            }
        }
    }

    #[test]
    fn sweep_overflow_is_an_error_without_budget_and_unfit_with_one() {
        let ops = mesh(&[1], &[10, 3_037_000_499], 1);
        let grid = Grid::new(&[1, 2], &views(&ops)).unwrap();
        assert_eq!(sweep_count(Layer::Lstm, &grid, Some(i64::MAX), 0..grid.len()), Ok(1));
        // Counting without a budget meets the overflow that filling would.
        assert_eq!(chunk_counts(Layer::Lstm, &grid, None, 0..2), Err(Error::Overflow { index: 1 }));
        let mut params = vec![0i64; 2];
        let err = sweep_fill(Layer::Lstm, &grid, None, 0..2, &[2], &mut params, Vec::new());
        assert_eq!(err, Err(Error::Overflow { index: 1 }));
    }

    #[test]
    fn operands_outside_their_domain_are_refused() {
        let mut ops = mesh(&[1, 2], &[3], 1);
        ops[0] = Array::from_shape_vec((2, 1), vec![1, 0]).unwrap().into_dyn();
        assert!(matches!(Grid::new(&[2, 1], &views(&ops)), Err(Error::Operand { field: Field::NFeatures, .. })));
        let mut ops = mesh(&[1], &[3], 1);
        ops[7] = scalar(3);
        assert!(matches!(Grid::new(&[1, 1], &views(&ops)), Err(Error::Operand { field: Field::Convention, .. })));
    }

    #[test]
    fn broadcast_views_with_negative_strides_are_read_correctly() {
        let u = Array::from_shape_vec(5, vec![1i64, 2, 3, 4, 5]).unwrap();
        let reversed = u.slice(ndarray::s![..;-1]).into_dyn();
        let mut ops = mesh(&[2], &[1], 1);
        ops[0] = scalar(2);
        let mut v = views(&ops);
        v[1] = reversed;
        let grid = Grid::new(&[5], &v).unwrap();
        let mut out = vec![0i64; 5];
        evaluate(Layer::Dense, &grid, 0..grid.len(), &mut out).unwrap();
        // Dense, f = 2, kernel_w = 3 (the mesh's kernel): 3·2·u + u.
        assert_eq!(out, [5i64, 4, 3, 2, 1].map(|u| 3 * 2 * u + u));
    }

    /// The expected sweep rows (f, u, count) by brute force.
    fn brute(f: &[i64], u: &[i64], groups: i64, budget: Option<i64>) -> Vec<(i64, i64, i64)> {
        let mut rows = Vec::new();
        for &fi in f {
            for &ui in u {
                if fi % groups != 0 || ui % groups != 0 {
                    continue;
                }
                let p = reference(Layer::Conv1d, fi, ui, groups).unwrap();
                if budget.is_none_or(|b| p <= b) {
                    rows.push((fi, ui, p));
                }
            }
        }
        rows
    }

    fn fill_range(grid: &Grid, budget: Option<i64>, range: Range<usize>) -> Vec<(i64, i64, i64)> {
        let counts = chunk_counts(Layer::Conv1d, grid, budget, range.clone()).unwrap();
        let rows: usize = counts.iter().sum();
        let mut params = vec![0i64; rows];
        let (mut fb, mut ub) = (vec![0u8; rows * 4], vec![0u8; rows * 4]);
        let columns = vec![
            Column { field: Field::NFeatures, width: 4, bytes: &mut fb },
            Column { field: Field::NUnits, width: 4, bytes: &mut ub },
        ];
        sweep_fill(Layer::Conv1d, grid, budget, range, &counts, &mut params, columns).unwrap();
        let word = |b: &[u8], r: usize| u32::from_ne_bytes(b[4 * r..4 * r + 4].try_into().unwrap()) as i64;
        (0..rows).map(|r| (word(&fb, r), word(&ub, r), params[r])).collect()
    }

    #[test]
    fn unsorted_rows_are_filtered_point_by_point() {
        // n_units descending: counts fall along each row, so no prefix rule applies.
        let f: Vec<i64> = (1..=300).collect();
        let u: Vec<i64> = (1..=500).rev().collect();
        let ops = mesh(&f, &u, 1);
        let grid = Grid::new(&[300, 500], &views(&ops)).unwrap();
        assert!(!grid.sizes_sorted);
        for budget in [None, Some(20_000), Some(0)] {
            assert_eq!(fill_range(&grid, budget, 0..grid.len()), brute(&f, &u, 1, budget));
        }
    }

    #[test]
    fn thresholds_on_either_size_and_short_rows() {
        // n_features along the inner axis, descending; n_units outer; and a
        // width below THRESHOLD_MIN_ROW.
        for (nf, nu) in [(300usize, 40usize), (20, 40)] {
            let f: Vec<i64> = (1..=nf as i64).rev().collect();
            let u: Vec<i64> = (1..=nu as i64).collect();
            let mut ops = mesh(&[1], &[1], 1);
            ops[0] = Array::from_shape_vec((1, nf), f.clone()).unwrap().into_dyn();
            ops[1] = Array::from_shape_vec((nu, 1), u.clone()).unwrap().into_dyn();
            let grid = Grid::new(&[nu, nf], &views(&ops)).unwrap();
            for budget in [None, Some(3_000), Some(0), Some(i64::MAX)] {
                let mut expected = Vec::new();
                for &ui in &u {
                    for &fi in &f {
                        let p = reference(Layer::Conv1d, fi, ui, 1).unwrap();
                        if budget.is_none_or(|b| p <= b) {
                            expected.push((fi, ui, p));
                        }
                    }
                }
                assert_eq!(fill_range(&grid, budget, 0..grid.len()), expected);
                assert_eq!(sweep_count(Layer::Conv1d, &grid, budget, 0..grid.len()).unwrap(), expected.len());
            }
        }
    }

    #[test]
    fn ranges_compose_into_the_whole_sweep() {
        let f: Vec<i64> = (1..=400).collect();
        let u: Vec<i64> = (1..=700).collect();
        let ops = mesh(&f, &u, 1);
        let grid = Grid::new(&[400, 700], &views(&ops)).unwrap();
        assert!(grid.sizes_sorted);
        for budget in [None, Some(100_000)] {
            let cuts = [0, 1, 699, 70_001, 200_000, grid.len()];
            let mut pieces = Vec::new();
            for w in cuts.windows(2) {
                pieces.extend(fill_range(&grid, budget, w[0]..w[1]));
            }
            assert_eq!(pieces, brute(&f, &u, 1, budget));
            let total: usize =
                cuts.windows(2).map(|w| sweep_count(Layer::Conv1d, &grid, budget, w[0]..w[1]).unwrap()).sum();
            assert_eq!(total, pieces.len());
        }
        let mut out = vec![0i64; 1234];
        evaluate(Layer::Conv1d, &grid, 5000..6234, &mut out).unwrap();
        assert_eq!(out[0], reference(Layer::Conv1d, f[5000 / 700], u[5000 % 700], 1).unwrap());
    }

    #[test]
    fn option_axes_innermost_are_walked_transposed_in_grid_order() {
        // A sweep's layout: n_features, n_units, then bias × convention × groups
        // vary fastest (12 points: one tile). Sizes include ones that do not
        // divide the groups and, for n_units, one whose count overflows.
        let f: Vec<i64> = (1..=5).map(|x| x * 2).collect();
        let mut u: Vec<i64> = (1..=40).collect();
        u[33] = 1 << 62;
        let shape = [5usize, 40, 2, 3, 2];
        let ops: [ArrayD<i64>; N_FIELDS] = [
            Array::from_shape_vec((5, 1, 1, 1, 1), f.clone()).unwrap().into_dyn(),
            Array::from_shape_vec((1, 40, 1, 1, 1), u.clone()).unwrap().into_dyn(),
            scalar(1),
            scalar(1),
            scalar(3),
            Array::from_shape_vec((1, 1, 2, 1, 1), vec![1, 0]).unwrap().into_dyn(),
            scalar(0),
            Array::from_shape_vec((1, 1, 1, 3, 1), vec![0, 1, 2]).unwrap().into_dyn(),
            scalar(1),
            Array::from_shape_vec((1, 1, 1, 1, 2), vec![1, 2]).unwrap().into_dyn(),
        ];
        let grid = Grid::new(&shape, &views(&ops)).unwrap();
        assert_eq!(grid.tile.len(), 12);
        let point = |i: usize| -> [i64; N_FIELDS] {
            let (fi, ui, b, c, g) = (i / 480, i / 12 % 40, i / 6 % 2, i / 2 % 3, i % 2);
            [f[fi], u[ui], 1, 1, 3, [1, 0][b], 0, c as i64, 1, [1, 2][g]]
        };
        let cuts = [0, 5, 12, 13, 100, 481, 1000, 1990, grid.len()];
        for budget in [None, Some(2_000), Some(i64::MAX)] {
            let mut expected = Vec::new();
            let mut failure = None;
            for i in 0..grid.len() {
                match keep::<false, true>(Layer::Conv1d, budget, i, &point(i)) {
                    Ok(Some(p)) => expected.push((point(i)[0], point(i)[1], p)),
                    Ok(None) => {}
                    Err(e) => {
                        failure.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = failure {
                assert_eq!(e, Error::Overflow { index: 33 * 12 });
                assert_eq!(chunk_counts(Layer::Conv1d, &grid, budget, 0..grid.len()), Err(e));
                continue;
            }
            let mut pieces = Vec::new();
            for w in cuts.windows(2) {
                pieces.extend(fill_range(&grid, budget, w[0]..w[1]));
            }
            assert!(pieces == expected, "budget {budget:?}");
        }
        // count_params over the same grid: the first error in grid order.
        let mut out = vec![0i64; grid.len()];
        assert_eq!(evaluate(Layer::Conv1d, &grid, 0..grid.len(), &mut out), Err(Error::GroupsDoNotDivide { index: 1 }));
        let mut out = vec![0i64; 480 - 13];
        let err = evaluate(Layer::Conv1d, &grid, 13..480, &mut out);
        assert_eq!(err, Err(Error::GroupsDoNotDivide { index: 25 })); // u = 3 at groups 2
                                                                      // Without groups, every point is counted, transposed or not.
        let mut ops = ops;
        ops[9] = scalar(1);
        ops[1] = Array::from_shape_vec((1, 40, 1, 1, 1), (1..=40).collect()).unwrap().into_dyn();
        let grid = Grid::new(&shape, &views(&ops)).unwrap();
        for w in cuts.windows(2) {
            let mut out = vec![0i64; w[1] - w[0]];
            evaluate(Layer::Conv1d, &grid, w[0]..w[1], &mut out).unwrap();
            for (j, &p) in out.iter().enumerate() {
                let mut v = point(w[0] + j);
                (v[1], v[9]) = ((w[0] + j) as i64 / 12 % 40 + 1, 1);
                assert_eq!(p, params::<i64>(Layer::Conv1d, &config(&v)), "at {}", w[0] + j);
            }
        }
    }
}
