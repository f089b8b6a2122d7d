//! What a kernel does with one row of the mesh, decided once per row.
//!
//! The usual row (sizes on their own mesh axes, options constant along it)
//! has one factor `x` varying and its coefficients constant: every quantity
//! folds into a cubic in `x` (`Specialized::fold`: what is constant over
//! the whole mesh was multiplied out once per call), evaluated by Horner in
//! a tight SIMD loop. Under a budget the cubic grows with `x`, so the kept
//! points are those with `x ≤ x0`, `x0` found once per row
//! (`Cubic::largest_at_most`): when `x` is sorted along the row they are a
//! prefix (a search of compares from the previous row's answer); when it is
//! not, and `x` is the same in every row (an axis of sizes in any order), its
//! ranks give them (`Ranks`: a binary search, then only the kept points);
//! otherwise a compare, with no arithmetic, selects them. Overflow is settled
//! here too: a folded row is only planned where every value it will produce
//! is proved to fit (at the bound of `x`, or of the kept `x`). A constraint that may
//! fail along the row (`n_units / groups` for groups > 1: a factor used in
//! no term) is checked point by point beside the folded values
//! (`Fold::checks`). Anything else — several factors varying, a factor in a
//! term that may be invalid along the row, coefficients varying, a possible
//! overflow — is evaluated point by point with every check (`Plan::General`).

use crate::eval::Budget;
use crate::mesh::{with_lane, Mesh, MeshRow, Read};
use crate::poly::{Bounds, Cubic, Factor, Spec, Specialized, INT64_MAX};

/// Rows shorter than this under a budget compare their computed values
/// instead of selecting by a threshold on `x`.
pub(crate) const THRESHOLD_MIN_ROW: usize = 64;

/// A row selects by its operand's ranks when it keeps at most this fraction
/// of its points (one in RANK_SPARSE): past it, reading the kept positions
/// one by one costs more than a vector compare of every point.
const RANK_SPARSE: usize = 8;

/// What a kernel is asked: every point's quantities (an invalid point or an
/// overflow is an error), or a sweep's rows (invalid points are dropped, and
/// with budgets `(quantity, limit)` so are those over any).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Count,
    Sweep(Budget),
}

/// Which points of a folded row a sweep keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keep {
    All,
    Nothing,
    /// The first `n`.
    Prefix(usize),
    /// Those whose `x` operand is at most this.
    AtMost(i64),
    /// As `AtMost(.0)`, read from `x`'s ranks (`Mesh::ranks`): the kept points
    /// are the positions of its `.1` smallest values that fall in this row
    /// (a whole row, or the part of one a chunk holds).
    Ranked(i64, usize),
    /// Those whose budget quantity, computed, is at most the limit (one budget only).
    Compare,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    /// The quantities are the planner's cubics for the row's slot, in
    /// operand `x.0` plus `x.1` (constants when `x` is None); every value at
    /// a kept point fits. `checks`: the factors (a bit each) to check at
    /// every point; a point where one fails is invalid.
    Fold { x: Option<(usize, i64)>, keep: Keep, checks: u64 },
    /// Point by point, every factor and every sum checked.
    General,
}

/// How one factor behaves along a row.
enum Along {
    Const(i64),
    Invalid,
    /// Operand `.0` plus `.1`, valid at every point.
    Lane(usize, i64),
    /// Varies and may be invalid somewhere: check every point.
    Check,
}

/// Plans rows for one kernel call; one per chunk (it keeps scratch space).
pub(crate) struct Planner<'s> {
    spec: &'s Spec,
    folder: &'s Specialized,
    bounds: &'s Bounds,
    pub(crate) mode: Mode,
    factors: Vec<i64>,
    /// The cubics of planned rows: slot `s` holds quantities `s·nq..(s+1)·nq`.
    cubics: Vec<Cubic>,
    /// Per slot, the last prefix found: where the next search starts (rows
    /// next to each other in a mesh keep prefixes of about the same length).
    hints: Vec<usize>,
}

impl<'s> Planner<'s> {
    pub(crate) fn new(spec: &'s Spec, folder: &'s Specialized, bounds: &'s Bounds, mode: Mode) -> Planner<'s> {
        Planner {
            spec,
            folder,
            bounds,
            mode,
            factors: vec![0; spec.factors.len()],
            cubics: Vec::new(),
            hints: Vec::new(),
        }
    }

    /// The cubics of the row planned into `slot`.
    #[inline(always)]
    pub(crate) fn cubics(&self, slot: usize) -> &[Cubic] {
        let nq = self.spec.quantities.len();
        &self.cubics[slot * nq..(slot + 1) * nq]
    }

    fn along(&self, f: usize, row: &MeshRow) -> Along {
        let factor = &self.spec.factors[f];
        let at0 = |k: usize| row.get(k, 0);
        let constant = |v: Option<i64>| v.map_or(Along::Invalid, Along::Const);
        match *factor {
            Factor::Axis(i) if row.varies(i) => Along::Lane(i, 0),
            Factor::Axis(i) => Along::Const(at0(i)),
            Factor::Offset(i, c) if row.varies(i) => {
                if self.bounds.always_valid[f] {
                    Along::Lane(i, c)
                } else {
                    Along::Check
                }
            }
            Factor::Quotient(_, k) if row.varies(k) => Along::Check,
            Factor::Quotient(i, k) if row.varies(i) => match at0(k) {
                1 => Along::Lane(i, 0),
                0 => Along::Invalid,
                _ => Along::Check,
            },
            Factor::Less(i, k) if row.varies(i) || row.varies(k) => {
                if self.bounds.always_valid[f] {
                    Along::Const(0)
                } else {
                    Along::Check
                }
            }
            _ => constant(factor.value(at0)),
        }
    }

    /// The plan for `row`, whose cubics (if it folds) go into `slot`.
    /// `along`: the mesh whose innermost axis the row runs along.
    pub(crate) fn plan(&mut self, row: &MeshRow, along: &Mesh, slot: usize) -> Plan {
        let (spec, nq) = (self.spec, self.spec.quantities.len());
        if self.cubics.len() < (slot + 1) * nq {
            self.cubics.resize((slot + 1) * nq, Cubic::default());
        }
        if self.hints.len() <= slot {
            self.hints.resize(slot + 1, 0);
        }
        if self.folder.row_coefs.iter().any(|&k| row.varies(k)) {
            return Plan::General;
        }
        // x: the row's lane (operand k, shifted by c), which every factor of `lanes` equals.
        let (mut x, mut lanes, mut dead, mut checks) = (None, 0u64, self.folder.invalid, 0u64);
        for &f in &self.folder.row_factors {
            match self.along(f, row) {
                Along::Const(v) => self.factors[f] = v,
                Along::Invalid => dead = true,
                Along::Check if spec.in_terms[f] => return Plan::General,
                Along::Check => checks |= 1 << f,
                Along::Lane(..) if !spec.in_terms[f] => {}
                Along::Lane(k, c) if x.is_some_and(|(_, k0, c0)| (k0, c0) != (k, c)) => return Plan::General,
                Along::Lane(k, c) => {
                    // Another factor on the same lane (n_units, and n_units / groups at groups = 1) is the same x.
                    let wider = x.is_none_or(|(f0, ..)| self.bounds.factor_max[f] > self.bounds.factor_max[f0]);
                    x = if wider { Some((f, k, c)) } else { x };
                    lanes |= 1 << f;
                }
            }
        }
        if self.folder.degree_in(lanes) > 3 {
            return Plan::General; // a cubic in x at most
        }
        if dead {
            // No point of the row is valid: a sweep keeps none, a count
            // reports the first (point by point names its factor).
            return match self.mode {
                Mode::Count => Plan::General,
                Mode::Sweep(_) => Plan::Fold { x: None, keep: Keep::Nothing, checks: 0 },
            };
        }
        let fast = &self.bounds.fast;
        let budget = match self.mode {
            Mode::Sweep(budget) => budget,
            Mode::Count => Budget::NONE,
        };
        // Decisions need saturated coefficients; a quantity that fits everywhere and bears no budget does not.
        let slots = self.cubics[slot * nq..(slot + 1) * nq].iter_mut();
        for (q, (cubic, &fits)) in slots.zip(fast).enumerate() {
            let saturate = !fits || budget.on(q);
            *cubic = self.folder.fold(q, lanes, &self.factors, |k| row.get(k, 0), saturate);
        }
        let cubics = &self.cubics[slot * nq..(slot + 1) * nq];
        let fits_i64 = |q: usize, at: u64| fast[q] || cubics[q].eval_sat(at) <= INT64_MAX;
        let lane = x.map(|(_, k, c)| (k, c));
        let x_max = x.map_or(0, |(f, ..)| self.bounds.factor_max[f]);
        // The plan, and the largest x at a kept point.
        let (keep, x_kept) = match (budget.is_none(), lane) {
            (true, _) => (Keep::All, x_max),
            (false, None) => {
                let fits = budget.fits(|q| cubics[q].eval_sat(0));
                (if fits { Keep::All } else { Keep::Nothing }, 0)
            }
            (false, Some((k, c))) => {
                // The largest x that fits every budget (each cubic grows with x), as
                // an operand value: a point is kept where its operand is at most it.
                let x0 = budget.limits().iter().try_fold(x_max, |x0, &(b, limit)| {
                    if limit < 0 {
                        return None;
                    }
                    cubics[b].largest_at_most(limit as u64, x0)
                });
                let x_at = |j: usize| row.get(k, j);
                let at_most = x0.map(|x0| (x0 as i128 - c as i128).min(i64::MAX as i128) as i64);
                match at_most {
                    None => (Keep::Nothing, 0),
                    Some(_) if x0 == Some(x_max) => (Keep::All, x_max),
                    Some(v) if along.sorted()[k] => {
                        let hint = self.hints[slot];
                        let n = with_lane!(row.lane(k), |x| prefix_from(row.len, hint, |j| x.at(j) <= v));
                        self.hints[slot] = n;
                        (Keep::Prefix(n), if n > 0 { x_at(n - 1).wrapping_add(c) as u64 } else { 0 })
                    }
                    // A short row computes and compares instead of selecting by x.
                    Some(_)
                        if row.len < THRESHOLD_MIN_ROW && budget.single().is_some_and(|(b, _)| fits_i64(b, x_max)) =>
                    {
                        (Keep::Compare, x_max)
                    }
                    Some(v) => {
                        let ranks = if checks == 0 { along.ranks(k) } else { None };
                        let ranked = ranks.map(|r| r.at_most(v)).filter(|&n| n <= row.len / RANK_SPARSE);
                        (ranked.map_or(Keep::AtMost(v), |n| Keep::Ranked(v, n)), x0.unwrap_or(0))
                    }
                }
            }
        };
        if keep != Keep::Nothing && (0..nq).any(|q| !fits_i64(q, x_kept)) {
            return Plan::General;
        }
        Plan::Fold { x: lane, keep, checks }
    }
}

/// How many of `0..n` satisfy `holds`, for a `holds` true on a prefix,
/// searched from `hint` outward (galloping, then halving): a few probes
/// when the answer is near the hint, twice a binary search's at worst.
pub(crate) fn prefix_from(n: usize, hint: usize, holds: impl Fn(usize) -> bool) -> usize {
    // The answer lies in lo..=hi.
    let (h, mut step) = (hint.min(n), 1);
    let (lo, hi);
    if h < n && holds(h) {
        let mut up = h + 1;
        while up + step - 1 < n && holds(up + step - 1) {
            up += step;
            step *= 2;
        }
        (lo, hi) = (up, (up + step - 1).min(n));
    } else {
        let mut down = h;
        while down >= step && !holds(down - step) {
            down -= step;
            step *= 2;
        }
        hi = down;
        lo = hi.saturating_sub(step - 1); // holds(hi - step), or nothing below was probed
    }
    lo + prefix(hi - lo, |j| holds(lo + j))
}

/// How many of `0..n` satisfy `holds`, for a `holds` true on a prefix.
/// Branch-free halving (a conditional move a step): the outcome of each
/// probe is unpredictable, and rows are planned by the thousand.
pub(crate) fn prefix(n: usize, holds: impl Fn(usize) -> bool) -> usize {
    if n == 0 {
        return 0;
    }
    let (mut base, mut size) = (0usize, n);
    while size > 1 {
        let half = size / 2;
        base = if holds(base + half) { base + half } else { base };
        size -= half;
    }
    base + holds(base) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_finds_where_a_prefix_ends() {
        for n in 0..40 {
            for end in 0..=n {
                assert_eq!(prefix(n, |j| j < end), end);
            }
        }
        assert_eq!(prefix(usize::MAX, |j| j < 1 << 40), 1 << 40);
        for n in 0..70 {
            for end in 0..=n {
                for hint in 0..=n + 2 {
                    assert_eq!(prefix_from(n, hint, |j| j < end), end, "n {n} end {end} hint {hint}");
                }
            }
        }
    }
}
