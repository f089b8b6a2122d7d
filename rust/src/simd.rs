//! The innermost loops, compiled three times (AVX-512, AVX2, baseline
//! x86-64) and chosen at run time, so one portable wheel still uses the
//! widest vectors the CPU has. Measured on an AVX-512 machine: the count
//! loop and the compare-and-count are several times faster than the
//! baseline build, whose 64-bit multiplies and compares are scalar.
//!
//! Each public function checks the CPU once per call (std caches the answer
//! in an atomic) and runs the same `#[inline(always)]` body, which the
//! compiler vectorises for the enabled features.

use crate::mesh::Read;
use crate::poly::Cubic;

/// A folded quantity along a row: `c` at `x(j) + shift` by Horner, one loop
/// per degree so each vectorises (a multiply and an add per degree a point;
/// wrapping, exact where the caller proved the values fit).
#[inline(always)]
fn horner_body<X: Read>(c: &Cubic, shift: i64, x: X, out: &mut [i64]) {
    let [c0, c1, c2, c3] = c.wrap;
    let at = |j: usize| x.at(j).wrapping_add(shift);
    match c.degree {
        0 => out.fill(c0),
        1 => out.iter_mut().enumerate().for_each(|(j, o)| *o = c1.wrapping_mul(at(j)).wrapping_add(c0)),
        2 => out.iter_mut().enumerate().for_each(|(j, o)| {
            let x = at(j);
            *o = c2.wrapping_mul(x).wrapping_add(c1).wrapping_mul(x).wrapping_add(c0);
        }),
        _ => out.iter_mut().enumerate().for_each(|(j, o)| {
            let x = at(j);
            *o = c3.wrapping_mul(x).wrapping_add(c2).wrapping_mul(x).wrapping_add(c1).wrapping_mul(x).wrapping_add(c0);
        }),
    }
}

/// The least and the largest of `values` (`(i64::MAX, i64::MIN)` when empty), as one plain fold:
/// LLVM turns it into one vector min and max a step. (Eight lanes kept apart by hand were
/// vectorised across the lanes as strided gathers, 3.5x slower on AMD Zen 4 and memory-bound no more.)
#[inline(always)]
fn extremes_body(values: &[i64]) -> (i64, i64) {
    values.iter().fold((i64::MAX, i64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)))
}

/// How many of `values` are at most `limit`.
#[inline(always)]
fn count_at_most_body(values: &[i64], limit: i64) -> usize {
    values.iter().map(|&v| (v <= limit) as usize).sum()
}

/// Writes the positions (plus `base`) of the `values` at most `limit` into
/// `kept_at`, in order, and returns how many there are.
#[inline(always)]
fn select_at_most_body(values: &[i64], limit: i64, base: u32, kept_at: &mut [u32]) -> usize {
    assert!(kept_at.len() >= values.len());
    let (mut kept, mut at) = (0, base);
    let lanes = values.chunks_exact(16);
    let rest = lanes.remainder();
    for lane in lanes {
        // Compare sixteen values into a bit mask, then store only the kept
        // ones: budgets keep few points, so most masks are empty.
        let mut mask = 0u32;
        for (i, &v) in lane.iter().enumerate() {
            mask |= ((v <= limit) as u32) << i;
        }
        while mask != 0 {
            kept_at[kept] = at + mask.trailing_zeros();
            kept += 1;
            mask &= mask - 1;
        }
        at += 16;
    }
    for (i, &v) in rest.iter().enumerate() {
        kept_at[kept] = at + i as u32;
        kept += (v <= limit) as usize;
    }
    kept
}

macro_rules! multiversion {
    ($(#[$doc:meta])* pub fn $name:ident $(<$($g:ident: $bound:path),*>)? ($($arg:ident: $ty:ty),*) -> $ret:ty => $body:ident;
     $v4:ident, $v3:ident) => {
        $(#[$doc])*
        #[inline]
        pub fn $name $(<$($g: $bound),*>)? ($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                if std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512dq")
                    && std::is_x86_feature_detected!("avx512vl")
                {
                    // SAFETY: the CPU has the features the function was compiled for.
                    return unsafe { $v4($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: as above.
                    return unsafe { $v3($($arg),*) };
                }
            }
            $body($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,bmi2")]
        unsafe fn $v4 $(<$($g: $bound),*>)? ($($arg: $ty),*) -> $ret {
            $body($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma,bmi2")]
        unsafe fn $v3 $(<$($g: $bound),*>)? ($($arg: $ty),*) -> $ret {
            $body($($arg),*)
        }
    };
}

multiversion! {
    /// A folded quantity along a row (see `horner_body`).
    pub fn horner<X: Read>(c: &Cubic, shift: i64, x: X, out: &mut [i64]) -> () => horner_body;
    horner_v4, horner_v3
}

multiversion! {
    /// The least and the largest of `values` (see `extremes_body`).
    pub fn extremes(values: &[i64]) -> (i64, i64) => extremes_body;
    extremes_v4, extremes_v3
}

multiversion! {
    /// How many of `values` are at most `limit`.
    pub fn count_at_most(values: &[i64], limit: i64) -> usize => count_at_most_body;
    count_at_most_v4, count_at_most_v3
}

multiversion! {
    /// The positions of the `values` at most `limit` (see `select_at_most_body`).
    pub fn select_at_most(values: &[i64], limit: i64, base: u32, kept_at: &mut [u32]) -> usize => select_at_most_body;
    select_at_most_v4, select_at_most_v3
}

/// Copies `src` into `dst` (of one length) with non-temporal stores, which write whole cache lines
/// to memory without first reading them in, and leave the caches to the inputs: for outputs larger
/// than the last-level cache, which would be evicted unread anyway. Such stores are weakly ordered:
/// call [`fence`] before another thread may read `dst`.
pub fn stream(src: &[i64], dst: &mut [i64]) {
    assert_eq!(src.len(), dst.len());
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { stream_v4(src, dst) };
        }
        // SAFETY: SSE2 is part of x86-64.
        return unsafe { stream_v1(src, dst) };
    }
    #[allow(unreachable_code)]
    dst.copy_from_slice(src)
}

/// Orders every [`stream`] store before the stores that follow it (a thread's signal that it is done).
pub fn fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of x86-64.
    unsafe {
        std::arch::x86_64::_mm_sfence()
    };
}

/// [`stream`]'s loop: plain stores up to a `LANES`-value boundary of `dst`, then one streaming
/// store of `LANES` values a step, then plain stores for the rest.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn stream_lanes<const LANES: usize>(src: &[i64], dst: &mut [i64], store: impl Fn(*mut i64, *const i64)) {
    let n = dst.len();
    let head = dst.as_ptr().align_offset(LANES * 8).min(n);
    dst[..head].copy_from_slice(&src[..head]);
    let mut j = head;
    while j + LANES <= n {
        store(dst.as_mut_ptr().add(j), src.as_ptr().add(j));
        j += LANES;
    }
    dst[j..].copy_from_slice(&src[j..]);
}

/// A whole cache line a store (measured A/B on AMD Zen 4 into a touched 1e8 buffer: 0.89–1.03 of
/// memset's rate, against 0.77–0.78 with AVX's 32-byte streaming stores).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn stream_v4(src: &[i64], dst: &mut [i64]) {
    use std::arch::x86_64::{_mm512_loadu_si512, _mm512_stream_si512};
    stream_lanes::<8>(src, dst, |d, s| _mm512_stream_si512(d.cast(), _mm512_loadu_si512(s.cast())));
}

#[cfg(target_arch = "x86_64")]
unsafe fn stream_v1(src: &[i64], dst: &mut [i64]) {
    use std::arch::x86_64::{_mm_loadu_si128, _mm_stream_si128};
    stream_lanes::<2>(src, dst, |d, s| _mm_stream_si128(d.cast(), _mm_loadu_si128(s.cast())));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::{ConstLane, ContigLane, StridedLane};

    #[test]
    fn every_version_agrees_with_the_portable_loop() {
        let u: Vec<i64> = (1..=1000).map(|x| (x * 7919) % 1009 + 1).collect();
        for limit in [0, 1, 500, 1009, 2000] {
            assert_eq!(count_at_most(&u, limit), count_at_most_body(&u, limit));
            for len in [0, 15, 16, 17, 999] {
                let mut kept_at = vec![0; len];
                let n = select_at_most(&u[..len], limit, 7, &mut kept_at);
                let expected: Vec<u32> = (0..len).filter(|&j| u[j] <= limit).map(|j| j as u32 + 7).collect();
                assert_eq!(&kept_at[..n], &expected[..]);
            }
        }
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                assert_eq!(unsafe { count_at_most_v3(&u, 500) }, count_at_most_body(&u, 500));
                let (mut a, mut b) = (vec![0; u.len()], vec![0; u.len()]);
                let n = unsafe { select_at_most_v3(&u, 500, 0, &mut a) };
                assert_eq!((n, &a[..n]), (select_at_most_body(&u, 500, 0, &mut b), &b[..n]));
            }
            if std::is_x86_feature_detected!("avx512dq") && std::is_x86_feature_detected!("avx512vl") {
                assert_eq!(unsafe { count_at_most_v4(&u, 500) }, count_at_most_body(&u, 500));
                let (mut a, mut b) = (vec![0; u.len()], vec![0; u.len()]);
                let n = unsafe { select_at_most_v4(&u, 500, 0, &mut a) };
                assert_eq!((n, &a[..n]), (select_at_most_body(&u, 500, 0, &mut b), &b[..n]));
            }
        }
    }

    #[test]
    fn streaming_copies_every_value_at_every_alignment_and_length() {
        let src: Vec<i64> = (0..300).map(|v| v * 7919 - 1000).collect();
        for offset in 0..8 {
            for n in [0, 1, 2, 7, 8, 9, 17, 64, 250] {
                let mut dst = vec![-1; 300];
                stream(&src[offset..offset + n], &mut dst[offset..offset + n]);
                fence();
                assert_eq!(&dst[offset..offset + n], &src[offset..offset + n]);
                assert!(dst[..offset].iter().chain(&dst[offset + n..]).all(|&v| v == -1));
                #[cfg(target_arch = "x86_64")]
                {
                    let mut dst = vec![-1; 300];
                    unsafe { stream_v1(&src[offset..offset + n], &mut dst[offset..offset + n]) };
                    fence();
                    assert_eq!(&dst[offset..offset + n], &src[offset..offset + n]);
                }
            }
        }
    }

    #[test]
    fn extremes_agree_with_a_plain_fold_at_every_length() {
        let values: Vec<i64> = (0..100).map(|v| (v * 7919) % 1009 - 500 + (v == 37) as i64 * i64::MIN / 2).collect();
        for n in 0..values.len() {
            let want = values[..n].iter().fold((i64::MAX, i64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            assert_eq!(extremes(&values[..n]), want);
            assert_eq!(extremes_body(&values[..n]), want);
        }
    }

    #[test]
    fn horner_agrees_with_the_scalar_cubic_at_every_degree_and_version() {
        let x: Vec<i64> = (1..=1000).map(|v| (v * 7919) % 1009 + 1).collect();
        for degree in 0..4 {
            let mut c = Cubic { wrap: [5, 3, 7, 2], sat: [5, 3, 7, 2], degree };
            c.wrap[degree + 1..].iter_mut().for_each(|w| *w = 0);
            let expected: Vec<i64> = x.iter().map(|&v| c.eval(v - 1)).collect();
            let mut got = vec![0; x.len()];
            horner(&c, -1, ContigLane(x.as_ptr()), &mut got);
            assert_eq!(got, expected);
            horner_body(&c, -1, ContigLane(x.as_ptr()), &mut got);
            assert_eq!(got, expected);
            let mut strided = vec![0; x.len() / 2];
            horner(&c, -1, StridedLane(x.as_ptr(), 2), &mut strided);
            assert!(strided.iter().enumerate().all(|(j, &v)| v == expected[2 * j]));
            horner(&c, 0, ConstLane(9), &mut strided);
            assert!(strided.iter().all(|&v| v == c.eval(9)));
            #[cfg(target_arch = "x86_64")]
            {
                if std::is_x86_feature_detected!("avx2") {
                    unsafe { horner_v3(&c, -1, ContigLane(x.as_ptr()), &mut got) };
                    assert_eq!(got, expected);
                }
                if std::is_x86_feature_detected!("avx512dq") && std::is_x86_feature_detected!("avx512vl") {
                    unsafe { horner_v4(&c, -1, ContigLane(x.as_ptr()), &mut got) };
                    assert_eq!(got, expected);
                }
            }
        }
    }
}
