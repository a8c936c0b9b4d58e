//! Stride-1 convolutions with large kernels (the 16→512 7×7 layer of `svhn`) by the
//! discrete Fourier transform: forward, input gradient and weight gradient.
//!
//! On a circle of n₁ × n₂ points with n ≥ input + padding (and ≥ the kernel) on each
//! axis, neither the zero padding nor the wrap-around ever meets the data, so the
//! stride-1 correlation is exact as products of spectra, one set per frequency ("bin"):
//! - forward:         `Y[o]    = Σ_c conj(W[o, c]) · X[c]`
//! - input gradient:  `DX[c]   = Σ_o W[o, c] · DY[o]`
//! - weight gradient: `D[o, c] = Σ_images conj(DY[o]) · X[c]`, and dw[o, c, u, v] is
//!   D's inverse transform at the lag (u − p₁, v − p₂),
//!
//! where W is the spectrum of each kernel placed at its lags (u − p₁, v − p₂) mod n.
//! Real signals need only the half spectrum, n₁ × (n₂/2 + 1) bins. Each bin's sum over
//! channels is one real GEMM with the real and imaginary parts stacked (twice the rows
//! and the depth), so a 7×7 layer at 16×16 multiplies 4·190 times per channel pair and
//! image instead of 49·256 times, plus the transforms of its 16 + 512 planes.
//!
//! The transforms are small dense DFT matrices, applied by the same GEMM kernel in two
//! stages (along rows, then along columns, and back), to whole blocks of planes at once.
//! Images go in blocks of up to 32 (one GEMM panel), output channels in blocks of
//! `CHANNEL_BLOCK`, so that a block's spectra stay near L2 size.
use super::gemm::{self, sgemm, View};
use super::threads::with_scratch;
use super::ConvGeom;
use rayon::prelude::*;
use std::cell::Cell;
use std::f64::consts::PI;

thread_local! {
    /// Per-thread spectra and transform buffers, reused across calls.
    static BUF: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    /// The caller's filter matrices and all images' spectra, reused across calls: fresh,
    /// their 25 MB (svhn) page-faulted on every first touch.
    static SHARED: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    /// The kernels' spectra, while the filter matrices are built from them.
    static KERNEL_SPEC: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Output channels per block: 2·28 = 56 rows, four whole row tiles of the GEMM kernel.
const CHANNEL_BLOCK: usize = 28;

/// Most images per block: one 32-column panel of the GEMM kernel.
const IMAGE_BLOCK: usize = 32;

/// Whether this module computes `g`: stride 1, padding smaller than the kernel on each
/// axis, channels on both sides and a non-empty output.
pub fn supports(g: &ConvGeom) -> bool {
    let [kh, kw] = g.kernel;
    g.stride == [1, 1]
        && kh > 0
        && kw > 0
        && g.in_channels > 0
        && g.out_channels > 0
        && g.in_h > 0
        && g.in_w > 0
        && g.padding[0] < kh
        && g.padding[1] < kw
        && g.in_h + 2 * g.padding[0] >= kh
        && g.in_w + 2 * g.padding[1] >= kw
}

/// Multiply-adds per image of one pass, (direct, by this module): the chooser's cost
/// model. The transforms count as dense matrix products, which is how they run.
pub fn multiply_adds(g: &ConvGeom) -> (f64, f64) {
    let p = Plan::of(g);
    let f = |v: usize| v as f64;
    let direct = f(p.cout * p.cin * p.kh * p.kw * p.oh * p.ow);
    let products = 4.0 * f(p.bins() * p.cout * p.cin);
    // Per plane: along rows 2·h₂·s₁·s₂, along columns 4·n₁·h₂·s₁ (complex, both ways).
    let plane = |s1: usize, s2: usize| f(2 * p.h2 * s1 * s2 + 4 * p.n1 * p.h2 * s1);
    let transforms = f(p.cin) * plane(p.h, p.w) + f(p.cout) * plane(p.oh, p.ow);
    (direct, products + transforms)
}

/// One stride-1 correlation x[n, cin, h, w] → y[n, cout, oh, ow] on an n₁ × n₂ circle.
#[derive(Clone, Copy, Debug)]
struct Plan {
    batch: usize,
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    ph: usize,
    pw: usize,
    oh: usize,
    ow: usize,
    /// Circle sizes.
    n1: usize,
    n2: usize,
    /// Half-spectrum columns, n₂/2 + 1.
    h2: usize,
}

impl Plan {
    fn of(g: &ConvGeom) -> Plan {
        assert!(supports(g), "fft: unsupported geometry {g:?}");
        let [kh, kw] = g.kernel;
        let [ph, pw] = g.padding;
        let n1 = (g.in_h + ph).max(kh);
        let n2 = (g.in_w + pw).max(kw);
        Plan {
            batch: g.batch,
            cin: g.in_channels,
            cout: g.out_channels,
            h: g.in_h,
            w: g.in_w,
            kh,
            kw,
            ph,
            pw,
            oh: g.out_h(),
            ow: g.out_w(),
            n1,
            n2,
            h2: n2 / 2 + 1,
        }
    }

    fn bins(&self) -> usize {
        self.n1 * self.h2
    }

    fn in_sz(&self) -> usize {
        self.cin * self.h * self.w
    }

    fn out_sz(&self) -> usize {
        self.cout * self.oh * self.ow
    }

    /// Images per block: up to a panel, and at least two blocks per thread.
    fn image_block(&self) -> usize {
        let threads = rayon::current_num_threads();
        self.batch.div_ceil(2 * threads).clamp(1, IMAGE_BLOCK)
    }

    /// (first channel, channels) of each output-channel block.
    fn channel_blocks(&self) -> Vec<(usize, usize)> {
        (0..self.cout)
            .step_by(CHANNEL_BLOCK)
            .map(|o0| (o0, CHANNEL_BLOCK.min(self.cout - o0)))
            .collect()
    }

    /// Where the values of `grid` sit on the circle, (rows, columns): the input's and the
    /// output's cells at 0.., the kernel's taps at their lags u − p (mod n).
    fn positions(&self, grid: Grid) -> (Vec<usize>, Vec<usize>) {
        let cells = |len: usize| (0..len).collect();
        let lags = |k: usize, pad: usize, n: usize| (0..k).map(|u| (u + n - pad) % n).collect();
        match grid {
            Grid::Input => (cells(self.h), cells(self.w)),
            Grid::Output => (cells(self.oh), cells(self.ow)),
            Grid::Lags => (
                lags(self.kh, self.ph, self.n1),
                lags(self.kw, self.pw, self.n2),
            ),
        }
    }

    /// The transform of planes laid out as `grid`.
    fn analysis(&self, grid: Grid) -> Analysis {
        let (rows, cols) = self.positions(grid);
        Analysis::new(self.n1, self.n2, &rows, &cols)
    }

    /// The inverse transform to values laid out as `grid`.
    fn synthesis(&self, grid: Grid) -> Synthesis {
        let (rows, cols) = self.positions(grid);
        Synthesis::new(self.n1, self.n2, &rows, &cols)
    }
}

/// The three grids of values the transforms go between.
#[derive(Clone, Copy)]
enum Grid {
    Input,
    Output,
    Lags,
}

/// cos and sin of 2π·k·t/n, reduced mod n first so that large products stay exact.
fn phase(k: usize, t: usize, n: usize) -> (f64, f64) {
    let a = 2.0 * PI * ((k * t) % n) as f64 / n as f64;
    (a.cos(), a.sin())
}

/// Real planes with values at positions `pos1 × pos2` of the n₁ × n₂ circle → their
/// half spectrum F[k₁, k₂] = Σ f[a, b]·e^{−2πi(k₁·pos1[a]/n₁ + k₂·pos2[b]/n₂)}, k₂ ≤ n₂/2,
/// laid out `[k₂][k₁][re, im][plane]` ("spectrum layout").
struct Analysis {
    n1: usize,
    h2: usize,
    s1: usize,
    s2: usize,
    /// Along rows, `[k₂, re/im][b]`: cos, −sin.
    rows: Vec<f32>,
    /// Along columns, `[k₁, re/im][re/im, a]`: a complex multiply by e^{−iθ}.
    cols: Vec<f32>,
}

impl Analysis {
    fn new(n1: usize, n2: usize, pos1: &[usize], pos2: &[usize]) -> Analysis {
        let (s1, s2, h2) = (pos1.len(), pos2.len(), n2 / 2 + 1);
        let mut rows = vec![0.0f32; 2 * h2 * s2];
        for k2 in 0..h2 {
            for (b, &t) in pos2.iter().enumerate() {
                let (c, s) = phase(k2, t, n2);
                rows[2 * k2 * s2 + b] = c as f32;
                rows[(2 * k2 + 1) * s2 + b] = -s as f32;
            }
        }
        let mut cols = vec![0.0f32; 2 * n1 * 2 * s1];
        for k1 in 0..n1 {
            for (a, &t) in pos1.iter().enumerate() {
                let (c, s) = phase(k1, t, n1);
                let re = &mut cols[2 * k1 * 2 * s1..][..2 * s1];
                re[a] = c as f32;
                re[s1 + a] = s as f32;
                let im = &mut cols[(2 * k1 + 1) * 2 * s1..][..2 * s1];
                im[a] = -s as f32;
                im[s1 + a] = c as f32;
            }
        }
        Analysis {
            n1,
            h2,
            s1,
            s2,
            rows,
            cols,
        }
    }

    /// Floats of `tmp` that `run` needs for `planes` planes.
    fn tmp_len(&self, planes: usize) -> usize {
        2 * self.h2 * planes * self.s1
    }

    /// `spec` (spectrum layout, `planes` wide) = the transform of `x` (`[planes][s₁][s₂]`).
    fn run(&self, x: &[f32], planes: usize, spec: &mut [f32], tmp: &mut [f32], parallel: bool) {
        let (n1, h2, s1, s2) = (self.n1, self.h2, self.s1, self.s2);
        let width = planes * s1;
        let tmp = &mut tmp[..2 * h2 * width];
        // tmp[k₂, re/im][plane, a] = Σ_b rows[k₂, re/im][b]·x[plane, a, b].
        let along_rows = View::row_major(&self.rows, s2, false);
        let xt = View {
            data: x,
            rs: 1,
            cs: s2,
        };
        sgemm(
            2 * h2,
            s2,
            width,
            along_rows,
            xt,
            tmp,
            width,
            false,
            parallel,
        );
        // spec[k₂][k₁, re/im][plane] = Σ_{re/im, a} cols[k₁, re/im][re/im, a]·tmp[k₂, re/im][plane, a],
        // one product per part of tmp (their rows are not evenly spaced).
        for k2 in 0..h2 {
            let dst = &mut spec[k2 * 2 * n1 * planes..][..2 * n1 * planes];
            for part in 0..2 {
                let lhs = View {
                    data: &self.cols[part * s1..],
                    rs: 2 * s1,
                    cs: 1,
                };
                let rhs = View {
                    data: &tmp[(2 * k2 + part) * width..],
                    rs: 1,
                    cs: s1,
                };
                sgemm(
                    2 * n1,
                    s1,
                    planes,
                    lhs,
                    rhs,
                    dst,
                    planes,
                    part == 1,
                    parallel,
                );
            }
        }
    }
}

/// The half spectrum (spectrum layout) of real planes → their values at positions
/// `pos1 × pos2`: f[a, b] = (1/n₁n₂)·Σ_{k₁, k₂ ≤ n₂/2} c(k₂)·Re(F[k₁, k₂]·e^{2πi(…)}),
/// with c = 1 for k₂ = 0 and k₂ = n₂/2, else 2 (the conjugate half), laid out
/// `[b][a][plane]`.
struct Synthesis {
    n1: usize,
    h2: usize,
    s1: usize,
    s2: usize,
    /// Along columns, `[re/im, a][k₁, re/im]`: a complex multiply by e^{iθ}.
    cols: Vec<f32>,
    /// Along rows, `[b][k₂, re/im]`: c·cos/(n₁n₂), −c·sin/(n₁n₂).
    rows: Vec<f32>,
}

impl Synthesis {
    fn new(n1: usize, n2: usize, pos1: &[usize], pos2: &[usize]) -> Synthesis {
        let (s1, s2, h2) = (pos1.len(), pos2.len(), n2 / 2 + 1);
        let mut cols = vec![0.0f32; 2 * s1 * 2 * n1];
        for (a, &t) in pos1.iter().enumerate() {
            for k1 in 0..n1 {
                let (c, s) = phase(k1, t, n1);
                let re = &mut cols[a * 2 * n1..][..2 * n1];
                re[2 * k1] = c as f32;
                re[2 * k1 + 1] = -s as f32;
                let im = &mut cols[(s1 + a) * 2 * n1..][..2 * n1];
                im[2 * k1] = s as f32;
                im[2 * k1 + 1] = c as f32;
            }
        }
        let scale = 1.0 / (n1 * n2) as f64;
        let mut rows = vec![0.0f32; s2 * 2 * h2];
        for (b, &t) in pos2.iter().enumerate() {
            for k2 in 0..h2 {
                let weight = if k2 == 0 || 2 * k2 == n2 { 1.0 } else { 2.0 };
                let (c, s) = phase(k2, t, n2);
                rows[b * 2 * h2 + 2 * k2] = (weight * scale * c) as f32;
                rows[b * 2 * h2 + 2 * k2 + 1] = (-weight * scale * s) as f32;
            }
        }
        Synthesis {
            n1,
            h2,
            s1,
            s2,
            cols,
            rows,
        }
    }

    /// Floats of `tmp` that `run` needs for `planes` planes.
    fn tmp_len(&self, planes: usize) -> usize {
        2 * self.h2 * self.s1 * planes
    }

    /// `out` (`[s₂][s₁][planes]`) = the inverse transform of `spec`.
    fn run(&self, spec: &[f32], planes: usize, out: &mut [f32], tmp: &mut [f32]) {
        let (n1, h2, s1, s2) = (self.n1, self.h2, self.s1, self.s2);
        let tmp = &mut tmp[..2 * h2 * s1 * planes];
        // tmp[k₂][re/im, a][plane] = Σ_{k₁, re/im} cols[re/im, a][k₁, re/im]·spec[k₂][k₁, re/im][plane].
        let along_cols = View::row_major(&self.cols, 2 * n1, false);
        for k2 in 0..h2 {
            let src = View::row_major(&spec[k2 * 2 * n1 * planes..], planes, false);
            let dst = &mut tmp[k2 * 2 * s1 * planes..][..2 * s1 * planes];
            sgemm(
                2 * s1,
                2 * n1,
                planes,
                along_cols,
                src,
                dst,
                planes,
                false,
                false,
            );
        }
        // out[b][a, plane] = Σ_{k₂, re/im} rows[b][k₂, re/im]·tmp[k₂, re/im][a, plane].
        let width = s1 * planes;
        let along_rows = View::row_major(&self.rows, 2 * h2, false);
        let src = View::row_major(tmp, width, false);
        sgemm(s2, 2 * h2, width, along_rows, src, out, width, false, false);
    }
}

/// How the per-bin left operands of the products are stored: for each output-channel
/// block and bin, the real `[re/im, o][re/im, c]` matrix [[Wr, Wi], [−Wi, Wr]] of the
/// forward's `Y = conj(W)·X` (2·co × 2·cin), or (`transposed`) [[Wrᵀ, −Wiᵀ], [Wiᵀ, Wrᵀ]],
/// the input gradient's `DX = Wᵀ·DY` (2·cin × 2·co); packed once for `gemm::packed`
/// when our kernel is in use (else every product re-packed the same 56 × 32 matrix),
/// row-major otherwise.
#[derive(Clone, Copy)]
struct FilterForm {
    transposed: bool,
    packed: bool,
}

impl FilterForm {
    fn new(transposed: bool) -> FilterForm {
        FilterForm {
            transposed,
            packed: gemm::packed_available(),
        }
    }

    /// (rows, columns) of one bin's matrix for a block of `co` channels.
    fn shape(self, p: &Plan, co: usize) -> (usize, usize) {
        if self.transposed {
            (2 * p.cin, 2 * co)
        } else {
            (2 * co, 2 * p.cin)
        }
    }

    /// Floats of one bin's matrix for a block of `co` channels.
    fn bin_len(self, p: &Plan, co: usize) -> usize {
        let (m, k) = self.shape(p, co);
        if self.packed {
            gemm::packed_a_len(m, k)
        } else {
            m * k
        }
    }

    /// Where block (o₀, ·) starts: every block before it is full.
    fn block_start(self, p: &Plan, o0: usize) -> usize {
        o0 / CHANNEL_BLOCK * p.bins() * self.bin_len(p, CHANNEL_BLOCK.min(p.cout))
    }

    fn len(self, p: &Plan) -> usize {
        let last = p.channel_blocks().last().copied();
        last.map_or(0, |(o0, co)| {
            self.block_start(p, o0) + p.bins() * self.bin_len(p, co)
        })
    }

    /// dst[m × n] (row stride n) = the bin's matrix `a` · B (+ dst if `accumulate`), B
    /// row-major `[k][n]` (with n = PANEL one GEMM panel as it stands, not packed again).
    #[allow(clippy::too_many_arguments)]
    fn product(
        self,
        p: &Plan,
        co: usize,
        a: &[f32],
        b: &[f32],
        n: usize,
        dst: &mut [f32],
        accumulate: bool,
    ) {
        let (m, k) = self.shape(p, co);
        let rhs = View::row_major(b, n, false);
        if self.packed {
            gemm::packed_lhs(m, k, n, a, rhs, dst, n, accumulate)
        } else {
            sgemm(
                m,
                k,
                n,
                View::row_major(a, k, false),
                rhs,
                dst,
                n,
                accumulate,
                false,
            )
        }
    }
}

/// The kernels' spectra as per-bin product matrices in `form` (see `FilterForm`).
fn filter_matrices(p: &Plan, w: &[f32], form: FilterForm, u: &mut [f32]) {
    let kc = p.cout * p.cin;
    let bins = p.bins();
    let analysis = p.analysis(Grid::Lags);
    let spec_len = bins * 2 * kc;
    with_scratch(&KERNEL_SPEC, spec_len + analysis.tmp_len(kc), |buf| {
        let (spec, tmp) = buf.split_at_mut(spec_len);
        analysis.run(w, kc, spec, tmp, true);
        expand_filters(p, spec, form, u)
    })
}

/// `u` (as `form` lays it out) from the kernels' spectra.
fn expand_filters(p: &Plan, spec: &[f32], form: FilterForm, u: &mut [f32]) {
    let (kc, bins, cin2) = (p.cout * p.cin, p.bins(), 2 * p.cin);
    let blocks = p.channel_blocks();
    let mut parts: Vec<(usize, usize, &mut [f32])> = Vec::with_capacity(blocks.len());
    let mut rest = &mut u[..form.len(p)];
    for &(o0, co) in &blocks {
        let (part, tail) = rest.split_at_mut(bins * form.bin_len(p, co));
        parts.push((o0, co, part));
        rest = tail;
    }
    parts.into_par_iter().for_each(|(o0, co, part)| {
        let mut m = vec![0.0f32; 2 * co * cin2];
        for (bin, out) in part.chunks_exact_mut(form.bin_len(p, co)).enumerate() {
            let re = &spec[bin * 2 * kc..][..kc];
            let im = &spec[(bin * 2 + 1) * kc..][..kc];
            for o in 0..co {
                let at = (o0 + o) * p.cin;
                let (wr, wi) = (&re[at..at + p.cin], &im[at..at + p.cin]);
                let top = &mut m[o * cin2..][..cin2];
                top[..p.cin].copy_from_slice(wr);
                top[p.cin..].copy_from_slice(wi);
                let bottom = &mut m[(co + o) * cin2..][..cin2];
                for (d, s) in bottom[..p.cin].iter_mut().zip(wi) {
                    *d = -s;
                }
                bottom[p.cin..].copy_from_slice(wr);
            }
            let (rows, cols) = form.shape(p, co);
            // The transposed form reads the forward matrix through swapped strides.
            let view = View::row_major(&m, cin2, form.transposed);
            if form.packed {
                gemm::pack_a(rows, cols, view, out);
            } else {
                for (r, row) in out.chunks_exact_mut(cols).enumerate() {
                    for (c, d) in row.iter_mut().enumerate() {
                        *d = view.data[r * view.rs + c * view.cs];
                    }
                }
            }
        }
    });
}

/// `planes[c, img, ..]` = `src[img, c0 + c, ..]` for `chans` channels of the `imgs`
/// images in `src` (`total` channels of `plane` floats each): planes ordered channel
/// first, as the per-bin products want their columns.
fn gather(src: &[f32], total: usize, c0: usize, chans: usize, plane: usize, planes: &mut [f32]) {
    let imgs = src.len() / (total * plane);
    for c in 0..chans {
        for img in 0..imgs {
            let from = &src[(img * total + c0 + c) * plane..][..plane];
            planes[(c * imgs + img) * plane..][..plane].copy_from_slice(from);
        }
    }
}

/// `dst[img, c0 + c, a, b]` = `out[b][a][c, img]` (+ bias[c], then max(0, ·) if `relu`)
/// for the `chans` channels of `imgs` images in `dst` (`total` channels of s₁ × s₂).
/// With AVX-512, 16 images of a channel at a time go through 16×16 register transposes
/// (a plain loop read `out` 16 KB apart, and took a fifth of an svhn step).
#[allow(clippy::too_many_arguments)]
fn scatter(
    out: &[f32],
    s1: usize,
    s2: usize,
    total: usize,
    c0: usize,
    chans: usize,
    bias: Option<&[f32]>,
    relu: bool,
    dst: &mut [f32],
) {
    let plane = s1 * s2;
    let imgs = dst.len() / (total * plane);
    let planes = chans * imgs;
    assert!(
        out.len() >= plane * planes,
        "fft: transform output too short"
    );
    for c in 0..chans {
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if super::avx512::available() {
            while done + 16 <= imgs {
                let col = c * imgs + done;
                for a in 0..s1 {
                    for b0 in (0..s2).step_by(16) {
                        let run = (s2 - b0).min(16);
                        let from = ((b0 * s1 + a) * planes + col, s1 * planes);
                        let to = ((done * total + c0 + c) * plane + a * s2 + b0, total * plane);
                        // SAFETY: source rows b0..b0 + run of `out` hold the 16 columns
                        // col..col + 16 (done + 16 ≤ imgs); the 16 destination planes
                        // (images done..done + 16 of channel c0 + c) are in `dst` and
                        // take `run` floats at a·s₂ + b0 ≤ plane; AVX-512F is available.
                        unsafe {
                            super::avx512::transpose16(
                                out.as_ptr().add(from.0),
                                from.1,
                                run,
                                dst.as_mut_ptr().add(to.0),
                                to.1,
                                run,
                            )
                        }
                    }
                }
                done += 16;
            }
        }
        for img in done..imgs {
            let col = c * imgs + img;
            let to = &mut dst[(img * total + c0 + c) * plane..][..plane];
            for (a, row) in to.chunks_exact_mut(s2).enumerate() {
                for (b, d) in row.iter_mut().enumerate() {
                    *d = out[(b * s1 + a) * planes + col];
                }
            }
        }
        let add = bias.map_or(0.0, |b| b[c0 + c]);
        if add != 0.0 || relu {
            for img in 0..imgs {
                let to = &mut dst[(img * total + c0 + c) * plane..][..plane];
                for d in to {
                    let v = *d + add;
                    *d = if relu { v.max(0.0) } else { v };
                }
            }
        }
    }
}

fn check_lens(p: &Plan, x: usize, w: usize, y: usize) {
    assert_eq!(x, p.batch * p.in_sz(), "conv: input length");
    assert_eq!(w, p.cout * p.cin * p.kh * p.kw, "conv: weight length");
    assert_eq!(y, p.batch * p.out_sz(), "conv: output length");
}

/// `spec` (spectrum layout, `chans·imgs` wide, columns channel-major) = the spectra of
/// channels c0..c0 + chans of the images in `src` (`total` channels of `plane` cells);
/// `scratch` holds the gathered planes and the transform's buffer.
#[allow(clippy::too_many_arguments)]
fn channel_spectra(
    analysis: &Analysis,
    src: &[f32],
    total: usize,
    c0: usize,
    chans: usize,
    plane: usize,
    spec: &mut [f32],
    scratch: &mut [f32],
) {
    let imgs = src.len() / (total * plane);
    let (planes, tmp) = scratch.split_at_mut(chans * imgs * plane);
    gather(src, total, c0, chans, plane, planes);
    analysis.run(planes, chans * imgs, spec, tmp, false);
}

/// y = conv(x, w) + bias, then max(0, ·) if `relu`.
pub fn forward(g: &ConvGeom, x: &[f32], w: &[f32], bias: &[f32], relu: bool, y: &mut [f32]) {
    let p = Plan::of(g);
    check_lens(&p, x.len(), w.len(), y.len());
    assert_eq!(bias.len(), p.cout, "conv: bias length");
    if y.is_empty() {
        return;
    }
    let form = FilterForm::new(false);
    with_scratch(&SHARED, form.len(&p), |u| {
        filter_matrices(&p, w, form, u);
        forward_with(&p, x, u, form, bias, relu, y)
    })
}

fn forward_with(
    p: &Plan,
    x: &[f32],
    u: &[f32],
    form: FilterForm,
    bias: &[f32],
    relu: bool,
    y: &mut [f32],
) {
    let (analysis, synthesis) = (p.analysis(Grid::Input), p.synthesis(Grid::Output));
    let (bins, cin2, nb) = (p.bins(), 2 * p.cin, p.image_block());
    let blocks = p.channel_blocks();
    let cb = CHANNEL_BLOCK.min(p.cout);
    let spec_x = bins * cin2 * nb;
    let spec_y = bins * 2 * cb * nb;
    let out_len = p.oh * p.ow * cb * nb;
    let work =
        (p.cin * nb * p.h * p.w + analysis.tmp_len(p.cin * nb)).max(synthesis.tmp_len(cb * nb));
    let len = spec_x + spec_y + out_len + work;
    y.par_chunks_mut(nb * p.out_sz())
        .zip(x.par_chunks(nb * p.in_sz()))
        .for_each(|(yb, xb)| {
            let imgs = xb.len() / p.in_sz();
            with_scratch(&BUF, len, |buf| {
                let (xs, rest) = buf.split_at_mut(spec_x);
                let (ys, rest) = rest.split_at_mut(spec_y);
                let (out, work) = rest.split_at_mut(out_len);
                channel_spectra(&analysis, xb, p.cin, 0, p.cin, p.h * p.w, xs, work);
                for &(o0, co) in &blocks {
                    let (ub, per_bin) = (&u[form.block_start(p, o0)..], form.bin_len(p, co));
                    for bin in 0..bins {
                        let a = &ub[bin * per_bin..][..per_bin];
                        let b = &xs[bin * cin2 * imgs..][..cin2 * imgs];
                        let dst = &mut ys[bin * 2 * co * imgs..][..2 * co * imgs];
                        form.product(p, co, a, b, imgs, dst, false);
                    }
                    synthesis.run(ys, co * imgs, out, work);
                    scatter(out, p.oh, p.ow, p.cout, o0, co, Some(bias), relu, yb);
                }
            })
        });
}

/// dx = ∂L/∂x given dy (overwrites dx).
pub fn backward_input(g: &ConvGeom, dy: &[f32], w: &[f32], dx: &mut [f32]) {
    let p = Plan::of(g);
    check_lens(&p, dx.len(), w.len(), dy.len());
    if dx.is_empty() {
        return;
    }
    if dy.is_empty() {
        dx.fill(0.0);
        return;
    }
    let form = FilterForm::new(true);
    with_scratch(&SHARED, form.len(&p), |u| {
        filter_matrices(&p, w, form, u);
        backward_input_with(&p, dy, u, form, dx)
    })
}

fn backward_input_with(p: &Plan, dy: &[f32], u: &[f32], form: FilterForm, dx: &mut [f32]) {
    let (analysis, synthesis) = (p.analysis(Grid::Output), p.synthesis(Grid::Input));
    let (bins, cin2, nb) = (p.bins(), 2 * p.cin, p.image_block());
    let blocks = p.channel_blocks();
    let cb = CHANNEL_BLOCK.min(p.cout);
    let plane = p.oh * p.ow;
    let spec_dy = bins * 2 * cb * nb;
    let spec_dx = bins * cin2 * nb;
    let out_len = p.h * p.w * p.cin * nb;
    let work = (cb * nb * plane + analysis.tmp_len(cb * nb)).max(synthesis.tmp_len(p.cin * nb));
    let len = spec_dy + spec_dx + out_len + work;
    dx.par_chunks_mut(nb * p.in_sz())
        .zip(dy.par_chunks(nb * p.out_sz()))
        .for_each(|(dxb, dyb)| {
            let imgs = dxb.len() / p.in_sz();
            with_scratch(&BUF, len, |buf| {
                let (dys, rest) = buf.split_at_mut(spec_dy);
                let (dxs, rest) = rest.split_at_mut(spec_dx);
                let (out, work) = rest.split_at_mut(out_len);
                for (i, &(o0, co)) in blocks.iter().enumerate() {
                    channel_spectra(&analysis, dyb, p.cout, o0, co, plane, dys, work);
                    let (ub, per_bin) = (&u[form.block_start(p, o0)..], form.bin_len(p, co));
                    for bin in 0..bins {
                        let a = &ub[bin * per_bin..][..per_bin];
                        let b = &dys[bin * 2 * co * imgs..][..2 * co * imgs];
                        let dst = &mut dxs[bin * cin2 * imgs..][..cin2 * imgs];
                        form.product(p, co, a, b, imgs, dst, i > 0);
                    }
                }
                synthesis.run(dxs, p.cin * imgs, out, work);
                scatter(out, p.h, p.w, p.cin, 0, p.cin, None, false, dxb);
            })
        });
}

/// dw, dbias = ∂L/∂w, ∂L/∂bias summed over the batch (overwrites both).
pub fn backward_weights(g: &ConvGeom, x: &[f32], dy: &[f32], dw: &mut [f32], dbias: &mut [f32]) {
    let p = Plan::of(g);
    check_lens(&p, x.len(), dw.len(), dy.len());
    assert_eq!(dbias.len(), p.cout, "conv: bias gradient length");
    let plane = p.oh * p.ow;
    super::conv::bias_grad_per_channel(dy, plane, dbias);
    if p.batch == 0 || plane == 0 {
        dw.fill(0.0);
        return;
    }
    // Blocks of a fixed size, so that the sums over images (in order, block by block)
    // give the same bits whatever the threads.
    let (bins, cin2, nb) = (p.bins(), 2 * p.cin, IMAGE_BLOCK);
    // The spectra of every image, block by block: each channel block reads them all.
    let analysis_x = p.analysis(Grid::Input);
    let spec_x = bins * cin2 * nb;
    let x_work = p.cin * nb * p.h * p.w + analysis_x.tmp_len(p.cin * nb);
    with_scratch(&SHARED, p.batch.div_ceil(nb) * spec_x, |xs_all| {
        xs_all
            .par_chunks_mut(spec_x)
            .zip(x.par_chunks(nb * p.in_sz()))
            .for_each(|(xs, xb)| {
                with_scratch(&BUF, x_work, |work| {
                    channel_spectra(&analysis_x, xb, p.cin, 0, p.cin, p.h * p.w, xs, work)
                })
            });
        weights_from_spectra(&p, dy, xs_all, dw)
    })
}

/// dw from dy and the spectra of all images (`backward_weights`' second half).
fn weights_from_spectra(p: &Plan, dy: &[f32], xs_all: &[f32], dw: &mut [f32]) {
    let (bins, cin2, nb) = (p.bins(), 2 * p.cin, IMAGE_BLOCK);
    let plane = p.oh * p.ow;
    let spec_x = bins * cin2 * nb;
    let (analysis, synthesis) = (p.analysis(Grid::Output), p.synthesis(Grid::Lags));
    let cb = CHANNEL_BLOCK.min(p.cout);
    let taps = p.kh * p.kw;
    let acc_len = bins * 2 * cb * cin2;
    let spec_dy = bins * 2 * cb * nb;
    let lag_spec = bins * 2 * cb * p.cin;
    let out_len = taps * cb * p.cin;
    let work = (cb * nb * plane + analysis.tmp_len(cb * nb)).max(synthesis.tmp_len(cb * p.cin));
    let len = acc_len + spec_dy + lag_spec + out_len + work;
    let blocks = p.channel_blocks();
    dw.par_chunks_mut(CHANNEL_BLOCK * p.cin * taps)
        .zip(blocks)
        .for_each(|(dwb, (o0, co))| {
            with_scratch(&BUF, len, |buf| {
                let (acc, rest) = buf.split_at_mut(acc_len);
                let (dys, rest) = rest.split_at_mut(spec_dy);
                let (spec, rest) = rest.split_at_mut(lag_spec);
                let (out, work) = rest.split_at_mut(out_len);
                // acc[bin][re/im, o][re/im, c] = Σ_images DY[bin][re/im, o]·X[bin][re/im, c].
                for (bi, dyb) in dy.chunks(nb * p.out_sz()).enumerate() {
                    let imgs = dyb.len() / p.out_sz();
                    let xs = &xs_all[bi * spec_x..];
                    channel_spectra(&analysis, dyb, p.cout, o0, co, plane, dys, work);
                    for bin in 0..bins {
                        let lhs = View::row_major(&dys[bin * 2 * co * imgs..], imgs, false);
                        let rhs = View::row_major(&xs[bin * cin2 * imgs..], imgs, true);
                        let dst = &mut acc[bin * 2 * co * cin2..][..2 * co * cin2];
                        sgemm(2 * co, imgs, cin2, lhs, rhs, dst, cin2, bi > 0, false);
                    }
                }
                // D = conj(DY)·X: re = Σ(DYr·Xr + DYi·Xi), im = Σ(DYr·Xi − DYi·Xr).
                let kc = co * p.cin;
                for bin in 0..bins {
                    let m = &acc[bin * 2 * co * cin2..][..2 * co * cin2];
                    let (re, im) = spec[bin * 2 * kc..][..2 * kc].split_at_mut(kc);
                    for o in 0..co {
                        let top = &m[o * cin2..][..cin2];
                        let bottom = &m[(co + o) * cin2..][..cin2];
                        for c in 0..p.cin {
                            re[o * p.cin + c] = top[c] + bottom[p.cin + c];
                            im[o * p.cin + c] = top[p.cin + c] - bottom[c];
                        }
                    }
                }
                synthesis.run(&spec[..bins * 2 * kc], kc, out, work);
                // out[v][u][o, c] → dw[o, c, u, v].
                for (oc, taps_out) in dwb.chunks_exact_mut(taps).enumerate() {
                    for u in 0..p.kh {
                        for v in 0..p.kw {
                            taps_out[u * p.kw + v] = out[(v * p.kh + u) * kc + oc];
                        }
                    }
                }
            })
        });
}
