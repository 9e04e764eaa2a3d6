//! Matmuls with few rows, for decoding: `y (m x n) = x (m x k) · wᵀ` with an
//! HF `(n x k)` row-major weight and `m` one row per sequence of a decode
//! step (batch ≤ [`MAX_ROWS`]).
//!
//! Every output is a dot product of two contiguous rows, so the kernel reads
//! the weight in place, once per call (the memory floor), with no packing:
//! a tile of 4 weight rows stays in L1 while it meets every input row, 4 at
//! a time, in 16 SIMD accumulators summed across lanes at the end. gemm packs
//! the whole weight panel on every call instead, which for `m = 16` costs
//! about as much as the multiply (BENCHMARKS.md, runtime profile).
//!
//! x86-64 only, AVX-512F or AVX2+FMA detected at run time; elsewhere
//! [`matmul_xwt`] returns `false` and the caller uses gemm.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::kernels::SendPtr;

/// Largest row count the skinny kernel takes: a decode step's batch.
/// Prefills and training (hundreds of rows) go to gemm, whose packing pays
/// off there.
pub const MAX_ROWS: usize = 32;

/// Weight rows per tile.
const NR: usize = 4;

/// How many tiles ahead the weight rows are prefetched (measured on the
/// shared 2-core EPYC: 1 and 2 beat none by ~10-15% when the weight comes
/// from DRAM; 4 and 8 were no better).
const PREFETCH_TILES: usize = 2;

/// Multiply-adds below which one thread does the whole product. Measured on
/// the small config's decode step (2 pinned cores of a quiet 16-core Xeon):
/// splitting every product, even batch 1's 256 x 512 k/v projections, gave
/// 320 tok/s at batch 1 against 280 with a 2^18 threshold and 150 with 2^20;
/// batch 16 was the same for all three. Below 2^15 (a LoRA factor at batch
/// 1) the hand-off is not worth it.
const PAR_MIN_WORK: usize = 1 << 15;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    Avx512,
    Avx2,
}

/// Whether this CPU runs the kernels of `isa`.
pub(crate) fn supports(isa: Isa) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        match isa {
            Isa::Avx512 => is_x86_feature_detected!("avx512f"),
            Isa::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = isa;
        false
    }
}

/// The best kernel this CPU runs, if any.
pub(crate) fn detected() -> Option<Isa> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static ISA: OnceLock<Option<Isa>> = OnceLock::new();
        *ISA.get_or_init(|| {
            if is_x86_feature_detected!("avx512f") {
                Some(Isa::Avx512)
            } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                Some(Isa::Avx2)
            } else {
                None
            }
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// `y = x · wᵀ` for `x (m x k)`, `w (n x k)`, `y (m x n)`, all row-major and
/// contiguous. Returns `false` (and leaves `y` alone) when this CPU has no
/// kernel or `m > MAX_ROWS`: the caller then runs gemm.
pub fn matmul_xwt(x: &[f32], w: &[f32], y: &mut [f32], m: usize, n: usize, k: usize) -> bool {
    match detected() {
        Some(isa) if m <= MAX_ROWS => {
            matmul_with(isa, x, w, y, m, n, k, rayon::current_num_threads());
            true
        }
        _ => false,
    }
}

/// The kernel of `isa` (panics if this CPU lacks it), split over up to
/// `threads` rayon tasks along `n`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_with(
    isa: Isa,
    x: &[f32],
    w: &[f32],
    y: &mut [f32],
    m: usize,
    n: usize,
    k: usize,
    threads: usize,
) {
    assert!(supports(isa), "{isa:?} kernels on a CPU without them");
    assert!(x.len() >= m * k && w.len() >= n * k && y.len() >= m * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        y[..m * n].fill(0.0);
        return;
    }
    let parts = if threads > 1 && m * n * k >= PAR_MIN_WORK {
        threads.min(n.div_ceil(NR))
    } else {
        1
    };
    let yp = SendPtr(y.as_mut_ptr());
    let run = |j0: usize, j1: usize| {
        // SAFETY: `isa` is supported and the slices cover the matrices
        // (both asserted above), and tasks write
        // disjoint column ranges [j0, j1) of y.
        unsafe {
            #[cfg(target_arch = "x86_64")]
            match isa {
                Isa::Avx512 => avx512::block(x.as_ptr(), w.as_ptr(), yp.get(), m, n, k, j0, j1),
                Isa::Avx2 => avx2::block(x.as_ptr(), w.as_ptr(), yp.get(), m, n, k, j0, j1),
            }
        }
    };
    if parts == 1 {
        run(0, n);
    } else if parts == 2 {
        let mid = n.div_ceil(NR).div_ceil(2) * NR;
        rayon::join(|| run(0, mid), || run(mid, n));
    } else {
        // Column ranges in whole tiles, as equal as possible.
        let tiles = n.div_ceil(NR);
        let bound = |p: usize| (tiles * p / parts * NR).min(n);
        rayon::scope(|s| {
            for p in 1..parts {
                let run = &run;
                s.spawn(move |_| run(bound(p), bound(p + 1)));
            }
            run(0, bound(1));
        });
    }
}

/// `y = x · w` for `x (m x k)`, `w (k x n)`, `y (m x n)`, all row-major and
/// contiguous, on the calling thread: the other product of attention
/// (probabilities times cached values), where `n` is the head size. Panics
/// if this CPU lacks the kernels of `isa`.
pub(crate) fn matmul_xw_serial(
    isa: Isa,
    x: &[f32],
    w: &[f32],
    y: &mut [f32],
    m: usize,
    n: usize,
    k: usize,
) {
    assert!(supports(isa), "{isa:?} kernels on a CPU without them");
    assert!(x.len() >= m * k && w.len() >= k * n && y.len() >= m * n);
    // SAFETY: the ISA and the sizes are asserted above.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        match isa {
            Isa::Avx512 => avx512::xw(x.as_ptr(), w.as_ptr(), y.as_mut_ptr(), m, n, k),
            Isa::Avx2 => avx2::xw(x, w, y, m, n, k),
        }
    }
}

/// Dispatches a row count (1..=MR_MAX) to a const-generic tile.
macro_rules! for_rows {
    ($mr:expr, $f:ident :: <$nr:literal>, ($($arg:expr),*)) => {
        match $mr {
            1 => $f::<$nr, 1>($($arg),*),
            2 => $f::<$nr, 2>($($arg),*),
            3 => $f::<$nr, 3>($($arg),*),
            _ => $f::<$nr, 4>($($arg),*),
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::*;

    /// Input rows per tile: NR x MR = 16 accumulators (more spill).
    const MR: usize = 4;

    /// Columns [j0, j1) of y.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn block(
        x: *const f32,
        w: *const f32,
        y: *mut f32,
        m: usize,
        n: usize,
        k: usize,
        j0: usize,
        j1: usize,
    ) {
        let groups = m.div_ceil(MR);
        let mut j = j0;
        while j < j1 {
            let rows = (j1 - j).min(NR);
            // While this tile's rows meet the inputs, the next tile's rows
            // are prefetched, a share of them per input group.
            let next = w.wrapping_add((j + rows + NR * (PREFETCH_TILES - 1)) * k);
            let mut i = 0;
            for g in 0..groups {
                let mr = (m - i).min(MR);
                let (r0, r1) = (g * NR / groups, (g + 1) * NR / groups);
                let pf = Prefetch {
                    base: next.wrapping_add(r0 * k),
                    rows: if j + rows + NR * (PREFETCH_TILES - 1) < j1 {
                        r1 - r0
                    } else {
                        0
                    },
                    k,
                };
                let (xp, wp, yp) = (x.add(i * k), w.add(j * k), y.add(i * n + j));
                if rows == NR {
                    for_rows!(mr, tile::<4>, (xp, wp, yp, k, n, pf));
                } else {
                    for r in 0..rows {
                        let (wr, yr) = (wp.add(r * k), yp.add(r));
                        for_rows!(mr, tile::<1>, (xp, wr, yr, k, n, pf));
                    }
                }
                i += mr;
            }
            j += rows;
        }
    }

    /// Rows of the next weight tile to pull into cache, one line per row
    /// per step of the dot-product loop.
    #[derive(Clone, Copy)]
    struct Prefetch {
        base: *const f32,
        rows: usize,
        k: usize,
    }

    impl Prefetch {
        #[inline(always)]
        unsafe fn at(self, p: usize) {
            for r in 0..self.rows {
                // A hint: never faults, even past the end of the weight.
                _mm_prefetch::<_MM_HINT_T0>(self.base.wrapping_add(r * self.k + p) as *const i8);
            }
        }
    }

    /// `y[c][r] = x[c] · w[r]` for R weight rows and C input rows.
    #[target_feature(enable = "avx512f")]
    unsafe fn tile<const R: usize, const C: usize>(
        x: *const f32,
        w: *const f32,
        y: *mut f32,
        k: usize,
        ldy: usize,
        pf: Prefetch,
    ) {
        let mut acc = [[_mm512_setzero_ps(); R]; C];
        let mut p = 0;
        while p + 16 <= k {
            pf.at(p);
            let mut wv = [_mm512_setzero_ps(); R];
            for (r, v) in wv.iter_mut().enumerate() {
                *v = _mm512_loadu_ps(w.add(r * k + p));
            }
            for (c, a) in acc.iter_mut().enumerate() {
                let xv = _mm512_loadu_ps(x.add(c * k + p));
                for r in 0..R {
                    a[r] = _mm512_fmadd_ps(wv[r], xv, a[r]);
                }
            }
            p += 16;
        }
        if p < k {
            pf.at(p);
            let mask: __mmask16 = ((1u32 << (k - p)) - 1) as u16;
            let mut wv = [_mm512_setzero_ps(); R];
            for (r, v) in wv.iter_mut().enumerate() {
                *v = _mm512_maskz_loadu_ps(mask, w.add(r * k + p));
            }
            for (c, a) in acc.iter_mut().enumerate() {
                let xv = _mm512_maskz_loadu_ps(mask, x.add(c * k + p));
                for r in 0..R {
                    a[r] = _mm512_fmadd_ps(wv[r], xv, a[r]);
                }
            }
        }
        if R == 4 {
            // All lane sums at once (missing input rows as zeros); lane
            // 4c + r is y[c][r].
            let mut all = [_mm512_setzero_ps(); 16];
            for (c, row) in acc.iter().enumerate() {
                all[4 * c..4 * c + 4].copy_from_slice(row);
            }
            let s = reduce16(&all);
            for c in 0..C {
                let v = match c {
                    0 => _mm512_extractf32x4_ps::<0>(s),
                    1 => _mm512_extractf32x4_ps::<1>(s),
                    2 => _mm512_extractf32x4_ps::<2>(s),
                    _ => _mm512_extractf32x4_ps::<3>(s),
                };
                _mm_storeu_ps(y.add(c * ldy), v);
            }
        } else {
            for (c, row) in acc.iter().enumerate() {
                for (r, a) in row.iter().enumerate() {
                    *y.add(c * ldy + r) = _mm512_reduce_add_ps(*a);
                }
            }
        }
    }

    /// `y = x · w`, `w (k x n)` row-major: rows of y in groups of up to 4,
    /// columns in blocks of 64 (4 vectors, the last ones masked), the k
    /// loop broadcasting one x value per row against 4 w vectors.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn xw(
        x: *const f32,
        w: *const f32,
        y: *mut f32,
        m: usize,
        n: usize,
        k: usize,
    ) {
        let mut i = 0;
        while i < m {
            let mr = (m - i).min(4);
            let mut j = 0;
            while j < n {
                let cols = (n - j).min(64);
                let (xp, wp, yp) = (x.add(i * k), w.add(j), y.add(i * n + j));
                match mr {
                    1 => xw_tile::<1>(xp, wp, yp, n, k, cols),
                    2 => xw_tile::<2>(xp, wp, yp, n, k, cols),
                    3 => xw_tile::<3>(xp, wp, yp, n, k, cols),
                    _ => xw_tile::<4>(xp, wp, yp, n, k, cols),
                }
                j += cols;
            }
            i += mr;
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn xw_tile<const C: usize>(
        x: *const f32,
        w: *const f32,
        y: *mut f32,
        n: usize,
        k: usize,
        cols: usize,
    ) {
        let masks: [__mmask16; 4] = std::array::from_fn(|v| {
            let c = cols.saturating_sub(16 * v).min(16);
            ((1u32 << c) - 1) as u16
        });
        let mut acc = [[_mm512_setzero_ps(); 4]; C];
        for p in 0..k {
            let mut wv = [_mm512_setzero_ps(); 4];
            for (v, o) in wv.iter_mut().enumerate() {
                // Masked-off lanes are not read (no fault past the end).
                *o = _mm512_maskz_loadu_ps(masks[v], w.wrapping_add(p * n + 16 * v));
            }
            for (c, a) in acc.iter_mut().enumerate() {
                let xb = _mm512_set1_ps(*x.add(c * k + p));
                for v in 0..4 {
                    a[v] = _mm512_fmadd_ps(wv[v], xb, a[v]);
                }
            }
        }
        for (c, a) in acc.iter().enumerate() {
            for (v, &val) in a.iter().enumerate() {
                _mm512_mask_storeu_ps(y.wrapping_add(c * n + 16 * v), masks[v], val);
            }
        }
    }

    /// The lane sums of 16 vectors `a[0..16]`, as lanes 0..16 of one vector
    /// (a transpose-and-add tree: 45 instructions instead of 16 reductions).
    #[target_feature(enable = "avx512f")]
    unsafe fn reduce16(a: &[__m512; 16]) -> __m512 {
        let a = |i: usize| a[i];
        // Pairs: per 128-bit lane [x0+x2, y0+y2, x1+x3, y1+y3].
        let s: [__m512; 8] = std::array::from_fn(|t| {
            let (x, y) = (a(2 * t), a(2 * t + 1));
            _mm512_add_ps(_mm512_unpacklo_ps(x, y), _mm512_unpackhi_ps(x, y))
        });
        // Quads: per 128-bit lane the partial sums of vectors 4u..4u+4.
        let q: [__m512; 4] = std::array::from_fn(|u| {
            let (x, y) = (_mm512_castps_pd(s[2 * u]), _mm512_castps_pd(s[2 * u + 1]));
            _mm512_add_ps(
                _mm512_castpd_ps(_mm512_unpacklo_pd(x, y)),
                _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)),
            )
        });
        // Across the 128-bit lanes.
        let fold = |x: __m512, y: __m512| {
            _mm512_add_ps(
                _mm512_shuffle_f32x4::<0b10_00_10_00>(x, y),
                _mm512_shuffle_f32x4::<0b11_01_11_01>(x, y),
            )
        };
        fold(fold(q[0], q[1]), fold(q[2], q[3]))
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;

    /// Input rows per tile: NR x MR = 8 accumulators of 16 registers.
    const MR: usize = 2;

    /// Columns [j0, j1) of y.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn block(
        x: *const f32,
        w: *const f32,
        y: *mut f32,
        m: usize,
        n: usize,
        k: usize,
        j0: usize,
        j1: usize,
    ) {
        let mut j = j0;
        while j < j1 {
            let rows = (j1 - j).min(NR);
            let mut i = 0;
            while i < m {
                let mr = (m - i).min(MR);
                let (xp, wp, yp) = (x.add(i * k), w.add(j * k), y.add(i * n + j));
                match (rows == NR, mr) {
                    (true, 2) => tile::<4, 2>(xp, wp, yp, k, n),
                    (true, _) => tile::<4, 1>(xp, wp, yp, k, n),
                    (false, _) => {
                        for r in 0..rows {
                            let (wr, yr) = (wp.add(r * k), yp.add(r));
                            if mr == 2 {
                                tile::<1, 2>(xp, wr, yr, k, n);
                            } else {
                                tile::<1, 1>(xp, wr, yr, k, n);
                            }
                        }
                    }
                }
                i += mr;
            }
            j += rows;
        }
    }

    /// `y = x · w`, `w (k x n)` row-major: plain loops the compiler
    /// vectorises for AVX2.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn xw(x: &[f32], w: &[f32], y: &mut [f32], m: usize, n: usize, k: usize) {
        for i in 0..m {
            let out = &mut y[i * n..(i + 1) * n];
            out.fill(0.0);
            for p in 0..k {
                let a = x[i * k + p];
                for (o, &b) in out.iter_mut().zip(&w[p * n..(p + 1) * n]) {
                    *o += a * b;
                }
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    /// `y[c][r] = x[c] · w[r]` for R weight rows and C input rows.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile<const R: usize, const C: usize>(
        x: *const f32,
        w: *const f32,
        y: *mut f32,
        k: usize,
        ldy: usize,
    ) {
        let mut acc = [[_mm256_setzero_ps(); R]; C];
        let mut p = 0;
        while p + 8 <= k {
            let mut wv = [_mm256_setzero_ps(); R];
            for (r, v) in wv.iter_mut().enumerate() {
                *v = _mm256_loadu_ps(w.add(r * k + p));
            }
            for (c, a) in acc.iter_mut().enumerate() {
                let xv = _mm256_loadu_ps(x.add(c * k + p));
                for (a, &wr) in a.iter_mut().zip(&wv) {
                    *a = _mm256_fmadd_ps(wr, xv, *a);
                }
            }
            p += 8;
        }
        for (c, row) in acc.iter().enumerate() {
            for (r, &a) in row.iter().enumerate() {
                let mut s = hsum(a);
                for q in p..k {
                    s += *w.add(r * k + q) * *x.add(c * k + q);
                }
                *y.add(c * ldy + r) = s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    fn naive(x: &[f32], w: &[f32], m: usize, n: usize, k: usize) -> Vec<f64> {
        let mut y = vec![0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                y[i * n + j] = (0..k)
                    .map(|p| x[i * k + p] as f64 * w[j * k + p] as f64)
                    .sum();
            }
        }
        y
    }

    /// Every kernel this CPU runs, on odd shapes (tails in every dimension),
    /// single-threaded and split, against an f64 reference.
    #[test]
    fn kernels_match_naive_on_odd_shapes() {
        let isas: Vec<Isa> = [Isa::Avx512, Isa::Avx2]
            .into_iter()
            .filter(|&i| supports(i))
            .collect();
        let shapes = [
            (1, 1, 1),
            (1, 7, 5),
            (3, 5, 17),
            (16, 33, 40),
            (17, 13, 100),
            (7, 4, 16),
            (32, 9, 31),
            (16, 515, 515),
            (2, 260, 1029),
        ];
        for isa in isas {
            for &(m, n, k) in &shapes {
                let x = data(m * k, 1 + m as u64);
                let w = data(n * k, 2 + n as u64);
                let want = naive(&x, &w, m, n, k);
                for (threads, forced) in [(1, false), (2, false), (3, false), (2, true), (3, true)]
                {
                    let mut y = vec![f32::NAN; m * n];
                    if forced {
                        // Split at any column, even on small shapes.
                        matmul_split(isa, &x, &w, &mut y, m, n, k, threads);
                    } else {
                        matmul_with(isa, &x, &w, &mut y, m, n, k, threads);
                    }
                    for (i, (a, b)) in y.iter().zip(&want).enumerate() {
                        let tol = 1e-5 * (k as f64).sqrt().max(1.0);
                        assert!(
                            (*a as f64 - b).abs() <= tol,
                            "{isa:?} m={m} n={n} k={k} threads={threads} [{i}]: {a} vs {b}"
                        );
                    }
                }
            }
        }
    }

    /// Splits the columns into `threads` equal ranges (not whole tiles) on
    /// scoped threads, regardless of size.
    #[allow(clippy::too_many_arguments)]
    fn matmul_split(
        isa: Isa,
        x: &[f32],
        w: &[f32],
        y: &mut [f32],
        m: usize,
        n: usize,
        k: usize,
        threads: usize,
    ) {
        let yp = SendPtr(y.as_mut_ptr());
        let bounds: Vec<usize> = (0..=threads).map(|p| n * p / threads).collect();
        std::thread::scope(|s| {
            for p in 0..threads {
                let (j0, j1) = (bounds[p], bounds[p + 1]);
                // SAFETY: the test runs only the ISAs this CPU supports, the
                // slices cover the matrices, and the threads write disjoint
                // column ranges [j0, j1) of y.
                s.spawn(move || unsafe {
                    match isa {
                        Isa::Avx512 => {
                            avx512::block(x.as_ptr(), w.as_ptr(), yp.get(), m, n, k, j0, j1)
                        }
                        Isa::Avx2 => avx2::block(x.as_ptr(), w.as_ptr(), yp.get(), m, n, k, j0, j1),
                    }
                });
            }
        });
    }

    #[test]
    fn xw_matches_naive_on_odd_shapes() {
        let isas: Vec<Isa> = [Isa::Avx512, Isa::Avx2]
            .into_iter()
            .filter(|&i| supports(i))
            .collect();
        for isa in isas {
            for &(m, n, k) in &[
                (1, 1, 1),
                (2, 64, 144),
                (3, 17, 5),
                (5, 70, 33),
                (8, 130, 1),
            ] {
                let x = data(m * k, 3 + m as u64);
                let w = data(k * n, 4 + n as u64);
                let mut y = vec![f32::NAN; m * n];
                matmul_xw_serial(isa, &x, &w, &mut y, m, n, k);
                for i in 0..m {
                    for j in 0..n {
                        let want: f64 = (0..k)
                            .map(|p| x[i * k + p] as f64 * w[p * n + j] as f64)
                            .sum();
                        let got = y[i * n + j] as f64;
                        assert!(
                            (got - want).abs() <= 1e-5 * (k as f64).sqrt().max(1.0),
                            "{isa:?} m={m} n={n} k={k} [{i},{j}]: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn too_many_rows_declines() {
        let (m, n, k) = (MAX_ROWS + 1, 3, 4);
        let mut y = vec![7.0; m * n];
        let ok = matmul_xwt(&vec![1.0; m * k], &vec![1.0; n * k], &mut y, m, n, k);
        assert!(!ok);
        assert!(y.iter().all(|&v| v == 7.0));
    }
}
