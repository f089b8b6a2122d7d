//! `max_bytes` bounds what a model-space search really allocates, merge
//! buffers included, and refuses no earlier than it must: measured with a
//! counting allocator (its own binary, so no other test allocates meanwhile).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use archsweep::space::{Search, Space};
use archsweep::Error;

/// The system allocator, counting live bytes as the meter does (contents
/// and 16 bytes per block) and their peak.
struct Counting;

static LIVE: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);

fn charged(size: usize) -> u64 {
    size as u64 + 16
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(charged(layout.size()), Ordering::SeqCst) + charged(layout.size());
        PEAK.fetch_max(live, Ordering::SeqCst);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(charged(layout.size()), Ordering::SeqCst);
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A shrink happens in place; a growth holds both blocks for a moment.
        let (old, new) = (charged(layout.size()), charged(new_size));
        if new > old {
            let live = LIVE.fetch_add(new, Ordering::SeqCst) + new;
            PEAK.fetch_max(live, Ordering::SeqCst);
            LIVE.fetch_sub(old, Ordering::SeqCst);
        } else {
            LIVE.fetch_sub(old - new, Ordering::SeqCst);
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// `layers` Dense layers choosing among `widths` on `inputs` features: one
/// state per width after each layer.
fn dense_space(inputs: i64, widths: &[i64], layers: usize) -> Space {
    let (mut n_states, mut n_options, mut cost, mut next) = (vec![1], vec![], vec![], vec![]);
    let mut ins = vec![inputs];
    for _ in 0..layers {
        for &f in &ins {
            for (j, &u) in widths.iter().enumerate() {
                cost.push(u * (f + 1));
                next.push(j as i64);
            }
        }
        n_options.push(widths.len());
        n_states.push(widths.len());
        ins = widths.to_vec();
    }
    Space::new(&n_states, &n_options, &cost, &next, u64::MAX).unwrap()
}

/// Builds (or, `keep_all` false, only counts) a search of `space` within
/// `max_bytes`: the peak bytes allocated above the start, space included,
/// and whether it fitted.
fn attempt(space: impl Fn() -> Space, budget: u64, keep_all: bool, max_bytes: u64) -> (u64, bool) {
    let start = LIVE.load(Ordering::SeqCst);
    PEAK.store(start, Ordering::SeqCst);
    let search = Search::new(space(), budget, max_bytes).unwrap();
    let result = if keep_all { search.build() } else { search.count_only().map(|_| ()) };
    let used = PEAK.load(Ordering::SeqCst) - start;
    match result {
        Ok(()) => (used, true),
        Err(Error::Memory { .. }) => (used, false),
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn max_bytes_bounds_the_real_peak_and_refuses_only_above_it() {
    let widths = [16, 32, 64, 128, 256, 384, 512, 1024, 2048, 4096];
    // One thread, so that the peak does not depend on how states interleave.
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    attempt(|| dense_space(8, &widths, 2), 100, true, u64::MAX); // starts rayon's threads
    for (inputs, layers, budget) in [(784, 6, 300_000), (8, 5, 200_000)] {
        for keep_all in [true, false] {
            let space = || dense_space(inputs, &widths, layers);
            let what = format!("inputs {inputs}, {layers} layers, budget {budget}, keep_all {keep_all}");
            let (real, fitted) = one.install(|| attempt(space, budget, keep_all, u64::MAX));
            assert!(fitted);
            // The smallest max_bytes that passes, within 1%, by bisection.
            let (mut lo, mut hi) = (0, 2 * real);
            while hi - lo > hi / 100 {
                let mid = lo + (hi - lo) / 2;
                *(if one.install(|| attempt(space, budget, keep_all, mid).1) { &mut hi } else { &mut lo }) = mid;
            }
            assert!(hi as f64 <= 1.05 * real as f64, "{what}: needs max_bytes {hi} for a real peak of {real}");
            // On every thread, whatever the interleaving, never above the limit.
            for max_bytes in [lo, hi, real, real * 11 / 10] {
                let (used, _) = attempt(space, budget, keep_all, max_bytes);
                assert!(used <= max_bytes, "{what}: allocated {used} under max_bytes {max_bytes}");
            }
        }
    }
}
