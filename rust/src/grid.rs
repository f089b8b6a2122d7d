//! Evaluating the formula over a grid: every operand is broadcast (numpy
//! rules) over one output shape, walked in C order, in chunks that run on
//! rayon's pool when the grid is large enough to pay for the threads.

use std::marker::PhantomData;

use ndarray::{ArrayViewD, IxDyn};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::formula::{fits_everywhere, params, params_checked, Coeffs, Config, Convention, Layer};

/// The formula's inputs, in the order the binding passes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Field {
    NFeatures = 0,
    NUnits = 1,
    KernelD = 2,
    KernelH = 3,
    KernelW = 4,
    Bias = 5,
    Bidirectional = 6,
    Convention = 7,
    ResetAfter = 8,
    Groups = 9,
}

pub const N_FIELDS: usize = 10;

impl Field {
    pub const ALL: [Field; N_FIELDS] = [
        Field::NFeatures,
        Field::NUnits,
        Field::KernelD,
        Field::KernelH,
        Field::KernelW,
        Field::Bias,
        Field::Bidirectional,
        Field::Convention,
        Field::ResetAfter,
        Field::Groups,
    ];

    pub fn from_code(code: usize) -> Option<Field> {
        Field::ALL.get(code).copied()
    }

    pub fn name(self) -> &'static str {
        match self {
            Field::NFeatures => "n_features",
            Field::NUnits => "n_units",
            Field::KernelD => "kernel_d",
            Field::KernelH => "kernel_h",
            Field::KernelW => "kernel_w",
            Field::Bias => "bias",
            Field::Bidirectional => "bidirectional",
            Field::Convention => "convention",
            Field::ResetAfter => "reset_after",
            Field::Groups => "groups",
        }
    }

    /// The values this field may hold: sizes are positive, flags 0/1,
    /// conventions one of the three codes.
    fn domain(self) -> (i64, i64) {
        match self {
            Field::Bias | Field::Bidirectional | Field::ResetAfter => (0, 1),
            Field::Convention => (0, Convention::ALL.len() as i64 - 1),
            _ => (1, i64::MAX),
        }
    }
}

/// Builds the configuration at one grid point from its field values.
#[inline(always)]
fn config(v: &[i64; N_FIELDS]) -> Config {
    Config {
        n_features: v[0],
        n_units: v[1],
        kernel: [v[2], v[3], v[4]],
        bias: v[5] != 0,
        bidirectional: v[6] != 0,
        // In range: checked against `Field::domain` when the grid was built.
        convention: Convention::ALL[v[7] as usize],
        reset_after: v[8] != 0,
        groups: v[9],
    }
}

/// Operands broadcast over one output shape. The value of field `k` at
/// multi-index `i` is `*ptrs[k].offset(Σ_d i[d] · strides[d][k])`.
pub struct Grid<'a> {
    shape: Vec<usize>,
    strides: Vec<[isize; N_FIELDS]>,
    ptrs: [*const i64; N_FIELDS],
    len: usize,
    max: Config,
    any_groups: bool,
    _data: PhantomData<&'a i64>,
}

// SAFETY: a Grid only reads through its pointers, which point into arrays
// borrowed for 'a; sharing read-only access across threads is sound.
unsafe impl Send for Grid<'_> {}
unsafe impl Sync for Grid<'_> {}

impl<'a> Grid<'a> {
    /// Checks every operand against its field's domain, broadcasts it to
    /// `shape`, and simplifies the shape (size-1 axes dropped, axes that every
    /// operand walks contiguously merged) so inner rows are as long as possible.
    pub fn new(shape: &[usize], operands: &[ArrayViewD<'a, i64>; N_FIELDS]) -> Result<Grid<'a>> {
        let mut maxima = [0i64; N_FIELDS];
        let mut ptrs = [std::ptr::null::<i64>(); N_FIELDS];
        let mut full: Vec<[isize; N_FIELDS]> = vec![[0; N_FIELDS]; shape.len()];
        for (k, op) in operands.iter().enumerate() {
            let field = Field::ALL[k];
            let (lo, hi) = field.domain();
            let (mut min, mut max) = (i64::MAX, i64::MIN);
            for &v in op.iter() {
                min = min.min(v);
                max = max.max(v);
            }
            if op.len() > 0 && (min < lo || max > hi) {
                let bad = if min < lo { min } else { max };
                return Err(Error::Operand { field, reason: format!("{bad} is outside [{lo}, {hi}]") });
            }
            maxima[k] = max.max(lo);
            let view = op.broadcast(IxDyn(shape)).ok_or_else(|| {
                Error::Shape(format!("{} of shape {:?} does not broadcast to {:?}", field.name(), op.shape(), shape))
            })?;
            ptrs[k] = view.as_ptr();
            for (d, &s) in view.strides().iter().enumerate() {
                full[d][k] = s;
            }
        }
        let len = shape.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n));
        let len = len.ok_or_else(|| Error::Shape(format!("grid {shape:?} has more points than usize holds")))?;

        let (mut dims, mut strides): (Vec<usize>, Vec<[isize; N_FIELDS]>) = (Vec::new(), Vec::new());
        for (d, &n) in shape.iter().enumerate() {
            if n == 1 {
                continue;
            }
            // Merge an axis into the previous one when every operand steps
            // through both as through one: previous stride = this stride · n.
            if let Some(prev) = strides.last() {
                if (0..N_FIELDS).all(|k| prev[k] == full[d][k] * n as isize) {
                    *dims.last_mut().unwrap() *= n;
                    *strides.last_mut().unwrap() = full[d];
                    continue;
                }
            }
            dims.push(n);
            strides.push(full[d]);
        }
        let max = config(&maxima);
        Ok(Grid { shape: dims, strides, ptrs, len, any_groups: max.groups > 1, max, _data: PhantomData })
    }

    /// Number of grid points.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Calls `visit(flat_index_of_first_point, row)` for every run of points
    /// along the innermost axis within `start..end`, in C order. Stops at, and
    /// returns, the first error `visit` returns.
    #[inline(always)]
    fn for_each_row<F>(&self, start: usize, end: usize, mut visit: F) -> Result<()>
    where
        F: FnMut(usize, &Row) -> Result<()>,
    {
        if start >= end {
            return Ok(());
        }
        let ndim = self.shape.len();
        if ndim == 0 {
            let row = Row { ptrs: self.ptrs, offsets: [0; N_FIELDS], strides: [0; N_FIELDS], len: 1, _grid: PhantomData };
            return visit(0, &row);
        }
        let last = ndim - 1;
        let inner_len = self.shape[last];
        // Unravel `start` into a multi-index and the operands' offsets there.
        let mut index = vec![0usize; ndim];
        let mut rest = start;
        for d in (0..ndim).rev() {
            index[d] = rest % self.shape[d];
            rest /= self.shape[d];
        }
        let mut outer = [0isize; N_FIELDS];
        for d in 0..last {
            for k in 0..N_FIELDS {
                outer[k] += index[d] as isize * self.strides[d][k];
            }
        }
        let mut flat = start;
        let mut j0 = index[last];
        loop {
            let len = (inner_len - j0).min(end - flat);
            let offsets = std::array::from_fn(|k| outer[k] + j0 as isize * self.strides[last][k]);
            let row = Row { ptrs: self.ptrs, offsets, strides: self.strides[last], len, _grid: PhantomData };
            visit(flat, &row)?;
            flat += len;
            if flat >= end {
                return Ok(());
            }
            j0 = 0;
            // Advance the odometer over the outer axes.
            let mut d = last;
            while d > 0 {
                d -= 1;
                index[d] += 1;
                for k in 0..N_FIELDS {
                    outer[k] += self.strides[d][k];
                }
                if index[d] < self.shape[d] {
                    break;
                }
                for k in 0..N_FIELDS {
                    outer[k] -= self.shape[d] as isize * self.strides[d][k];
                }
                index[d] = 0;
            }
        }
    }
}

/// A run of `len` consecutive grid points along the innermost axis.
struct Row<'g> {
    ptrs: [*const i64; N_FIELDS],
    offsets: [isize; N_FIELDS],
    strides: [isize; N_FIELDS],
    len: usize,
    _grid: PhantomData<&'g Grid<'g>>,
}

impl Row<'_> {
    /// Field `k` at point `j` of the row.
    #[inline(always)]
    fn get(&self, k: usize, j: usize) -> i64 {
        debug_assert!(j < self.len);
        // SAFETY: j < len keeps the point inside the broadcast shape, so the
        // offset addresses an element of operand k's array.
        unsafe { *self.ptrs[k].offset(self.offsets[k] + j as isize * self.strides[k]) }
    }

    #[inline(always)]
    fn values(&self, j: usize) -> [i64; N_FIELDS] {
        std::array::from_fn(|k| self.get(k, j))
    }

    fn varies(&self, field: Field) -> bool {
        self.strides[field as usize] != 0 && self.len > 1
    }

    /// Whether only the two sizes change along the row, so the formula's
    /// coefficients can be computed once for the whole row.
    fn only_sizes_vary(&self) -> bool {
        Field::ALL[2..].iter().all(|&f| !self.varies(f))
    }

    /// Field `k` along the row as the cheapest way to read it.
    fn lane(&self, field: Field) -> Lane {
        let k = field as usize;
        // SAFETY: offsets[k] addresses the row's first point (len >= 1).
        let first = unsafe { self.ptrs[k].offset(self.offsets[k]) };
        match self.strides[k] {
            _ if !self.varies(field) => Lane::Const(self.get(k, 0)),
            1 => Lane::Contig(first),
            s => Lane::Strided(first, s),
        }
    }
}

/// How a row reads one field. Separate loops for each kind let the
/// compiler vectorise the constant and contiguous cases.
#[derive(Clone, Copy)]
enum Lane {
    Const(i64),
    Contig(*const i64),
    Strided(*const i64, isize),
}

impl Lane {
    /// The same lane starting `n` points further along the row.
    fn skip(self, n: usize) -> Lane {
        // SAFETY: callers skip to a point inside the row (n < len).
        unsafe {
            match self {
                Lane::Const(v) => Lane::Const(v),
                Lane::Contig(p) => Lane::Contig(p.add(n)),
                Lane::Strided(p, s) => Lane::Strided(p.offset(n as isize * s), s),
            }
        }
    }
}

trait Read: Copy {
    fn at(self, j: usize) -> i64;
}

#[derive(Clone, Copy)]
struct ConstLane(i64);
#[derive(Clone, Copy)]
struct ContigLane(*const i64);
#[derive(Clone, Copy)]
struct StridedLane(*const i64, isize);

// SAFETY (all three): `j` is below the row length the lane was made from.
impl Read for ConstLane {
    #[inline(always)]
    fn at(self, _: usize) -> i64 {
        self.0
    }
}
impl Read for ContigLane {
    #[inline(always)]
    fn at(self, j: usize) -> i64 {
        unsafe { *self.0.add(j) }
    }
}
impl Read for StridedLane {
    #[inline(always)]
    fn at(self, j: usize) -> i64 {
        unsafe { *self.0.offset(j as isize * self.1) }
    }
}

/// Calls `$f::<A, B>($args.., a, b)` with the two lanes as concrete types.
macro_rules! with_lanes {
    ($a:expr, $b:expr, |$x:ident, $y:ident| $body:expr) => {{
        macro_rules! inner {
            ($xa:expr) => {{
                let $x = $xa;
                match $b {
                    Lane::Const(v) => { let $y = ConstLane(v); $body }
                    Lane::Contig(p) => { let $y = ContigLane(p); $body }
                    Lane::Strided(p, s) => { let $y = StridedLane(p, s); $body }
                }
            }};
        }
        match $a {
            Lane::Const(v) => inner!(ConstLane(v)),
            Lane::Contig(p) => inner!(ContigLane(p)),
            Lane::Strided(p, s) => inner!(StridedLane(p, s)),
        }
    }};
}

/// Points per work unit: large enough to amortise scheduling, small enough
/// to balance two cores and keep a chunk's output in cache-friendly pieces.
pub const CHUNK: usize = 1 << 16;

/// Below this many points a single thread is faster than waking the pool.
pub const PARALLEL_MIN: usize = 1 << 17;

/// The first error in grid order among per-chunk results.
fn first_error<T>(results: Vec<Result<T>>) -> Result<Vec<T>> {
    results.into_iter().collect()
}

/// Runs `work(chunk_start, chunk_end)` over the grid's chunks, in parallel
/// when the grid is large, and returns the results in grid order.
fn map_chunks<T: Send>(len: usize, work: impl Fn(usize, usize) -> Result<T> + Sync) -> Result<Vec<T>> {
    let n_chunks = len.div_ceil(CHUNK);
    let run = |c: usize| work(c * CHUNK, ((c + 1) * CHUNK).min(len));
    if len < PARALLEL_MIN {
        (0..n_chunks).map(run).collect()
    } else {
        first_error((0..n_chunks).into_par_iter().map(run).collect())
    }
}

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

/// Writes the count at every grid point into `out` (C order). Fails on the
/// first point, in grid order, whose count overflows or whose groups do not divide.
pub fn evaluate(layer: Layer, grid: &Grid, out: &mut [i64]) -> Result<()> {
    if out.len() != grid.len() {
        return Err(Error::Shape(format!("output holds {} values, the grid {}", out.len(), grid.len())));
    }
    dispatch!(grid, layer, evaluate_with(layer, grid, out))
}

fn evaluate_with<const FAST: bool, const GROUPS: bool>(layer: Layer, grid: &Grid, out: &mut [i64]) -> Result<()> {
    let fill = |start: usize, chunk: &mut [i64]| {
        grid.for_each_row(start, start + chunk.len(), |first, row| {
            let out = &mut chunk[first - start..first - start + row.len];
            if FAST && !GROUPS && row.only_sizes_vary() {
                // Coefficients once per row, then a tight loop over the sizes.
                let k = Coeffs::<i64>::of(layer, &config(&row.values(0)));
                with_lanes!(row.lane(Field::NFeatures), row.lane(Field::NUnits), |f, u| sizes_row(&k, f, u, out));
                return Ok(());
            }
            for (j, o) in out.iter_mut().enumerate() {
                *o = count_at::<FAST, GROUPS>(layer, first + j, &row.values(j))?;
            }
            Ok(())
        })
    };
    if out.len() < PARALLEL_MIN {
        fill(0, out)
    } else {
        let results: Vec<Result<()>> =
            out.par_chunks_mut(CHUNK).enumerate().map(|(c, chunk)| fill(c * CHUNK, chunk)).collect();
        first_error(results).map(|_| ())
    }
}

/// The counts along a row where only the sizes change (groups = 1, no
/// overflow possible): two multiplies and two adds a point.
#[inline(always)]
fn sizes_row<F: Read, U: Read>(k: &Coeffs<i64>, f: F, u: U, out: &mut [i64]) {
    for (j, o) in out.iter_mut().enumerate() {
        *o = k.eval(f.at(j), u.at(j));
    }
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

/// Points a sweep examines at once: its counts and kept positions stay in L1.
const BLOCK: usize = 256;

/// The coefficients for a row, when only its sizes vary and the fast path
/// applies (no overflow possible, groups all 1).
#[inline(always)]
fn row_coeffs<const FAST: bool, const GROUPS: bool>(layer: Layer, row: &Row) -> Option<Coeffs<i64>> {
    (FAST && !GROUPS && row.only_sizes_vary()).then(|| Coeffs::of(layer, &config(&row.values(0))))
}

/// The counts of `row` at points `b0..b0 + out.len()`, for a sizes-only row.
#[inline(always)]
fn row_counts(k: &Coeffs<i64>, row: &Row, b0: usize, out: &mut [i64]) {
    let (f, u) = (row.lane(Field::NFeatures).skip(b0), row.lane(Field::NUnits).skip(b0));
    with_lanes!(f, u, |f, u| sizes_row(k, f, u, out));
}

/// Finds the points of `row` a sweep keeps, a block at a time, and hands each
/// block's kept positions (within the row) and counts to `sink`.
#[inline(always)]
fn sweep_row<const FAST: bool, const GROUPS: bool>(
    layer: Layer,
    budget: Option<i64>,
    first: usize,
    row: &Row,
    mut sink: impl FnMut(&[u32], &[i64]),
) -> Result<()> {
    let (mut counts, mut kept_at) = ([0i64; BLOCK], [0u32; BLOCK]);
    let coeffs = row_coeffs::<FAST, GROUPS>(layer, row);
    for b0 in (0..row.len).step_by(BLOCK) {
        let n = BLOCK.min(row.len - b0);
        let mut kept = 0;
        if let Some(k) = &coeffs {
            row_counts(k, row, b0, &mut counts[..n]);
            let budget = budget.unwrap_or(i64::MAX);
            for j in 0..n {
                // A branch: budgets usually keep few points, which predicts well.
                if counts[j] <= budget {
                    counts[kept] = counts[j];
                    kept_at[kept] = (b0 + j) as u32;
                    kept += 1;
                }
            }
        } else {
            for j in b0..b0 + n {
                if let Some(p) = keep::<FAST, GROUPS>(layer, budget, first + j, &row.values(j))? {
                    counts[kept] = p;
                    kept_at[kept] = j as u32;
                    kept += 1;
                }
            }
        }
        sink(&kept_at[..kept], &counts[..kept]);
    }
    Ok(())
}

/// How many points a sweep keeps, chunk by chunk.
fn kept_per_chunk(layer: Layer, grid: &Grid, budget: Option<i64>) -> Result<Vec<usize>> {
    dispatch!(grid, layer, kept_per_chunk_with(layer, grid, budget))
}

fn kept_per_chunk_with<const FAST: bool, const GROUPS: bool>(
    layer: Layer,
    grid: &Grid,
    budget: Option<i64>,
) -> Result<Vec<usize>> {
    if budget.is_none() && !GROUPS {
        // Nothing is filtered: every chunk keeps all its points. Overflow
        // surfaces when the rows are written.
        return Ok((0..grid.len().div_ceil(CHUNK)).map(|c| ((c + 1) * CHUNK).min(grid.len()) - c * CHUNK).collect());
    }
    map_chunks(grid.len(), |start, end| {
        let mut n = 0usize;
        let mut counts = [0i64; BLOCK];
        grid.for_each_row(start, end, |first, row| {
            if let (Some(k), Some(b)) = (row_coeffs::<FAST, GROUPS>(layer, row), budget) {
                // Counting stores nothing: a vectorisable compare-and-sum.
                for b0 in (0..row.len).step_by(BLOCK) {
                    let block = &mut counts[..BLOCK.min(row.len - b0)];
                    row_counts(&k, row, b0, block);
                    n += block.iter().map(|&p| (p <= b) as usize).sum::<usize>();
                }
                return Ok(());
            }
            sweep_row::<FAST, GROUPS>(layer, budget, first, row, |kept, _| n += kept.len())
        })?;
        Ok(n)
    })
}

/// Number of rows a sweep over `grid` keeps: points whose groups divide and,
/// with a budget, whose count is at most `budget`.
pub fn sweep_count(layer: Layer, grid: &Grid, budget: Option<i64>) -> Result<usize> {
    Ok(kept_per_chunk(layer, grid, budget)?.iter().sum())
}

/// One output column of a sweep: the values of `field` at the kept points,
/// stored in native byte order in `width` bytes (1, 2, 4 or 8) per row.
pub struct Column<'a> {
    pub field: Field,
    pub width: usize,
    pub bytes: &'a mut [u8],
}

impl<'a> Column<'a> {
    fn split_off_rows(&mut self, rows: usize) -> Column<'a> {
        let bytes = std::mem::take(&mut self.bytes);
        let (head, tail) = bytes.split_at_mut(rows * self.width);
        self.bytes = tail;
        Column { field: self.field, width: self.width, bytes: head }
    }

    /// Writes the field's values at row positions `at_points`, from output row `at` on.
    #[inline(always)]
    fn write(&mut self, at: usize, row: &Row, at_points: impl Iterator<Item = usize>) {
        let k = self.field as usize;
        if row.varies(self.field) {
            self.put(at, at_points, |j| row.get(k, j));
        } else {
            let v = row.get(k, 0);
            self.put(at, at_points, |_| v);
        }
    }

    #[inline(always)]
    fn put(&mut self, at: usize, at_points: impl Iterator<Item = usize>, value: impl Fn(usize) -> i64) {
        match self.width {
            1 => put::<1>(self.bytes, at, at_points, value),
            2 => put::<2>(self.bytes, at, at_points, value),
            4 => put::<4>(self.bytes, at, at_points, value),
            _ => put::<8>(self.bytes, at, at_points, value),
        }
    }
}

/// Stores `value(j)` for each `j` of `at_points` as a `W`-byte unsigned
/// integer, from output row `at` on.
#[inline(always)]
fn put<const W: usize>(bytes: &mut [u8], at: usize, at_points: impl Iterator<Item = usize>, value: impl Fn(usize) -> i64) {
    let out = bytes[at * W..].chunks_exact_mut(W);
    for (slot, j) in out.zip(at_points) {
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

/// Writes the rows a sweep keeps: the count into `params` and each column's
/// field value into its column, in grid order. Output lengths must equal
/// `sweep_count`; returns that number.
pub fn sweep_fill(
    layer: Layer,
    grid: &Grid,
    budget: Option<i64>,
    params: &mut [i64],
    columns: Vec<Column>,
) -> Result<usize> {
    let counts = kept_per_chunk(layer, grid, budget)?;
    let rows: usize = counts.iter().sum();
    if params.len() != rows {
        return Err(Error::Shape(format!("params holds {} rows, the sweep keeps {rows}", params.len())));
    }
    for c in &columns {
        if ![1, 2, 4, 8].contains(&c.width) || c.bytes.len() != rows * c.width {
            return Err(Error::Shape(format!("column {} does not hold {rows} rows of {} bytes", c.field.name(), c.width)));
        }
    }
    // Give every chunk its own slice of each output, sized by its count.
    let mut pieces = Vec::with_capacity(counts.len());
    let (mut params_rest, mut cols_rest) = (params, columns);
    for &n in &counts {
        let (head, tail) = std::mem::take(&mut params_rest).split_at_mut(n);
        params_rest = tail;
        let cols: Vec<Column> = cols_rest.iter_mut().map(|c| c.split_off_rows(n)).collect();
        pieces.push((head, cols));
    }
    dispatch!(grid, layer, sweep_fill_with(layer, grid, budget, pieces))?;
    Ok(rows)
}

fn sweep_fill_with<const FAST: bool, const GROUPS: bool>(
    layer: Layer,
    grid: &Grid,
    budget: Option<i64>,
    pieces: Vec<(&mut [i64], Vec<Column>)>,
) -> Result<()> {
    let fill = |c: usize, (params, mut cols): (&mut [i64], Vec<Column>)| {
        let start = c * CHUNK;
        let mut at = 0usize;
        grid.for_each_row(start, (start + CHUNK).min(grid.len()), |first, row| {
            match row_coeffs::<FAST, GROUPS>(layer, row) {
                Some(k) if budget.is_none() => {
                    // Every point is kept: write straight into the outputs.
                    row_counts(&k, row, 0, &mut params[at..at + row.len]);
                    for col in cols.iter_mut() {
                        col.write(at, row, 0..row.len);
                    }
                    at += row.len;
                    Ok(())
                }
                _ => sweep_row::<FAST, GROUPS>(layer, budget, first, row, |kept, counts| {
                    params[at..at + counts.len()].copy_from_slice(counts);
                    for col in cols.iter_mut() {
                        col.write(at, row, kept.iter().map(|&j| j as usize));
                    }
                    at += counts.len();
                }),
            }
        })
    };
    if grid.len() < PARALLEL_MIN {
        pieces.into_iter().enumerate().try_for_each(|(c, p)| fill(c, p))
    } else {
        first_error(pieces.into_par_iter().enumerate().map(|(c, p)| fill(c, p)).collect()).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        evaluate(Layer::Lstm, &grid, &mut out).unwrap();
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
        assert_eq!(evaluate(Layer::Lstm, &grid, &mut out), Err(Error::Overflow { index: 1 }));
        assert_eq!(evaluate(Layer::Dense, &grid, &mut out), Ok(()));
    }

    #[test]
    fn evaluate_rejects_groups_that_do_not_divide() {
        let ops = mesh(&[4, 6], &[8, 12], 4);
        let grid = Grid::new(&[2, 2], &views(&ops)).unwrap();
        let mut out = vec![0i64; 4];
        assert_eq!(evaluate(Layer::Conv1d, &grid, &mut out), Err(Error::GroupsDoNotDivide { index: 2 }));
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
            let rows = sweep_count(Layer::Conv1d, &grid, budget).unwrap();
            assert_eq!(rows, expected.len());
            let mut params = vec![0i64; rows];
            let (mut fb, mut ub) = (vec![0u8; rows * 2], vec![0u8; rows * 8]);
            let columns = vec![
                Column { field: Field::NFeatures, width: 2, bytes: &mut fb },
                Column { field: Field::NUnits, width: 8, bytes: &mut ub },
            ];
            assert_eq!(sweep_fill(Layer::Conv1d, &grid, budget, &mut params, columns).unwrap(), rows);
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
        assert_eq!(sweep_count(Layer::Lstm, &grid, Some(i64::MAX)), Ok(1));
        let mut params = vec![0i64; 2];
        let err = sweep_fill(Layer::Lstm, &grid, None, &mut params, Vec::new());
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
        evaluate(Layer::Dense, &grid, &mut out).unwrap();
        // Dense, f = 2, kernel_w = 3 (the mesh's kernel): 3·2·u + u.
        assert_eq!(out, [5i64, 4, 3, 2, 1].map(|u| 3 * 2 * u + u));
    }
}
