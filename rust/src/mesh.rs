//! A block's mesh: any number of operands broadcast (numpy rules) over one
//! output shape, walked in C order row by row, in chunks that run on rayon's
//! pool when the mesh is large enough to pay for the threads.
//!
//! Nothing here knows what an operand means; the kernel's spec (`poly`) tells
//! it only which operands are sizes (read by factors), so that a mesh whose
//! innermost axes are short option axes is walked transposed (see
//! `split_tile`).

use std::marker::PhantomData;
use std::ops::Range;
use std::sync::OnceLock;

use ndarray::{ArrayViewD, IxDyn};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::simd;

/// Points per work unit: large enough to amortise scheduling, small enough
/// to balance two cores and keep a chunk's output in cache-friendly pieces.
pub const CHUNK: usize = 1 << 16;

/// Below this many points a single thread is faster than waking the pool
/// (measured by benches/bench.py: two threads win from about this size on).
pub const PARALLEL_MIN: usize = 1 << 17;

/// Most points of trailing short axes a kernel walks transposed, and the
/// least length of the size axis before them for that to pay.
const TILE_MAX: usize = 16;
const TILE_MIN_ROW: usize = 16;

/// A mesh ranks an operand (see [`Ranks`]) of rows of length `len` only when
/// it has at least this many times `log2(len)` rows: one sort costs 15–25 ns
/// a value (measured, 1e4 to 1e6 values), a compare of a row's points ~0.1 ns
/// each, so ranking pays from about 10·log2(len) rows.
const RANK_ROWS_PER_LOG2: usize = 16;

/// An operand read along rows only (every row holds the same values), sorted
/// once, with each value's position along the row. Under a budget that keeps
/// the points where such an operand is at most `v`, and rows where it is not
/// sorted, a row's kept points are the positions of its smallest values: a
/// binary search finds how many, and a row then costs what it keeps, not its
/// length.
pub(crate) struct Ranks {
    values: Vec<i64>,
    positions: Vec<u32>,
}

impl Ranks {
    /// How many of a row's values are at most `v`.
    pub(crate) fn at_most(&self, v: i64) -> usize {
        self.values.partition_point(|&x| x <= v)
    }

    /// The row's length.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// The positions of a row's `n` smallest values, in no useful order.
    pub(crate) fn smallest(&self, n: usize) -> &[u32] {
        &self.positions[..n]
    }
}

/// Operands broadcast over one output shape. The value of operand `k` at
/// multi-index `i` is `*ptrs[k].offset(Σ_d i[d] · strides[d·n + k])`.
pub struct Mesh<'a> {
    n: usize,
    shape: Vec<usize>,
    strides: Vec<isize>,
    ptrs: Vec<*const i64>,
    len: usize,
    /// Each operand's smallest and largest value: what bounds every quantity.
    pub(crate) min: Vec<i64>,
    pub(crate) max: Vec<i64>,
    /// Per operand: whether it never decreases along the innermost axis, so
    /// a quantity that grows with it keeps a prefix of each row under a
    /// budget. Found on first use: only budgets need it.
    sorted: OnceLock<Vec<bool>>,
    /// Per operand: its ranks, found on first use (see [`Mesh::ranks`]).
    ranks: Vec<OnceLock<Option<Ranks>>>,
    /// The operands that change anywhere on the mesh: rows track only their offsets.
    moving: Vec<usize>,
    /// When the innermost axes are short (a sweep varies its options
    /// fastest), the mesh without them and the operands' offsets at each of
    /// their points: kernels then walk, for each such point, a long row along
    /// the axis before them (see `for_each_run`).
    outer: Option<Box<Mesh<'a>>>,
    tile: Vec<isize>,
    _data: PhantomData<&'a i64>,
}

// SAFETY: a Mesh only reads through its pointers, which point into arrays
// borrowed for 'a; sharing read-only access across threads is sound.
unsafe impl Send for Mesh<'_> {}
unsafe impl Sync for Mesh<'_> {}

impl<'a> Mesh<'a> {
    /// Refuses a negative operand (every quantity is a polynomial with
    /// non-negative coefficients in non-negative factors, which is what makes
    /// the bounds and the budget rules sound), broadcasts every operand to
    /// `shape`, and simplifies the shape (size-1 axes dropped, axes that every
    /// operand walks contiguously merged) so rows are as long as possible.
    /// `sized[k]`: operand `k` is read by a factor (a size, not a coefficient).
    /// `floors[k]` (missing: 0): the least value operand `k` may hold, checked
    /// on the same pass that reads its extremes (the caller's bound on a size).
    pub fn new(shape: &[usize], operands: &[ArrayViewD<'a, i64>], sized: &[bool], floors: &[i64]) -> Result<Mesh<'a>> {
        let n = operands.len();
        let (mut min, mut max, mut ptrs) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        let mut full = vec![0isize; shape.len() * n];
        for (k, op) in operands.iter().enumerate() {
            let extremes = |(lo, hi): (i64, i64), &v: &i64| (lo.min(v), hi.max(v));
            let (lo, hi) = match op.as_slice_memory_order() {
                // A large operand (a user's array of sizes) is read on every thread, at memory speed.
                Some(values) if values.len() >= PARALLEL_MIN => values
                    .par_chunks(CHUNK)
                    .map(simd::extremes)
                    .reduce(|| (i64::MAX, i64::MIN), |(a, b), (c, d)| (a.min(c), b.max(d))),
                Some(values) => simd::extremes(values),
                None => op.iter().fold((i64::MAX, i64::MIN), extremes),
            };
            if lo < 0 {
                return Err(Error::NegativeOperand { operand: k, value: lo });
            }
            if let Some(&floor) = floors.get(k).filter(|&&f| !op.is_empty() && lo < f) {
                return Err(Error::BelowFloor { operand: k, value: lo, floor });
            }
            let view = op.broadcast(IxDyn(shape)).ok_or_else(|| {
                Error::Shape(format!("operand {k} of shape {:?} does not broadcast to {:?}", op.shape(), shape))
            })?;
            ptrs.push(view.as_ptr());
            for (d, &s) in view.strides().iter().enumerate() {
                full[d * n + k] = s;
            }
            let empty = op.is_empty();
            min.push(if empty { 0 } else { lo });
            max.push(if empty { 0 } else { hi });
        }
        let len = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        let len = len.ok_or_else(|| Error::Shape(format!("mesh {shape:?} has more points than usize holds")))?;

        let (mut dims, mut strides): (Vec<usize>, Vec<isize>) = (Vec::new(), Vec::new());
        for (d, &size) in shape.iter().enumerate() {
            if size == 1 {
                continue;
            }
            let these = &full[d * n..(d + 1) * n];
            // Merge an axis into the previous one when every operand steps
            // through both as through one: previous stride = this stride · size.
            let merge = !dims.is_empty() && {
                let prev = &strides[strides.len() - n..];
                prev.iter().zip(these).all(|(&p, &s)| p == s * size as isize)
            };
            if merge {
                *dims.last_mut().unwrap() *= size;
                let at = strides.len() - n;
                strides[at..].copy_from_slice(these);
            } else {
                dims.push(size);
                strides.extend_from_slice(these);
            }
        }
        if dims.is_empty() {
            // A single point: one row of length 1 keeps the walk uniform.
            dims.push(1);
            strides.resize(n, 0);
        }
        let moving = (0..n).filter(|&k| strides.iter().skip(k).step_by(n).any(|&s| s != 0)).collect();
        let mut mesh = Mesh {
            n,
            shape: dims,
            strides,
            ptrs,
            len,
            min,
            max,
            sorted: OnceLock::new(),
            ranks: (0..n).map(|_| OnceLock::new()).collect(),
            moving,
            outer: None,
            tile: Vec::new(),
            _data: PhantomData,
        };
        mesh.split_tile(sized);
        Ok(mesh)
    }

    /// Operand `k`'s value when it is the same at every point.
    pub(crate) fn constant(&self, k: usize) -> Option<i64> {
        // SAFETY: a non-empty mesh's operand has its first element at its pointer.
        (self.len > 0 && !self.moving.contains(&k)).then(|| unsafe { *self.ptrs[k] })
    }

    /// Per operand: whether it never decreases along the innermost axis.
    pub(crate) fn sorted(&self) -> &[bool] {
        self.sorted.get_or_init(|| (0..self.n).map(|k| self.rows_nondecreasing(k)).collect())
    }

    /// Operand `k`'s ranks, when it is read along rows only (it moves along
    /// the innermost axis and no other) in a mesh of enough rows to pay for the sort.
    pub(crate) fn ranks(&self, k: usize) -> Option<&Ranks> {
        self.ranks[k].get_or_init(|| self.rank(k)).as_ref()
    }

    fn rank(&self, k: usize) -> Option<Ranks> {
        let last = self.shape.len() - 1;
        let (len, step) = (self.shape[last], self.stride(last, k));
        let along_rows_only = step != 0 && (0..last).all(|d| self.stride(d, k) == 0);
        let enough_rows = |rows: usize| rows >= RANK_ROWS_PER_LOG2 * len.ilog2().max(1) as usize;
        if !along_rows_only || self.len == 0 || !enough_rows(self.len / len) || u32::try_from(len).is_err() {
            return None;
        }
        // SAFETY: j < len addresses point j of the first row.
        let at = |j: usize| unsafe { *self.ptrs[k].offset(j as isize * step) };
        if self.max[k] <= u32::MAX as i64 {
            // Sizes fit 32 bits: value and position sort as one u64 key, three times faster than pairs.
            let mut keys: Vec<u64> = (0..len).map(|j| (at(j) as u64) << 32 | j as u64).collect();
            keys.sort_unstable();
            let (values, positions) = keys.iter().map(|&key| ((key >> 32) as i64, key as u32)).unzip();
            return Some(Ranks { values, positions });
        }
        let mut order: Vec<(i64, u32)> = (0..len).map(|j| (at(j), j as u32)).collect();
        order.sort_unstable();
        Some(Ranks { values: order.iter().map(|o| o.0).collect(), positions: order.iter().map(|o| o.1).collect() })
    }

    /// Number of operands.
    pub fn operands(&self) -> usize {
        self.n
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn stride(&self, d: usize, k: usize) -> isize {
        self.strides[d * self.n + k]
    }

    /// Finds the trailing axes of at most `TILE_MAX` points in all and, when
    /// the axis before them is a long one along which some size varies, sets
    /// up the transposed walk over them: rows along that axis, one per point
    /// of the trailing axes, instead of rows of a few points each.
    fn split_tile(&mut self, sized: &[bool]) {
        let (mut cut, mut m) = (self.shape.len(), 1);
        while cut > 1 && m * self.shape[cut - 1] <= TILE_MAX {
            m *= self.shape[cut - 1];
            cut -= 1;
        }
        let long = cut >= 1 && self.shape[cut - 1] >= TILE_MIN_ROW;
        if m == 1 || !long || self.len == 0 || !(0..self.n).any(|k| sized[k] && self.stride(cut - 1, k) != 0) {
            return;
        }
        let (n, dims, strides) = (self.n, &self.shape[cut..], &self.strides[cut * self.n..]);
        // An operand that moves within a tile differs between the rows of a tile: it has no ranks.
        let in_tile = |k: usize| strides.iter().skip(k).step_by(n).any(|&s| s != 0);
        let mut tile = vec![0isize; m * n];
        for q in 0..m {
            let mut rest = q;
            for (d, &size) in dims.iter().enumerate().rev() {
                for k in 0..n {
                    tile[q * n + k] += (rest % size) as isize * strides[d * n + k];
                }
                rest /= size;
            }
        }
        let outer = Mesh {
            n,
            shape: self.shape[..cut].to_vec(),
            strides: self.strides[..cut * n].to_vec(),
            ptrs: self.ptrs.clone(),
            len: self.len / m,
            min: self.min.clone(),
            max: self.max.clone(),
            sorted: OnceLock::new(),
            ranks: (0..n).map(|k| if in_tile(k) { OnceLock::from(None) } else { OnceLock::new() }).collect(),
            moving: self.moving.clone(),
            outer: None,
            tile: Vec::new(),
            _data: PhantomData,
        };
        self.tile = tile;
        self.outer = Some(Box::new(outer));
    }

    /// Whether operand `k` never decreases along the innermost axis. Visits
    /// each distinct row of the operand once (axes it is broadcast along are
    /// skipped), so the cost is at most the operand's own size.
    fn rows_nondecreasing(&self, k: usize) -> bool {
        let last = self.shape.len() - 1;
        let (len, step) = (self.shape[last], self.stride(last, k));
        if step == 0 || len < 2 || self.len == 0 {
            return true;
        }
        let outer: Vec<(usize, isize)> =
            (0..last).filter(|&d| self.stride(d, k) != 0).map(|d| (self.shape[d], self.stride(d, k))).collect();
        let (mut index, ptr) = (vec![0usize; outer.len()], self.ptrs[k]);
        loop {
            let base: isize = index.iter().zip(&outer).map(|(&i, &(_, s))| i as isize * s).sum();
            // SAFETY: base and j address points inside the broadcast shape.
            let at = |j: usize| unsafe { *ptr.offset(base + j as isize * step) };
            let decreases = if step == 1 {
                // SAFETY: a row of step 1 holds `len` values from its first.
                let values = unsafe { std::slice::from_raw_parts(ptr.offset(base), len) };
                values.windows(2).any(|w| w[1] < w[0])
            } else {
                (1..len).any(|j| at(j) < at(j - 1))
            };
            if decreases {
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

    /// Calls `visit(flat_index_of_first_point, row)` for every run of points
    /// along the innermost axis within `start..end`, in C order. Stops at, and
    /// returns, the first error `visit` returns.
    pub(crate) fn for_each_row<F>(&self, start: usize, end: usize, mut visit: F) -> Result<()>
    where
        F: FnMut(usize, &MeshRow) -> Result<()>,
    {
        if start >= end {
            return Ok(());
        }
        let (n, ndim) = (self.n, self.shape.len());
        let last = ndim - 1;
        let (inner_len, inner) = (self.shape[last], &self.strides[last * n..]);
        // Unravel `start` into a multi-index and the operands' offsets there.
        let mut index = vec![0usize; ndim];
        let mut rest = start;
        for d in (0..ndim).rev() {
            index[d] = rest % self.shape[d];
            rest /= self.shape[d];
        }
        // Only the moving operands' offsets change; the others stay 0.
        let (mut outer, mut offsets) = (vec![0isize; n], vec![0isize; n]);
        for (d, &i) in index[..last].iter().enumerate() {
            for &k in &self.moving {
                outer[k] += i as isize * self.strides[d * n + k];
            }
        }
        let (mut flat, mut j0) = (start, index[last]);
        loop {
            let len = (inner_len - j0).min(end - flat);
            for &k in &self.moving {
                offsets[k] = outer[k] + j0 as isize * inner[k];
            }
            visit(flat, &MeshRow { ptrs: &self.ptrs, strides: inner, offsets: &offsets, len })?;
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
                let step = &self.strides[d * n..(d + 1) * n];
                for &k in &self.moving {
                    outer[k] += step[k];
                }
                if index[d] < self.shape[d] {
                    break;
                }
                for &k in &self.moving {
                    outer[k] -= self.shape[d] as isize * step[k];
                }
                index[d] = 0;
            }
        }
    }

    /// Calls `visit(first, rows, along)` for the points of `start..end`, in
    /// C order. Usually `rows` is one row, whose point `j` is flat index
    /// `first + j`. On a mesh with a tile (see `split_tile`), whole tiles come
    /// as `m` rows along the long axis, interleaved: point `j` of row `q` is
    /// flat index `first + j·m + q`. `along`: the mesh whose innermost axis
    /// the rows run along (for `sorted`). Stops at, and returns, the first
    /// error `visit` returns.
    pub(crate) fn for_each_run<F>(&self, start: usize, end: usize, mut visit: F) -> Result<()>
    where
        F: FnMut(usize, &[MeshRow], &Mesh) -> Result<()>,
    {
        let single =
            |s, e, visit: &mut F| self.for_each_row(s, e, |first, row| visit(first, std::slice::from_ref(row), self));
        let Some(outer) = self.outer.as_deref() else {
            return single(start, end, &mut visit);
        };
        let (n, m) = (self.n, self.tile.len() / self.n);
        let (lo, hi) = (start.div_ceil(m) * m, end / m * m);
        if lo >= hi {
            return single(start, end, &mut visit);
        }
        single(start, lo, &mut visit)?;
        let mut offsets = vec![0isize; m * n];
        outer.for_each_row(lo / m, hi / m, |t, row| {
            for (q, shifted) in offsets.chunks_exact_mut(n).enumerate() {
                for &k in &self.moving {
                    shifted[k] = row.offsets[k] + self.tile[q * n + k];
                }
            }
            // On the stack: rows past m repeat the first and are not visited.
            let rows: [MeshRow; TILE_MAX] = std::array::from_fn(|q| {
                let offsets = &offsets[(q % m) * n..(q % m + 1) * n];
                MeshRow { ptrs: row.ptrs, strides: row.strides, offsets, len: row.len }
            });
            visit(t * m, &rows[..m], outer)
        })?;
        single(hi, end, &mut visit)
    }
}

/// A run of `len` consecutive mesh points along the innermost axis.
pub(crate) struct MeshRow<'r> {
    ptrs: &'r [*const i64],
    strides: &'r [isize],
    offsets: &'r [isize],
    pub(crate) len: usize,
}

impl MeshRow<'_> {
    /// Operand `k` at point `j` of the row.
    #[inline(always)]
    pub(crate) fn get(&self, k: usize, j: usize) -> i64 {
        debug_assert!(j < self.len && k < self.ptrs.len());
        // SAFETY: kernels read only operands the mesh has (`eval::check`), and
        // j < len keeps the point inside the broadcast shape, so the offset
        // addresses an element of operand k's array.
        unsafe {
            let (p, o, s) = (self.ptrs.get_unchecked(k), self.offsets.get_unchecked(k), self.strides.get_unchecked(k));
            *p.offset(o + j as isize * s)
        }
    }

    /// Where the row starts along the innermost axis, read from operand `k`,
    /// which moves along that axis and no other (it has ranks).
    pub(crate) fn start(&self, k: usize) -> usize {
        (self.offsets[k] / self.strides[k]) as usize
    }

    #[inline(always)]
    pub(crate) fn varies(&self, k: usize) -> bool {
        self.strides[k] != 0 && self.len > 1
    }

    /// Operand `k` along the row as the cheapest way to read it.
    #[inline(always)]
    pub(crate) fn lane(&self, k: usize) -> Lane {
        // SAFETY: offsets[k] addresses the row's first point (len >= 1).
        let first = unsafe { self.ptrs[k].offset(self.offsets[k]) };
        match self.strides[k] {
            _ if !self.varies(k) => Lane::Const(self.get(k, 0)),
            1 => Lane::Contig(first),
            s => Lane::Strided(first, s),
        }
    }
}

/// How a row reads one operand. Separate loops for each kind let the
/// compiler vectorise the constant and contiguous cases.
#[derive(Clone, Copy)]
pub(crate) enum Lane {
    Const(i64),
    Contig(*const i64),
    Strided(*const i64, isize),
}

impl Lane {
    /// The same lane starting `n` points further along the row.
    #[inline(always)]
    pub(crate) fn skip(self, n: usize) -> Lane {
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

pub(crate) trait Read: Copy {
    fn at(self, j: usize) -> i64;
}

#[derive(Clone, Copy)]
pub(crate) struct ConstLane(pub(crate) i64);
#[derive(Clone, Copy)]
pub(crate) struct ContigLane(pub(crate) *const i64);
#[derive(Clone, Copy)]
pub(crate) struct StridedLane(pub(crate) *const i64, pub(crate) isize);

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

/// Evaluates `$body` with `$x` bound to the lane as a concrete reader type:
/// one monomorphised loop per lane kind.
macro_rules! with_lane {
    ($lane:expr, |$x:ident| $body:expr) => {
        match $lane {
            $crate::mesh::Lane::Const(v) => {
                let $x = $crate::mesh::ConstLane(v);
                $body
            }
            $crate::mesh::Lane::Contig(p) => {
                let $x = $crate::mesh::ContigLane(p);
                $body
            }
            $crate::mesh::Lane::Strided(p, s) => {
                let $x = $crate::mesh::StridedLane(p, s);
                $body
            }
        }
    };
}
pub(crate) use with_lane;

/// The chunks of `range`: `CHUNK` points each, the last one shorter.
pub fn chunk_ranges(range: Range<usize>) -> Vec<Range<usize>> {
    (range.start..range.end).step_by(CHUNK).map(|s| s..(s + CHUNK).min(range.end)).collect()
}

/// Runs `work(chunk, state)` on each chunk of `range` with its own state
/// (an output slice, say), on both cores when the range is large, and returns
/// the results in mesh order, or the first error in mesh order (so an error
/// names the same point whatever the thread timing).
pub fn run_chunks<S: Send, T: Send>(
    range: Range<usize>,
    states: Vec<S>,
    work: impl Fn(Range<usize>, S) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    run_chunks_with(range, states, || (), |_, r, s| work(r, s))
}

/// [`run_chunks`] with a worker made by `init` and reused by the chunks one
/// thread runs (its scratch space is then allocated a few times per call,
/// not once per chunk).
pub fn run_chunks_with<W, S: Send, T: Send>(
    range: Range<usize>,
    states: Vec<S>,
    init: impl Fn() -> W + Sync + Send,
    work: impl Fn(&mut W, Range<usize>, S) -> Result<T> + Sync + Send,
) -> Result<Vec<T>> {
    let pieces = chunk_ranges(range.clone());
    debug_assert_eq!(pieces.len(), states.len());
    let results: Vec<Result<T>> = if range.len() >= PARALLEL_MIN {
        pieces.into_par_iter().zip(states).map_init(&init, |w, (r, s)| work(w, r, s)).collect()
    } else {
        let mut worker = init();
        pieces.into_iter().zip(states).map(|(r, s)| work(&mut worker, r, s)).collect()
    };
    results.into_iter().collect()
}
