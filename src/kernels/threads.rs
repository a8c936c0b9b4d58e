//! How the convolution kernels use rayon's threads: a scratch buffer kept per thread
//! across calls, and private accumulators per rayon job summed at the end.
use rayon::prelude::*;
use std::cell::Cell;
use std::thread::LocalKey;

/// A per-thread scratch buffer, declared by each kernel module with `thread_local!`.
pub(crate) type Scratch = LocalKey<Cell<Vec<f32>>>;

/// Runs `f` with this thread's buffer `key` of at least `len` floats (contents
/// unspecified; large fresh allocations would page-fault on every call). The buffer
/// is taken out of the cell while in use, so re-entry just allocates anew.
pub(crate) fn with_scratch<R>(
    key: &'static Scratch,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    let mut buf = key.with(|c| c.take());
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    let r = f(&mut buf[..len]);
    key.with(|c| c.set(buf));
    r
}

/// Σ over jobs `0..jobs` of what `add(job, acc, split)` adds to a zeroed accumulator
/// of `len` floats. In `parallel`, jobs run on rayon's threads (at least `min_len` per
/// task) into private accumulators, summed pairwise at the end, and `split` is false;
/// else they run in turn into one accumulator, with `split` true so that each job
/// spreads its own work (its GEMMs) over the threads.
pub(crate) fn accumulate(
    jobs: usize,
    len: usize,
    parallel: bool,
    min_len: usize,
    add: impl Fn(usize, &mut [f32], bool) + Sync,
) -> Vec<f32> {
    if parallel {
        (0..jobs)
            .into_par_iter()
            .with_min_len(min_len)
            .fold(
                || vec![0.0f32; len],
                |mut acc, job| {
                    add(job, &mut acc, false);
                    acc
                },
            )
            .reduce_with(|mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            })
            .unwrap_or_else(|| vec![0.0; len])
    } else {
        let mut acc = vec![0.0f32; len];
        for job in 0..jobs {
            add(job, &mut acc, true);
        }
        acc
    }
}
