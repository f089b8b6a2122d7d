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

/// One layer position: for state `s` entering it and option `o`, entry
/// `s * n_options + o` holds the option's cost and the state it leaves.
#[derive(Clone, Debug)]
struct Table {
    n_options: usize,
    /// Parameter count; `u64::MAX` stands for "beyond `i64`" and never fits.
    cost: Vec<u64>,
    /// The state after this position, or [`NONE`].
    next: Vec<u32>,
}

/// A compiled model space: one table per layer position.
#[derive(Clone, Debug)]
pub struct Space {
    tables: Vec<Table>,
    /// States entering each position, and after the last one.
    n_states: Vec<usize>,
}

impl Space {
    /// Builds the space from flat tables, position after position, each in
    /// (state, option) C order. `n_states[p]` states enter position `p`
    /// (`n_states[0]` must be 1, the input) and `n_states[P]` leave the last.
    /// A `next` of -1 means no transition; a `cost` of -1 means a count beyond
    /// `i64`, which no budget admits. Refuses with [`Error::Memory`], before
    /// copying them, tables that would take more than `max_bytes`.
    pub fn new(n_states: &[usize], n_options: &[usize], cost: &[i64], next: &[i64], max_bytes: u64) -> Result<Space> {
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
        if sizes.len() != n_options.len() || total != Some(cost.len()) || cost.len() != next.len() {
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
            let (cost, next) = (&cost[start..start + len], &next[start..start + len]);
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
                cost: cost.iter().map(|&c| if c < 0 { u64::MAX } else { c as u64 }).collect(),
                next: next.iter().map(|&n| if n < 0 { NONE } else { n as u32 }).collect(),
            });
        }
        Ok(Space { tables, n_states: n_states.to_vec() })
    }

    /// The bytes a space with tables of these sizes holds.
    fn footprint(sizes: &[usize], n_states: &[usize]) -> u64 {
        let tables: u64 = sizes.iter().map(|&n| heap(n, 8) + heap(n, 4)).sum();
        tables + heap(sizes.len(), size_of::<Table>()) + heap(n_states.len(), size_of::<usize>())
    }

    /// The bytes this space holds.
    pub fn bytes(&self) -> u64 {
        Self::footprint(&self.tables.iter().map(|t| t.cost.len()).collect::<Vec<_>>(), &self.n_states)
    }

    pub fn positions(&self) -> usize {
        self.tables.len()
    }

    /// The valid transitions out of state `s` at position `p`: (option, cost, next state).
    fn moves(&self, p: usize, s: usize) -> impl Iterator<Item = (u32, u64, usize)> + '_ {
        let t = &self.tables[p];
        let row = s * t.n_options..(s + 1) * t.n_options;
        (t.cost[row.clone()].iter().zip(&t.next[row]).enumerate())
            .filter(|(_, (_, &n))| n != NONE)
            .map(|(o, (&c, &n))| (o as u32, c, n as usize))
    }

    /// The bytes [`Space::cheapest_prefix`] allocates.
    fn reach_bytes(&self) -> u64 {
        self.n_states.iter().map(|&n| heap(n, 8)).sum::<u64>() + heap(self.n_states.len(), size_of::<Vec<u64>>())
    }

    /// The cheapest cost of reaching each (position, state) from the input
    /// (`u64::MAX` where unreachable): a forward pass.
    fn cheapest_prefix(&self, meter: &Meter) -> Result<Vec<Vec<u64>>> {
        meter.charge(self.reach_bytes(), None)?;
        let mut reach: Vec<Vec<u64>> = self.n_states.iter().map(|&n| vec![u64::MAX; n]).collect();
        reach[0][0] = 0;
        for p in 0..self.positions() {
            for s in 0..self.n_states[p] {
                let here = reach[p][s];
                if here == u64::MAX {
                    continue;
                }
                for (_, c, n) in self.moves(p, s) {
                    let there = &mut reach[p + 1][n];
                    *there = (*there).min(here.saturating_add(c));
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
            1 => $f::<1>($($arg),*),
            2 => $f::<2>($($arg),*),
            4 => $f::<4>($($arg),*),
            8 => $f::<8>($($arg),*),
            16 => $f::<16>($($arg),*),
            32 => $f::<32>($($arg),*),
            64 => $f::<64>($($arg),*),
            128 => $f::<128>($($arg),*),
            256 => $f::<256>($($arg),*),
            512 => $f::<512>($($arg),*),
            1024 => $f::<1024>($($arg),*),
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

/// The completion costs from one (position, state), sorted and distinct, with
/// `cum[i]` the number of completions costing at most `cost[i]`.
#[derive(Clone, Debug, Default)]
struct Completions<const N: usize> {
    cost: Vec<u64>,
    cum: Vec<Wide<N>>,
}

impl<const N: usize> Completions<N> {
    fn bytes(&self) -> u64 {
        heap(self.cost.capacity(), 8) + heap(self.cum.capacity(), size_of::<Wide<N>>())
    }

    fn total(&self) -> Wide<N> {
        self.cum.last().copied().unwrap_or(Wide::ZERO)
    }

    /// Completions costing at most `x`.
    fn count_le(&self, x: u64) -> Wide<N> {
        match self.cost.partition_point(|&c| c <= x) {
            0 => Wide::ZERO,
            i => self.cum[i - 1],
        }
    }

    /// Completions costing between `lo` and `hi`, both included.
    fn count_in(&self, lo: u64, hi: u64) -> Wide<N> {
        if lo > hi {
            return Wide::ZERO;
        }
        self.count_le(hi).minus(if lo == 0 { Wide::ZERO } else { self.count_le(lo - 1) })
    }

    fn any_in(&self, lo: u64, hi: u64) -> bool {
        let i = self.cost.partition_point(|&c| c < lo);
        i < self.cost.len() && self.cost[i] <= hi
    }

    /// The number of completions costing exactly `cost[i]`.
    fn count_at(&self, i: usize) -> Wide<N> {
        self.cum[i].minus(if i == 0 { Wide::ZERO } else { self.cum[i - 1] })
    }
}

/// The completions after one option: the first `fit` of `completions`,
/// each costing `shift` more.
struct Source<'a, const N: usize> {
    shift: u64,
    completions: &'a Completions<N>,
    fit: usize,
}

/// Distinct costs, sorted, with the number of completions at each.
struct Run<const N: usize> {
    cost: Vec<u64>,
    count: Vec<Wide<N>>,
}

impl<const N: usize> Run<N> {
    /// Room for `len` entries, charged to `meter` first.
    fn alloc(len: usize, meter: &Meter, p: usize) -> Result<Run<N>> {
        meter.charge(heap(len, 8) + heap(len, size_of::<Wide<N>>()), Some(p))?;
        Ok(Run { cost: Vec::with_capacity(len), count: Vec::with_capacity(len) })
    }

    fn bytes(&self) -> u64 {
        heap(self.cost.capacity(), 8) + heap(self.count.capacity(), size_of::<Wide<N>>())
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
fn merge_sources<const N: usize>(sources: &[Source<N>], meter: &Meter, p: usize) -> Result<Run<N>> {
    match sources {
        [] => Run::alloc(0, meter, p),
        [one] => {
            let Source { shift, completions: c, fit } = *one;
            let mut run = Run::alloc(fit, meter, p)?;
            run.cost.extend(c.cost[..fit].iter().map(|&x| x + shift));
            run.count.extend((0..fit).map(|i| c.count_at(i)));
            Ok(run)
        }
        _ => {
            let (left, right) = sources.split_at(sources.len() / 2);
            let (a, b) = rayon::join(|| merge_sources(left, meter, p), || merge_sources(right, meter, p));
            merge_runs(a?, b?, meter, p)
        }
    }
}

fn merge_runs<const N: usize>(a: Run<N>, b: Run<N>, meter: &Meter, p: usize) -> Result<Run<N>> {
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
    // Shrinking reallocates in place (glibc), so it never adds to the peak.
    let before = out.bytes();
    out.cost.shrink_to_fit();
    out.count.shrink_to_fit();
    meter.release(before - out.bytes());
    Ok(out)
}

/// The summaries of every (position, state), counts `N` words wide, and
/// the listing that reads them.
#[derive(Debug)]
struct Built<const N: usize> {
    /// `completions[p][s]`, for `p` in `0..=positions`.
    completions: Vec<Vec<Completions<N>>>,
}

/// [`Built`] of any width.
trait Summaries: Send + Sync + std::fmt::Debug {
    fn total(&self) -> Total;
    fn fill(&self, search: &Search, rows: u64, options: &mut [u32], params: &mut [i64]) -> Result<()>;
}

/// A model space prepared for one budget: it builds the completion
/// summaries of every (position, state) ([`Search::build`]), then counts and
/// lists fitting models from them; or counts alone ([`Search::count_only`]).
#[derive(Debug)]
pub struct Search {
    space: Space,
    budget: u64,
    max_bytes: u64,
    /// The widest count tried ([`MAX_WORDS`]; fewer in tests).
    max_words: usize,
    /// The built summaries, and the bytes the search holds with them.
    built: OnceLock<(Box<dyn Summaries>, u64)>,
    /// Rows the running `fill` has written, for a progress bar.
    written: AtomicU64,
    /// Set by `stop`: building and filling stop at their next check, now and later.
    stopped: AtomicBool,
}

/// A partial model: options chosen for positions `0..p`, reaching state `s`
/// at cost `c`.
struct Prefix {
    p: usize,
    s: usize,
    c: u64,
    path: Vec<u32>,
}

/// Output rows being written: one option index per position, and the count.
struct Rows<'a> {
    options: &'a mut [u32],
    params: &'a mut [i64],
    width: usize,
    len: usize,
}

impl<'a> Rows<'a> {
    fn new(options: &'a mut [u32], params: &'a mut [i64], width: usize) -> Rows<'a> {
        Rows { options, params, width, len: 0 }
    }

    fn is_full(&self) -> bool {
        self.len == self.params.len()
    }

    /// Appends a model; true once the buffers are full.
    fn push(&mut self, path: &[u32], cost: u64) -> bool {
        if !self.is_full() {
            self.options[self.len * self.width..(self.len + 1) * self.width].copy_from_slice(path);
            // Fits: every listed cost is at most the budget, itself at most i64::MAX.
            self.params[self.len] = cost as i64;
            self.len += 1;
        }
        self.is_full()
    }
}

impl Search {
    /// A search of `space` for `budget` (at most `i64::MAX`) that will hold
    /// at most `max_bytes`, the space included. Nothing is built yet.
    pub fn new(space: Space, budget: u64, max_bytes: u64) -> Result<Search> {
        if budget > i64::MAX as u64 {
            return Err(Error::Shape(format!("budget {budget} is beyond int64")));
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
    /// position 0's remain).
    fn summaries<const N: usize>(&self, keep_all: bool) -> Result<(Vec<Vec<Completions<N>>>, u64)> {
        let (space, budget) = (&self.space, self.budget);
        let meter =
            Meter { used: AtomicU64::new(0), limit: self.max_bytes, stopped: &self.stopped, n_states: &space.n_states };
        meter.charge(space.bytes(), None)?;
        let reach = space.cheapest_prefix(&meter)?;
        let room = |p: usize, s: usize| budget.checked_sub(reach[p][s]);
        let last = space.positions();
        let slots = |p: usize| heap(space.n_states[p], size_of::<Completions<N>>());
        meter.charge(heap(last + 1, size_of::<Vec<Completions<N>>>()) + slots(last), Some(last))?;
        let mut completions: Vec<Vec<Completions<N>>> = (0..=last).map(|_| Vec::new()).collect();
        completions[last] = (0..space.n_states[last]).map(|_| Completions::default()).collect();
        for (s, end) in completions[last].iter_mut().enumerate() {
            if room(last, s).is_some() {
                meter.charge(heap(1, 8) + heap(1, size_of::<Wide<N>>()), Some(last))?;
                *end = Completions { cost: vec![0], cum: vec![Wide::from_u64(1)] };
            }
        }
        for p in (0..last).rev() {
            meter.charge(slots(p), Some(p))?;
            let mut built: Vec<Completions<N>> = (0..space.n_states[p]).map(|_| Completions::default()).collect();
            let after = &completions[p + 1];
            built.par_iter_mut().enumerate().try_for_each(|(s, slot)| {
                if let Some(cap) = room(p, s) {
                    *slot = Self::summarize(space, p, s, cap, after, &meter)?;
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

    /// The completions from (p, s) costing at most `cap`: each option's
    /// cost added to the completions of the state it leads to, merged.
    fn summarize<const N: usize>(
        space: &Space,
        p: usize,
        s: usize,
        cap: u64,
        after: &[Completions<N>],
        meter: &Meter,
    ) -> Result<Completions<N>> {
        let room_for = heap(space.tables[p].n_options, size_of::<Source<N>>());
        meter.charge(room_for, Some(p))?;
        let mut sources: Vec<Source<N>> = Vec::with_capacity(space.tables[p].n_options);
        sources.extend(space.moves(p, s).filter_map(|(_, c, n)| {
            let room = cap.checked_sub(c)?;
            let fit = after[n].cost.partition_point(|&x| x <= room);
            (fit > 0).then_some(Source { shift: c, completions: &after[n], fit })
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
        Ok(Completions { cost, cum })
    }

    fn built(&self) -> Result<&(Box<dyn Summaries>, u64)> {
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

    /// The number of models whose count is at most the budget.
    pub fn count(&self) -> Result<Total> {
        Ok(self.built()?.0.total())
    }

    /// The rows [`Search::fill`] writes for `limit`: every fitting model, or
    /// the `limit` largest.
    pub fn rows(&self, limit: Option<u64>) -> Result<Total> {
        let count = self.count()?;
        Ok(limit.map_or(count.clone(), |k| Total::from(count.min_u64(k) as u128)))
    }

    /// Writes the fitting models (all, or the `limit` largest) into
    /// `options` (row-major, one option index per position) and `params`,
    /// which must hold exactly [`Search::rows`] rows. Rows come in
    /// enumeration order (options in table order, first position slowest),
    /// except that with a limit the models above the cut-off total come
    /// before those at it; sorting by count, stably, puts the largest first.
    pub fn fill(&self, limit: Option<u64>, options: &mut [u32], params: &mut [i64]) -> Result<()> {
        let rows = self.rows(limit)?;
        let width = self.positions();
        let fits =
            rows.to_u64().filter(|&n| params.len() as u64 == n && options.len() as u128 == n as u128 * width as u128);
        let Some(rows) = fits else {
            return Err(Error::Shape(format!(
                "the search writes {rows:?} rows of {width} options; got buffers of {} and {} values",
                params.len(),
                options.len()
            )));
        };
        self.written.store(0, Ordering::Relaxed);
        if self.stopped.load(Ordering::Relaxed) {
            return Err(Error::Stopped);
        }
        self.built()?.0.fill(self, rows, options, params)
    }
}

/// Builds the summaries at width `N`.
fn build_at<const N: usize>(search: &Search) -> Result<(Box<dyn Summaries>, u64)> {
    let (completions, bytes) = search.summaries::<N>(true)?;
    Ok((Box::new(Built { completions }), bytes))
}

/// Counts at width `N`.
fn count_at<const N: usize>(search: &Search) -> Result<Total> {
    let (completions, _) = search.summaries::<N>(false)?;
    Ok(completions[0][0].total().into())
}

impl<const N: usize> Summaries for Built<N> {
    fn total(&self) -> Total {
        self.completions[0][0].total().into()
    }

    fn fill(&self, search: &Search, rows: u64, options: &mut [u32], params: &mut [i64]) -> Result<()> {
        Lister { search, completions: &self.completions }.fill(rows, options, params)
    }
}

/// Lists models from the summaries of a built search.
struct Lister<'a, const N: usize> {
    search: &'a Search,
    completions: &'a [Vec<Completions<N>>],
}

impl<const N: usize> Lister<'_, N> {
    fn fill(&self, rows: u64, options: &mut [u32], params: &mut [i64]) -> Result<()> {
        let (budget, width) = (self.search.budget, self.search.positions());
        if rows == 0 {
            return Ok(());
        }
        let root = self.completions[0][0].total();
        if Wide::from_u64(rows) == root {
            return self.fill_range(0, budget, options, params);
        }
        let (cutoff, above) = self.cutoff(rows);
        let split = above as usize;
        let (opts_above, opts_at) = options.split_at_mut(split * width);
        let (params_above, params_at) = params.split_at_mut(split);
        if cutoff < budget {
            self.fill_range(cutoff + 1, budget, opts_above, params_above)?;
        }
        // The first models at the cut-off, in enumeration order.
        let mut out = Rows::new(opts_at, params_at, width);
        if !out.is_full() {
            self.walk(0, 0, 0, (cutoff, cutoff), &mut Vec::with_capacity(width), &mut out);
        }
        self.search.written.fetch_add(out.len as u64, Ordering::Relaxed);
        check_full(&out)
    }

    /// For `0 < k < total`: the `k`-th largest total `t`, and how many
    /// fitting models cost more than `t` (fewer than `k`).
    fn cutoff(&self, k: u64) -> (u64, u64) {
        let root = &self.completions[0][0];
        let total = root.total();
        // Models costing at least cost[i]: total - cum[i - 1]. The last i
        // keeping k or more is the number of cum entries at most total - k
        // (below the last entry, as k > 0).
        let bar = total.minus(Wide::from_u64(k));
        let i = root.cum.partition_point(|&n| n <= bar);
        let above = total.minus(root.cum[i]).to_u64().expect("fewer than k models above the cut-off");
        (root.cost[i], above)
    }

    /// Lists every model with a total in `lo..=hi` (within the budget) into
    /// buffers of exactly that many rows, in parallel: the prefixes are
    /// expanded breadth-first until there are enough to share among the
    /// threads, and each writes its subtree into its own slice, sized by the
    /// exact counts of the summaries.
    fn fill_range(&self, lo: u64, hi: u64, options: &mut [u32], params: &mut [i64]) -> Result<()> {
        let width = self.search.positions();
        let target = 64 * rayon::current_num_threads();
        let mut level = vec![Prefix { p: 0, s: 0, c: 0, path: Vec::new() }];
        while level.len() < target && level.first().is_some_and(|t| t.p < width) {
            level = level.into_iter().flat_map(|t| self.children(t, lo, hi)).collect();
        }
        let (mut options, mut params) = (options, params);
        let mut jobs = Vec::with_capacity(level.len());
        for t in level {
            let n = self.completions[t.p][t.s].count_in(lo.saturating_sub(t.c), hi - t.c);
            if n == Wide::ZERO {
                continue;
            }
            let n = match n.to_u64() {
                Some(n) if n <= params.len() as u64 => n as usize,
                _ => return Err(Error::Shape("the output buffers are smaller than the fitting models".into())),
            };
            let (o, rest_o) = std::mem::take(&mut options).split_at_mut(n * width);
            let (q, rest_q) = std::mem::take(&mut params).split_at_mut(n);
            (options, params) = (rest_o, rest_q);
            jobs.push((t, o, q));
        }
        if !params.is_empty() {
            return Err(Error::Shape("the output buffers are larger than the fitting models".into()));
        }
        jobs.into_par_iter().try_for_each(|(t, o, q)| {
            if self.search.stopped.load(Ordering::Relaxed) {
                return Err(Error::Stopped);
            }
            let mut out = Rows::new(o, q, width);
            let mut path = t.path;
            path.reserve(width - t.p);
            self.walk(t.p, t.s, t.c, (lo, hi), &mut path, &mut out);
            self.search.written.fetch_add(out.len as u64, Ordering::Relaxed);
            check_full(&out)
        })
    }

    /// The one-option extensions of `t` that lead to a model in `lo..=hi`.
    fn children(&self, t: Prefix, lo: u64, hi: u64) -> Vec<Prefix> {
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
    /// completion ends in `lo..=hi`: (option, next state, new cost).
    fn extensions(
        &self,
        p: usize,
        s: usize,
        c: u64,
        (lo, hi): (u64, u64),
    ) -> impl Iterator<Item = (u32, usize, u64)> + '_ {
        let after = &self.completions[p + 1];
        self.search.space.moves(p, s).filter_map(move |(o, cost, n)| {
            let c = c.checked_add(cost).filter(|&c| c <= hi)?;
            after[n].any_in(lo.saturating_sub(c), hi - c).then_some((o, n, c))
        })
    }

    /// Depth-first from (p, s) at cost `c`, writing every model in `lo..=hi`
    /// until `out` is full; true once it is.
    fn walk(&self, p: usize, s: usize, c: u64, range: (u64, u64), path: &mut Vec<u32>, out: &mut Rows) -> bool {
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
        Err(Error::Shape(format!("internal: listed {} of {} models", out.len, out.params.len())))
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
        assert_eq!(search.bytes(), search.space.bytes() + summaries + (n as u64 + 1) * (48 + 16) + 24 * 13 + 16);
        // The tables themselves are refused before they are copied.
        let err = Space::new(&t.n_states, &t.n_options, &t.cost, &t.next, 100).unwrap_err();
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
