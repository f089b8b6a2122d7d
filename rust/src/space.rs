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

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rayon::prelude::*;

use crate::error::{Error, Result};

/// "No transition" in [`Table::next`].
const NONE: u32 = u32::MAX;

/// Bytes a summary holds per distinct completion cost (`u64` + `u128`).
const ENTRY_BYTES: u64 = 24;

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
    /// `i64`, which no budget admits.
    pub fn new(n_states: &[usize], n_options: &[usize], cost: &[i64], next: &[i64]) -> Result<Space> {
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

    /// The cheapest cost of reaching each (position, state) from the input
    /// (`u64::MAX` where unreachable): a forward pass.
    fn cheapest_prefix(&self) -> Vec<Vec<u64>> {
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
        reach
    }
}

/// The completion costs from one (position, state), sorted and distinct, with
/// `cum[i]` the number of completions costing at most `cost[i]`.
#[derive(Clone, Debug, Default)]
struct Completions {
    cost: Vec<u64>,
    cum: Vec<u128>,
}

impl Completions {
    fn total(&self) -> u128 {
        self.cum.last().copied().unwrap_or(0)
    }

    /// Completions costing at most `x`.
    fn count_le(&self, x: u64) -> u128 {
        match self.cost.partition_point(|&c| c <= x) {
            0 => 0,
            i => self.cum[i - 1],
        }
    }

    /// Completions costing between `lo` and `hi`, both included.
    fn count_in(&self, lo: u64, hi: u64) -> u128 {
        if lo > hi {
            return 0;
        }
        self.count_le(hi) - if lo == 0 { 0 } else { self.count_le(lo - 1) }
    }

    fn any_in(&self, lo: u64, hi: u64) -> bool {
        let i = self.cost.partition_point(|&c| c < lo);
        i < self.cost.len() && self.cost[i] <= hi
    }

    /// The number of completions costing exactly `cost[i]`.
    fn count_at(&self, i: usize) -> u128 {
        self.cum[i] - if i == 0 { 0 } else { self.cum[i - 1] }
    }
}

/// The completions after one option: the first `fit` of `completions`,
/// each costing `shift` more.
struct Source<'a> {
    shift: u64,
    completions: &'a Completions,
    fit: usize,
}

/// Distinct costs, sorted, with the number of completions at each.
#[derive(Default)]
struct Run {
    cost: Vec<u64>,
    count: Vec<u128>,
}

/// Merges the sources' completions, adding the counts of equal costs.
///
/// Divide and conquer: O(n log k) for k sources and linear, branch-friendly
/// merges, the halves in parallel (position 0 has a single state, so this
/// is where its work is shared among threads). Only leaves are copied, and
/// each is freed once merged.
fn merge_sources(sources: &[Source]) -> Result<Run> {
    match sources {
        [] => Ok(Run::default()),
        [one] => {
            let Source { shift, completions: c, fit } = *one;
            let cost = c.cost[..fit].iter().map(|&x| x + shift).collect();
            Ok(Run { cost, count: (0..fit).map(|i| c.count_at(i)).collect() })
        }
        _ => {
            let (left, right) = sources.split_at(sources.len() / 2);
            let (a, b) = rayon::join(|| merge_sources(left), || merge_sources(right));
            merge_runs(a?, b?)
        }
    }
}

fn merge_runs(a: Run, b: Run) -> Result<Run> {
    let len = a.cost.len() + b.cost.len();
    let mut out = Run { cost: Vec::with_capacity(len), count: Vec::with_capacity(len) };
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
    out.cost.shrink_to_fit();
    out.count.shrink_to_fit();
    Ok(out)
}

/// A model space prepared for one budget: the completion summaries of every
/// (position, state), from which it counts and lists fitting models.
#[derive(Debug)]
pub struct Search {
    space: Space,
    budget: u64,
    /// `completions[p][s]`, for `p` in `0..=positions`.
    completions: Vec<Vec<Completions>>,
    /// Rows the running `fill` has written, for a progress bar.
    written: AtomicU64,
    /// Set by `stop`: `fill` stops before its next piece, now and later.
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
    /// Builds the completion summaries for `budget` (at most `i64::MAX`),
    /// refusing with [`Error::Memory`] once they would take more than
    /// `max_bytes`.
    pub fn new(space: Space, budget: u64, max_bytes: u64) -> Result<Search> {
        let completions = Self::summaries(&space, budget, max_bytes, true)?;
        Ok(Search { space, budget, completions, written: AtomicU64::new(0), stopped: AtomicBool::new(false) })
    }

    /// The number of models of `space` within `budget`, as
    /// `Search::new(..).count()` but holding the summaries of only two
    /// positions at a time.
    pub fn count_only(space: &Space, budget: u64, max_bytes: u64) -> Result<u128> {
        Ok(Self::summaries(space, budget, max_bytes, false)?[0][0].total())
    }

    /// The summaries of every (position, state), built backward from the
    /// end; with `keep_all` false, each position's are dropped once the one
    /// before it is built (only position 0's remain).
    fn summaries(space: &Space, budget: u64, max_bytes: u64, keep_all: bool) -> Result<Vec<Vec<Completions>>> {
        if budget > i64::MAX as u64 {
            return Err(Error::Shape(format!("budget {budget} is beyond int64")));
        }
        let reach = space.cheapest_prefix();
        let room = |p: usize, s: usize| budget.checked_sub(reach[p][s]);
        let last = space.positions();
        let mut completions: Vec<Vec<Completions>> = vec![Vec::new(); last + 1];
        completions[last] = (0..space.n_states[last])
            .map(|s| match room(last, s) {
                Some(_) => Completions { cost: vec![0], cum: vec![1] },
                None => Completions::default(),
            })
            .collect();
        let bytes = |summaries: &[Completions]| summaries.iter().map(|c| c.cost.len() as u64 * ENTRY_BYTES).sum();
        let used = AtomicU64::new(bytes(&completions[last]));
        for p in (0..last).rev() {
            let after = &completions[p + 1];
            let built: Result<Vec<Completions>> = (0..space.n_states[p])
                .into_par_iter()
                .map(|s| {
                    let summary = match room(p, s) {
                        Some(cap) => Self::summarize(space, p, s, cap, after)?,
                        None => Completions::default(),
                    };
                    let size = summary.cost.len() as u64 * ENTRY_BYTES;
                    let needed = used.fetch_add(size, Ordering::Relaxed).saturating_add(size);
                    if needed > max_bytes {
                        return Err(Error::Memory { needed, limit: max_bytes });
                    }
                    Ok(summary)
                })
                .collect();
            completions[p] = built?;
            if !keep_all {
                used.fetch_sub(bytes(&completions[p + 1]), Ordering::Relaxed);
                completions[p + 1] = Vec::new();
            }
        }
        Ok(completions)
    }

    /// The completions from (p, s) costing at most `cap`: each option's
    /// cost added to the completions of the state it leads to, merged.
    fn summarize(space: &Space, p: usize, s: usize, cap: u64, after: &[Completions]) -> Result<Completions> {
        let sources: Vec<Source> = space
            .moves(p, s)
            .filter_map(|(_, c, n)| {
                let room = cap.checked_sub(c)?;
                let fit = after[n].cost.partition_point(|&x| x <= room);
                (fit > 0).then_some(Source { shift: c, completions: &after[n], fit })
            })
            .collect();
        let Run { cost, count: mut cum } = merge_sources(&sources)?;
        let mut total: u128 = 0;
        for n in cum.iter_mut() {
            total = total.checked_add(*n).ok_or(Error::CountOverflow)?;
            *n = total;
        }
        Ok(Completions { cost, cum })
    }

    pub fn positions(&self) -> usize {
        self.space.positions()
    }

    /// Rows the running (or last) [`Search::fill`] has written so far; safe
    /// to read from another thread while it runs.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Asks the running [`Search::fill`], and any later one, to stop: it
    /// returns [`Error::Stopped`] before its next piece of work.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    /// The number of models whose count is at most the budget.
    pub fn count(&self) -> u128 {
        self.completions[0][0].total()
    }

    /// The rows [`Search::fill`] writes for `limit`: every fitting model, or
    /// the `limit` largest.
    pub fn rows(&self, limit: Option<u128>) -> u128 {
        limit.map_or(self.count(), |k| k.min(self.count()))
    }

    /// Writes the fitting models (all, or the `limit` largest) into
    /// `options` (row-major, one option index per position) and `params`,
    /// which must hold exactly [`Search::rows`] rows. Rows come in
    /// enumeration order (options in table order, first position slowest),
    /// except that with a limit the models above the cut-off total come
    /// before those at it; sorting by count, stably, puts the largest first.
    pub fn fill(&self, limit: Option<u128>, options: &mut [u32], params: &mut [i64]) -> Result<()> {
        let rows = self.rows(limit);
        let width = self.positions();
        if params.len() as u128 != rows || options.len() as u128 != rows * width as u128 {
            return Err(Error::Shape(format!(
                "the search writes {rows} rows of {width} options; got buffers of {} and {} values",
                params.len(),
                options.len()
            )));
        }
        self.written.store(0, Ordering::Relaxed);
        if self.stopped.load(Ordering::Relaxed) {
            return Err(Error::Stopped);
        }
        if rows == 0 {
            return Ok(());
        }
        if rows == self.count() {
            return self.fill_range(0, self.budget, options, params);
        }
        let (cutoff, above) = self.cutoff(rows);
        let split = above as usize;
        let (opts_above, opts_at) = options.split_at_mut(split * width);
        let (params_above, params_at) = params.split_at_mut(split);
        if cutoff < self.budget {
            self.fill_range(cutoff + 1, self.budget, opts_above, params_above)?;
        }
        // The first models at the cut-off, in enumeration order.
        let mut out = Rows::new(opts_at, params_at, width);
        if !out.is_full() {
            self.walk(0, 0, 0, (cutoff, cutoff), &mut Vec::with_capacity(width), &mut out);
        }
        self.written.fetch_add(out.len as u64, Ordering::Relaxed);
        self.check_full(&out)
    }

    /// For `0 < k < count()`: the `k`-th largest total `t`, and how many
    /// fitting models cost more than `t` (fewer than `k`).
    fn cutoff(&self, k: u128) -> (u64, u128) {
        let root = &self.completions[0][0];
        let total = root.total();
        // Models costing at least cost[i]: total - cum[i - 1]. The last i
        // keeping k or more is the number of cum entries at most total - k
        // (below the last entry, as k > 0).
        let i = root.cum.partition_point(|&n| n <= total - k);
        (root.cost[i], total - root.cum[i])
    }

    /// Lists every model with a total in `lo..=hi` (within the budget) into
    /// buffers of exactly that many rows, in parallel: the prefixes are
    /// expanded breadth-first until there are enough to share among the
    /// threads, and each writes its subtree into its own slice, sized by the
    /// exact counts of the summaries.
    fn fill_range(&self, lo: u64, hi: u64, options: &mut [u32], params: &mut [i64]) -> Result<()> {
        let width = self.positions();
        let target = 64 * rayon::current_num_threads();
        let mut level = vec![Prefix { p: 0, s: 0, c: 0, path: Vec::new() }];
        while level.len() < target && level.first().is_some_and(|t| t.p < width) {
            level = level.into_iter().flat_map(|t| self.children(t, lo, hi)).collect();
        }
        let (mut options, mut params) = (options, params);
        let mut jobs = Vec::with_capacity(level.len());
        for t in level {
            let n = self.completions[t.p][t.s].count_in(lo.saturating_sub(t.c), hi - t.c);
            if n == 0 {
                continue;
            }
            if n > params.len() as u128 {
                return Err(Error::Shape("the output buffers are smaller than the fitting models".into()));
            }
            let n = n as usize;
            let (o, rest_o) = std::mem::take(&mut options).split_at_mut(n * width);
            let (q, rest_q) = std::mem::take(&mut params).split_at_mut(n);
            (options, params) = (rest_o, rest_q);
            jobs.push((t, o, q));
        }
        if !params.is_empty() {
            return Err(Error::Shape("the output buffers are larger than the fitting models".into()));
        }
        jobs.into_par_iter().try_for_each(|(t, o, q)| {
            if self.stopped.load(Ordering::Relaxed) {
                return Err(Error::Stopped);
            }
            let mut out = Rows::new(o, q, width);
            let mut path = t.path;
            path.reserve(width - t.p);
            self.walk(t.p, t.s, t.c, (lo, hi), &mut path, &mut out);
            self.written.fetch_add(out.len as u64, Ordering::Relaxed);
            self.check_full(&out)
        })
    }

    fn check_full(&self, out: &Rows) -> Result<()> {
        if out.is_full() {
            Ok(())
        } else {
            Err(Error::Shape(format!("internal: listed {} of {} models", out.len, out.params.len())))
        }
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
        self.space.moves(p, s).filter_map(move |(o, cost, n)| {
            let c = c.checked_add(cost).filter(|&c| c <= hi)?;
            after[n].any_in(lo.saturating_sub(c), hi - c).then_some((o, n, c))
        })
    }

    /// Depth-first from (p, s) at cost `c`, writing every model in `lo..=hi`
    /// until `out` is full; true once it is.
    fn walk(&self, p: usize, s: usize, c: u64, range: (u64, u64), path: &mut Vec<u32>, out: &mut Rows) -> bool {
        if p == self.positions() {
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
            Space::new(&self.n_states, &self.n_options, &self.cost, &self.next).unwrap()
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

    /// Rows of a fill, sorted by count, largest first, stably.
    fn listed(search: &Search, limit: Option<u128>) -> Vec<(Vec<u32>, i64)> {
        let rows = search.rows(limit) as usize;
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
                let search = Search::new(t.space(), budget, u64::MAX).unwrap();
                assert_eq!(search.count(), fitting.len() as u128);
                assert_eq!(Search::count_only(&t.space(), budget, u64::MAX).unwrap(), search.count());
                assert_eq!(listed(&search, None), fitting);
                for k in [0, 1, 2, 3, 7, fitting.len().saturating_sub(1), fitting.len() + 5] {
                    let expected: Vec<_> = fitting.iter().take(k).cloned().collect();
                    assert_eq!(listed(&search, Some(k as u128)), expected, "budget {budget}, k {k}");
                }
            }
        }
    }

    #[test]
    fn ties_at_the_cutoff_come_in_enumeration_order() {
        // Two positions, three options each, all free: nine models of count 0.
        let t = Tables { n_states: vec![1, 1, 1], n_options: vec![3, 3], cost: vec![0; 6], next: vec![0; 6] };
        let search = Search::new(t.space(), 10, u64::MAX).unwrap();
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
        let search = Search::new(t.space(), 40, u64::MAX).unwrap();
        assert_eq!(search.count(), 1);
        assert_eq!(listed(&search, None), [(vec![1, 0], 35)]);
        assert_eq!(Search::new(t.space(), 200, u64::MAX).unwrap().count(), 2);
    }

    #[test]
    fn counts_beyond_u64_are_exact_and_beyond_u128_refused() {
        // 70 positions of two free options: 2^70 models.
        let n = 70;
        let t = Tables { n_states: vec![1; n + 1], n_options: vec![2; n], cost: vec![0; 2 * n], next: vec![0; 2 * n] };
        assert_eq!(Search::new(t.space(), 0, u64::MAX).unwrap().count(), 1u128 << 70);
        let n = 130;
        let t = Tables { n_states: vec![1; n + 1], n_options: vec![2; n], cost: vec![0; 2 * n], next: vec![0; 2 * n] };
        assert_eq!(Search::new(t.space(), 0, u64::MAX).unwrap_err(), Error::CountOverflow);
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
        // 4096 distinct totals at the start alone.
        let err = Search::new(t.space(), 1 << 20, 50_000).unwrap_err();
        assert!(matches!(err, Error::Memory { limit: 50_000, .. }), "{err:?}");
        // Counting alone holds two positions at a time: well under the limit here.
        assert_eq!(Search::count_only(&t.space(), 1 << 20, 170_000).unwrap(), 4096);
        assert!(Search::new(t.space(), 1 << 20, 170_000).is_err());
        assert_eq!(Search::new(t.space(), 1 << 20, u64::MAX).unwrap().count(), 4096);
    }

    #[test]
    fn inconsistent_tables_are_refused() {
        assert!(Space::new(&[1, 2], &[2], &[0, 0], &[0, 2]).is_err()); // state 2 of 2
        assert!(Space::new(&[1, 2], &[2], &[0], &[0]).is_err()); // too short
        assert!(Space::new(&[2, 2], &[1], &[0, 0], &[0, 0]).is_err()); // two inputs
        assert!(Space::new(&[1, 1], &[1], &[-2], &[0]).is_err()); // negative cost
        assert!(Space::new(&[1, 1], &[1], &[-1], &[0]).is_ok()); // beyond int64
        let search = Search::new(Space::new(&[1, 1], &[1], &[-1], &[0]).unwrap(), i64::MAX as u64, u64::MAX).unwrap();
        assert_eq!(search.count(), 0);
    }

    #[test]
    fn wrong_buffers_are_refused() {
        let t = Tables { n_states: vec![1, 1], n_options: vec![3], cost: vec![1, 2, 3], next: vec![0; 3] };
        let search = Search::new(t.space(), 10, u64::MAX).unwrap();
        assert!(search.fill(None, &mut [0; 2], &mut [0; 2]).is_err());
        assert!(search.fill(Some(2), &mut [0; 2], &mut [0; 2]).is_ok());
    }

    #[test]
    fn a_stopped_search_lists_nothing() {
        let t = Tables { n_states: vec![1, 1], n_options: vec![3], cost: vec![1, 2, 3], next: vec![0; 3] };
        let search = Search::new(t.space(), 10, u64::MAX).unwrap();
        search.stop();
        assert_eq!(search.fill(Some(2), &mut [0; 2], &mut [0; 2]), Err(Error::Stopped));
        assert_eq!(search.fill(None, &mut [0; 3], &mut [0; 3]), Err(Error::Stopped));
        assert_eq!(search.written(), 0);
    }
}
