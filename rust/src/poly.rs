//! The kernel's algebra. Every quantity of every layer kind (parameters,
//! trainable, buffers, ...) is a polynomial with non-negative integer
//! coefficients in *factors*, where a factor is a size operand or a size
//! derived from operands (a quotient, an offset). Coefficients are operands
//! too, so options (bias, convention, directions, ...) only select their
//! values. The kernel knows nothing else about layers.
//!
//! All operands are non-negative (the mesh refuses others), so every factor
//! value is, and every polynomial grows with each factor. Three facts follow
//! that the fast paths rely on:
//! - the value at the operands' maxima bounds every value (`Spec::bounds`);
//! - along a row where one factor `x` varies, a quantity is a cubic in `x`
//!   with non-negative coefficients, nondecreasing in `x` (`Cubic`);
//! - two arithmetics give exact answers: wrapping `i64`, exact whenever the
//!   true value fits (it is a ring homomorphism mod 2⁶⁴, whatever the
//!   intermediates do), and saturating `u64`, which gives min(true, 2⁶⁴ − 1)
//!   (saturation commutes with `+` and `·` on non-negative integers), so a
//!   value beyond `i64::MAX` is an overflow, never a wrapped number.

use crate::error::{Error, Result};

/// The highest power of a factor in a term: folded rows are cubics.
pub const MAX_POWER: u32 = 3;

/// The most factors a spec has (row plans keep one bit per factor).
pub const MAX_FACTORS: usize = 64;

pub const INT64_MAX: u64 = i64::MAX as u64;

/// A size the polynomials are written in, read from the operands at a point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Factor {
    /// The value of operand `i`.
    Axis(usize),
    /// Operand `i` divided by operand `k`: valid only where `k` divides `i`
    /// (and is not 0).
    Quotient(usize, usize),
    /// Operand `i` plus `c`: valid only where that is at least 0 (and fits in i64).
    Offset(usize, i64),
    /// A constraint: valid only where operand `i` is below operand `k`; its
    /// value is 0.
    Less(usize, usize),
}

impl Factor {
    /// The operands the factor reads.
    pub fn operands(&self) -> [Option<usize>; 2] {
        match *self {
            Factor::Axis(i) | Factor::Offset(i, _) => [Some(i), None],
            Factor::Quotient(i, k) | Factor::Less(i, k) => [Some(i), Some(k)],
        }
    }

    /// The factor's value where operand `k` is `v(k)`, or `None` where it is invalid.
    #[inline(always)]
    pub fn value(&self, v: impl Fn(usize) -> i64) -> Option<i64> {
        match *self {
            Factor::Axis(i) => Some(v(i)),
            Factor::Quotient(i, k) => match (v(i), v(k)) {
                (a, 1) => Some(a), // groups = 1, the usual case: no division
                (a, b) => (b != 0 && a % b == 0).then(|| a / b),
            },
            Factor::Offset(i, c) => v(i).checked_add(c).filter(|&x| x >= 0),
            Factor::Less(i, k) => (v(i) < v(k)).then_some(0),
        }
    }
}

/// `operand[coef] · Π factor^power`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    pub coef: usize,
    pub powers: Vec<(usize, u32)>,
}

/// What one kernel call computes: its factors and its quantities, each a
/// polynomial (a list of terms; the empty list is 0), checked against the
/// number of operands.
#[derive(Clone, Debug)]
pub struct Spec {
    pub factors: Vec<Factor>,
    pub quantities: Vec<Vec<Term>>,
    /// Operands read as coefficients, without repeats.
    pub(crate) coef_operands: Vec<usize>,
    /// Per operand: read by some factor (a size).
    pub(crate) sized: Vec<bool>,
    /// Per factor: used in some term (the others only constrain).
    pub(crate) in_terms: Vec<bool>,
}

impl Spec {
    /// Checks the number of factors (at most `MAX_FACTORS`), every index
    /// against `n_operands` and the factor count, every power against
    /// `1..=MAX_POWER`, and that no term names a factor twice.
    pub fn new(n_operands: usize, factors: Vec<Factor>, quantities: Vec<Vec<Term>>) -> Result<Spec> {
        if factors.len() > MAX_FACTORS {
            return Err(Error::Spec(format!("{} factors, more than the {MAX_FACTORS} a spec may have", factors.len())));
        }
        // Messages are built only on failure: a call's spec is checked on every call.
        let operand = |what: &dyn Fn() -> String, k: usize| {
            if k < n_operands {
                Ok(k)
            } else {
                Err(Error::Spec(format!("{} reads operand {k}, but there are {n_operands}", what())))
            }
        };
        let mut sized = vec![false; n_operands];
        for (f, factor) in factors.iter().enumerate() {
            for k in factor.operands().into_iter().flatten() {
                sized[operand(&|| format!("factor {f}"), k)?] = true;
            }
        }
        let (mut coef_operands, mut in_terms) = (Vec::new(), vec![false; factors.len()]);
        for (q, terms) in quantities.iter().enumerate() {
            for (t, term) in terms.iter().enumerate() {
                let what = || format!("term {t} of quantity {q}");
                if !coef_operands.contains(&operand(&what, term.coef)?) {
                    coef_operands.push(term.coef);
                }
                for (p, &(f, power)) in term.powers.iter().enumerate() {
                    if f >= factors.len() {
                        return Err(Error::Spec(format!(
                            "{} names factor {f}, but there are {}",
                            what(),
                            factors.len()
                        )));
                    }
                    if !(1..=MAX_POWER).contains(&power) {
                        return Err(Error::Spec(format!(
                            "{} raises factor {f} to {power}, not 1 to {MAX_POWER}",
                            what()
                        )));
                    }
                    if term.powers[..p].iter().any(|&(g, _)| g == f) {
                        return Err(Error::Spec(format!("{} names factor {f} twice", what())));
                    }
                    in_terms[f] = true;
                }
            }
        }
        Ok(Spec { factors, quantities, coef_operands, sized, in_terms })
    }

    /// What the operands' extremes prove: each factor's largest value, which
    /// factors are valid everywhere, and which quantities fit in i64
    /// everywhere (their value at the maxima does; see the module docs).
    pub fn bounds(&self, min: &[i64], max: &[i64]) -> Bounds {
        let factor_max: Vec<u64> = self
            .factors
            .iter()
            .map(|f| match *f {
                Factor::Axis(i) => max[i] as u64,
                // A valid quotient has a divisor of at least max(min, 1).
                Factor::Quotient(i, k) => max[i] as u64 / min[k].max(1) as u64,
                Factor::Offset(i, c) => max[i].saturating_add(c).max(0) as u64,
                Factor::Less(..) => 0,
            })
            .collect();
        let always_valid = self
            .factors
            .iter()
            .map(|f| match *f {
                Factor::Axis(_) => true,
                Factor::Quotient(_, k) => min[k] == 1 && max[k] == 1,
                Factor::Offset(i, c) => {
                    min[i].checked_add(c).is_some_and(|v| v >= 0) && max[i].checked_add(c).is_some()
                }
                Factor::Less(i, k) => max[i] < min[k],
            })
            .collect();
        let fast = self
            .quantities
            .iter()
            .map(|terms| {
                terms.iter().fold(0u64, |acc, t| {
                    let value = t.powers.iter().fold(max[t.coef] as u64, |p, &(f, e)| power(p, factor_max[f], e));
                    acc.saturating_add(value)
                }) <= INT64_MAX
            })
            .collect();
        Bounds { factor_max, always_valid, fast }
    }

    /// Every factor (into `factors`) and quantity (into `out`, saturated) at
    /// one point, where operand `k` is `v(k)`; or the first invalid factor.
    #[inline]
    pub fn point(
        &self,
        v: impl Fn(usize) -> i64,
        factors: &mut [i64],
        out: &mut [u64],
    ) -> std::result::Result<(), usize> {
        for (f, (factor, slot)) in self.factors.iter().zip(factors.iter_mut()).enumerate() {
            *slot = factor.value(&v).ok_or(f)?;
        }
        for (terms, o) in self.quantities.iter().zip(out.iter_mut()) {
            *o = terms.iter().fold(0u64, |acc, t| {
                let value = t.powers.iter().fold(v(t.coef) as u64, |p, &(f, e)| power(p, factors[f] as u64, e));
                acc.saturating_add(value)
            });
        }
        Ok(())
    }

    /// The spec with what a mesh holds constant multiplied out once:
    /// `constant(k)` is operand `k`'s value where it is the same at every
    /// point. Rows then read only what changes.
    pub fn specialize(&self, constant: impl Fn(usize) -> Option<i64>) -> Specialized {
        let fixed: Vec<Option<Option<i64>>> = self
            .factors
            .iter()
            .map(|f| {
                let known = f.operands().into_iter().flatten().all(|k| constant(k).is_some());
                known.then(|| f.value(|k| constant(k).unwrap_or(0)))
            })
            .collect();
        let terms = self
            .quantities
            .iter()
            .map(|terms| {
                terms
                    .iter()
                    .map(|t| {
                        let (mut wrap, mut sat, coef) = match constant(t.coef) {
                            Some(c) => (c, c as u64, None),
                            None => (1, 1, Some(t.coef)),
                        };
                        let mut powers = Vec::new();
                        for &(f, e) in &t.powers {
                            match fixed[f] {
                                // An invalid constant factor: no row folds (see `invalid`).
                                Some(v) => {
                                    let v = v.unwrap_or(0);
                                    (0..e).for_each(|_| wrap = wrap.wrapping_mul(v));
                                    sat = power(sat, v as u64, e);
                                }
                                None => powers.push((f, e)),
                            }
                        }
                        RowTerm { wrap, sat, coef, powers }
                    })
                    .collect()
            })
            .collect();
        Specialized {
            terms,
            row_factors: (0..self.factors.len()).filter(|&f| fixed[f].is_none()).collect(),
            row_coefs: self.coef_operands.iter().copied().filter(|&k| constant(k).is_none()).collect(),
            invalid: fixed.contains(&Some(None)),
        }
    }
}

/// A spec specialised to a mesh (see [`Spec::specialize`]).
#[derive(Clone, Debug)]
pub struct Specialized {
    /// Per quantity, its terms: the constant part, and what rows still read.
    terms: Vec<Vec<RowTerm>>,
    /// The factors, and the coefficient operands, that may change from point to point.
    pub row_factors: Vec<usize>,
    pub row_coefs: Vec<usize>,
    /// Some factor is invalid at every point (it reads constants only).
    pub invalid: bool,
}

#[derive(Clone, Debug)]
struct RowTerm {
    wrap: i64,
    sat: u64,
    coef: Option<usize>,
    powers: Vec<(usize, u32)>,
}

impl Specialized {
    /// Quantity `q` as a cubic in factor `x` (or a constant, without one),
    /// where every other changing factor is `factors[f]` and changing
    /// coefficient operand `k` is `coef(k)`. `saturate`: also the saturated
    /// coefficients (for decisions); without them (only for a quantity that
    /// fits everywhere, see [`Bounds::fast`]) the wrapped ones are exact
    /// wherever `x` can be at least 1, and where it cannot only `c0` matters.
    #[inline]
    /// The highest degree in the factors of `mask` (bit f: factor f) of any term.
    pub fn degree_in(&self, mask: u64) -> u32 {
        let degree = |t: &RowTerm| t.powers.iter().filter(|&&(f, _)| mask >> f & 1 == 1).map(|&(_, e)| e).sum();
        self.terms.iter().flatten().map(degree).max().unwrap_or(0)
    }

    pub fn fold(&self, q: usize, x: u64, factors: &[i64], coef: impl Fn(usize) -> i64, saturate: bool) -> Cubic {
        let (mut wrap, mut sat, mut top) = ([0i64; 4], [0u64; 4], 0);
        for t in &self.terms[q] {
            let (mut w, mut s, mut degree) = (t.wrap, t.sat, 0);
            if let Some(k) = t.coef {
                let c = coef(k);
                (w, s) = (w.wrapping_mul(c), s.saturating_mul(c as u64));
            }
            for &(f, e) in &t.powers {
                if x >> f & 1 == 1 {
                    degree += e as usize; // the factors of x are one value (the row's lane)
                    continue;
                }
                let v = factors[f];
                for _ in 0..e {
                    w = w.wrapping_mul(v);
                }
                if saturate {
                    s = power(s, v as u64, e);
                }
            }
            wrap[degree] = wrap[degree].wrapping_add(w);
            if saturate {
                sat[degree] = sat[degree].saturating_add(s);
            }
            // A saturated term is non-zero exactly when the true one is (and
            // a sum of non-negative terms is zero only when each is).
            if (saturate && s != 0) || (!saturate && w != 0) {
                top = top.max(degree);
            }
        }
        Cubic { wrap, sat, degree: top }
    }
}

/// `base · f^e`, saturated.
#[inline(always)]
fn power(base: u64, f: u64, e: u32) -> u64 {
    (0..e).fold(base, |p, _| p.saturating_mul(f))
}

/// What the operands' extremes prove about a spec (see [`Spec::bounds`]).
#[derive(Clone, Debug)]
pub struct Bounds {
    pub factor_max: Vec<u64>,
    /// Per factor: valid at every point (so rows never check it).
    pub always_valid: Vec<bool>,
    /// Per quantity: fits in i64 at every point.
    pub fast: Vec<bool>,
}

/// A quantity along a row where one factor `x` varies:
/// `c0 + c1·x + c2·x² + c3·x³`, with the coefficients both wrapped (for the
/// fast loops: exact wherever the value fits) and saturated (for decisions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cubic {
    pub wrap: [i64; 4],
    pub sat: [u64; 4],
    /// The highest power with a non-zero coefficient.
    pub degree: usize,
}

impl Cubic {
    /// The value at `x`, saturated: above `i64::MAX` means it overflows.
    #[inline(always)]
    pub fn eval_sat(&self, x: u64) -> u64 {
        let [c0, c1, c2, c3] = self.sat;
        let step = |acc: u64, c: u64| acc.saturating_mul(x).saturating_add(c);
        match self.degree {
            0 => c0,
            1 => step(c1, c0),
            2 => step(step(c2, c1), c0),
            _ => step(step(step(c3, c2), c1), c0),
        }
    }

    /// The largest `x` in `0..=hi` whose value is at most `limit`, or None
    /// when not even `x = 0` fits. The cubic grows with `x`, so this is a
    /// threshold: exact for degree 1, a float estimate corrected by exact
    /// galloping for degree 2 (a few evaluations, not a bisection's 63),
    /// bisection above.
    pub fn largest_at_most(&self, limit: u64, hi: u64) -> Option<u64> {
        let fits = |x: u64| self.eval_sat(x) <= limit;
        if !fits(0) {
            return None;
        }
        if fits(hi) {
            return Some(hi);
        }
        let [c0, c1, c2, _] = self.sat;
        let guess = match self.degree {
            1 => (limit - c0) / c1,
            2 => {
                let (a, b, c) = (c2 as f64, c1 as f64, (limit - c0) as f64);
                ((b * b + 4.0 * a * c).sqrt() - b) / (2.0 * a)
            }
            .max(0.0) as u64,
            _ => hi / 2,
        }
        .min(hi);
        // Gallop from the guess to a bracket lo (fits) < hi (does not), then bisect it.
        let (mut lo, mut up) = (0u64, hi);
        let mut step = 1u64;
        if fits(guess) {
            lo = guess;
            while lo < up {
                let probe = lo.saturating_add(step).min(up);
                if !fits(probe) {
                    up = probe;
                    break;
                }
                (lo, step) = (probe, step.saturating_mul(2));
            }
        } else {
            up = guess;
            while up > 0 {
                let probe = up.saturating_sub(step);
                if fits(probe) {
                    lo = probe;
                    break;
                }
                (up, step) = (probe, step.saturating_mul(2));
            }
        }
        while up - lo > 1 {
            let mid = lo + (up - lo) / 2;
            if fits(mid) {
                lo = mid;
            } else {
                up = mid;
            }
        }
        Some(lo)
    }

    /// The value at `x`, exact when it fits in i64.
    #[inline(always)]
    pub fn eval(&self, x: i64) -> i64 {
        let [c0, c1, c2, c3] = self.wrap;
        match self.degree {
            0 => c0,
            1 => c1.wrapping_mul(x).wrapping_add(c0),
            2 => c2.wrapping_mul(x).wrapping_add(c1).wrapping_mul(x).wrapping_add(c0),
            _ => c3.wrapping_mul(x).wrapping_add(c2).wrapping_mul(x).wrapping_add(c1).wrapping_mul(x).wrapping_add(c0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(coef: usize, powers: &[(usize, u32)]) -> Term {
        Term { coef, powers: powers.to_vec() }
    }

    #[test]
    fn specs_are_checked_against_their_operands_and_factors() {
        let factors = vec![Factor::Axis(0), Factor::Quotient(0, 1)];
        assert!(Spec::new(3, factors.clone(), vec![vec![term(2, &[(0, 1), (1, 3)])]]).is_ok());
        let bad = [
            (vec![Factor::Axis(3)], vec![]),
            (factors.clone(), vec![vec![term(3, &[])]]),
            (factors.clone(), vec![vec![term(2, &[(2, 1)])]]),
            (factors.clone(), vec![vec![term(2, &[(0, 4)])]]),
            (factors.clone(), vec![vec![term(2, &[(0, 0)])]]),
            (factors.clone(), vec![vec![term(2, &[(0, 1), (0, 1)])]]),
        ];
        for (f, q) in bad {
            assert!(matches!(Spec::new(3, f, q), Err(Error::Spec(_))));
        }
    }

    #[test]
    fn factors_are_invalid_where_they_say() {
        let v = [12i64, 5, 0, 3];
        let at = |k: usize| v[k];
        assert_eq!(Factor::Quotient(0, 3).value(at), Some(4));
        assert_eq!(Factor::Quotient(0, 1).value(at), None);
        assert_eq!(Factor::Quotient(0, 2).value(at), None);
        assert_eq!(Factor::Quotient(2, 3).value(at), Some(0));
        assert_eq!(Factor::Offset(1, -5).value(at), Some(0));
        assert_eq!(Factor::Offset(1, -6).value(at), None);
        assert_eq!(Factor::Offset(0, i64::MAX).value(at), None);
        assert_eq!(Factor::Less(1, 0).value(at), Some(0));
        assert_eq!(Factor::Less(0, 1).value(at), None);
    }

    #[test]
    fn saturation_and_wrapping_agree_with_exact_arithmetic() {
        // 4·x³ + 0·x² + 7·x + 2 near the int64 edge.
        let c = Cubic { wrap: [2, 7, 0, 4], sat: [2, 7, 0, 4], degree: 3 };
        for x in [0i64, 1, 1000, 1_322_219, 1_322_220, 2_097_151, 1 << 40] {
            let exact = 4 * (x as i128).pow(3) + 7 * x as i128 + 2;
            let sat = c.eval_sat(x as u64);
            assert_eq!(sat as i128, exact.min(u64::MAX as i128));
            if exact <= i64::MAX as i128 {
                assert_eq!(c.eval(x) as i128, exact);
            }
        }
    }

    #[test]
    fn thresholds_are_exact() {
        let mut seed = 0x1234_5678u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let degree = (next() % 4) as usize;
            let mut sat = [0u64; 4];
            for c in &mut sat[..=degree] {
                *c = match next() % 4 {
                    0 => next() % 10,
                    1 => next() % 100_000,
                    2 => next() >> (next() % 64),
                    _ => 1 + next() % 3,
                };
            }
            sat[degree] = sat[degree].max(1);
            let c = Cubic { wrap: [0; 4], sat, degree };
            let limit = match next() % 3 {
                0 => next() >> (next() % 64),
                1 => c.eval_sat(next() % 1_000_000),
                _ => i64::MAX as u64,
            };
            let hi = [10, 1 << 20, i64::MAX as u64][(next() % 3) as usize];
            // Bisection, the slow and obvious way.
            let expected = (c.eval_sat(0) <= limit).then(|| {
                let (mut lo, mut up) = (0u64, hi);
                while lo < up {
                    let mid = lo + (up - lo).div_ceil(2);
                    if c.eval_sat(mid) <= limit {
                        lo = mid;
                    } else {
                        up = mid - 1;
                    }
                }
                lo
            });
            assert_eq!(c.largest_at_most(limit, hi), expected, "{c:?} limit {limit} hi {hi}");
        }
    }

    #[test]
    fn folding_matches_pointwise_evaluation() {
        // q = c·f·u² + d·u + e·f³ over factors f = op0, u = op1 / op2.
        let factors = vec![Factor::Axis(0), Factor::Quotient(1, 2)];
        let q = vec![term(3, &[(0, 1), (1, 2)]), term(4, &[(1, 1)]), term(5, &[(0, 3)])];
        let spec = Spec::new(6, factors, vec![q]).unwrap();
        let ops = [7i64, 36, 3, 2, 9, 1];
        let (mut fv, mut out) = ([0i64; 2], [0u64; 1]);
        spec.point(|k| ops[k], &mut fv, &mut out).unwrap();
        // With nothing constant, and with the coefficients and the divisor constant.
        let (none, some) = (spec.specialize(|_| None), spec.specialize(|k| (k >= 2).then(|| ops[k])));
        assert_eq!((none.row_factors.clone(), some.row_factors.clone()), (vec![0, 1], vec![0, 1]));
        for folder in [none, some] {
            for saturate in [true, false] {
                let fold_u = folder.fold(0, 1 << 1, &fv, |k| ops[k], saturate);
                assert_eq!((fold_u.degree, fold_u.eval(12)), (2, out[0] as i64));
                let fold_f = folder.fold(0, 1 << 0, &fv, |k| ops[k], saturate);
                assert_eq!((fold_f.degree, fold_f.eval(7) as u64), (3, out[0]));
            }
            let constant = folder.fold(0, 0, &fv, |k| ops[k], true);
            assert_eq!((constant.degree, constant.eval_sat(0)), (0, out[0]));
        }
        // A factor of constants only: folded in, or invalid at every point.
        let all = spec.specialize(|k| Some(ops[k]));
        assert!(all.row_factors.is_empty() && !all.invalid);
        assert_eq!(all.fold(0, 0, &[], |_| unreachable!(), true).eval_sat(0), out[0]);
        assert!(spec.specialize(|k| Some([7, 36, 5, 2, 9, 1][k])).invalid);
    }

    #[test]
    fn bounds_prove_what_fits() {
        let spec = Spec::new(
            3,
            vec![Factor::Quotient(0, 1), Factor::Offset(0, -1), Factor::Less(1, 0)],
            vec![vec![term(2, &[(0, 2)])], vec![term(2, &[(1, 1)])]],
        )
        .unwrap();
        let b = spec.bounds(&[4, 2, 1], &[3_037_000_499 * 2, 3, 1]);
        assert_eq!(b.factor_max, vec![3_037_000_499, 3_037_000_499 * 2 - 1, 0]);
        assert_eq!(b.always_valid, vec![false, true, true]);
        assert_eq!(b.fast, vec![true, true]);
        let b = spec.bounds(&[4, 1, 2], &[3_037_000_500, 4, 2]);
        assert_eq!(b.fast, vec![false, true]);
        assert_eq!(b.always_valid, vec![false, true, false]);
    }
}
