//! CPU kernels for the ops luminal 0.2.0 lacks or runs slowly. Pure functions on
//! contiguous row-major `f32` slices; the luminal `Operator`s in `lower` call them.
//! Layout: images are NCHW; conv weights `[C_out, C_in, KH, KW]`.
//!
//! Every kernel has a naive reference in `reference` that tests compare against.
//!
//! How they are fast (see `examples/kernel_bench.rs` for the numbers):
//! - GEMM: our own packed AVX-512 kernel (`avx512`, 14×32 register tile), because the
//!   `gemm` crate 0.18 runs AVX2 only on stable Rust; the `gemm` crate remains the
//!   fallback without AVX-512 (or with `ARCHC_NO_AVX512` set). Transposes are strides.
//! - Convolution: per-sample im2col + GEMM, samples spread over rayon's threads, each
//!   with reused thread-local buffers; the bias rides in the GEMM as an extra column of
//!   W (forward) and dbias as an extra column of dW (backward) when that is free.
//!   Small batches run samples in turn with the GEMM itself split over threads.
//! - 3×3 and 5×5 stride-1 convolutions with enough channels run as Winograd
//!   F(2×2, 3×3) and F(2×2, 5×5) (`winograd`: 16 or 36 batched GEMMs in the transform
//!   domain, 2.25× or 2.8× fewer multiplies); `conv_algo` chooses,
//!   `ARCHC_NO_WINOGRAD=1` forces im2col everywhere.
//! - Other stride-1 layers whose direct products outweigh the transforms (svhn's 16→512
//!   7×7) run by FFT (`fft`: one real GEMM per frequency bin over the stacked real and
//!   imaginary parts, the transforms as small dense DFT matrices through the same GEMM);
//!   `ARCHC_NO_FFT=1` keeps them on im2col.
//! - Max-pool 2×2/2 has an AVX-512 path; other pools loop per plane in parallel.
//! - Fused element-wise helpers at the end save passes over memory in the glue.

#[cfg(target_arch = "x86_64")]
/// Column tile of the AVX-512 GEMM kernel (`avx512`, used by `gemm`): padding C's width
/// up to a multiple of it is free. Here so that neither of the two imports the other's.
pub(crate) const TILE_N: usize = 32;

mod avx512;
mod conv;
mod conv_pool;
mod fft;
mod gemm;
mod pointwise;
mod pool;
pub mod reference;
mod threads;
mod wide;
mod winograd;

pub use threads::with_warm_pool;
pub(crate) use wide::wide;
pub use wide::{run_avx512, set_wide, wide_available};

/// Geometry of one batched 2-D convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConvGeom {
    pub batch: usize,
    pub in_channels: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub out_channels: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl ConvGeom {
    pub fn out_h(&self) -> usize {
        (self.in_h + 2 * self.padding[0] - self.kernel[0]) / self.stride[0] + 1
    }
    pub fn out_w(&self) -> usize {
        (self.in_w + 2 * self.padding[1] - self.kernel[1]) / self.stride[1] + 1
    }
}

/// Geometry of one batched pooling window sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolGeom {
    pub batch: usize,
    pub channels: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub size: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl PoolGeom {
    pub fn out_h(&self) -> usize {
        (self.in_h + 2 * self.padding[0] - self.size[0]) / self.stride[0] + 1
    }
    pub fn out_w(&self) -> usize {
        (self.in_w + 2 * self.padding[1] - self.size[1]) / self.stride[1] + 1
    }
}

/// Which matrix-product kernel this process uses: `"avx512"` (ours) or `"gemm"` (the
/// `gemm` crate: no AVX-512, or `ARCHC_NO_AVX512` set before the first product). Lets the
/// fallback's tests check that they ran the fallback.
pub fn gemm_backend() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if avx512::available() {
        return "avx512";
    }
    "gemm"
}

/// C[m×n] = op(A)·op(B) (+ C if `accumulate`), row-major; op transposes when asked.
/// `a` is stored `[m, k]` (or `[k, m]` if `a_t`), `b` is `[k, n]` (or `[n, k]` if `b_t`).
/// Large products are split over rayon's threads.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    a_t: bool,
    b: &[f32],
    b_t: bool,
    c: &mut [f32],
    accumulate: bool,
) {
    matmul_on(m, k, n, a, a_t, b, b_t, c, accumulate, true)
}

/// [`matmul`] on the calling thread only, for two independent products run side by
/// side (each core one product): the same bits as [`matmul`].
#[allow(clippy::too_many_arguments)]
pub fn matmul_serial(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    a_t: bool,
    b: &[f32],
    b_t: bool,
    c: &mut [f32],
    accumulate: bool,
) {
    matmul_on(m, k, n, a, a_t, b, b_t, c, accumulate, false)
}

#[allow(clippy::too_many_arguments)]
fn matmul_on(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    a_t: bool,
    b: &[f32],
    b_t: bool,
    c: &mut [f32],
    accumulate: bool,
    parallel: bool,
) {
    assert_eq!(a.len(), m * k, "matmul: a length");
    assert_eq!(b.len(), k * n, "matmul: b length");
    assert_eq!(c.len(), m * n, "matmul: c length");
    let av = gemm::View::row_major(a, if a_t { m } else { k }, a_t);
    let bv = gemm::View::row_major(b, if b_t { k } else { n }, b_t);
    gemm::sgemm(m, k, n, av, bv, c, n, accumulate, parallel)
}

/// How a convolution is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvAlgo {
    /// im2col + GEMM per sample: any geometry.
    Im2col,
    /// Winograd F(2×2, 3×3) or F(2×2, 5×5): r×r kernels (r = 3, 5), stride 1,
    /// padding < r (`winograd_supports`).
    Winograd,
    /// Products of spectra on a circle just larger than the padded input (`fft`): any
    /// stride-1 geometry with padding smaller than the kernel (`fft_supports`).
    Fft,
}

/// Which of a convolution's three computations is meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvPass {
    Forward,
    BackwardInput,
    BackwardWeights,
}

/// Whether `ConvAlgo::Winograd` can compute geometry `g`.
pub fn winograd_supports(g: &ConvGeom) -> bool {
    winograd::supports(g)
}

/// Whether `ConvAlgo::Fft` can compute geometry `g`.
pub fn fft_supports(g: &ConvGeom) -> bool {
    fft::supports(g)
}

/// The algorithm `conv2d_forward` / `conv2d_backward_*` use for `g`
/// (`examples/winograd_bench.rs` measured each choice, docs/performance.md):
/// - Winograd for 3×3 and 5×5 stride-1 layers with at least 32 input and output
///   channels and C_in + C_out ≥ 128. Below that sum (the 32→32 and 32→64 3×3 layers of
///   `svhn_improved`) F(2×2, 3×3) measured slower than im2col in all three passes, and
///   with 16 channels on one side (the 16→512 layers of `svhn_kernels`) its depth-16
///   products lost two passes of three (3×3: 0.76–1.19× im2col) or all to FFT (5×5).
/// - Else FFT for stride-1 layers whose multiply-adds by FFT (products of spectra plus
///   the transforms as dense matrices, `fft::multiply_adds`) are under 1/2.5 of the
///   direct ones: svhn's 16→512 7×7 (6.7× fewer, 2.9–3.3× faster per pass), the 7×7
///   and 5×5 layers of `svhn_filters` and `svhn_kernels` (3.6–9.4× fewer); at 1.5× fewer
///   (16→512 3×3) FFT was 0.74–0.83× im2col.
/// - im2col otherwise.
///
/// `ARCHC_NO_WINOGRAD` and `ARCHC_NO_FFT` switch either off. (`_pass`: the three passes
/// share the thresholds.)
pub fn conv_algo(g: &ConvGeom, _pass: ConvPass) -> ConvAlgo {
    static NO_WINOGRAD: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    static NO_FFT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let off = *NO_WINOGRAD.get_or_init(|| std::env::var_os("ARCHC_NO_WINOGRAD").is_some());
    let no_fft = *NO_FFT.get_or_init(|| std::env::var_os("ARCHC_NO_FFT").is_some());
    let (cin, cout) = (g.in_channels, g.out_channels);
    let wins = cin >= 32 && cout >= 32 && cin + cout >= 128;
    if !off && wins && winograd::supports(g) {
        ConvAlgo::Winograd
    } else if !no_fft && fft::supports(g) && {
        let (direct, by_fft) = fft::multiply_adds(g);
        2.5 * by_fft < direct
    } {
        ConvAlgo::Fft
    } else {
        ConvAlgo::Im2col
    }
}

/// y[N, C_out, OH, OW] = conv(x[N, C_in, H, W], w) + bias.
pub fn conv2d_forward(g: &ConvGeom, x: &[f32], w: &[f32], bias: &[f32], y: &mut [f32]) {
    conv2d_forward_using(conv_algo(g, ConvPass::Forward), g, x, w, bias, y)
}

/// y = max(0, conv(x, w) + bias): for Winograd layers the ReLU is applied as the output
/// tiles are written (one pass over y less), else in a pass after the convolution.
pub fn conv2d_forward_relu(g: &ConvGeom, x: &[f32], w: &[f32], bias: &[f32], y: &mut [f32]) {
    match conv_algo(g, ConvPass::Forward) {
        ConvAlgo::Winograd => winograd::forward(g, x, w, bias, true, y),
        ConvAlgo::Fft => fft::forward(g, x, w, bias, true, y),
        ConvAlgo::Im2col => {
            conv::forward(g, x, w, bias, y);
            relu_inplace(y)
        }
    }
}

/// dx = ∂L/∂x given dy (overwrites dx).
pub fn conv2d_backward_input(g: &ConvGeom, dy: &[f32], w: &[f32], dx: &mut [f32]) {
    conv2d_backward_input_using(conv_algo(g, ConvPass::BackwardInput), g, dy, w, dx)
}

/// dw, dbias = ∂L/∂w, ∂L/∂bias summed over the batch (overwrites both).
pub fn conv2d_backward_weights(
    g: &ConvGeom,
    x: &[f32],
    dy: &[f32],
    dw: &mut [f32],
    dbias: &mut [f32],
) {
    let algo = conv_algo(g, ConvPass::BackwardWeights);
    conv2d_backward_weights_using(algo, g, x, dy, dw, dbias)
}

/// `conv2d_forward` by the given algorithm (panics if Winograd or FFT cannot compute `g`).
pub fn conv2d_forward_using(
    algo: ConvAlgo,
    g: &ConvGeom,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    y: &mut [f32],
) {
    match algo {
        ConvAlgo::Im2col => conv::forward(g, x, w, bias, y),
        ConvAlgo::Winograd => winograd::forward(g, x, w, bias, false, y),
        ConvAlgo::Fft => fft::forward(g, x, w, bias, false, y),
    }
}

/// `conv2d_backward_input` by the given algorithm.
pub fn conv2d_backward_input_using(
    algo: ConvAlgo,
    g: &ConvGeom,
    dy: &[f32],
    w: &[f32],
    dx: &mut [f32],
) {
    match algo {
        ConvAlgo::Im2col => conv::backward_input(g, dy, w, dx),
        ConvAlgo::Winograd => winograd::backward_input(g, dy, w, dx),
        ConvAlgo::Fft => fft::backward_input(g, dy, w, dx),
    }
}

/// `conv2d_backward_weights` by the given algorithm.
pub fn conv2d_backward_weights_using(
    algo: ConvAlgo,
    g: &ConvGeom,
    x: &[f32],
    dy: &[f32],
    dw: &mut [f32],
    dbias: &mut [f32],
) {
    match algo {
        ConvAlgo::Im2col => conv::backward_weights(g, x, dy, dw, dbias),
        ConvAlgo::Winograd => winograd::backward_weights(g, x, dy, dw, dbias),
        ConvAlgo::Fft => fft::backward_weights(g, x, dy, dw, dbias),
    }
}

/// col[C_in·KH·KW, OH·OW] of ONE sample x[C_in, H, W] (`g.batch` is ignored): row
/// `(ci·KH + ky)·KW + kx` holds that tap for every output cell, zero in the padding.
pub fn im2col(g: &ConvGeom, x: &[f32], col: &mut [f32]) {
    conv::im2col(g, x, col)
}

/// Adjoint of `im2col`: dx[C_in, H, W] of ONE sample = scatter-add of col (overwrites dx).
pub fn col2im(g: &ConvGeom, col: &[f32], dx: &mut [f32]) {
    conv::col2im(g, col, dx)
}

/// Whether [`conv_relu_max_pool_forward`] computes conv `g` followed by ReLU and
/// pooling `p` (2×2 windows, stride 2, no padding, on the convolution's output).
pub fn conv_relu_max_pool_supports(g: &ConvGeom, p: &PoolGeom) -> bool {
    conv_pool::supports(g, p)
}

/// Winner code of a pooling window whose maximum is ≤ 0 (see
/// [`conv_relu_max_pool_forward`]).
pub const POOL_ARG_NONE: f32 = conv_pool::ARG_NONE;

/// y = maxpool₂ₓ₂(relu(conv(x, w) + bias)) without writing the convolution's output,
/// and per pooled cell the winner code `arg`: 2·row + column of the window's first
/// maximal cell, or [`POOL_ARG_NONE`] when that maximum is ≤ 0.
pub fn conv_relu_max_pool_forward(
    g: &ConvGeom,
    p: &PoolGeom,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    y: &mut [f32],
    arg: &mut [f32],
) {
    conv_pool::forward(g, p, x, w, bias, y, arg)
}

/// ∂L/∂(conv output) of [`conv_relu_max_pool_forward`] from the pooled gradient and
/// the winner codes (overwrites dz).
pub fn conv_relu_max_pool_backward(p: &PoolGeom, arg: &[f32], dy: &[f32], dz: &mut [f32]) {
    conv_pool::backward(p, arg, dy, dz)
}

/// Max pooling; padded cells never win.
pub fn max_pool_forward(g: &PoolGeom, x: &[f32], y: &mut [f32]) {
    pool::max_forward(g, x, y)
}

/// Routes dy to the first maximal input of each window (recomputed from x; overwrites dx).
pub fn max_pool_backward(g: &PoolGeom, x: &[f32], dy: &[f32], dx: &mut [f32]) {
    pool::max_backward(g, x, dy, dx)
}

/// The gradient through ReLU then 2×2/2 max pooling, written over the ReLU output `a`
/// (one pass instead of `max_pool_backward` and `relu_backward_inplace`).
pub fn max_pool_relu_backward_inplace(g: &PoolGeom, a: &mut [f32], dy: &[f32]) {
    pool::max_relu_backward_inplace(g, a, dy)
}

/// Average pooling; the divisor counts only in-bounds cells.
pub fn avg_pool_forward(g: &PoolGeom, x: &[f32], y: &mut [f32]) {
    pool::avg_forward(g, x, y)
}

pub fn avg_pool_backward(g: &PoolGeom, dy: &[f32], dx: &mut [f32]) {
    pool::avg_backward(g, dy, dx)
}

/// Nearest-neighbour upsampling ("Up" layers of the conv autoencoder): x is `planes`
/// (= N·C) planes of [in_h, in_w], y is [planes, in_h·factor[0], in_w·factor[1]].
pub fn upsample_nearest_forward(
    planes: usize,
    in_h: usize,
    in_w: usize,
    factor: [usize; 2],
    x: &[f32],
    y: &mut [f32],
) {
    pool::upsample_forward(planes, in_h, in_w, factor, x, y)
}

/// dx = Σ of dy over each input cell's copies (overwrites dx).
pub fn upsample_nearest_backward(
    planes: usize,
    in_h: usize,
    in_w: usize,
    factor: [usize; 2],
    dy: &[f32],
    dx: &mut [f32],
) {
    pool::upsample_backward(planes, in_h, in_w, factor, dy, dx)
}

// ---- Fused element-wise helpers (optional for the engine; each is one pass) ----

/// x ← max(x, 0).
pub fn relu_inplace(x: &mut [f32]) {
    pointwise::relu_inplace(x)
}

/// x[o, c, i] ← relu(x[o, c, i] + bias[c]), x viewed as [outer, bias.len(), inner]
/// (inner = 1 for a dense layer's [batch, units], H·W for NCHW).
pub fn bias_relu_inplace(x: &mut [f32], bias: &[f32], inner: usize) {
    pointwise::bias_relu_inplace(x, bias, inner)
}

/// dy ← dy where y > 0, else 0; `y` is the ReLU's output (same length).
pub fn relu_backward_inplace(y: &[f32], dy: &mut [f32]) {
    pointwise::relu_backward_inplace(y, dy)
}

/// dbias[c] = Σ dy over outer and inner, dy viewed as [outer, dbias.len(), inner]
/// (overwrites dbias). Conv layers get theirs from `conv2d_backward_weights`.
pub fn bias_grad(dy: &[f32], inner: usize, dbias: &mut [f32]) {
    pointwise::bias_grad(dy, inner, dbias)
}

/// Mean cross-entropy of softmax(logits[batch, classes]) against `targets` (one-hot or
/// weights per row) and its gradient w.r.t. the logits, written to `dlogits`:
/// (softmax·Σtargets − targets) / batch. Returns the loss.
pub fn softmax_cross_entropy(
    logits: &[f32],
    targets: &[f32],
    classes: usize,
    dlogits: &mut [f32],
) -> f32 {
    pointwise::softmax_cross_entropy(logits, targets, classes, dlogits)
}
