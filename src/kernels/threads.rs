//! How the kernels use rayon's threads: a scratch buffer kept per thread across calls,
//! private accumulators per rayon job summed at the end, and a pool kept polling while
//! a graph executes.
use rayon::prelude::*;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// Runs `f` on this thread while every other worker of rayon's pool polls the pool for
/// work instead of sleeping, so that each fork `f` makes starts at once.
///
/// A rayon worker that finds no work sleeps within microseconds, and waking it costs
/// 20–130 µs on this machine's virtual CPUs (`rayon::join` of two 100 µs halves took
/// 120–250 µs from a cold pool, 101 µs from a polling one): a training step of the
/// dense networks forks a dozen products of 0.1–1.5 ms each. Only when this thread is a
/// worker of the pool (the command line makes the main thread worker 0); elsewhere, or
/// with `ARCHC_NO_WARM_POOL` set, `f` just runs. The polling workers run any job they
/// find, so nothing waits on them; they stop when `f` returns or unwinds.
pub fn with_warm_pool<R>(f: impl FnOnce() -> R) -> R {
    let Some(caller) = rayon::current_thread_index() else {
        return f();
    };
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let off = *OFF.get_or_init(|| std::env::var_os("ARCHC_NO_WARM_POOL").is_some());
    let others = rayon::current_num_threads().saturating_sub(1);
    if others == 0 || off {
        return f();
    }
    /// Tells the pollers to stop when dropped, also when `f` unwinds (the scope waits
    /// for them before it returns or resumes the panic).
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }
    let stop = AtomicBool::new(false);
    rayon::in_place_scope(|scope| {
        let _stop = StopOnDrop(&stop);
        for _ in 0..others {
            let stop = &stop;
            scope.spawn(move |_| poll_for_work(caller, stop));
        }
        f()
    })
}

thread_local! {
    /// Whether this thread is already inside `poll_for_work` (further down its stack).
    static POLLING: Cell<bool> = const { Cell::new(false) };
}

/// A worker's loop while `with_warm_pool` runs: run whatever job the pool has, else
/// pause briefly and look again. A poller that lands on the caller's own thread (popped
/// there while it waits on a fork) or on a thread that polls already returns at once:
/// looping there would hold up the caller, or double up on one thread.
fn poll_for_work(caller: usize, stop: &AtomicBool) {
    if rayon::current_thread_index() == Some(caller) || POLLING.get() {
        return;
    }
    POLLING.set(true);
    while !stop.load(Ordering::Acquire) {
        if rayon::yield_now() != Some(rayon::Yield::Executed) {
            // A few pauses between looks, so the polling does not keep pulling the
            // caller's deque cache lines away from it.
            for _ in 0..8 {
                std::hint::spin_loop();
            }
        }
    }
    POLLING.set(false);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2-thread pool whose worker 0 is the calling thread (as the command line sets up
    /// the global one), running `f` there. The pool is leaked, as rayon documents.
    fn on_worker_0<R: Send>(f: impl FnOnce() -> R + Send) -> R {
        std::thread::scope(|s| {
            s.spawn(|| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(2)
                    .use_current_thread()
                    .build()
                    .unwrap();
                pool.install(f)
            })
            .join()
            .unwrap()
        })
    }

    #[test]
    fn forks_stolen_inside_run_on_the_poller_and_compute_right() {
        on_worker_0(|| {
            let mut sums = 0;
            let stolen_polling = with_warm_pool(|| {
                // Until a fork's second half runs on worker 1: it must find that
                // thread inside `poll_for_work`, not woken from sleep.
                loop {
                    // The first half is long enough (tens of µs) for a steal.
                    let (a, (b, thread, polling)) = rayon::join(
                        || (0..100_000u64).map(std::hint::black_box).sum::<u64>(),
                        || {
                            let b = (100_000..200_000u64).sum::<u64>();
                            (b, rayon::current_thread_index(), POLLING.get())
                        },
                    );
                    assert_eq!(a + b, 199_999 * 200_000 / 2);
                    sums += 1;
                    if thread == Some(1) {
                        break polling;
                    }
                    assert!(sums < 100_000, "worker 1 never took a fork");
                }
            });
            assert!(stolen_polling, "worker 1 ran the fork outside the poller");
            // Once it returns the poller has stopped: a fork on worker 1 sees no poller.
            loop {
                let (_, (thread, polling)) = rayon::join(
                    || (0..100_000u64).map(std::hint::black_box).sum::<u64>(),
                    || (rayon::current_thread_index(), POLLING.get()),
                );
                if thread == Some(1) {
                    assert!(!polling, "the poller outlived with_warm_pool");
                    break;
                }
            }
        });
    }

    #[test]
    fn a_panic_inside_reaches_the_caller_and_stops_the_poller() {
        on_worker_0(|| {
            let r = std::panic::catch_unwind(|| with_warm_pool(|| panic!("inside")));
            assert!(r.is_err());
            // The pool still works: the poller left worker 1.
            let s: u64 = (0..10_000u64).into_par_iter().sum();
            assert_eq!(s, 9_999 * 10_000 / 2);
        });
    }

    #[test]
    fn outside_a_pool_it_just_runs() {
        std::thread::spawn(|| {
            assert_eq!(rayon::current_thread_index(), None);
            assert_eq!(with_warm_pool(|| 7), 7);
        })
        .join()
        .unwrap();
    }
}
