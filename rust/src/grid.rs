//! Evaluating the formula over a grid: every operand is broadcast (numpy
//! rules) over one output shape, walked in C order, in chunks that run on
//! rayon's pool when the grid is large enough to pay for the threads.

use std::marker::PhantomData;

use ndarray::{ArrayViewD, IxDyn};

use crate::error::{Error, Result};
use crate::formula::{Config, Convention};
pub use crate::mesh::{chunk_ranges, run_chunks, CHUNK, PARALLEL_MIN};
pub(crate) use crate::mesh::{ConstLane, ContigLane, Lane, StridedLane};

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
    pub(crate) fn domain(self) -> (i64, i64) {
        match self {
            Field::Bias | Field::Bidirectional | Field::ResetAfter => (0, 1),
            Field::Convention => (0, Convention::ALL.len() as i64 - 1),
            _ => (1, i64::MAX),
        }
    }
}

/// Builds the configuration at one grid point from its field values.
#[inline(always)]
pub(crate) fn config(v: &[i64; N_FIELDS]) -> Config {
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
    /// Every field's largest value: the formula's upper bound over the grid.
    pub(crate) max: Config,
    /// Whether some `groups` exceeds 1 (divisibility must be checked).
    pub(crate) any_groups: bool,
    /// Whether both sizes are nondecreasing along every row, so counts are
    /// too (every formula grows with both) and a budget keeps a prefix.
    pub(crate) sizes_sorted: bool,
    /// When the innermost axes hold only options and are short (a sweep
    /// varies bias, convention, … fastest), the grid without them, and the
    /// operands' offsets at each of their points: kernels then walk, for each
    /// such point, a long row along the sizes (see `for_each_run`).
    outer: Option<Box<Grid<'a>>>,
    pub(crate) tile: Vec<[isize; N_FIELDS]>,
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
            if !op.is_empty() && (min < lo || max > hi) {
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
        let mut grid = Grid {
            shape: dims,
            strides,
            ptrs,
            len,
            any_groups: max.groups > 1,
            max,
            sizes_sorted: false,
            outer: None,
            tile: Vec::new(),
            _data: PhantomData,
        };
        grid.sizes_sorted = grid.rows_nondecreasing(Field::NFeatures) && grid.rows_nondecreasing(Field::NUnits);
        grid.split_tile();
        Ok(grid)
    }

    /// Finds the trailing axes along which neither size changes (at most
    /// `TILE_MAX` points in all) and, when the axis before them is a long
    /// size axis, sets up the transposed walk over them.
    fn split_tile(&mut self) {
        let sized = |s: &[isize; N_FIELDS]| s[Field::NFeatures as usize] != 0 || s[Field::NUnits as usize] != 0;
        let (mut cut, mut m) = (self.shape.len(), 1);
        while cut > 1 && !sized(&self.strides[cut - 1]) && m * self.shape[cut - 1] <= TILE_MAX {
            m *= self.shape[cut - 1];
            cut -= 1;
        }
        if m == 1 || self.shape[cut - 1] < TILE_MIN_ROW || !sized(&self.strides[cut - 1]) {
            return;
        }
        let (dims, strides) = (&self.shape[cut..], &self.strides[cut..]);
        self.tile = (0..m)
            .map(|q| {
                let (mut offsets, mut rest) = ([0isize; N_FIELDS], q);
                for (&n, s) in dims.iter().zip(strides).rev() {
                    for (o, &step) in offsets.iter_mut().zip(s) {
                        *o += (rest % n) as isize * step;
                    }
                    rest /= n;
                }
                offsets
            })
            .collect();
        let mut outer = Grid {
            shape: self.shape[..cut].to_vec(),
            strides: self.strides[..cut].to_vec(),
            ptrs: self.ptrs,
            len: self.len / m,
            max: self.max,
            any_groups: self.any_groups,
            sizes_sorted: false,
            outer: None,
            tile: Vec::new(),
            _data: PhantomData,
        };
        outer.sizes_sorted = outer.rows_nondecreasing(Field::NFeatures) && outer.rows_nondecreasing(Field::NUnits);
        self.outer = Some(Box::new(outer));
    }

    /// Whether `field` never decreases along the innermost axis. Visits each
    /// distinct row of the operand once (axes it is broadcast along are
    /// skipped), so the cost is at most the operand's own size.
    fn rows_nondecreasing(&self, field: Field) -> bool {
        let k = field as usize;
        let Some(last) = self.shape.len().checked_sub(1) else {
            return true;
        };
        let (n, step) = (self.shape[last], self.strides[last][k]);
        if step == 0 || n < 2 {
            return true;
        }
        let outer: Vec<(usize, isize)> =
            (0..last).filter(|&d| self.strides[d][k] != 0).map(|d| (self.shape[d], self.strides[d][k])).collect();
        let mut index = vec![0usize; outer.len()];
        loop {
            let base: isize = index.iter().zip(&outer).map(|(&i, &(_, s))| i as isize * s).sum();
            // SAFETY: base and j address points inside the broadcast shape.
            let at = |j: usize| unsafe { *self.ptrs[k].offset(base + j as isize * step) };
            if (1..n).any(|j| at(j) < at(j - 1)) {
                return false;
            }
            let mut d = outer.len();
            loop {
                if d == 0 {
                    return true;
                }
                d -= 1;
                index[d] += 1;
                if index[d] < outer[d].0 {
                    break;
                }
                index[d] = 0;
            }
        }
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
    pub(crate) fn for_each_row<F>(&self, start: usize, end: usize, mut visit: F) -> Result<()>
    where
        F: FnMut(usize, &Row) -> Result<()>,
    {
        if start >= end {
            return Ok(());
        }
        let ndim = self.shape.len();
        if ndim == 0 {
            let row =
                Row { ptrs: self.ptrs, offsets: [0; N_FIELDS], strides: [0; N_FIELDS], len: 1, _grid: PhantomData };
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
        for (&i, strides) in index[..last].iter().zip(&self.strides) {
            for (o, &s) in outer.iter_mut().zip(strides) {
                *o += i as isize * s;
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
                for (o, &s) in outer.iter_mut().zip(&self.strides[d]) {
                    *o += s;
                }
                if index[d] < self.shape[d] {
                    break;
                }
                for (o, &s) in outer.iter_mut().zip(&self.strides[d]) {
                    *o -= self.shape[d] as isize * s;
                }
                index[d] = 0;
            }
        }
    }

    /// Calls `visit(first, rows, sorted)` for the points of `start..end`, in
    /// C order. Usually `rows` is one row, whose point `j` is flat index
    /// `first + j`. On a grid with a tile (see `split_tile`), whole tiles come
    /// as `m` rows along the sizes, interleaved: point `j` of row `q` is flat
    /// index `first + j·m + q`. `sorted`: the sizes never decrease along the
    /// rows given. Stops at, and returns, the first error `visit` returns.
    #[inline(always)]
    pub(crate) fn for_each_run<F>(&self, start: usize, end: usize, mut visit: F) -> Result<()>
    where
        F: FnMut(usize, &[Row], bool) -> Result<()>,
    {
        let sorted = self.sizes_sorted;
        let single =
            |s, e, visit: &mut F| self.for_each_row(s, e, |first, row| visit(first, std::slice::from_ref(row), sorted));
        let (m, Some(outer)) = (self.tile.len(), self.outer.as_deref()) else {
            return single(start, end, &mut visit);
        };
        let (lo, hi) = (start.div_ceil(m) * m, end / m * m);
        if lo >= hi {
            return single(start, end, &mut visit);
        }
        single(start, lo, &mut visit)?;
        outer.for_each_row(lo / m, hi / m, |t, row| {
            let rows: Vec<Row> = self.tile.iter().map(|by| row.shifted(by)).collect();
            visit(t * m, &rows, outer.sizes_sorted)
        })?;
        single(hi, end, &mut visit)
    }
}

/// A run of `len` consecutive grid points along the innermost axis.
pub(crate) struct Row<'g> {
    ptrs: [*const i64; N_FIELDS],
    offsets: [isize; N_FIELDS],
    strides: [isize; N_FIELDS],
    pub(crate) len: usize,
    _grid: PhantomData<&'g Grid<'g>>,
}

impl<'g> Row<'g> {
    /// Field `k` at point `j` of the row.
    #[inline(always)]
    pub(crate) fn get(&self, k: usize, j: usize) -> i64 {
        debug_assert!(j < self.len);
        // SAFETY: j < len keeps the point inside the broadcast shape, so the
        // offset addresses an element of operand k's array.
        unsafe { *self.ptrs[k].offset(self.offsets[k] + j as isize * self.strides[k]) }
    }

    /// The same points with every operand's offset moved by `by`.
    pub(crate) fn shifted(&self, by: &[isize; N_FIELDS]) -> Row<'g> {
        Row {
            ptrs: self.ptrs,
            offsets: std::array::from_fn(|k| self.offsets[k] + by[k]),
            strides: self.strides,
            len: self.len,
            _grid: PhantomData,
        }
    }

    #[inline(always)]
    pub(crate) fn values(&self, j: usize) -> [i64; N_FIELDS] {
        std::array::from_fn(|k| self.get(k, j))
    }

    pub(crate) fn varies(&self, field: Field) -> bool {
        self.strides[field as usize] != 0 && self.len > 1
    }

    /// Whether only the two sizes change along the row, so the formula's
    /// coefficients can be computed once for the whole row.
    pub(crate) fn only_sizes_vary(&self) -> bool {
        Field::ALL[2..].iter().all(|&f| !self.varies(f))
    }

    /// Field `k` along the row as the cheapest way to read it.
    pub(crate) fn lane(&self, field: Field) -> Lane {
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

/// Evaluates `$body` with `$x`, `$y` bound to the two lanes as concrete
/// reader types: one monomorphised loop per combination of lane kinds.
macro_rules! with_lanes {
    ($a:expr, $b:expr, |$x:ident, $y:ident| $body:expr) => {{
        macro_rules! inner {
            ($xa:expr) => {{
                let $x = $xa;
                match $b {
                    $crate::grid::Lane::Const(v) => {
                        let $y = $crate::grid::ConstLane(v);
                        $body
                    }
                    $crate::grid::Lane::Contig(p) => {
                        let $y = $crate::grid::ContigLane(p);
                        $body
                    }
                    $crate::grid::Lane::Strided(p, s) => {
                        let $y = $crate::grid::StridedLane(p, s);
                        $body
                    }
                }
            }};
        }
        match $a {
            $crate::grid::Lane::Const(v) => inner!($crate::grid::ConstLane(v)),
            $crate::grid::Lane::Contig(p) => inner!($crate::grid::ContigLane(p)),
            $crate::grid::Lane::Strided(p, s) => inner!($crate::grid::StridedLane(p, s)),
        }
    }};
}

/// Most points of trailing option axes a kernel walks transposed, and the
/// least length of the size axis before them for that to pay.
const TILE_MAX: usize = 16;
const TILE_MIN_ROW: usize = 16;

pub(crate) use with_lanes;
