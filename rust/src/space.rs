//! Searching a model space compiled into transition tables.
//!
//! The Python layer infers shapes once and compiles each layer position `p`
//! into a table over (state entering `p`, option): the option's parameter
//! count and the state it leaves, or no transition where the option does not
//! apply to that state. A model is a path from state 0 before the first
//! position to any state after the last, and its count is the sum of the
//! costs on the path. Nothing here knows about layers or shapes.
//!
//! Everything rests on one summary per (position, state): the distinct costs
//! of the completions from there to the end, sorted, with cumulative
//! multiplicities ([`Completions`]), built by one backward pass over the
//! tables. Counts are additive, so at (p, s) only completions of at most
//! `budget - (cheapest way to reach (p, s))` can ever be part of a fitting
//! model; the rest are dropped, which bounds a summary by `budget + 1`
//! entries (far fewer when counts share factors, as layer counts do). From
//! the summaries:
//! - the number of fitting models is read off at the start state;
//! - a partial model of cost `c` at (p, s) has a completion with a total in
//!   `[lo, hi]` exactly when the summary holds a cost in `[lo - c, hi - c]`.
//!   This is the true bound per shape state (a larger kernel that costs more
//!   in its own layer but shrinks every later one is accounted for), and it
//!   is exact, so an enumeration visits only prefixes of models it outputs;
//! - the `k` largest fitting models are those whose total is at least the
//!   `k`-th largest total, also read off the start state; ties at that total
//!   are taken in enumeration order.
//!
//! Under two budgets at once (params and FLOPs, say), a cost is a pair and a
//! summary holds the distinct pairs, sorted by the first quantity (the one
//! ranked by); a completion fits the room left when both of its parts do, so
//! the exact test of a partial model becomes "some completion with its first
//! part in `[lo - c, hi - c]` has its second at most the room left", the
//! smallest second part over a range of the summary ([`MinTree`]).
//!
//! Numbers of models are exact at any size: a pass counts in one 64-bit
//! word ([`Wide`]) and, should a count overflow, starts again twice as wide
//! (so a space whose counts fit a word, the common case, pays for one word).
//! Every buffer a pass allocates, temporary merge buffers included, is
//! charged to a [`Meter`] before it is allocated, and every charge is also
//! where a request to stop is honoured.

use std::cmp::Ordering as Order;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

use rayon::prelude::*;

use crate::error::{Error, Result};

/// "No transition" in [`Table::next`].
const NONE: u32 = u32::MAX;

/// The widest count tried, in 64-bit words: up to 2**65536 models.
const MAX_WORDS: usize = 1024;

/// Bytes the allocator spends on every heap block besides its contents
/// (glibc: a size header, and rounding to 16 bytes).
const BLOCK: u64 = 16;

/// The bytes a vector of `capacity` elements of `size` bytes takes on the heap.
fn heap(capacity: usize, size: usize) -> u64 {
    if capacity == 0 {
        0
    } else {
        (capacity * size) as u64 + BLOCK
    }
}

/// What a model costs: one quantity (`u64`), or two bounded at once
/// (`[u64; 2]`, ordered by the first, then the second). A part of
/// `u64::MAX` stands for "beyond `i64`" and never fits.
pub trait Cost: Copy + Ord + Send + Sync + std::fmt::Debug + 'static {
    /// Quantities per cost.
    const DIMS: usize;
    const ZERO: Self;
    /// Beyond every budget: an unreachable state.
    const NEVER: Self;
    /// From the tables' values (`-1`: beyond `i64`), `DIMS` of them.
    fn from_table(values: &[i64]) -> Self;
    /// The quantity models are ranked by.
    fn primary(self) -> u64;
    /// The second quantity, 0 for one.
    fn secondary(self) -> u64;
    /// The sum, saturating at `u64::MAX` (never fits).
    fn plus(self, other: Self) -> Self;
    /// `self - other` in every part, or None where `other` is larger in one.
    fn minus(self, other: Self) -> Option<Self>;
    /// Every part at most `room`'s.
    fn within(self, room: Self) -> bool;
    /// The smaller in every part: a lower bound of both.
    fn meet(self, other: Self) -> Self;
    /// Writes the `DIMS` parts (each fits `i64`: it is within a budget).
    fn write(self, out: &mut [i64]);
}

impl Cost for u64 {
    const DIMS: usize = 1;
    const ZERO: Self = 0;
    const NEVER: Self = u64::MAX;
    fn from_table(values: &[i64]) -> Self {
        u64::try_from(values[0]).unwrap_or(u64::MAX)
    }
    fn primary(self) -> u64 {
        self
    }
    fn secondary(self) -> u64 {
        0
    }
    fn plus(self, other: Self) -> Self {
        self.saturating_add(other)
    }
    fn minus(self, other: Self) -> Option<Self> {
        self.checked_sub(other)
    }
    fn within(self, room: Self) -> bool {
        self <= room
    }
    fn meet(self, other: Self) -> Self {
        self.min(other)
    }
    fn write(self, out: &mut [i64]) {
        out[0] = self as i64;
    }
}

impl Cost for [u64; 2] {
    const DIMS: usize = 2;
    const ZERO: Self = [0, 0];
    const NEVER: Self = [u64::MAX, u64::MAX];
    fn from_table(values: &[i64]) -> Self {
        [u64::from_table(&values[..1]), u64::from_table(&values[1..])]
    }
    fn primary(self) -> u64 {
        self[0]
    }
    fn secondary(self) -> u64 {
        self[1]
    }
    fn plus(self, other: Self) -> Self {
        [self[0].saturating_add(other[0]), self[1].saturating_add(other[1])]
    }
    fn minus(self, other: Self) -> Option<Self> {
        Some([self[0].checked_sub(other[0])?, self[1].checked_sub(other[1])?])
    }
    fn within(self, room: Self) -> bool {
        self[0] <= room[0] && self[1] <= room[1]
    }
    fn meet(self, other: Self) -> Self {
        [self[0].min(other[0]), self[1].min(other[1])]
    }
    fn write(self, out: &mut [i64]) {
        out[0] = self[0] as i64;
        out[1] = self[1] as i64;
    }
}

/// One layer position: for state `s` entering it and option `o`, entry
/// `s * n_options + o` holds the option's cost and the state it leaves.
#[derive(Clone, Debug)]
struct Table<C> {
    n_options: usize,
    cost: Vec<C>,
    /// The state after this position, or [`NONE`].
    next: Vec<u32>,
}

/// A compiled model space: one table per layer position, costs of type `C`.
#[derive(Clone, Debug)]
pub struct Space<C = u64> {
    tables: Vec<Table<C>>,
    /// States entering each position, and after the last one.
    n_states: Vec<usize>,
}

impl<C: Cost> Space<C> {
    /// Builds the space from flat tables, position after position, each in
    /// (state, option) C order. `n_states[p]` states enter position `p`
    /// (`n_states[0]` must be 1, the input) and `n_states[P]` leave the last.
    /// A `next` of -1 means no transition; `cost` holds `C::DIMS` values per
    /// entry, -1 for a count beyond `i64`, which no budget admits. Refuses with [`Error::Memory`], before
    /// copying them, tables that would take more than `max_bytes`.
    pub fn new(n_states: &[usize], n_options: &[usize], cost: &[i64], next: &[i64], max_bytes: u64) -> Result<Self> {
        let bad = |msg: String| Err(Error::Shape(format!("model-space tables: {msg}")));
        if n_states.len() != n_options.len() + 1 {
            return bad(format!("{} state counts for {} positions", n_states.len(), n_options.len()));
        }
        if n_states[0] != 1 {
            return bad(format!("{} input states, expected 1", n_states[0]));
        }
        if let Some(&n) = n_states.iter().find(|&&n| n >= NONE as usize) {
            return bad(format!("{n} states at one position"));
        }
        let sizes: Option<Vec<usize>> = n_options.iter().zip(n_states).map(|(o, s)| o.checked_mul(*s)).collect();
        let sizes = sizes.unwrap_or_default();
        let total = sizes.iter().try_fold(0usize, |a, &b| a.checked_add(b));
        if sizes.len() != n_options.len() || total != Some(next.len()) || cost.len() != next.len() * C::DIMS {
            return bad(format!("{} costs and {} transitions do not match the table sizes", cost.len(), next.len()));
        }
        let needed = Self::footprint(&sizes, n_states);
        if needed > max_bytes {
            let states = n_states.iter().sum();
            return Err(Error::Memory { needed, limit: max_bytes, position: None, states });
        }
        let mut tables = Vec::with_capacity(n_options.len());
        let mut start = 0;
        for (p, &len) in sizes.iter().enumerate() {
            let (cost, next) = (&cost[start * C::DIMS..(start + len) * C::DIMS], &next[start..start + len]);
            start += len;
            let targets = n_states[p + 1] as i64;
            if let Some(&n) = next.iter().find(|&&n| n < -1 || n >= targets) {
                return bad(format!("transition to state {n} at position {p}, which has {targets} states after it"));
            }
            if let Some(&c) = cost.iter().find(|&&c| c < -1) {
                return bad(format!("cost {c} at position {p}"));
            }
            tables.push(Table {
                n_options: n_options[p],
                cost: cost.chunks_exact(C::DIMS).map(C::from_table).collect(),
                next: next.iter().map(|&n| if n < 0 { NONE } else { n as u32 }).collect(),
            });
        }
        Ok(Space { tables, n_states: n_states.to_vec() })
    }

    /// The bytes a space with tables of these sizes holds.
    fn footprint(sizes: &[usize], n_states: &[usize]) -> u64 {
        let tables: u64 = sizes.iter().map(|&n| heap(n, size_of::<C>()) + heap(n, 4)).sum();
        tables + heap(sizes.len(), size_of::<Table<C>>()) + heap(n_states.len(), size_of::<usize>())
    }

    /// The bytes this space holds.
    pub fn bytes(&self) -> u64 {
        Self::footprint(&self.tables.iter().map(|t| t.cost.len()).collect::<Vec<_>>(), &self.n_states)
    }

    pub fn positions(&self) -> usize {
        self.tables.len()
    }

    /// The valid transitions out of state `s` at position `p`: (option, cost, next state).
    fn moves(&self, p: usize, s: usize) -> impl Iterator<Item = (u32, C, usize)> + '_ {
        let t = &self.tables[p];
        let row = s * t.n_options..(s + 1) * t.n_options;
        (t.cost[row.clone()].iter().zip(&t.next[row]).enumerate())
            .filter(|(_, (_, &n))| n != NONE)
            .map(|(o, (&c, &n))| (o as u32, c, n as usize))
    }

    /// The bytes [`Space::cheapest_prefix`] allocates.
    fn reach_bytes(&self) -> u64 {
        self.n_states.iter().map(|&n| heap(n, size_of::<C>())).sum::<u64>()
            + heap(self.n_states.len(), size_of::<Vec<C>>())
    }

    /// The cheapest cost of reaching each (position, state) from the input,
    /// each quantity on its own (under two, a bound rather than one path's
    /// cost; `C::NEVER` where unreachable): a forward pass.
    fn cheapest_prefix(&self, meter: &Meter) -> Result<Vec<Vec<C>>> {
        meter.charge(self.reach_bytes(), None)?;
        let mut reach: Vec<Vec<C>> = self.n_states.iter().map(|&n| vec![C::NEVER; n]).collect();
        reach[0][0] = C::ZERO;
        for p in 0..self.positions() {
            for s in 0..self.n_states[p] {
                let here = reach[p][s];
                if here == C::NEVER {
                    continue;
                }
                for (_, c, n) in self.moves(p, s) {
                    let there = &mut reach[p + 1][n];
                    *there = there.meet(here.plus(c));
                }
            }
        }
        Ok(reach)
    }
}

/// A count of models in `N` 64-bit words, least significant first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Wide<const N: usize>([u64; N]);

impl<const N: usize> Wide<N> {
    const ZERO: Self = Wide([0; N]);

    fn from_u64(x: u64) -> Self {
        let mut w = [0; N];
        w[0] = x;
        Wide(w)
    }

    /// The sum, or None where it needs more than `N` words.
    fn checked_add(self, other: Self) -> Option<Self> {
        let mut out = [0; N];
        let mut carry = false;
        for (o, (&x, &y)) in out.iter_mut().zip(self.0.iter().zip(&other.0)) {
            let (s, c1) = x.overflowing_add(y);
            let (s, c2) = s.overflowing_add(carry as u64);
            *o = s;
            carry = c1 | c2;
        }
        (!carry).then_some(Wide(out))
    }

    /// `self - other`, for `other <= self`.
    fn minus(self, other: Self) -> Self {
        let mut out = [0; N];
        let mut borrow = false;
        for (o, (&x, &y)) in out.iter_mut().zip(self.0.iter().zip(&other.0)) {
            let (d, b1) = x.overflowing_sub(y);
            let (d, b2) = d.overflowing_sub(borrow as u64);
            *o = d;
            borrow = b1 | b2;
        }
        debug_assert!(!borrow, "a count went below zero");
        Wide(out)
    }

    fn to_u64(self) -> Option<u64> {
        self.0[1..].iter().all(|&w| w == 0).then_some(self.0[0])
    }

    /// The number in `words` (least significant first), or None where it needs more than `N`.
    fn from_words(words: &[u64]) -> Option<Self> {
        let mut w = [0; N];
        let (low, high) = words.split_at(words.len().min(N));
        w[..low.len()].copy_from_slice(low);
        high.iter().all(|&x| x == 0).then_some(Wide(w))
    }
}

impl<const N: usize> Ord for Wide<N> {
    fn cmp(&self, other: &Self) -> Order {
        self.0.iter().rev().cmp(other.0.iter().rev())
    }
}

impl<const N: usize> PartialOrd for Wide<N> {
    fn partial_cmp(&self, other: &Self) -> Option<Order> {
        Some(self.cmp(other))
    }
}

/// An exact number of models: 64-bit words, least significant first, with
/// no leading zero words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Total(Vec<u64>);

impl Total {
    fn new(mut words: Vec<u64>) -> Total {
        while words.last() == Some(&0) {
            words.pop();
        }
        Total(words)
    }

    pub fn words(&self) -> &[u64] {
        &self.0
    }

    pub fn to_u64(&self) -> Option<u64> {
        match self.0[..] {
            [] => Some(0),
            [w] => Some(w),
            _ => None,
        }
    }

    /// The smaller of this and `k`.
    pub fn min_u64(&self, k: u64) -> u64 {
        self.to_u64().map_or(k, |n| n.min(k))
    }
}

impl From<u128> for Total {
    fn from(n: u128) -> Total {
        Total::new(vec![n as u64, (n >> 64) as u64])
    }
}

impl<const N: usize> From<Wide<N>> for Total {
    fn from(w: Wide<N>) -> Total {
        Total::new(w.0.to_vec())
    }
}

/// Calls `$f::<N>($arg, ...)` for the count width `$words`, a power of two up
/// to [`MAX_WORDS`].
macro_rules! at_width {
    ($words:expr, $f:ident($($arg:expr),*)) => {
        match $words {
            1 => $f::<1, _>($($arg),*),
            2 => $f::<2, _>($($arg),*),
            4 => $f::<4, _>($($arg),*),
            8 => $f::<8, _>($($arg),*),
            16 => $f::<16, _>($($arg),*),
            32 => $f::<32, _>($($arg),*),
            64 => $f::<64, _>($($arg),*),
            128 => $f::<128, _>($($arg),*),
            256 => $f::<256, _>($($arg),*),
            512 => $f::<512, _>($($arg),*),
            1024 => $f::<1024, _>($($arg),*),
            w => unreachable!("count width {w}"),
        }
    };
}

/// What bounds a search while it builds its summaries: the bytes it holds,
/// charged before each allocation, and a request to stop, honoured at each
/// charge.
struct Meter<'a> {
    used: AtomicU64,
    limit: u64,
    stopped: &'a AtomicBool,
    n_states: &'a [usize],
}

impl Meter<'_> {
    /// Accounts for `bytes` about to be allocated for layer position
    /// `position`; refuses if that would pass the limit, or if asked to stop.
    fn charge(&self, bytes: u64, position: Option<usize>) -> Result<()> {
        if self.stopped.load(Ordering::Relaxed) {
            return Err(Error::Stopped);
        }
        let add = |used: u64| used.checked_add(bytes).filter(|&n| n <= self.limit);
        match self.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, add) {
            Ok(_) => Ok(()),
            Err(used) => Err(Error::Memory {
                needed: used.saturating_add(bytes),
                limit: self.limit,
                position,
                states: position.map_or_else(|| self.n_states.iter().sum(), |p| self.n_states[p]),
            }),
        }
    }

    /// Accounts for `bytes` freed.
    fn release(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }

    fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

/// The smallest of a sequence over any range, in O(log n): a bottom-up
/// segment tree, leaves at `n..2n`.
#[derive(Clone, Debug, Default)]
struct MinTree(Vec<u64>);

impl MinTree {
    fn bytes_for(n: usize) -> u64 {
        heap(2 * n, 8)
    }

    fn new(values: impl ExactSizeIterator<Item = u64>) -> MinTree {
        let n = values.len();
        let mut tree = vec![0; 2 * n];
        for (leaf, v) in tree[n..].iter_mut().zip(values) {
            *leaf = v;
        }
        for i in (1..n).rev() {
            tree[i] = tree[2 * i].min(tree[2 * i + 1]);
        }
        MinTree(tree)
    }

    /// The smallest value at indices `i..j` (`u64::MAX` if empty).
    fn min(&self, i: usize, j: usize) -> u64 {
        let n = self.0.len() / 2;
        let (mut lo, mut hi, mut best) = (i + n, j + n, u64::MAX);
        while lo < hi {
            if lo & 1 == 1 {
                best = best.min(self.0[lo]);
                lo += 1;
            }
            if hi & 1 == 1 {
                hi -= 1;
                best = best.min(self.0[hi]);
            }
            lo /= 2;
            hi /= 2;
        }
        best
    }
}

/// The completion costs from one (position, state), sorted and distinct, with
/// `cum[i]` the number of completions costing at most `cost[i]` (under two
/// budgets, up to `cost[i]` in that order). A search that lists models also
/// keeps, under two, the [`MinTree`] of the second parts.
#[derive(Clone, Debug)]
struct Completions<const N: usize, C> {
    cost: Vec<C>,
    cum: Vec<Wide<N>>,
    seconds: MinTree,
}

impl<const N: usize, C> Default for Completions<N, C> {
    fn default() -> Self {
        Completions { cost: Vec::new(), cum: Vec::new(), seconds: MinTree::default() }
    }
}

impl<const N: usize, C: Cost> Completions<N, C> {
    fn bytes(&self) -> u64 {
        heap(self.cost.capacity(), size_of::<C>())
            + heap(self.cum.capacity(), size_of::<Wide<N>>())
            + heap(self.seconds.0.capacity(), 8)
    }

    fn total(&self) -> Wide<N> {
        self.cum.last().copied().unwrap_or(Wide::ZERO)
    }

    /// The indices of the completions whose first part is in `lo..=hi`.
    fn span(&self, lo: u64, hi: u64) -> (usize, usize) {
        (self.cost.partition_point(|c| c.primary() < lo), self.cost.partition_point(|c| c.primary() <= hi))
    }

    /// Completions with the first part in `lo..=hi` and within `room`.
    fn count_in(&self, lo: u64, hi: u64, room: C) -> Wide<N> {
        let (i, j) = self.span(lo, hi);
        if i >= j {
            return Wide::ZERO;
        }
        if C::DIMS == 1 {
            return self.cum[j - 1].minus(if i == 0 { Wide::ZERO } else { self.cum[i - 1] });
        }
        // Read once per prefix a parallel listing starts from: a scan will do.
        (i..j)
            .filter(|&k| self.cost[k].within(room))
            .fold(Wide::ZERO, |n, k| n.checked_add(self.count_at(k)).expect("a part of a count is at most the count"))
    }

    /// Whether some completion has its first part in `lo..=hi` and is within `room`.
    fn any_in(&self, lo: u64, hi: u64, room: C) -> bool {
        let (i, j) = self.span(lo, hi);
        i < j && (C::DIMS == 1 || self.seconds.min(i, j) <= room.secondary())
    }

    /// The number of completions costing exactly `cost[i]`.
    fn count_at(&self, i: usize) -> Wide<N> {
        self.cum[i].minus(if i == 0 { Wide::ZERO } else { self.cum[i - 1] })
    }
}

/// The completions after one option: those among the first `fit` of
/// `completions` within `room`, each costing `shift` more.
struct Source<'a, const N: usize, C> {
    shift: C,
    completions: &'a Completions<N, C>,
    fit: usize,
    room: C,
}

/// Distinct costs, sorted, with the number of completions at each.
struct Run<const N: usize, C> {
    cost: Vec<C>,
    count: Vec<Wide<N>>,
}

impl<const N: usize, C: Cost> Run<N, C> {
    /// Room for `len` entries, charged to `meter` first.
    fn alloc(len: usize, meter: &Meter, p: usize) -> Result<Run<N, C>> {
        meter.charge(heap(len, size_of::<C>()) + heap(len, size_of::<Wide<N>>()), Some(p))?;
        Ok(Run { cost: Vec::with_capacity(len), count: Vec::with_capacity(len) })
    }

    fn bytes(&self) -> u64 {
        heap(self.cost.capacity(), size_of::<C>()) + heap(self.count.capacity(), size_of::<Wide<N>>())
    }

    /// Gives back the room it does not use. Shrinking reallocates in place
    /// (glibc), so it never adds to the peak.
    fn shrink(&mut self, meter: &Meter) {
        let before = self.bytes();
        self.cost.shrink_to_fit();
        self.count.shrink_to_fit();
        meter.release(before - self.bytes());
    }

    /// Frees the buffers, and their charge.
    fn free(self, meter: &Meter) {
        meter.release(self.bytes());
    }
}

/// Merges the sources' completions for position `p`, adding the counts of
/// equal costs.
///
/// Divide and conquer: O(n log k) for k sources and linear, branch-friendly
/// merges, the halves in parallel (position 0 has a single state, so this
/// is where its work is shared among threads). Only leaves are copied, and
/// each is freed once merged.
fn merge_sources<const N: usize, C: Cost>(sources: &[Source<N, C>], meter: &Meter, p: usize) -> Result<Run<N, C>> {
    match sources {
        [] => Run::alloc(0, meter, p),
        [one] => {
            let Source { shift, completions: c, fit, room } = *one;
            let mut run = Run::alloc(fit, meter, p)?;
            if C::DIMS == 1 {
                // The first `fit` are within the room: a copy.
                run.cost.extend(c.cost[..fit].iter().map(|&x| x.plus(shift)));
                run.count.extend((0..fit).map(|i| c.count_at(i)));
            } else {
                for i in (0..fit).filter(|&i| c.cost[i].within(room)) {
                    run.cost.push(c.cost[i].plus(shift));
                    run.count.push(c.count_at(i));
                }
                run.shrink(meter);
            }
            Ok(run)
        }
        _ => {
            let (left, right) = sources.split_at(sources.len() / 2);
            let (a, b) = rayon::join(|| merge_sources(left, meter, p), || merge_sources(right, meter, p));
            merge_runs(a?, b?, meter, p)
        }
    }
}

fn merge_runs<const N: usize, C: Cost>(a: Run<N, C>, b: Run<N, C>, meter: &Meter, p: usize) -> Result<Run<N, C>> {
    let mut out = Run::alloc(a.cost.len() + b.cost.len(), meter, p)?;
    let (mut i, mut j) = (0, 0);
    while i < a.cost.len() && j < b.cost.len() {
        let (x, y) = (a.cost[i], b.cost[j]);
        if x < y {
            out.cost.push(x);
            out.count.push(a.count[i]);
            i += 1;
        } else if y < x {
            out.cost.push(y);
            out.count.push(b.count[j]);
            j += 1;
        } else {
            out.cost.push(x);
            out.count.push(a.count[i].checked_add(b.count[j]).ok_or(Error::CountOverflow)?);
            i += 1;
            j += 1;
        }
    }
    out.cost.extend_from_slice(&a.cost[i..]);
    out.count.extend_from_slice(&a.count[i..]);
    out.cost.extend_from_slice(&b.cost[j..]);
    out.count.extend_from_slice(&b.count[j..]);
    a.free(meter);
    b.free(meter);
    out.shrink(meter);
    Ok(out)
}

/// The summaries of every (position, state), counts `N` words wide, and
/// the listing that reads them.
#[derive(Debug)]
struct Built<const N: usize, C> {
    /// `completions[p][s]`, for `p` in `0..=positions`.
    completions: Vec<Vec<Completions<N, C>>>,
}

/// [`Built`] of any width.
trait Summaries<C>: Send + Sync + std::fmt::Debug {
    fn total(&self) -> Total;
    fn fill(&self, search: &Search<C>, rows: u64, options: &mut [u32], costs: &mut [i64]) -> Result<()>;
    fn count_range(&self, search: &Search<C>, lo: u64, hi: u64) -> Total;
    fn unrank(&self, search: &Search<C>, range: (u64, u64), ranks: &[u64], options: &mut [u32], costs: &mut [i64])
        -> Result<()>;
}

/// A model space prepared for one budget (or two at once, `C = [u64; 2]`):
/// it builds the completion summaries of every (position, state)
/// ([`Search::build`]), then counts and lists fitting models from them; or
/// counts alone ([`Search::count_only`]).
#[derive(Debug)]
pub struct Search<C = u64> {
    space: Space<C>,
    budget: C,
    max_bytes: u64,
    /// The widest count tried ([`MAX_WORDS`]; fewer in tests).
    max_words: usize,
    /// The built summaries, and the bytes the search holds with them.
    built: OnceLock<(Box<dyn Summaries<C>>, u64)>,
    /// Rows the running `fill` has written, for a progress bar.
    written: AtomicU64,
    /// Set by `stop`: building and filling stop at their next check, now and later.
    stopped: AtomicBool,
}

/// A partial model: options chosen for positions `0..p`, reaching state `s`
/// at cost `c`.
struct Prefix<C> {
    p: usize,
    s: usize,
    c: C,
    path: Vec<u32>,
}

/// Output rows being written: one option index per position, and the cost
/// (`DIMS` values).
struct Rows<'a> {
    options: &'a mut [u32],
    costs: &'a mut [i64],
    width: usize,
    dims: usize,
    len: usize,
}

impl<'a> Rows<'a> {
    fn new(options: &'a mut [u32], costs: &'a mut [i64], width: usize, dims: usize) -> Rows<'a> {
        Rows { options, costs, width, dims, len: 0 }
    }

    fn capacity(&self) -> usize {
        self.costs.len() / self.dims
    }

    fn is_full(&self) -> bool {
        self.len == self.capacity()
    }

    /// Appends a model; true once the buffers are full.
    fn push<C: Cost>(&mut self, path: &[u32], cost: C) -> bool {
        if !self.is_full() {
            self.options[self.len * self.width..(self.len + 1) * self.width].copy_from_slice(path);
            cost.write(&mut self.costs[self.len * self.dims..(self.len + 1) * self.dims]);
            self.len += 1;
        }
        self.is_full()
    }
}

impl<C: Cost> Search<C> {
    /// A search of `space` for `budget` (each part at most `i64::MAX`) that
    /// will hold at most `max_bytes`, the space included. Nothing is built yet.
    pub fn new(space: Space<C>, budget: C, max_bytes: u64) -> Result<Search<C>> {
        if !budget.within(C::from_table(&[i64::MAX; 2][..C::DIMS])) {
            return Err(Error::Shape(format!("budget {budget:?} is beyond int64")));
        }
        Ok(Search {
            space,
            budget,
            max_bytes,
            max_words: MAX_WORDS,
            built: OnceLock::new(),
            written: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
        })
    }

    /// Builds the completion summaries (once), refusing with
    /// [`Error::Memory`] before they would take more than `max_bytes`, and
    /// with [`Error::Stopped`] once asked to stop.
    pub fn build(&self) -> Result<()> {
        if self.built.get().is_none() {
            let built = self.widening(|words| at_width!(words, build_at(self)))?;
            let _ = self.built.set(built);
        }
        Ok(())
    }

    /// The number of models within the budget, as `build` then `count`
    /// would give, but holding the summaries of only two positions at a time.
    pub fn count_only(&self) -> Result<Total> {
        if self.built.get().is_some() {
            return self.count();
        }
        self.widening(|words| at_width!(words, count_at(self)))
    }

    /// Runs `attempt` with counts one word wide, then twice as wide as long
    /// as a count overflows.
    fn widening<T>(&self, attempt: impl Fn(usize) -> Result<T>) -> Result<T> {
        let mut words = 1;
        loop {
            match attempt(words) {
                Err(Error::CountOverflow) if words < self.max_words => words *= 2,
                done => return done,
            }
        }
    }

    /// The summaries of every (position, state), built backward from the
    /// end, and the bytes they hold with the space; with `keep_all` false,
    /// each position's are dropped once the one before it is built (only
    /// position 0's remain), and no [`MinTree`] is built.
    fn summaries<const N: usize>(&self, keep_all: bool) -> Result<(Vec<Vec<Completions<N, C>>>, u64)> {
        let (space, budget) = (&self.space, self.budget);
        let meter =
            Meter { used: AtomicU64::new(0), limit: self.max_bytes, stopped: &self.stopped, n_states: &space.n_states };
        meter.charge(space.bytes(), None)?;
        let reach = space.cheapest_prefix(&meter)?;
        let room = |p: usize, s: usize| budget.minus(reach[p][s]);
        let last = space.positions();
        let slots = |p: usize| heap(space.n_states[p], size_of::<Completions<N, C>>());
        meter.charge(heap(last + 1, size_of::<Vec<Completions<N, C>>>()) + slots(last), Some(last))?;
        let mut completions: Vec<Vec<Completions<N, C>>> = (0..=last).map(|_| Vec::new()).collect();
        completions[last] = (0..space.n_states[last]).map(|_| Completions::default()).collect();
        let index = keep_all && C::DIMS > 1;
        for (s, end) in completions[last].iter_mut().enumerate() {
            if room(last, s).is_some() {
                let tree = if index { MinTree::bytes_for(1) } else { 0 };
                meter.charge(heap(1, size_of::<C>()) + heap(1, size_of::<Wide<N>>()) + tree, Some(last))?;
                let seconds = if index { MinTree::new([0].into_iter()) } else { MinTree::default() };
                *end = Completions { cost: vec![C::ZERO], cum: vec![Wide::from_u64(1)], seconds };
            }
        }
        for p in (0..last).rev() {
            meter.charge(slots(p), Some(p))?;
            let mut built: Vec<Completions<N, C>> = (0..space.n_states[p]).map(|_| Completions::default()).collect();
            let after = &completions[p + 1];
            built.par_iter_mut().enumerate().try_for_each(|(s, slot)| {
                if let Some(cap) = room(p, s) {
                    *slot = Self::summarize(space, p, s, cap, after, &meter)?;
                    if index {
                        meter.charge(MinTree::bytes_for(slot.cost.len()), Some(p))?;
                        slot.seconds = MinTree::new(slot.cost.iter().map(|c| c.secondary()));
                    }
                }
                Ok(())
            })?;
            completions[p] = built;
            if !keep_all {
                meter.release(completions[p + 1].iter().map(Completions::bytes).sum::<u64>() + slots(p + 1));
                completions[p + 1] = Vec::new();
            }
        }
        drop(reach);
        meter.release(space.reach_bytes());
        Ok((completions, meter.used()))
    }

    /// The completions from (p, s) within `cap`: each option's cost added
    /// to the completions of the state it leads to, merged.
    fn summarize<const N: usize>(
        space: &Space<C>,
        p: usize,
        s: usize,
        cap: C,
        after: &[Completions<N, C>],
        meter: &Meter,
    ) -> Result<Completions<N, C>> {
        let room_for = heap(space.tables[p].n_options, size_of::<Source<N, C>>());
        meter.charge(room_for, Some(p))?;
        let mut sources: Vec<Source<N, C>> = Vec::with_capacity(space.tables[p].n_options);
        sources.extend(space.moves(p, s).filter_map(|(_, c, n)| {
            let room = cap.minus(c)?;
            let fit = after[n].cost.partition_point(|x| x.primary() <= room.primary());
            (fit > 0).then_some(Source { shift: c, completions: &after[n], fit, room })
        }));
        let merged = merge_sources(&sources, meter, p);
        drop(sources);
        meter.release(room_for);
        let Run { cost, count: mut cum } = merged?;
        let mut total = Wide::ZERO;
        for n in cum.iter_mut() {
            total = total.checked_add(*n).ok_or(Error::CountOverflow)?;
            *n = total;
        }
        Ok(Completions { cost, cum, seconds: MinTree::default() })
    }

    fn built(&self) -> Result<&(Box<dyn Summaries<C>>, u64)> {
        self.built.get().ok_or_else(|| Error::Shape("the search is not built yet".into()))
    }

    pub fn positions(&self) -> usize {
        self.space.positions()
    }

    /// The bytes the built search holds (the space and its summaries).
    pub fn bytes(&self) -> u64 {
        self.built.get().map_or(self.space.bytes(), |b| b.1)
    }

    /// Rows the running (or last) [`Search::fill`] has written so far; safe
    /// to read from another thread while it runs.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Asks the running [`Search::build`], [`Search::count_only`] or
    /// [`Search::fill`], and any later one, to stop: it returns
    /// [`Error::Stopped`] at its next check.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    /// The number of models within the budget.
    pub fn count(&self) -> Result<Total> {
        Ok(self.built()?.0.total())
    }

    /// The number of fitting models whose first quantity is in `lo..=hi`.
    pub fn count_range(&self, lo: u64, hi: u64) -> Result<Total> {
        Ok(self.built()?.0.count_range(self, lo, hi.min(self.budget.primary())))
    }

    /// Writes the fitting models of the given ranks among those whose first quantity is in
    /// `lo..=hi` (ranks from 0 in enumeration order, each `words` 64-bit words, least
    /// significant first, in `ranks`, row-major) into `options` and `costs` as [`Search::fill`]
    /// does, a row per rank, in the ranks' order. Drawing the ranks uniformly draws the models
    /// uniformly: this is how models are sampled without building or rejecting any.
    pub fn unrank(&self, lo: u64, hi: u64, ranks: &[u64], options: &mut [u32], costs: &mut [i64]) -> Result<()> {
        let width = self.positions();
        let rows = costs.len() / C::DIMS;
        if costs.len() != rows * C::DIMS || options.len() != rows * width || (rows > 0 && !ranks.len().is_multiple_of(rows))
            || (rows > 0 && ranks.is_empty()) {
            return Err(Error::Shape(format!(
                "unrank writes a row of {width} options and {} costs per rank; got {} ranks' words and buffers of {} \
                 and {} values",
                C::DIMS,
                ranks.len(),
                options.len(),
                costs.len()
            )));
        }
        self.written.store(0, Ordering::Relaxed);
        if rows == 0 {
            return Ok(());
        }
        self.built()?.0.unrank(self, (lo, hi.min(self.budget.primary())), ranks, options, costs)
    }

    /// The rows [`Search::fill`] writes for `limit`: every fitting model, or
    /// the `limit` largest.
    pub fn rows(&self, limit: Option<u64>) -> Result<Total> {
        let count = self.count()?;
        Ok(limit.map_or(count.clone(), |k| Total::from(count.min_u64(k) as u128)))
    }

    /// Writes the fitting models (all, or the `limit` largest in the first
    /// quantity) into `options` (row-major, one option index per position)
    /// and `costs` (row-major, `C::DIMS` quantities), which must hold exactly
    /// [`Search::rows`] rows. Rows come in enumeration order (options in
    /// table order, first position slowest), except that with a limit the
    /// models above the cut-off total come before those at it; sorting by
    /// the first quantity, stably, puts the largest first.
    pub fn fill(&self, limit: Option<u64>, options: &mut [u32], costs: &mut [i64]) -> Result<()> {
        let rows = self.rows(limit)?;
        let width = self.positions();
        let fits = rows.to_u64().filter(|&n| {
            costs.len() as u128 == n as u128 * C::DIMS as u128 && options.len() as u128 == n as u128 * width as u128
        });
        let Some(rows) = fits else {
            return Err(Error::Shape(format!(
                "the search writes {rows:?} rows of {width} options and {} costs; got buffers of {} and {} values",
                C::DIMS,
                options.len(),
                costs.len()
            )));
        };
        self.written.store(0, Ordering::Relaxed);
        if self.stopped.load(Ordering::Relaxed) {
            return Err(Error::Stopped);
        }
        self.built()?.0.fill(self, rows, options, costs)
    }
}

/// Builds the summaries at width `N`.
fn build_at<const N: usize, C: Cost>(search: &Search<C>) -> Result<(Box<dyn Summaries<C>>, u64)> {
    let (completions, bytes) = search.summaries::<N>(true)?;
    Ok((Box::new(Built { completions }), bytes))
}

/// Counts at width `N`.
fn count_at<const N: usize, C: Cost>(search: &Search<C>) -> Result<Total> {
    let (completions, _) = search.summaries::<N>(false)?;
    Ok(completions[0][0].total().into())
}

impl<const N: usize, C: Cost> Summaries<C> for Built<N, C> {
    fn total(&self) -> Total {
        self.completions[0][0].total().into()
    }

    fn fill(&self, search: &Search<C>, rows: u64, options: &mut [u32], costs: &mut [i64]) -> Result<()> {
        Lister { search, completions: &self.completions }.fill(rows, options, costs)
    }

    fn count_range(&self, search: &Search<C>, lo: u64, hi: u64) -> Total {
        self.completions[0][0].count_in(lo, hi, search.budget).into()
    }

    fn unrank(&self, search: &Search<C>, range: (u64, u64), ranks: &[u64], options: &mut [u32], costs: &mut [i64])
        -> Result<()> {
        let lister = Lister { search, completions: &self.completions };
        let (width, words) = (search.positions(), ranks.len() / (costs.len() / C::DIMS).max(1));
        let samples = options.par_chunks_mut(width.max(1)).zip(costs.par_chunks_mut(C::DIMS)).zip(ranks.par_chunks(words));
        samples.try_for_each(|((path, cost), rank)| {
            if search.stopped.load(Ordering::Relaxed) {
                return Err(Error::Stopped);
            }
            let rank = Wide::<N>::from_words(rank).ok_or_else(|| Error::Shape("a rank beyond the count".into()))?;
            lister.unrank(range, rank, path)?.write(cost);
            search.written.fetch_add(1, Ordering::Relaxed);
            Ok(())
        })
    }
}

/// Lists models from the summaries of a built search. Its ranges are on the
/// first quantity; the second, if any, is always bounded by its budget.
struct Lister<'a, const N: usize, C> {
    search: &'a Search<C>,
    completions: &'a [Vec<Completions<N, C>>],
}

impl<const N: usize, C: Cost> Lister<'_, N, C> {
    fn fill(&self, rows: u64, options: &mut [u32], costs: &mut [i64]) -> Result<()> {
        let (budget, width) = (self.search.budget.primary(), self.search.positions());
        if rows == 0 {
            return Ok(());
        }
        let root = self.completions[0][0].total();
        if Wide::from_u64(rows) == root {
            return self.fill_range(0, budget, options, costs);
        }
        let (cutoff, above) = self.cutoff(rows);
        let split = above as usize;
        let (opts_above, opts_at) = options.split_at_mut(split * width);
        let (costs_above, costs_at) = costs.split_at_mut(split * C::DIMS);
        if cutoff < budget {
            self.fill_range(cutoff + 1, budget, opts_above, costs_above)?;
        }
        // The first models at the cut-off, in enumeration order.
        let mut out = Rows::new(opts_at, costs_at, width, C::DIMS);
        if !out.is_full() {
            self.walk(0, 0, C::ZERO, (cutoff, cutoff), &mut Vec::with_capacity(width), &mut out);
        }
        self.search.written.fetch_add(out.len as u64, Ordering::Relaxed);
        check_full(&out)
    }

    /// For `0 < k < total`: the `k`-th largest first part `t` of a fitting
    /// total, and how many fitting models have a larger one (fewer than `k`).
    fn cutoff(&self, k: u64) -> (u64, u64) {
        let root = &self.completions[0][0];
        let total = root.total();
        // Models costing at least cost[i]: total - cum[i - 1]. The last i
        // keeping k or more is the number of cum entries at most total - k
        // (below the last entry, as k > 0).
        let bar = total.minus(Wide::from_u64(k));
        let i = root.cum.partition_point(|&n| n <= bar);
        let t = root.cost[i].primary();
        // Under two budgets, entries after i may share its first part.
        let last = root.cost.partition_point(|c| c.primary() <= t) - 1;
        let above = total.minus(root.cum[last]).to_u64().expect("fewer than k models above the cut-off");
        (t, above)
    }

    /// Lists every model with a first part in `lo..=hi` (within the budget)
    /// into buffers of exactly that many rows, in parallel: the prefixes are
    /// expanded breadth-first until there are enough to share among the
    /// threads, and each writes its subtree into its own slice, sized by the
    /// exact counts of the summaries.
    fn fill_range(&self, lo: u64, hi: u64, options: &mut [u32], costs: &mut [i64]) -> Result<()> {
        let width = self.search.positions();
        let target = 64 * rayon::current_num_threads();
        let mut level = vec![Prefix { p: 0, s: 0, c: C::ZERO, path: Vec::new() }];
        while level.len() < target && level.first().is_some_and(|t| t.p < width) {
            level = level.into_iter().flat_map(|t| self.children(t, lo, hi)).collect();
        }
        let (mut options, mut costs) = (options, costs);
        let mut jobs = Vec::with_capacity(level.len());
        for t in level {
            let room = self.search.budget.minus(t.c).expect("a prefix within the budget");
            let n = self.completions[t.p][t.s].count_in(lo.saturating_sub(t.c.primary()), hi - t.c.primary(), room);
            if n == Wide::ZERO {
                continue;
            }
            let n = match n.to_u64() {
                Some(n) if n <= (costs.len() / C::DIMS) as u64 => n as usize,
                _ => return Err(Error::Shape("the output buffers are smaller than the fitting models".into())),
            };
            let (o, rest_o) = std::mem::take(&mut options).split_at_mut(n * width);
            let (q, rest_q) = std::mem::take(&mut costs).split_at_mut(n * C::DIMS);
            (options, costs) = (rest_o, rest_q);
            jobs.push((t, o, q));
        }
        if !costs.is_empty() {
            return Err(Error::Shape("the output buffers are larger than the fitting models".into()));
        }
        jobs.into_par_iter().try_for_each(|(t, o, q)| {
            if self.search.stopped.load(Ordering::Relaxed) {
                return Err(Error::Stopped);
            }
            let mut out = Rows::new(o, q, width, C::DIMS);
            let mut path = t.path;
            path.reserve(width - t.p);
            self.walk(t.p, t.s, t.c, (lo, hi), &mut path, &mut out);
            self.search.written.fetch_add(out.len as u64, Ordering::Relaxed);
            check_full(&out)
        })
    }

    /// The one-option extensions of `t` that lead to a model in `lo..=hi`.
    fn children(&self, t: Prefix<C>, lo: u64, hi: u64) -> Vec<Prefix<C>> {
        self.extensions(t.p, t.s, t.c, (lo, hi))
            .map(|(o, s, c)| {
                let mut path = Vec::with_capacity(t.path.len() + 1);
                path.extend_from_slice(&t.path);
                path.push(o);
                Prefix { p: t.p + 1, s, c, path }
            })
            .collect()
    }

    /// The options at (p, s), given the cost `c` so far, after which some
    /// completion ends in `lo..=hi` within the budget: (option, next state,
    /// new cost).
    fn extensions(&self, p: usize, s: usize, c: C, (lo, hi): (u64, u64)) -> impl Iterator<Item = (u32, usize, C)> + '_ {
        let after = &self.completions[p + 1];
        let budget = self.search.budget;
        self.search.space.moves(p, s).filter_map(move |(o, cost, n)| {
            let c = c.plus(cost);
            let room = budget.minus(c).filter(|_| c.primary() <= hi)?;
            after[n].any_in(lo.saturating_sub(c.primary()), hi - c.primary(), room).then_some((o, n, c))
        })
    }

    /// The model of rank `rank` (from 0, in enumeration order) among those with a first part in
    /// `lo..=hi`: at each position, the options' numbers of such completions are skipped past
    /// until the rank falls within one. Its options go into `path`; its cost is returned.
    fn unrank(&self, (lo, hi): (u64, u64), mut rank: Wide<N>, path: &mut [u32]) -> Result<C> {
        let (budget, mut s, mut c) = (self.search.budget, 0, C::ZERO);
        for (p, slot) in path.iter_mut().enumerate() {
            let after = &self.completions[p + 1];
            let mut chosen = None;
            for (o, cost, n) in self.search.space.moves(p, s) {
                let next = c.plus(cost);
                let Some(room) = budget.minus(next).filter(|_| next.primary() <= hi) else { continue };
                let here = after[n].count_in(lo.saturating_sub(next.primary()), hi - next.primary(), room);
                if rank < here {
                    chosen = Some((o, n, next));
                    break;
                }
                rank = rank.minus(here);
            }
            let (o, n, next) = chosen.ok_or_else(|| Error::Shape("a rank beyond the count".into()))?;
            (*slot, s, c) = (o, n, next);
        }
        Ok(c)
    }

    /// Depth-first from (p, s) at cost `c`, writing every model in `lo..=hi`
    /// until `out` is full; true once it is.
    fn walk(&self, p: usize, s: usize, c: C, range: (u64, u64), path: &mut Vec<u32>, out: &mut Rows) -> bool {
        if p == self.search.positions() {
            return out.push(path, c);
        }
        for (o, n, c) in self.extensions(p, s, c, range) {
            path.push(o);
            let full = self.walk(p + 1, n, c, range, path, out);
            path.pop();
            if full {
                return true;
            }
        }
        false
    }
}

fn check_full(out: &Rows) -> Result<()> {
    if out.is_full() {
        Ok(())
    } else {
        Err(Error::Shape(format!("internal: listed {} of {} models", out.len, out.capacity())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift64*), enough for tests.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
        }
    }

    /// Flat tables as Python passes them.
    #[derive(Clone)]
    struct Tables {
        n_states: Vec<usize>,
        n_options: Vec<usize>,
        cost: Vec<i64>,
        next: Vec<i64>,
    }

    impl Tables {
        fn space(&self) -> Space {
            Space::new(&self.n_states, &self.n_options, &self.cost, &self.next, u64::MAX).unwrap()
        }
    }

    fn random_tables(rng: &mut Rng) -> Tables {
        let positions = 1 + rng.below(5) as usize;
        let mut n_states = vec![1];
        n_states.extend((0..positions).map(|_| 1 + rng.below(4) as usize));
        let n_options: Vec<usize> = (0..positions).map(|_| 1 + rng.below(4) as usize).collect();
        let (mut cost, mut next) = (Vec::new(), Vec::new());
        for p in 0..positions {
            for _ in 0..n_states[p] * n_options[p] {
                next.push(if rng.below(6) == 0 { -1 } else { rng.below(n_states[p + 1] as u64) as i64 });
                cost.push(match rng.below(20) {
                    0 => -1,
                    1 => i64::MAX,
                    _ => rng.below(40) as i64,
                });
            }
        }
        Tables { n_states, n_options, cost, next }
    }

    /// Every complete model (option path, count or None beyond u64), in
    /// enumeration order, by plain recursion.
    fn brute(t: &Tables) -> Vec<(Vec<u32>, Option<u64>)> {
        type Found = Vec<(Vec<u32>, Option<u64>)>;
        fn go(t: &Tables, p: usize, s: usize, c: Option<u64>, path: &mut Vec<u32>, out: &mut Found) {
            if p == t.n_options.len() {
                out.push((path.clone(), c));
                return;
            }
            let start: usize = (0..p).map(|q| t.n_states[q] * t.n_options[q]).sum();
            for o in 0..t.n_options[p] {
                let i = start + s * t.n_options[p] + o;
                if t.next[i] < 0 {
                    continue;
                }
                let step = if t.cost[i] < 0 { None } else { Some(t.cost[i] as u64) };
                path.push(o as u32);
                go(t, p + 1, t.next[i] as usize, c.zip(step).and_then(|(a, b)| a.checked_add(b)), path, out);
                path.pop();
            }
        }
        let mut out = Vec::new();
        go(t, 0, 0, Some(0), &mut Vec::new(), &mut out);
        out
    }

    /// A search built for `budget` within `max_bytes`.
    fn built(space: Space, budget: u64, max_bytes: u64) -> Result<Search> {
        let search = Search::new(space, budget, max_bytes)?;
        search.build()?;
        Ok(search)
    }

    fn total(n: usize) -> Total {
        Total::from(n as u128)
    }

    /// Rows of a fill, sorted by count, largest first, stably.
    fn listed(search: &Search, limit: Option<u64>) -> Vec<(Vec<u32>, i64)> {
        let rows = search.rows(limit).unwrap().to_u64().unwrap() as usize;
        let width = search.positions();
        let (mut options, mut params) = (vec![0u32; rows * width], vec![0i64; rows]);
        search.fill(limit, &mut options, &mut params).unwrap();
        assert_eq!(search.written(), rows as u64); // what a progress bar reads
        let mut out: Vec<(Vec<u32>, i64)> =
            (0..rows).map(|r| (options[r * width..(r + 1) * width].to_vec(), params[r])).collect();
        out.sort_by_key(|(_, p)| std::cmp::Reverse(*p));
        out
    }

    #[test]
    fn agrees_with_brute_force_on_random_spaces() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..300 {
            let t = random_tables(&mut rng);
            let all = brute(&t);
            for budget in [0, 5, 20, 37, 60, 100, 200, i64::MAX as u64] {
                let mut fitting: Vec<(Vec<u32>, i64)> = all
                    .iter()
                    .filter(|(_, c)| c.is_some_and(|c| c <= budget))
                    .map(|(path, c)| (path.clone(), c.unwrap() as i64))
                    .collect();
                fitting.sort_by_key(|(_, p)| std::cmp::Reverse(*p));
                let search = built(t.space(), budget, u64::MAX).unwrap();
                assert_eq!(search.count().unwrap(), total(fitting.len()));
                assert_eq!(
                    Search::new(t.space(), budget, u64::MAX).unwrap().count_only().unwrap(),
                    total(fitting.len())
                );
                assert_eq!(listed(&search, None), fitting);
                for k in [0, 1, 2, 3, 7, fitting.len().saturating_sub(1), fitting.len() + 5] {
                    let expected: Vec<_> = fitting.iter().take(k).cloned().collect();
                    assert_eq!(listed(&search, Some(k as u64)), expected, "budget {budget}, k {k}");
                }
            }
        }
    }

    #[test]
    fn two_budgets_agree_with_brute_force_on_random_spaces() {
        // A second cost table beside the first; each model's second total by brute force
        // is the sum of its second costs along the same path.
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for round in 0..300 {
            let t = random_tables(&mut rng);
            let second: Vec<i64> = t.cost.iter().map(|_| rng.below(30) as i64 - (rng.below(25) == 0) as i64).collect();
            let pairs: Vec<i64> = t.cost.iter().zip(&second).flat_map(|(&a, &b)| [a, b]).collect();
            let seconds = brute(&Tables { cost: second, ..t.clone() });
            let all = brute(&t);
            for budget in [[0, 0], [20, 15], [37, 100], [100, 20], [200, 200], [i64::MAX as u64, i64::MAX as u64]] {
                let mut fitting: Vec<(Vec<u32>, [i64; 2])> = all
                    .iter()
                    .zip(&seconds)
                    .filter_map(|((path, a), (_, b))| {
                        let (a, b) = (a.filter(|&a| a <= budget[0])?, b.filter(|&b| b <= budget[1])?);
                        Some((path.clone(), [a as i64, b as i64]))
                    })
                    .collect();
                fitting.sort_by_key(|(_, c)| std::cmp::Reverse(c[0]));
                let space = || Space::<[u64; 2]>::new(&t.n_states, &t.n_options, &pairs, &t.next, u64::MAX).unwrap();
                let search = Search::new(space(), budget, u64::MAX).unwrap();
                search.build().unwrap();
                assert_eq!(search.count().unwrap(), total(fitting.len()), "round {round}, budget {budget:?}");
                assert_eq!(Search::new(space(), budget, u64::MAX).unwrap().count_only().unwrap(), total(fitting.len()));
                for k in [None, Some(0), Some(1), Some(2), Some(5), Some(fitting.len().saturating_sub(1) as u64)] {
                    let rows = search.rows(k).unwrap().to_u64().unwrap() as usize;
                    let width = search.positions();
                    let (mut options, mut costs) = (vec![0u32; rows * width], vec![0i64; 2 * rows]);
                    search.fill(k, &mut options, &mut costs).unwrap();
                    let mut got: Vec<(Vec<u32>, [i64; 2])> = (0..rows)
                        .map(|r| (options[r * width..(r + 1) * width].to_vec(), [costs[2 * r], costs[2 * r + 1]]))
                        .collect();
                    got.sort_by_key(|(_, c)| std::cmp::Reverse(c[0]));
                    let expected: Vec<_> = fitting.iter().take(k.map_or(usize::MAX, |k| k as usize)).cloned().collect();
                    assert_eq!(got, expected, "round {round}, budget {budget:?}, k {k:?}");
                }
            }
        }
    }

    /// Every rank of every first-quantity range unranks to the brute-force enumeration's model
    /// of that rank among those in range: under one budget and under two.
    #[test]
    fn unranking_is_the_enumeration_in_range_on_random_spaces() {
        let mut rng = Rng(0x5851_f42d_4c95_7f2d);
        for round in 0..300 {
            let t = random_tables(&mut rng);
            let second: Vec<i64> = t.cost.iter().map(|_| rng.below(30) as i64).collect();
            let pairs: Vec<i64> = t.cost.iter().zip(&second).flat_map(|(&a, &b)| [a, b]).collect();
            let (all, seconds) = (brute(&t), brute(&Tables { cost: second, ..t.clone() }));
            for (budget, range) in [([20, 15], (0, 20)), ([60, 40], (10, 30)), ([200, 200], (37, 37)), ([100, 10], (50, 500))] {
                let within = |two: bool| -> Vec<(Vec<u32>, [i64; 2])> {
                    all.iter()
                        .zip(&seconds)
                        .filter_map(|((path, a), (_, b))| {
                            let a = a.filter(|&a| a <= budget[0] && (range.0..=range.1).contains(&a))?;
                            let b = if two { b.filter(|&b| b <= budget[1])? } else { 0 };
                            Some((path.clone(), [a as i64, b as i64]))
                        })
                        .collect()
                };
                let width = t.n_options.len();
                let one = Search::new(t.space(), budget[0], u64::MAX).unwrap();
                let space2 = Space::<[u64; 2]>::new(&t.n_states, &t.n_options, &pairs, &t.next, u64::MAX).unwrap();
                let two = Search::new(space2, budget, u64::MAX).unwrap();
                one.build().unwrap();
                two.build().unwrap();
                for (dims, expected) in [(1, within(false)), (2, within(true))] {
                    let n = expected.len();
                    let ranks: Vec<u64> = (0..n as u64).rev().flat_map(|r| [r, 0]).collect(); // two words each
                    let (mut options, mut costs) = (vec![0u32; n * width], vec![0i64; n * dims]);
                    let got_count = if dims == 1 {
                        one.unrank(range.0, range.1, &ranks, &mut options, &mut costs).unwrap();
                        one.count_range(range.0, range.1).unwrap()
                    } else {
                        two.unrank(range.0, range.1, &ranks, &mut options, &mut costs).unwrap();
                        two.count_range(range.0, range.1).unwrap()
                    };
                    assert_eq!(got_count, total(n), "round {round}, budget {budget:?}, range {range:?}");
                    for (i, (path, cost)) in expected.iter().rev().enumerate() {
                        assert_eq!(&options[i * width..(i + 1) * width], &path[..], "round {round}");
                        assert_eq!(&costs[i * dims..(i + 1) * dims], &cost[..dims], "round {round}");
                    }
                    let beyond = [n as u64, 0];
                    let (mut o, mut c) = (vec![0u32; width], vec![0i64; dims]);
                    let refused = if dims == 1 { one.unrank(range.0, range.1, &beyond, &mut o, &mut c) }
                                  else { two.unrank(range.0, range.1, &beyond, &mut o, &mut c) };
                    assert!(matches!(refused, Err(Error::Shape(_))), "round {round}: rank {n} of {n}");
                }
            }
        }
    }

    #[test]
    fn ties_at_the_cutoff_come_in_enumeration_order() {
        // Two positions, three options each, all free: nine models of count 0.
        let t = Tables { n_states: vec![1, 1, 1], n_options: vec![3, 3], cost: vec![0; 6], next: vec![0; 6] };
        let search = built(t.space(), 10, u64::MAX).unwrap();
        let got = listed(&search, Some(4));
        assert_eq!(got.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(), [[0, 0], [0, 1], [0, 2], [1, 0]]);
    }

    #[test]
    fn a_cheaper_state_later_is_found_through_a_costly_option() {
        // Option 1 costs more at position 0 but leads to a state whose only
        // completion is cheap: a lower bound taken per option alone would miss it.
        let t = Tables {
            n_states: vec![1, 2, 1],
            n_options: vec![2, 1],
            cost: vec![10, 30, 100, 5],
            next: vec![0, 1, 0, 0],
        };
        let search = built(t.space(), 40, u64::MAX).unwrap();
        assert_eq!(search.count().unwrap(), total(1));
        assert_eq!(listed(&search, None), [(vec![1, 0], 35)]);
        assert_eq!(built(t.space(), 200, u64::MAX).unwrap().count().unwrap(), total(2));
    }

    /// `n` positions of two options each, costing 0 and 1: C(n, c) models cost c.
    fn binary(n: usize) -> Tables {
        Tables {
            n_states: vec![1; n + 1],
            n_options: vec![2; n],
            cost: (0..n).flat_map(|_| [0, 1]).collect(),
            next: vec![0; 2 * n],
        }
    }

    #[test]
    fn counts_are_exact_at_any_width() {
        // 2^70, 2^130 and 2^300 models: one, three and five words.
        for n in [70, 130, 300] {
            let t = binary(n);
            let words = built(t.space(), n as u64, u64::MAX).unwrap().count().unwrap();
            let mut expected = vec![0; n / 64 + 1];
            expected[n / 64] = 1 << (n % 64);
            assert_eq!(words.words(), expected, "2^{n}");
            assert_eq!(Search::new(t.space(), n as u64, u64::MAX).unwrap().count_only().unwrap(), words);
        }
        // Within budget 2 of 130: 1 + 130 + C(130, 2).
        assert_eq!(built(binary(130).space(), 2, u64::MAX).unwrap().count().unwrap(), total(1 + 130 + 130 * 129 / 2));
    }

    #[test]
    fn counts_beyond_the_widest_are_refused() {
        // With counts of at most two words: 2^128 models, all free, are too many; of the same positions with
        // one costly option each, the one free model is counted in one word.
        let at_most_two =
            |t: &Tables, budget| Search { max_words: 2, ..Search::new(t.space(), budget, u64::MAX).unwrap() };
        let free = Tables { n_states: vec![1; 129], n_options: vec![2; 128], cost: vec![0; 256], next: vec![0; 256] };
        assert_eq!(at_most_two(&free, 0).count_only(), Err(Error::CountOverflow));
        assert_eq!(at_most_two(&free, 0).build(), Err(Error::CountOverflow));
        let costly = Tables { cost: (0..128).flat_map(|_| [0, 1 << 40]).collect(), ..free };
        assert_eq!(at_most_two(&costly, 1 << 20).count_only(), Ok(total(1)));
        let free = Tables { n_states: vec![1; 128], n_options: vec![2; 127], cost: vec![0; 254], next: vec![0; 254] };
        assert_eq!(at_most_two(&free, 0).count_only(), Ok(Total::from(1u128 << 127)));
    }

    #[test]
    fn the_k_largest_are_found_among_more_than_2_pow_128() {
        // Budget 129 of 130: every model but the one of count 130, 2^130 - 1.
        let search = built(binary(130).space(), 129, u64::MAX).unwrap();
        assert_eq!(search.count().unwrap().words(), [u64::MAX, u64::MAX, 3]);
        assert_eq!(search.rows(None).unwrap(), search.count().unwrap());
        assert_eq!(search.rows(Some(7)).unwrap(), total(7));
        // The 130 models of count 129 (one option 0), in enumeration order: the 0 first.
        let got = listed(&search, Some(3));
        assert!(got.iter().all(|(_, p)| *p == 129));
        let zeros: Vec<usize> = got.iter().map(|(path, _)| path.iter().position(|&o| o == 0).unwrap()).collect();
        assert_eq!(zeros, [0, 1, 2]);
        // 131 largest: all 130 of count 129, then the first of count 128.
        let got = listed(&search, Some(131));
        assert_eq!(got.last().unwrap(), &([vec![0, 0], vec![1; 128]].concat(), 128));
    }

    #[test]
    fn memory_limit_is_enforced() {
        let n = 12;
        let t = Tables {
            n_states: vec![1; n + 1],
            n_options: vec![2; n],
            cost: (0..n).flat_map(|p| [0, 1 << p]).collect(),
            next: vec![0; 2 * n],
        };
        // 4096 distinct totals at the start alone: 16 bytes each, and twice that while merging.
        let err = built(t.space(), 1 << 20, 50_000).unwrap_err();
        assert!(matches!(err, Error::Memory { limit: 50_000, position: Some(_), states: 1, .. }), "{err:?}");
        // Counting alone holds two positions at a time: well under the limit here.
        let count = |max_bytes| Search::new(t.space(), 1 << 20, max_bytes).and_then(|s| s.count_only());
        assert_eq!(count(200_000), Ok(total(4096)));
        assert!(built(t.space(), 1 << 20, 200_000).is_err());
        let search = built(t.space(), 1 << 20, u64::MAX).unwrap();
        assert_eq!(search.count().unwrap(), total(4096));
        // What a built search holds: its space and every summary (2^p entries after position 12 - p).
        let summaries: u64 = (0..=n).map(|p| 1u64 << (n - p)).map(|e| 16 * e + 2 * BLOCK).sum();
        let slot = size_of::<Completions<1, u64>>() as u64 + BLOCK; // one state per position
        assert_eq!(search.bytes(), search.space.bytes() + summaries + (n as u64 + 1) * slot + 24 * 13 + 16);
        // The tables themselves are refused before they are copied.
        let err = Space::<u64>::new(&t.n_states, &t.n_options, &t.cost, &t.next, 100).unwrap_err();
        assert!(matches!(err, Error::Memory { limit: 100, position: None, states: 13, .. }), "{err:?}");
    }

    #[test]
    fn inconsistent_tables_are_refused() {
        let new = |n_states: &[usize], n_options: &[usize], cost: &[i64], next: &[i64]| {
            Space::new(n_states, n_options, cost, next, u64::MAX)
        };
        assert!(new(&[1, 2], &[2], &[0, 0], &[0, 2]).is_err()); // state 2 of 2
        assert!(new(&[1, 2], &[2], &[0], &[0]).is_err()); // too short
        assert!(new(&[2, 2], &[1], &[0, 0], &[0, 0]).is_err()); // two inputs
        assert!(new(&[1, 1], &[1], &[-2], &[0]).is_err()); // negative cost
        assert!(new(&[1, 1], &[1], &[-1], &[0]).is_ok()); // beyond int64
        let search = built(new(&[1, 1], &[1], &[-1], &[0]).unwrap(), i64::MAX as u64, u64::MAX).unwrap();
        assert_eq!(search.count().unwrap(), total(0));
        assert!(Search::new(new(&[1, 1], &[1], &[1], &[0]).unwrap(), 1 << 63, u64::MAX).is_err());
    }

    #[test]
    fn wrong_buffers_are_refused() {
        let t = Tables { n_states: vec![1, 1], n_options: vec![3], cost: vec![1, 2, 3], next: vec![0; 3] };
        let search = Search::new(t.space(), 10, u64::MAX).unwrap();
        assert!(search.fill(Some(2), &mut [0; 2], &mut [0; 2]).is_err()); // not built
        search.build().unwrap();
        assert!(search.fill(None, &mut [0; 2], &mut [0; 2]).is_err());
        assert!(search.fill(Some(2), &mut [0; 2], &mut [0; 2]).is_ok());
    }

    #[test]
    fn a_stopped_search_builds_and_lists_nothing() {
        let t = Tables { n_states: vec![1, 1], n_options: vec![3], cost: vec![1, 2, 3], next: vec![0; 3] };
        let search = built(t.space(), 10, u64::MAX).unwrap();
        search.stop();
        assert_eq!(search.fill(Some(2), &mut [0; 2], &mut [0; 2]), Err(Error::Stopped));
        assert_eq!(search.fill(None, &mut [0; 3], &mut [0; 3]), Err(Error::Stopped));
        assert_eq!(search.written(), 0);
        let search = Search::new(t.space(), 10, u64::MAX).unwrap();
        search.stop();
        assert_eq!(search.build(), Err(Error::Stopped));
        assert_eq!(search.count_only(), Err(Error::Stopped));
    }
}
