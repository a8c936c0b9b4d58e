//! A pool of activation-sized `Vec<f32>` buffers recycled across training steps.
//!
//! luminal drops an op's input tensor once its last consumer has run; fresh buffers of
//! tens of MB come straight from `mmap` and page-fault on first write every step
//! (about 2 ms per 33 MB, docs/performance.md). archc's own ops hand the inputs they
//! receive owned back here ([`give`]) and take their outputs from here ([`take`]), so
//! after the first step the big activations and gradients reuse warm memory.
//! `ARCHC_NO_BUFFER_POOL=1` turns the pool off (every `take` allocates anew).
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// Buffers below this many floats (256 KB) come from the allocator's heap cheaply.
pub const MIN_POOLED: usize = 1 << 16;
/// At most this many idle buffers of one length: a step holds several same-sized
/// activations alive at once, but more would only hoard memory.
const PER_LEN: usize = 16;
/// At most this many idle floats in all (1 GiB).
const MAX_IDLE: usize = 1 << 28;

struct Pool {
    by_len: BTreeMap<usize, Vec<Vec<f32>>>,
    idle: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    by_len: BTreeMap::new(),
    idle: 0,
});
static HITS: AtomicUsize = AtomicUsize::new(0);
static MISSES: AtomicUsize = AtomicUsize::new(0);
static DISABLED: OnceLock<AtomicBool> = OnceLock::new();

fn disabled() -> &'static AtomicBool {
    DISABLED.get_or_init(|| {
        let off = std::env::var("ARCHC_NO_BUFFER_POOL").is_ok_and(|v| v != "0" && !v.is_empty());
        AtomicBool::new(off)
    })
}

/// Turns the pool on or off for this process (tests compare both); off also empties it.
pub fn set_enabled(on: bool) {
    disabled().store(!on, Ordering::Relaxed);
    if !on {
        let mut p = POOL.lock().unwrap_or_else(|e| e.into_inner());
        p.by_len.clear();
        p.idle = 0;
    }
}

/// Pooled takes served from the pool and taken freshly allocated, since the start.
pub fn stats() -> (usize, usize) {
    (HITS.load(Ordering::Relaxed), MISSES.load(Ordering::Relaxed))
}

/// A buffer of `len` floats whose contents are unspecified (a previous step's values
/// or zeros): only for outputs that the caller overwrites entirely.
pub fn take(len: usize) -> Vec<f32> {
    if len >= MIN_POOLED && !disabled().load(Ordering::Relaxed) {
        let mut p = POOL.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = p.by_len.get_mut(&len).and_then(|l| l.pop()) {
            p.idle -= len;
            HITS.fetch_add(1, Ordering::Relaxed);
            return v;
        }
        MISSES.fetch_add(1, Ordering::Relaxed);
    }
    vec![0.0; len]
}

/// Returns a buffer no longer needed to the pool (small ones are just dropped).
pub fn give(v: Vec<f32>) {
    let len = v.len();
    if len < MIN_POOLED || disabled().load(Ordering::Relaxed) {
        return;
    }
    let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let p = &mut *guard;
    if p.idle + len > MAX_IDLE {
        return;
    }
    let list = p.by_len.entry(len).or_default();
    if list.len() < PER_LEN {
        list.push(v);
        p.idle += len;
    }
}
