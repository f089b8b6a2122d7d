//! The three kernels over a spec and a mesh: every quantity at every point
//! (`evaluate`), the rows a sweep keeps (`chunk_counts`), and the sweep's
//! table (`sweep_fill`, which fills what `chunk_counts` counted).
//!
//! Each runs chunk by chunk on rayon's pool and row by row within a chunk,
//! as each row's plan says (`plans`). Interleaved rows (a mesh's transposed
//! tile, see `Mesh::for_each_run`) are planned one by one, computed a
//! cache-sized strip at a time, and emitted in C order. Errors always come
//! from the point-by-point path, visited in C order, so an error names the
//! first failing point whatever the plans and the threads.

use std::ops::Range;

use crate::emit::Column;
use crate::error::{Error, Result};
use ndarray::{ArrayViewD, Axis, Slice};
use rayon::prelude::*;

use crate::mesh::{chunk_ranges, run_chunks_with, with_lane, Lane, Mesh, MeshRow, CHUNK, PARALLEL_MIN};
use crate::plans::{Keep, Mode, Plan, Planner};
use crate::poly::{Bounds, Cubic, Spec, Specialized, INT64_MAX};
use crate::simd;

/// At most this many budgets in one call (one per quantity is the most that means anything).
pub const MAX_BUDGETS: usize = 8;

/// A sweep's budgets: keep the points where, for every `(q, limit)`, quantity `q` is at most `limit`.
/// Every quantity grows with every size, so along a row each budget keeps a prefix of the sizes
/// and together they keep the shortest: several budgets cost what one does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    n: usize,
    limits: [(usize, i64); MAX_BUDGETS],
}

impl Budget {
    pub const NONE: Budget = Budget { n: 0, limits: [(0, 0); MAX_BUDGETS] };

    pub fn new(limits: &[(usize, i64)]) -> Result<Budget> {
        if limits.len() > MAX_BUDGETS {
            return Err(Error::Spec(format!("at most {MAX_BUDGETS} budgets, got {}", limits.len())));
        }
        let mut budget = Budget::NONE;
        budget.limits[..limits.len()].copy_from_slice(limits);
        budget.n = limits.len();
        Ok(budget)
    }

    pub fn limits(&self) -> &[(usize, i64)] {
        &self.limits[..self.n]
    }

    pub fn is_none(&self) -> bool {
        self.n == 0
    }

    /// Whether the quantity `q` bears a budget.
    pub fn on(&self, q: usize) -> bool {
        self.limits().iter().any(|&(b, _)| b == q)
    }

    /// The one budget, where there is exactly one (a short row compares its values against it).
    pub fn single(&self) -> Option<(usize, i64)> {
        (self.n == 1).then(|| self.limits[0])
    }

    /// Whether values (non-negative; saturated past `i64`) fit every budget.
    #[inline(always)]
    pub fn fits(&self, value: impl Fn(usize) -> u64) -> bool {
        self.limits().iter().all(|&(q, limit)| limit >= 0 && value(q) <= limit as u64)
    }
}

#[cfg(test)]
impl From<Option<(usize, i64)>> for Budget {
    fn from(budget: Option<(usize, i64)>) -> Budget {
        Budget::new(budget.as_slice()).expect("one budget")
    }
}

/// Points a filtering row examines at once: its values and kept positions stay in L1.
const BLOCK: usize = 256;

/// Points of interleaved rows computed at once (all rows together).
const STRIP: usize = 1024;

/// Whether outputs of `values` values, in memory already mapped (a caller's buffer), are better
/// written with streaming stores: from 32 MiB, a last-level cache, they would leave the cache
/// unread, and a plain store first reads each line in (LSTM into a touched 1e8 buffer, AMD Zen 4,
/// A/B: 0.69–0.75 of memset's rate plain, 0.86–0.95 streamed). Not into new memory: the kernel has
/// just zeroed its pages through the cache, where plain stores find them (1e7 LSTM counts into new
/// arrays: 6.6–6.8 ms plain, 7.4–8.2 ms streamed).
pub fn streams(values: usize) -> bool {
    values >= 1 << 22
}

/// Writes every quantity at every point of `range` into `outs` (one slice
/// per quantity, each holding exactly those points). Fails at the first
/// point, in C order, where a factor is invalid or a quantity overflows.
/// `stream`: write the folded rows with streaming stores (see [`streams`]).
pub fn evaluate(spec: &Spec, mesh: &Mesh, range: Range<usize>, outs: Vec<&mut [i64]>, stream: bool) -> Result<()> {
    check(spec, mesh, &range, Budget::NONE)?;
    if outs.len() != spec.quantities.len() || outs.iter().any(|o| o.len() != range.len()) {
        return Err(Error::Shape(format!(
            "evaluate needs {} outputs of {} values for points {range:?}",
            spec.quantities.len(),
            range.len()
        )));
    }
    let (bounds, folder) = (spec.bounds(&mesh.min, &mesh.max), spec.specialize(|k| mesh.constant(k)));
    let sizes: Vec<usize> = chunk_ranges(range.clone()).iter().map(|r| r.len()).collect();
    let pieces = split_outputs(outs, &sizes);
    let init = || Worker { stream, ..Worker::new(spec, &folder, &bounds, Mode::Count) };
    run_chunks_with(range, pieces, init, |worker, chunk, mut outs| {
        let done = mesh.for_each_run(chunk.start, chunk.end, |first, rows, along| {
            worker.evaluate(first - chunk.start, first, rows, along, &mut outs)
        });
        if stream {
            simd::fence();
        }
        done
    })
    .map(|_| ())
}

/// An operand at most this long may be read again by every block of [`evaluate_rows`].
const SMALL_OPERAND: usize = 1 << 12;

/// Whether [`evaluate_rows`] applies to a mesh of `shape`: a large one, with a large operand, where
/// every operand but small ones varies along the first axis (so a block of rows slices it).
pub fn by_rows(shape: &[usize], operands: &[ArrayViewD<'_, i64>]) -> bool {
    let len: usize = shape.iter().product();
    !shape.is_empty()
        && shape[0] > 1
        && len >= PARALLEL_MIN
        && operands.iter().any(|op| op.len() >= PARALLEL_MIN)
        && operands.iter().all(|op| op.len() <= SMALL_OPERAND || spans_rows(op, shape))
}

/// Whether `op` varies along the first axis of a mesh of `shape` (a block of rows slices it).
fn spans_rows(op: &ArrayViewD<'_, i64>, shape: &[usize]) -> bool {
    op.ndim() == shape.len() && op.shape()[0] == shape[0]
}

/// [`evaluate`] of rows `rows` of the first axis of a [`by_rows`] mesh, a block of about `CHUNK`
/// points at a time, a block a task: each block's mesh reads its operands' extremes just before it
/// is evaluated, on the same core, while they are in its cache, so a large operand is read from
/// memory once, not once for its extremes and once more for its values. `outs` hold the rows'
/// points. `None` where a block fails: the caller then evaluates the whole mesh, whose refusal
/// (an operand's, or the first failing point's) is the one to report.
pub fn evaluate_rows(
    spec: &Spec,
    shape: &[usize],
    operands: &[ArrayViewD<'_, i64>],
    floors: &[i64],
    rows: Range<usize>,
    outs: Vec<&mut [i64]>,
    stream: bool,
) -> Option<()> {
    let inner: usize = shape[1..].iter().product();
    let step = (CHUNK / inner.max(1)).max(1);
    let blocks: Vec<Range<usize>> = rows.clone().step_by(step).map(|a| a..(a + step).min(rows.end)).collect();
    let sizes: Vec<usize> = blocks.iter().map(|b| b.len() * inner).collect();
    let pieces = split_outputs(outs, &sizes);
    let done: Vec<Option<()>> = blocks
        .into_par_iter()
        .zip(pieces)
        .map(|(block, outs)| {
            let views: Vec<ArrayViewD<'_, i64>> =
                operands
                    .iter()
                    .map(|op| {
                        if spans_rows(op, shape) {
                            op.slice_axis(Axis(0), Slice::from(block.clone()))
                        } else {
                            op.view()
                        }
                    })
                    .collect();
            let mut here = shape.to_vec();
            here[0] = block.len();
            let mesh = Mesh::new(&here, &views, &spec.sized, floors).ok()?;
            evaluate(spec, &mesh, 0..mesh.len(), outs, stream).ok()
        })
        .collect();
    done.into_iter().collect()
}

/// How many points of each chunk of `range` a sweep keeps: the valid ones
/// and, with a budget, those whose budget quantity fits it (a point where it
/// overflows does not). Fails, at the first failing point in C order, where
/// a kept point has a quantity that overflows.
pub fn chunk_counts(spec: &Spec, mesh: &Mesh, budget: Budget, range: Range<usize>) -> Result<Vec<usize>> {
    check(spec, mesh, &range, budget)?;
    let pieces = chunk_ranges(range.clone());
    if budget.limits().iter().any(|&(_, limit)| limit < 0) {
        return Ok(vec![0; pieces.len()]);
    }
    let bounds = spec.bounds(&mesh.min, &mesh.max);
    if budget.is_none() && bounds.always_valid.iter().chain(&bounds.fast).all(|&ok| ok) {
        // Nothing is dropped and nothing can overflow: every point is a row.
        return Ok(pieces.iter().map(|r| r.len()).collect());
    }
    let folder = spec.specialize(|k| mesh.constant(k));
    let init = || Worker::new(spec, &folder, &bounds, Mode::Sweep(budget));
    run_chunks_with(range, vec![(); pieces.len()], init, |worker, chunk, ()| {
        let mut n = 0;
        mesh.for_each_run(chunk.start, chunk.end, |first, rows, along| {
            n += worker.count(first, rows, along)?;
            Ok(())
        })?;
        Ok(n)
    })
}

/// Number of points of `range` a sweep keeps (see [`chunk_counts`]).
pub fn sweep_count(spec: &Spec, mesh: &Mesh, budget: Budget, range: Range<usize>) -> Result<usize> {
    Ok(chunk_counts(spec, mesh, budget, range)?.iter().sum())
}

/// Writes the rows a sweep keeps in `range`, in C order: each quantity into
/// its slice of `outs` and each column's operand into its column. `counts`
/// are [`chunk_counts`] for the same range; the outputs hold exactly their sum.
pub fn sweep_fill(
    spec: &Spec,
    mesh: &Mesh,
    budget: Budget,
    range: Range<usize>,
    counts: &[usize],
    outs: Vec<&mut [i64]>,
    columns: Vec<Column>,
) -> Result<usize> {
    check(spec, mesh, &range, budget)?;
    let rows: usize = counts.iter().sum();
    if counts.len() != chunk_ranges(range.clone()).len()
        || outs.len() != spec.quantities.len()
        || outs.iter().any(|o| o.len() != rows)
    {
        return Err(Error::Shape(format!("the outputs do not hold the {rows} rows the sweep keeps")));
    }
    for c in &columns {
        check_column(c.operand, c.width, mesh.operands())?;
        if c.bytes.len() != rows * c.width {
            return Err(Error::Shape(format!("column of operand {} does not hold {rows} rows", c.operand)));
        }
    }
    if rows == 0 {
        return Ok(0);
    }
    let bounds = spec.bounds(&mesh.min, &mesh.max);
    let mut pieces = split_outputs(outs, counts).into_iter().map(|outs| (outs, Vec::new())).collect::<Vec<_>>();
    for mut column in columns {
        for ((_, cols), &n) in pieces.iter_mut().zip(counts) {
            cols.push(column.split_off_rows(n));
        }
    }
    let folder = spec.specialize(|k| mesh.constant(k));
    let init = || Worker::new(spec, &folder, &bounds, Mode::Sweep(budget));
    run_chunks_with(range, pieces, init, |worker, chunk, (mut outs, mut cols)| {
        let mut at = 0;
        mesh.for_each_run(chunk.start, chunk.end, |first, rows, along| {
            worker.fill(first, rows, along, &mut outs, &mut cols, &mut at)
        })
    })?;
    Ok(rows)
}

/// A column's operand exists and its width is one of 1, 2, 4, 8 bytes.
pub fn check_column(operand: usize, width: usize, operands: usize) -> Result<()> {
    if operand >= operands || ![1, 2, 4, 8].contains(&width) {
        return Err(Error::Spec(format!(
            "column ({operand}, {width}): needs one of the {operands} operands and 1, 2, 4 or 8 bytes a value"
        )));
    }
    Ok(())
}

/// Whether a call fits its mesh: the spec's operand count, the budget's
/// quantity, and points `range` within the mesh (checked in that order).
pub fn check(spec: &Spec, mesh: &Mesh, range: &Range<usize>, budget: Budget) -> Result<()> {
    if spec.sized.len() != mesh.operands() {
        return Err(Error::Spec(format!(
            "the spec reads {} operands, the mesh has {}",
            spec.sized.len(),
            mesh.operands()
        )));
    }
    for &(q, _) in budget.limits() {
        if q >= spec.quantities.len() {
            return Err(Error::Spec(format!("the budget is on quantity {q}, but there are {}", spec.quantities.len())));
        }
    }
    if range.start > range.end || range.end > mesh.len() {
        return Err(Error::Shape(format!("points {range:?} are not within the mesh's {}", mesh.len())));
    }
    Ok(())
}

/// Every output cut into consecutive pieces of `sizes`, grouped by piece.
fn split_outputs<'o>(outs: Vec<&'o mut [i64]>, sizes: &[usize]) -> Vec<Vec<&'o mut [i64]>> {
    let mut pieces: Vec<Vec<&mut [i64]>> = sizes.iter().map(|_| Vec::with_capacity(outs.len())).collect();
    for mut rest in outs {
        for (piece, &n) in pieces.iter_mut().zip(sizes) {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(n);
            piece.push(head);
            rest = tail;
        }
    }
    pieces
}

/// A folded quantity at the row's points `from..from + out.len()`.
#[inline(always)]
fn horner(c: &Cubic, x: Option<(usize, i64)>, row: &MeshRow, from: usize, out: &mut [i64]) {
    match x {
        None => out.fill(c.wrap[0]),
        Some((k, shift)) => with_lane!(row.lane(k).skip(from), |lane| simd::horner(c, shift, lane, out)),
    }
}

/// Whether every factor of `checks` (a bit each) is valid at point `j` of `row`.
#[inline(always)]
fn valid(spec: &Spec, checks: u64, row: &MeshRow, j: usize) -> bool {
    let mut bits = checks;
    while bits != 0 {
        if spec.factors[bits.trailing_zeros() as usize].value(|k| row.get(k, j)).is_none() {
            return false;
        }
        bits &= bits - 1;
    }
    true
}

/// The varying factor of a folded row at point `j` (0 when none varies).
#[inline(always)]
fn x_at(row: &MeshRow, x: Option<(usize, i64)>, j: usize) -> i64 {
    x.map_or(0, |(k, shift)| row.get(k, j).wrapping_add(shift))
}

/// Whether a folded row's keep rule keeps point `j` (`cubics`: its quantities).
#[inline(always)]
fn keeps(cubics: &[Cubic], budget: Budget, row: &MeshRow, x: Option<(usize, i64)>, keep: Keep, j: usize) -> bool {
    match keep {
        Keep::All => true,
        Keep::Nothing => false,
        Keep::Prefix(n) => j < n,
        Keep::AtMost(v) | Keep::Ranked(v, _) => x.is_some_and(|(k, _)| row.get(k, j) <= v),
        Keep::Compare => budget.single().is_some_and(|(b, limit)| cubics[b].eval(x_at(row, x, j)) <= limit),
    }
}

/// The points of `row` that `Keep::Ranked(_, n)` keeps (`x` is operand `k`):
/// positions along the row, in no order.
fn ranked_points<'r>(along: &'r Mesh, k: usize, row: &'r MeshRow, n: usize) -> impl Iterator<Item = u32> + 'r {
    let ranks = along.ranks(k).expect("a ranked row's operand has ranks");
    let start = row.start(k);
    // Positions past the row's end wrap to large values and are dropped too.
    ranks.smallest(n).iter().map(move |&p| (p as usize).wrapping_sub(start)).filter(|&j| j < row.len).map(|j| j as u32)
}

/// One chunk's planner and scratch space, reused by its rows.
struct Worker<'s> {
    spec: &'s Spec,
    planner: Planner<'s>,
    plans: Vec<Plan>,
    factors: Vec<i64>,
    values: Vec<u64>,
    block: Vec<i64>,
    kept_at: Vec<u32>,
    /// A ranked row's kept points (`Keep::Ranked`), and its bitmap of them.
    ranked: Vec<u32>,
    marks: Vec<u64>,
    /// Interleaved rows' values: row `q`, quantity `i` at `(q·nq + i)·width`; a streamed row's strip.
    strip: Vec<i64>,
    /// Whether folded rows go to the output through `strip` with streaming stores.
    stream: bool,
}

impl<'s> Worker<'s> {
    fn new(spec: &'s Spec, folder: &'s Specialized, bounds: &'s Bounds, mode: Mode) -> Worker<'s> {
        let nq = spec.quantities.len();
        Worker {
            spec,
            planner: Planner::new(spec, folder, bounds, mode),
            plans: Vec::new(),
            factors: vec![0; spec.factors.len()],
            values: vec![0; nq],
            block: Vec::new(),
            kept_at: Vec::new(),
            ranked: Vec::new(),
            marks: Vec::new(),
            strip: Vec::new(),
            stream: false,
        }
    }

    /// The block scratch space of filtering rows, allocated on first use
    /// (a chunk whose rows keep prefixes never needs it).
    fn blocks(&mut self) {
        if self.block.is_empty() {
            self.block = vec![0; BLOCK];
            self.kept_at = vec![0; BLOCK];
        }
    }

    /// The strip for interleaved rows, allocated on first use.
    fn strip(&mut self) -> &mut [i64] {
        if self.strip.is_empty() {
            self.strip = vec![0; STRIP * self.spec.quantities.len().max(1)];
        }
        &mut self.strip
    }

    fn budget(&self) -> Budget {
        match self.planner.mode {
            Mode::Sweep(budget) => budget,
            Mode::Count => Budget::NONE,
        }
    }

    fn plan_all(&mut self, rows: &[MeshRow], along: &Mesh) {
        self.plans.clear();
        for (q, row) in rows.iter().enumerate() {
            let plan = self.planner.plan(row, along, q);
            self.plans.push(plan);
        }
    }

    /// Point `j` of `row` (flat `index`), every check made: kept (its
    /// quantities in `self.values`), dropped, or an error.
    #[inline]
    fn decide(&mut self, row: &MeshRow, j: usize, index: usize) -> Result<bool> {
        if let Err(factor) = self.spec.point(|k| row.get(k, j), &mut self.factors, &mut self.values) {
            return match self.planner.mode {
                Mode::Count => Err(Error::Invalid { index, factor }),
                Mode::Sweep(_) => Ok(false),
            };
        }
        if !self.budget().fits(|q| self.values[q]) {
            return Ok(false);
        }
        match self.values.iter().position(|&v| v > INT64_MAX) {
            Some(quantity) => Err(Error::QuantityOverflow { index, quantity }),
            None => Ok(true),
        }
    }

    fn evaluate(
        &mut self,
        at: usize,
        first: usize,
        rows: &[MeshRow],
        along: &Mesh,
        outs: &mut [&mut [i64]],
    ) -> Result<()> {
        self.plan_all(rows, along);
        let (m, len) = (rows.len(), rows[0].len);
        if m > 1 || self.stream {
            self.strip();
        }
        for (q, row) in rows.iter().enumerate() {
            let Plan::Fold { x, checks, .. } = self.plans[q] else { continue };
            if checks != 0 && !(0..len).all(|j| valid(self.spec, checks, row, j)) {
                // Point by point below, which names the first invalid point.
                self.plans[q] = Plan::General;
                continue;
            }
            if m == 1 && !self.stream {
                for (c, out) in self.planner.cubics(q).iter().zip(outs.iter_mut()) {
                    horner(c, x, row, 0, &mut out[at..at + len]);
                }
                continue;
            }
            // A strip at a time into scratch (in cache), then streamed out, or to its stride.
            for j0 in (0..len).step_by(STRIP) {
                let (n, strip) = (STRIP.min(len - j0), &mut self.strip[..STRIP]);
                for (c, out) in self.planner.cubics(q).iter().zip(outs.iter_mut()) {
                    horner(c, x, row, j0, &mut strip[..n]);
                    if m == 1 {
                        simd::stream(&strip[..n], &mut out[at + j0..at + j0 + n]);
                        continue;
                    }
                    for (j, &v) in strip[..n].iter().enumerate() {
                        out[at + (j0 + j) * m + q] = v;
                    }
                }
            }
        }
        if self.plans.iter().all(|p| *p != Plan::General) {
            return Ok(());
        }
        for j in 0..len {
            for (q, row) in rows.iter().enumerate() {
                if self.plans[q] == Plan::General {
                    let i = j * m + q;
                    self.decide(row, j, first + i)?;
                    for (out, &v) in outs.iter_mut().zip(&self.values) {
                        out[at + i] = v as i64;
                    }
                }
            }
        }
        Ok(())
    }

    /// How many points of `rows` (see `Mesh::for_each_run`) a sweep keeps.
    fn count(&mut self, first: usize, rows: &[MeshRow], along: &Mesh) -> Result<usize> {
        self.plan_all(rows, along);
        let mut n = 0;
        for (q, row) in rows.iter().enumerate() {
            if let Plan::Fold { x, keep, checks } = self.plans[q] {
                n += self.count_folded(row, along, x, keep, checks, q);
            }
        }
        if self.plans.iter().all(|p| *p != Plan::General) {
            return Ok(n);
        }
        let m = rows.len();
        for j in 0..rows[0].len {
            for (q, row) in rows.iter().enumerate() {
                if self.plans[q] == Plan::General && self.decide(row, j, first + j * m + q)? {
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    fn count_folded(
        &mut self,
        row: &MeshRow,
        along: &Mesh,
        x: Option<(usize, i64)>,
        keep: Keep,
        checks: u64,
        slot: usize,
    ) -> usize {
        let budget = self.budget();
        if checks != 0 {
            let cubics = self.planner.cubics(slot);
            return (0..row.len)
                .filter(|&j| keeps(cubics, budget, row, x, keep, j) && valid(self.spec, checks, row, j))
                .count();
        }
        match (keep, x) {
            (Keep::All, _) => row.len,
            (Keep::Nothing, _) => 0,
            (Keep::Prefix(n), _) => n,
            (Keep::Ranked(_, n), Some((k, _))) if along.ranks(k).is_some_and(|r| r.len() == row.len) => n,
            (Keep::Ranked(_, n), Some((k, _))) => ranked_points(along, k, row, n).count(),
            (Keep::AtMost(v), Some((k, _))) => match row.lane(k) {
                Lane::Const(c) => (c <= v) as usize * row.len,
                // SAFETY: a contiguous lane holds `row.len` values from its pointer.
                Lane::Contig(p) => simd::count_at_most(unsafe { std::slice::from_raw_parts(p, row.len) }, v),
                Lane::Strided(..) => (0..row.len).filter(|&j| row.get(k, j) <= v).count(),
            },
            (_, _) => {
                // Compare (a short row): a vectorisable compare-and-sum.
                self.blocks();
                let (b, limit) = budget.single().expect("a compare plan has one budget");
                let c = &self.planner.cubics(slot)[b];
                let mut n = 0;
                for b0 in (0..row.len).step_by(BLOCK) {
                    let block = &mut self.block[..BLOCK.min(row.len - b0)];
                    horner(c, x, row, b0, block);
                    n += simd::count_at_most(block, limit);
                }
                n
            }
        }
    }

    /// Writes the rows a sweep keeps among `rows` from output row `*at` on.
    fn fill(
        &mut self,
        first: usize,
        rows: &[MeshRow],
        along: &Mesh,
        outs: &mut [&mut [i64]],
        cols: &mut [Column],
        at: &mut usize,
    ) -> Result<()> {
        self.plan_all(rows, along);
        let [row] = rows else {
            return self.fill_interleaved(first, rows, outs, cols, at);
        };
        match self.plans[0] {
            Plan::Fold { keep: Keep::Nothing, .. } => {}
            Plan::Fold { x, keep: Keep::All, checks: 0 } => self.emit_prefix(row, x, row.len, outs, cols, at),
            Plan::Fold { x, keep: Keep::Prefix(n), checks: 0 } => self.emit_prefix(row, x, n, outs, cols, at),
            Plan::Fold { x: Some((k, c)), keep: Keep::Ranked(_, n), checks: 0 } => {
                self.emit_ranked(row, along, (k, c), n, outs, cols, at)
            }
            Plan::Fold { x, keep, checks } => self.emit_selected(row, x, keep, checks, outs, cols, at),
            Plan::General => {
                for j in 0..row.len {
                    if self.decide(row, j, first + j)? {
                        self.emit_point(row, j, outs, cols, at);
                    }
                }
            }
        }
        Ok(())
    }

    /// The first `n` points of a folded row, straight into the outputs.
    fn emit_prefix(
        &self,
        row: &MeshRow,
        x: Option<(usize, i64)>,
        n: usize,
        outs: &mut [&mut [i64]],
        cols: &mut [Column],
        at: &mut usize,
    ) {
        for (c, out) in self.planner.cubics(0).iter().zip(outs.iter_mut()) {
            horner(c, x, row, 0, &mut out[*at..*at + n]);
        }
        for col in cols.iter_mut() {
            col.write_prefix(*at, row, n);
        }
        *at += n;
    }

    /// The points of a folded row its keep rule and checks select, a block
    /// at a time: select first (by `x`, by the budget quantity, or point by
    /// point), then compute only what is kept.
    #[allow(clippy::too_many_arguments)]
    fn emit_selected(
        &mut self,
        row: &MeshRow,
        x: Option<(usize, i64)>,
        keep: Keep,
        checks: u64,
        outs: &mut [&mut [i64]],
        cols: &mut [Column],
        at: &mut usize,
    ) {
        let budget = self.budget();
        self.blocks();
        for b0 in (0..row.len).step_by(BLOCK) {
            let n = BLOCK.min(row.len - b0);
            let cubics = self.planner.cubics(0);
            let kept = match (keep, checks, x.map(|(k, _)| row.lane(k).skip(b0))) {
                (Keep::AtMost(v), 0, Some(Lane::Contig(p))) => {
                    // SAFETY: a contiguous lane holds the row's values from its pointer.
                    let values = unsafe { std::slice::from_raw_parts(p, n) };
                    simd::select_at_most(values, v, b0 as u32, &mut self.kept_at)
                }
                (Keep::Compare, 0, _) => {
                    let (b, limit) = budget.single().expect("a compare plan has one budget");
                    horner(&cubics[b], x, row, b0, &mut self.block[..n]);
                    simd::select_at_most(&self.block[..n], limit, b0 as u32, &mut self.kept_at)
                }
                _ => {
                    let mut kept = 0;
                    for j in b0..b0 + n {
                        self.kept_at[kept] = j as u32;
                        // Branch-free: always write, advance if kept.
                        kept += (keeps(cubics, budget, row, x, keep, j) && valid(self.spec, checks, row, j)) as usize;
                    }
                    kept
                }
            };
            self.emit_at(row, x, &self.kept_at[..kept], outs, cols, at);
        }
    }

    /// The points of a row that `Keep::Ranked(_, n)` keeps, in order without
    /// a sort: marked in a bitmap of the row, then read off it.
    #[allow(clippy::too_many_arguments)]
    fn emit_ranked(
        &mut self,
        row: &MeshRow,
        along: &Mesh,
        x: (usize, i64),
        n: usize,
        outs: &mut [&mut [i64]],
        cols: &mut [Column],
        at: &mut usize,
    ) {
        self.marks.clear();
        self.marks.resize(row.len.div_ceil(64), 0);
        for j in ranked_points(along, x.0, row, n) {
            self.marks[j as usize / 64] |= 1 << (j % 64);
        }
        self.ranked.clear();
        for (w, &word) in self.marks.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                self.ranked.push((w * 64) as u32 + bits.trailing_zeros());
                bits &= bits - 1;
            }
        }
        self.emit_at(row, Some(x), &self.ranked, outs, cols, at);
    }

    /// The points `kept` (ascending positions) of a folded row, from output row `*at` on.
    fn emit_at(
        &self,
        row: &MeshRow,
        x: Option<(usize, i64)>,
        kept: &[u32],
        outs: &mut [&mut [i64]],
        cols: &mut [Column],
        at: &mut usize,
    ) {
        for (c, out) in self.planner.cubics(0).iter().zip(outs.iter_mut()) {
            for (o, &j) in out[*at..*at + kept.len()].iter_mut().zip(kept) {
                *o = c.eval(x_at(row, x, j as usize));
            }
        }
        for col in cols.iter_mut() {
            col.write_at(*at, row, kept);
        }
        *at += kept.len();
    }

    /// One kept point of the point-by-point path (its values in `self.values`).
    #[inline]
    fn emit_point(&self, row: &MeshRow, j: usize, outs: &mut [&mut [i64]], cols: &mut [Column], at: &mut usize) {
        for (out, &v) in outs.iter_mut().zip(&self.values) {
            out[*at] = v as i64;
        }
        for col in cols.iter_mut() {
            col.set(*at, row.get(col.operand, j));
        }
        *at += 1;
    }

    /// Interleaved rows (point `j` of row `q` is flat `first + j·m + q`), a
    /// strip at a time: folded rows are computed into the strip a row at a
    /// time, then every point is emitted in C order.
    fn fill_interleaved(
        &mut self,
        first: usize,
        rows: &[MeshRow],
        outs: &mut [&mut [i64]],
        cols: &mut [Column],
        at: &mut usize,
    ) -> Result<()> {
        let (m, len, nq) = (rows.len(), rows[0].len, outs.len());
        let width = STRIP / m;
        self.strip();
        let keeps_all = self.plans.iter().all(|p| matches!(p, Plan::Fold { keep: Keep::All, checks: 0, .. }));
        let budget = self.budget();
        for j0 in (0..len).step_by(width) {
            let n = width.min(len - j0);
            if keeps_all {
                // Every point is kept: write each row at stride m.
                for (q, row) in rows.iter().enumerate() {
                    let Plan::Fold { x, .. } = self.plans[q] else { unreachable!() };
                    for (c, out) in self.planner.cubics(q).iter().zip(outs.iter_mut()) {
                        horner(c, x, row, j0, &mut self.strip[..n]);
                        for (j, &v) in self.strip[..n].iter().enumerate() {
                            out[*at + j * m + q] = v;
                        }
                    }
                    for col in cols.iter_mut() {
                        col.write_every(*at + q, m, row, j0, n);
                    }
                }
                *at += n * m;
                continue;
            }
            for (q, row) in rows.iter().enumerate() {
                if let Plan::Fold { x, keep, .. } = self.plans[q] {
                    if keep != Keep::Nothing {
                        for (i, c) in self.planner.cubics(q).iter().enumerate() {
                            horner(c, x, row, j0, &mut self.strip[(q * nq + i) * width..][..n]);
                        }
                    }
                }
            }
            for j in j0..j0 + n {
                for (q, row) in rows.iter().enumerate() {
                    let s = |i: usize| (q * nq + i) * width + j - j0;
                    let kept = match self.plans[q] {
                        Plan::General => {
                            if self.decide(row, j, first + j * m + q)? {
                                self.emit_point(row, j, outs, cols, at);
                            }
                            continue;
                        }
                        Plan::Fold { keep: Keep::Compare, checks, .. } => {
                            budget.single().is_some_and(|(b, limit)| self.strip[s(b)] <= limit)
                                && valid(self.spec, checks, row, j)
                        }
                        Plan::Fold { x, keep, checks } => {
                            keeps(self.planner.cubics(q), budget, row, x, keep, j) && valid(self.spec, checks, row, j)
                        }
                    };
                    if kept {
                        for (i, out) in outs.iter_mut().enumerate() {
                            out[*at] = self.strip[s(i)];
                        }
                        for col in cols.iter_mut() {
                            col.set(*at, row.get(col.operand, j));
                        }
                        *at += 1;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The kernels against brute force: every point evaluated on its own in
    //! i128 (a term is 0 when a factor or its coefficient is, else a checked
    //! product), on random meshes, factors, polynomials and budgets.

    use super::*;
    use crate::poly::{Factor, Term};
    use ndarray::{ArrayD, IxDyn};

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            // xorshift64*
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[self.below(items.len())]
        }
    }

    const EDGES: [i64; 9] = [0, 1, 2, 3_037_000_499, 3_037_000_500, 1 << 31, 1 << 32, 1 << 62, i64::MAX];

    type Brute = std::result::Result<Vec<Option<i64>>, usize>;

    /// A case: mesh shape, operands, spec, and brute force at every point.
    struct Case {
        shape: Vec<usize>,
        operands: Vec<ArrayD<i64>>,
        spec: Spec,
        /// Operand values at each flat point.
        values: Vec<Vec<i64>>,
        /// At each flat point: the first invalid factor, or each quantity
        /// (None where it overflows i64).
        brute: Vec<Brute>,
    }

    impl Case {
        fn new(shape: Vec<usize>, operands: Vec<ArrayD<i64>>, spec: Spec) -> Case {
            let len = shape.iter().product();
            let mut case = Case { shape, operands, spec, values: Vec::new(), brute: Vec::new() };
            case.values = (0..len).map(|i| case.values_at(i)).collect();
            case.brute = case.values.iter().map(|v| case.point(v)).collect();
            case
        }

        fn mesh(&self) -> Mesh<'_> {
            let views: Vec<_> = self.operands.iter().map(|a| a.view()).collect();
            Mesh::new(&self.shape, &views, &self.spec.sized, &[]).unwrap()
        }

        fn len(&self) -> usize {
            self.values.len()
        }

        fn values_at(&self, i: usize) -> Vec<i64> {
            let mut index = vec![0; self.shape.len()];
            let mut rest = i;
            for d in (0..self.shape.len()).rev() {
                index[d] = rest % self.shape[d];
                rest /= self.shape[d];
            }
            self.operands
                .iter()
                .map(|op| {
                    let at: Vec<usize> =
                        index.iter().zip(op.shape()).map(|(&i, &n)| if n == 1 { 0 } else { i }).collect();
                    op[IxDyn(&at)]
                })
                .collect()
        }

        fn point(&self, v: &[i64]) -> Brute {
            let mut fv = Vec::new();
            for (f, factor) in self.spec.factors.iter().enumerate() {
                let value = match *factor {
                    Factor::Axis(a) => Some(v[a] as i128),
                    Factor::Quotient(a, b) => (v[b] != 0 && v[a] % v[b] == 0).then(|| (v[a] / v[b]) as i128),
                    Factor::Offset(a, c) => {
                        Some(v[a] as i128 + c as i128).filter(|&x| (0..=i64::MAX as i128).contains(&x))
                    }
                    Factor::Less(a, b) => (v[a] < v[b]).then_some(0),
                };
                fv.push(value.ok_or(f)?);
            }
            let max = i64::MAX as i128;
            Ok(self
                .spec
                .quantities
                .iter()
                .map(|terms| {
                    let mut sum = 0i128;
                    for t in terms {
                        let mut parts = vec![v[t.coef] as i128];
                        for &(f, e) in &t.powers {
                            parts.extend(std::iter::repeat_n(fv[f], e as usize));
                        }
                        if parts.contains(&0) {
                            continue;
                        }
                        let mut p = 1i128;
                        for x in parts {
                            p = p.checked_mul(x).filter(|&p| p <= max)?;
                        }
                        sum = Some(sum + p).filter(|&s| s <= max)?;
                    }
                    Some(sum as i64)
                })
                .collect())
        }

        /// What `evaluate` must give: every point's values, or the first error.
        fn expected_count(&self) -> Result<Vec<Vec<i64>>> {
            let mut outs = vec![Vec::new(); self.spec.quantities.len()];
            for i in 0..self.len() {
                let values = self.brute[i].clone().map_err(|factor| Error::Invalid { index: i, factor })?;
                for (q, (v, out)) in values.iter().zip(&mut outs).enumerate() {
                    out.push(v.ok_or(Error::QuantityOverflow { index: i, quantity: q })?);
                }
            }
            Ok(outs)
        }

        /// What a sweep over `range` must keep: (point, values) rows, or the first error.
        fn expected_sweep(&self, budget: impl Into<Budget>, range: Range<usize>) -> Result<Vec<(usize, Vec<i64>)>> {
            let budget = budget.into();
            let mut rows = Vec::new();
            for i in range {
                let Ok(values) = self.brute[i].clone() else { continue };
                if budget.limits().iter().any(|&(b, limit)| values[b].is_none_or(|v| v > limit)) {
                    continue;
                }
                if let Some(q) = values.iter().position(Option::is_none) {
                    return Err(Error::QuantityOverflow { index: i, quantity: q });
                }
                rows.push((i, values.into_iter().flatten().collect()));
            }
            Ok(rows)
        }

        /// The counts, stored plainly; stored with streaming stores too, and both must agree.
        fn run_count(&self) -> Result<Vec<Vec<i64>>> {
            let mesh = self.mesh();
            let run = |stream: bool| -> Result<Vec<Vec<i64>>> {
                let mut outs = vec![vec![0i64; mesh.len()]; self.spec.quantities.len()];
                evaluate(&self.spec, &mesh, 0..mesh.len(), outs.iter_mut().map(|o| &mut o[..]).collect(), stream)?;
                Ok(outs)
            };
            let plain = run(false);
            assert_eq!(plain, run(true), "streamed counts differ: {}", self.describe());
            plain
        }

        /// The sweep's rows (point values of every operand, as columns of
        /// 8 bytes, then the quantities), and the count.
        #[allow(clippy::type_complexity)]
        fn run_sweep(
            &self,
            budget: impl Into<Budget>,
            range: Range<usize>,
        ) -> Result<(usize, Vec<Vec<i64>>, Vec<Vec<i64>>)> {
            let budget = budget.into();
            let mesh = self.mesh();
            let count = sweep_count(&self.spec, &mesh, budget, range.clone())?;
            let counts = chunk_counts(&self.spec, &mesh, budget, range.clone())?;
            let rows: usize = counts.iter().sum();
            let mut outs = vec![vec![0i64; rows]; self.spec.quantities.len()];
            let n_ops = self.operands.len();
            let mut bytes = vec![vec![0u8; rows * 8]; n_ops];
            let columns =
                bytes.iter_mut().enumerate().map(|(k, b)| Column { operand: k, width: 8, bytes: b }).collect();
            let filled = sweep_fill(
                &self.spec,
                &mesh,
                budget,
                range,
                &counts,
                outs.iter_mut().map(|o| &mut o[..]).collect(),
                columns,
            )?;
            assert_eq!(filled, rows);
            let cols = bytes
                .iter()
                .map(|b| b.chunks_exact(8).map(|w| i64::from_ne_bytes(w.try_into().unwrap())).collect())
                .collect();
            Ok((count, outs, cols))
        }

        fn check(&self, rng: &mut Rng) {
            let n = self.len();
            match (self.run_count(), self.expected_count()) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "evaluate: {}", self.describe()),
                (got, want) => assert_eq!(got.err(), want.err(), "evaluate: {}", self.describe()),
            }
            // Budgets at values the quantities take, and at the edges.
            let mut limits = vec![0, i64::MAX, 1 + rng.below(1000) as i64];
            for _ in 0..3 {
                if n > 0 {
                    if let Ok(values) = &self.brute[rng.below(n)] {
                        limits.extend(values.iter().flatten());
                    }
                }
            }
            let nq = self.spec.quantities.len();
            let mut budgets: Vec<Budget> = vec![Budget::NONE];
            for &l in &limits {
                if nq > 0 {
                    budgets.push(Some((rng.below(nq), l)).into());
                    // Two or three budgets at once, on any quantities (the same one twice too).
                    let more: Vec<(usize, i64)> =
                        (0..2 + rng.below(2)).map(|_| (rng.below(nq), rng.pick(&limits))).collect();
                    budgets.push(Budget::new(&more).unwrap());
                }
            }
            budgets.push(Some((0, -1)).filter(|_| nq > 0).into());
            for budget in budgets {
                let (a, b) = (rng.below(n + 1), rng.below(n + 1));
                for range in [0..n, a.min(b)..a.max(b)] {
                    let got = self.run_sweep(budget, range.clone());
                    let want = self.expected_sweep(budget, range.clone());
                    let what = || format!("sweep {budget:?} {range:?}: {}", self.describe());
                    match (got, want) {
                        (Ok((count, outs, cols)), Ok(rows)) => {
                            assert_eq!(count, rows.len(), "{}", what());
                            for (r, (i, values)) in rows.iter().enumerate() {
                                let at = &self.values[*i];
                                for (k, col) in cols.iter().enumerate() {
                                    assert_eq!(col[r], at[k], "row {r} operand {k}: {}", what());
                                }
                                for (q, out) in outs.iter().enumerate() {
                                    assert_eq!(out[r], values[q], "row {r} quantity {q}: {}", what());
                                }
                            }
                        }
                        (got, want) => assert_eq!(got.err(), want.err(), "{}", what()),
                    }
                }
            }
        }

        fn describe(&self) -> String {
            let ops: Vec<String> = self
                .operands
                .iter()
                .map(|o| format!("{:?}={:?}", o.shape(), o.iter().take(12).collect::<Vec<_>>()))
                .collect();
            format!("shape {:?} operands {ops:?} spec {:?} {:?}", self.shape, self.spec.factors, self.spec.quantities)
        }
    }

    /// Values for an operand of `shape`: small, ascending along its last
    /// axis, or at the int64 edges.
    fn operand(rng: &mut Rng, shape: &[usize], coefficient: bool) -> ArrayD<i64> {
        let len: usize = shape.iter().product();
        let style = rng.below(if coefficient { 3 } else { 5 });
        let step = 1 + rng.below(3) as i64;
        // Ascending along the operand's last axis longer than 1.
        let last = shape.iter().rev().copied().find(|&n| n > 1).unwrap_or(1);
        let start = rng.below(4) as i64;
        let values: Vec<i64> = (0..len)
            .map(|i| match style {
                0 | 1 => rng.below(if coefficient { 5 } else { 13 }) as i64,
                2 if coefficient => rng.pick(&[0, 1, 2, 4, 8]),
                2 | 3 => start + step * (i % last) as i64,
                _ => rng.pick(&EDGES),
            })
            .collect();
        ArrayD::from_shape_vec(IxDyn(shape), values).unwrap()
    }

    fn random_spec(rng: &mut Rng, sizes: &[usize], coefficients: &[usize]) -> (Vec<Factor>, Vec<Vec<Term>>) {
        let size = |rng: &mut Rng| rng.pick(sizes);
        let mut factors = Vec::new();
        for _ in 0..1 + rng.below(4) {
            factors.push(match rng.below(7) {
                0..=2 => Factor::Axis(size(rng)),
                3 => Factor::Quotient(size(rng), size(rng)),
                4 => Factor::Offset(size(rng), rng.pick(&[-3, -1, 0, 2, i64::MAX / 2])),
                5 => Factor::Less(size(rng), size(rng)),
                _ => Factor::Axis(size(rng)),
            });
        }
        let quantities = (0..1 + rng.below(3))
            .map(|_| {
                (0..rng.below(4))
                    .map(|_| {
                        let mut powers: Vec<(usize, u32)> = Vec::new();
                        for _ in 0..rng.below(4) {
                            let f = rng.below(factors.len());
                            if powers.iter().all(|&(g, _)| g != f) {
                                powers.push((f, 1 + rng.below(3) as u32));
                            }
                        }
                        Term { coef: rng.pick(coefficients), powers }
                    })
                    .collect()
            })
            .collect();
        (factors, quantities)
    }

    /// A sweep's layout: sizes along the leading axes, options along short
    /// trailing ones (so most rows fold, and tiles are walked transposed).
    fn sweep_like(rng: &mut Rng) -> Case {
        let n_sizes = 1 + rng.below(2);
        let n_options = rng.below(3);
        let mut shape = Vec::new();
        while shape.is_empty() || shape.iter().product::<usize>() > 5000 {
            shape = (0..n_sizes).map(|_| rng.pick(&[1, 3, 17, 70, 300])).collect();
            shape.extend((0..n_options).map(|_| rng.pick(&[1, 2, 3, 5])));
        }
        let mut operands = Vec::new();
        let along = |d: usize| {
            let mut s = vec![1; shape.len()];
            s[d] = shape[d];
            s
        };
        for d in 0..n_sizes {
            operands.push(operand(rng, &along(d), false));
        }
        // A divisor or a size on an option axis, like groups.
        let divisor_axis = rng.below(shape.len());
        operands.push(
            ArrayD::from_shape_vec(IxDyn(&along(divisor_axis)), {
                (0..shape[divisor_axis]).map(|_| rng.pick(&[1, 1, 2, 3])).collect()
            })
            .unwrap(),
        );
        let sizes: Vec<usize> = (0..operands.len()).collect();
        let first_coef = operands.len();
        for _ in 0..2 {
            let d = if n_options > 0 && rng.below(3) > 0 { n_sizes + rng.below(n_options) } else { 0 };
            let s = if rng.below(3) == 0 { vec![1; shape.len()] } else { along(d) };
            operands.push(operand(rng, &s, true));
        }
        let coefficients: Vec<usize> = (first_coef..operands.len()).collect();
        let (factors, quantities) = random_spec(rng, &sizes, &coefficients);
        let spec = Spec::new(operands.len(), factors, quantities).unwrap();
        Case::new(shape, operands, spec)
    }

    /// Anything: operands broadcast along random axes, read as sizes and
    /// coefficients at random.
    fn anything(rng: &mut Rng) -> Case {
        let shape: Vec<usize> = (0..1 + rng.below(4)).map(|_| rng.pick(&[0, 1, 2, 3, 7, 20])).collect();
        let n_ops = 2 + rng.below(4);
        let operands: Vec<ArrayD<i64>> = (0..n_ops)
            .map(|_| {
                let s: Vec<usize> = shape.iter().map(|&n| if rng.below(2) == 0 { n } else { 1 }).collect();
                let coefficient = rng.below(2) == 0;
                operand(rng, &s, coefficient)
            })
            .collect();
        let all: Vec<usize> = (0..n_ops).collect();
        let (factors, quantities) = random_spec(rng, &all, &all);
        let spec = Spec::new(n_ops, factors, quantities).unwrap();
        Case::new(shape, operands, spec)
    }

    /// Tallies the plans of a case's rows under `mode`, by kind and by
    /// whether the rows came interleaved.
    fn tally(case: &Case, mode: Mode, seen: &mut std::collections::BTreeMap<String, usize>) {
        let mesh = case.mesh();
        let (bounds, folder) = (case.spec.bounds(&mesh.min, &mesh.max), case.spec.specialize(|k| mesh.constant(k)));
        let mut planner = Planner::new(&case.spec, &folder, &bounds, mode);
        mesh.for_each_run(0, mesh.len(), |_, rows, along| {
            for (q, row) in rows.iter().enumerate() {
                let kind = match planner.plan(row, along, q) {
                    Plan::General => "General".to_string(),
                    Plan::Fold { x, keep, checks } => {
                        let keep = format!("{keep:?}");
                        let constant = if x.is_some() { "" } else { " (constant)" };
                        let checked = if checks != 0 { " (checked)" } else { "" };
                        format!("{}{constant}{checked}", keep.split('(').next().unwrap())
                    }
                };
                *seen.entry(format!("{kind}{}", if rows.len() > 1 { ", interleaved" } else { "" })).or_default() += 1;
            }
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn random_meshes_and_polynomials_match_brute_force() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut seen = std::collections::BTreeMap::new();
        for _ in 0..300 {
            for case in [sweep_like(&mut rng), anything(&mut rng)] {
                case.check(&mut rng);
                let mut modes =
                    vec![Mode::Count, Mode::Sweep(Budget::NONE), Mode::Sweep(Some((0, rng.pick(&[10, 1000]))).into())];
                for _ in 0..4 {
                    if let Some(Ok(values)) = case.brute.get(rng.below(case.len().max(1))) {
                        modes.extend(values.first().copied().flatten().map(|l| Mode::Sweep(Some((0, l)).into())));
                    }
                }
                for mode in modes {
                    if !case.spec.quantities.is_empty() {
                        tally(&case, mode, &mut seen);
                    }
                }
            }
        }
        // The cases reach every plan, alone and interleaved.
        for kind in ["All", "Nothing", "Prefix", "AtMost", "Compare", "General", "(checked)"] {
            for interleaved in [false, true] {
                let n: usize = seen
                    .iter()
                    .filter(|(k, _)| k.contains(kind) && k.ends_with(", interleaved") == interleaved)
                    .map(|(_, n)| n)
                    .sum();
                assert!(n >= 5, "{kind} (interleaved: {interleaved}): {n} rows in {seen:?}");
            }
        }
    }

    fn along(shape: &[usize], d: usize, values: Vec<i64>) -> ArrayD<i64> {
        let mut s = vec![1; shape.len()];
        s[d] = shape[d];
        ArrayD::from_shape_vec(IxDyn(&s), values).unwrap()
    }

    fn scalar(v: i64) -> ArrayD<i64> {
        ArrayD::from_shape_vec(IxDyn(&[]), vec![v]).unwrap()
    }

    /// An LSTM-like quantity `4·f·u + 4·u² + b·u` over f × u, big enough for
    /// several chunks and both threads, optionally with u shuffled, and with
    /// `b` on a trailing axis of `options` values (walked transposed) if given.
    fn lstm(nf: usize, nu: usize, shuffle: bool, options: Option<usize>) -> Case {
        let shape = [vec![nf, nu], options.into_iter().collect()].concat();
        let mut u: Vec<i64> = (1..=nu as i64).collect();
        if shuffle {
            let mut rng = Rng(7);
            for i in (1..u.len()).rev() {
                u.swap(i, rng.below(i + 1));
            }
        }
        let b = options.map_or(scalar(8), |m| along(&shape, 2, (8..8 + m as i64).collect()));
        let operands = vec![along(&shape, 0, (1..=nf as i64).collect()), along(&shape, 1, u), scalar(4), b];
        let t = |coef, powers: &[(usize, u32)]| Term { coef, powers: powers.to_vec() };
        let params = vec![t(2, &[(0, 1), (1, 1)]), t(2, &[(1, 2)]), t(3, &[(1, 1)])];
        let spec =
            Spec::new(4, vec![Factor::Axis(0), Factor::Axis(1)], vec![params.clone(), params[1..].to_vec()]).unwrap();
        Case::new(shape, operands, spec)
    }

    #[test]
    fn large_sweeps_by_prefix_and_threshold_across_chunks_and_threads() {
        let mut rng = Rng(3);
        for (shuffle, options) in [(false, None), (true, None), (true, Some(3))] {
            let case = lstm(700, 400, shuffle, options);
            assert_eq!(case.mesh().sorted()[1], !shuffle || options.is_some());
            let want = case.expected_count().unwrap();
            assert_eq!(case.run_count().unwrap(), want);
            for limit in [0, 50_000, 700_000, i64::MAX] {
                for range in [0..case.len(), 70_001..200_000] {
                    let (count, outs, cols) = case.run_sweep(Some((0, limit)), range.clone()).unwrap();
                    let rows = case.expected_sweep(Some((0, limit)), range).unwrap();
                    assert_eq!(count, rows.len());
                    assert!(rows.iter().enumerate().all(|(r, (i, v))| outs[0][r] == v[0]
                        && outs[1][r] == v[1]
                        && cols[1][r] == case.values[*i][1]));
                }
            }
            let _ = rng.next();
            // Shuffled u is read by its ranks where a row keeps few points, by a compare where it keeps many.
            let mut seen = std::collections::BTreeMap::new();
            for limit in [50_000, 700_000] {
                tally(&case, Mode::Sweep(Some((0, limit)).into()), &mut seen);
            }
            let interleaved = if options.is_some() { ", interleaved" } else { "" };
            for kind in ["Ranked", "AtMost"] {
                assert_eq!(shuffle, seen.contains_key(&format!("{kind}{interleaved}")), "{kind}: {seen:?}");
            }
        }
    }

    #[test]
    fn overflow_at_the_int64_edge_is_an_error_without_a_budget_and_unfit_with_one() {
        // 4·u² overflows from u = 1_518_500_250 on; the second quantity (u) never does.
        let shape = vec![3];
        let u = along(&shape, 0, vec![1_518_500_249, 1_518_500_250, 5]);
        let t = |coef, powers: &[(usize, u32)]| Term { coef, powers: powers.to_vec() };
        let spec = Spec::new(2, vec![Factor::Axis(0)], vec![vec![t(1, &[(0, 2)])], vec![t(1, &[(0, 1)])]]).unwrap();
        let case = Case::new(shape, vec![u, scalar(4)], spec);
        assert_eq!(case.run_count(), Err(Error::QuantityOverflow { index: 1, quantity: 0 }));
        assert_eq!(case.run_sweep(None, 0..3).err(), Some(Error::QuantityOverflow { index: 1, quantity: 0 }));
        let (count, outs, _) = case.run_sweep(Some((0, i64::MAX)), 0..3).unwrap();
        assert_eq!(
            (count, &outs[0][..], &outs[1][..]),
            (2, &[4 * 1_518_500_249i64.pow(2), 100][..], &[4 * 1_518_500_249, 20][..])
        );
        // A budget on the quantity that fits keeps the point where the other overflows: an error.
        assert_eq!(
            case.run_sweep(Some((1, i64::MAX)), 0..3).err(),
            Some(Error::QuantityOverflow { index: 1, quantity: 0 })
        );
    }

    #[test]
    fn negative_operands_and_bad_calls_are_refused() {
        let ops = [scalar(3), scalar(-2)];
        let views: Vec<_> = ops.iter().map(|a| a.view()).collect();
        assert!(matches!(
            Mesh::new(&[2], &views, &[true, false], &[]),
            Err(Error::NegativeOperand { operand: 1, value: -2 })
        ));
        // A floor: the least value an operand may hold (a size's minimum, checked on the extremes' pass).
        let sizes: Vec<ArrayD<i64>> = vec![ArrayD::from_shape_vec(IxDyn(&[3]), vec![4, 1, 9]).unwrap(), scalar(0)];
        let views: Vec<_> = sizes.iter().map(|a| a.view()).collect();
        assert!(Mesh::new(&[3], &views, &[true, false], &[1, 0]).is_ok());
        assert!(matches!(
            Mesh::new(&[3], &views, &[true, false], &[2]),
            Err(Error::BelowFloor { operand: 0, value: 1, floor: 2 })
        ));
        let case = lstm(3, 4, false, None);
        let mesh = case.mesh();
        assert!(matches!(sweep_count(&case.spec, &mesh, Some((2, 5)).into(), 0..12), Err(Error::Spec(_))));
        assert!(matches!(sweep_count(&case.spec, &mesh, Budget::NONE, 0..13), Err(Error::Shape(_))));
        assert!(matches!(check_column(4, 8, 4), Err(Error::Spec(_))));
        assert!(matches!(check_column(0, 3, 4), Err(Error::Spec(_))));
    }

    #[test]
    fn rows_plan_as_the_module_docs_say() {
        // f × u × groups: rows along u fold where groups is 1 and check
        // point by point where it is not (u / g may be invalid).
        let shape = vec![4, 100, 2];
        let operands = vec![
            along(&shape, 0, vec![2, 4, 6, 8]),
            along(&shape, 1, (1..=100).collect()),
            along(&shape, 2, vec![1, 2]),
            scalar(3),
        ];
        let t = |coef, powers: &[(usize, u32)]| Term { coef, powers: powers.to_vec() };
        let factors = vec![Factor::Quotient(0, 2), Factor::Axis(1), Factor::Quotient(1, 2)];
        let spec = Spec::new(4, factors, vec![vec![t(3, &[(0, 1), (1, 1)])]]).unwrap();
        let case = Case::new(shape, operands, spec);
        let mesh = case.mesh();
        let (bounds, folder) = (case.spec.bounds(&mesh.min, &mesh.max), case.spec.specialize(|k| mesh.constant(k)));
        let mut planner = Planner::new(&case.spec, &folder, &bounds, Mode::Sweep(Some((0, 300)).into()));
        let mut plans = Vec::new();
        mesh.for_each_run(0, mesh.len(), |_, rows, along| {
            assert_eq!(rows.len(), 2); // the groups axis is walked transposed
            plans.extend(rows.iter().enumerate().map(|(q, row)| planner.plan(row, along, q)));
            Ok(())
        })
        .unwrap();
        assert_eq!(plans[0], Plan::Fold { x: Some((1, 0)), keep: Keep::Prefix(300 / (3 * 2)), checks: 0 });
        // 3·(f/2)·u ≤ 300 for every u ≤ 100 at f = 2: all kept (that are valid).
        assert_eq!(plans[1], Plan::Fold { x: Some((1, 0)), keep: Keep::All, checks: 1 << 2 });
        case.check(&mut Rng(11));
    }
}
