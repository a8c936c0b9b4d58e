//! Element-wise loops at the CPU's full vector width.
//!
//! The build targets baseline x86-64 (SSE2: 4 lanes) so that the binary runs on any
//! x86-64 machine. A loop run inside [`wide!`] is compiled a second time with AVX-512
//! enabled (16 lanes) and that copy runs where the CPU has AVX-512. The arithmetic per
//! element is the same in both copies (Rust never contracts a·b + c into an FMA on its
//! own), so both give the same bits; `tests/kernels_wide.rs` checks it.
//! `ARCHC_NO_WIDE=1` keeps the baseline copy, for A/B benchmarks.

use std::sync::atomic::{AtomicU8, Ordering};

/// 0: not decided yet, 1: baseline, 2: AVX-512.
static MODE: AtomicU8 = AtomicU8::new(0);

fn use_avx512() -> bool {
    match MODE.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let on = detect();
            MODE.store(if on { 2 } else { 1 }, Ordering::Relaxed);
            on
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn detect() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512dq")
        && std::env::var_os("ARCHC_NO_WIDE").is_none()
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> bool {
    false
}

/// Forces the baseline copy (`false`) or the AVX-512 copy where available (`true`)
/// for the rest of the process; tests use it to compare the two.
pub fn set_wide(on: bool) {
    MODE.store(if on && detect() { 2 } else { 1 }, Ordering::Relaxed);
}

/// Whether [`wide!`] runs its AVX-512 copy.
#[inline(always)]
pub fn wide_available() -> bool {
    use_avx512()
}

/// Runs a block (a loop) vectorised for AVX-512 where the CPU has it, as compiled
/// otherwise. A macro rather than a function taking a closure: each copy of the block
/// then has exactly one call site, and LLVM inlines a function's only call into the
/// AVX-512 function; a closure called from both paths was left out of line, hence
/// unvectorised, once its body grew large. A closure the loop calls per element should be a `move` closure:
/// a scalar it captures by reference is reloaded on every element (the loop's stores
/// might change it, as far as LLVM can tell), which keeps the loop scalar; measured 8×
/// slower on the BCE gradient.
macro_rules! wide {
    ($body:block) => {{
        if $crate::kernels::wide_available() {
            // SAFETY: `wide_available` checked the CPU features `run_avx512` enables.
            unsafe { $crate::kernels::run_avx512(|| $body) }
        } else {
            $body
        }
    }};
}
pub(crate) use wide;

/// Runs `f` compiled with AVX-512 enabled.
///
/// # Safety
/// The CPU must have the features enabled here ([`wide_available`] checks them).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi2")]
pub unsafe fn run_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Never called: [`wide_available`] is false off x86-64.
#[cfg(not(target_arch = "x86_64"))]
pub unsafe fn run_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}
