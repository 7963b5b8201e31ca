// GEMM for the cpu backend: C = A @ B for strided A, B, C, on the building blocks of
// gemm_core.h. Threads (OpenMP) each compute a block of C's rows or columns, or a slice of k,
// packing their own operands.
#include "gemm_core.h"

/* Products whose A rows and B columns are both contiguous along k (x @ W^T: a linear layer's
   forward) with one side narrow (a classifier's 10 outputs): every element of C is a dot product
   of two contiguous vectors, so blocks of them (4 x 4, or 2 x 4: below) run in vector lanes over
   k with no packing, where the packed kernel would pad 10 columns to a 32-wide tile or transpose a whole
   operand (AVX-512, [128, 256] @ [256, 10] on one thread: 20.7 -> 10.9 us; a matrix-vector
   product [256, 1024] @ [1024, 1]: 245 -> 12.5 us). */
#define DOT_NARROW_MAX 12
/* Blocks of DOT_MB rows by 4 columns: 4 x 4 (16 sums, 8 operands) fits AVX-512's 32 vector
   registers; with 16 (AVX2, SSE) 4 x 4 spilled (4x slower than the packed kernel), and 2 x 4 (8
   sums, 6 operands) is used there. 2 x 4 on x86-64-v3 code against the packed kernel, 2 threads
   on the bench machine: [128, 256] @ [256, 10] 1.27x, [256, 1024] @ [1024, 1] 8.3x, [16, 1024]
   @ [1024, 1024] 2.2x, [64, 1600] @ [1600, 128] 0.99x; on baseline x86-64 (SSE2) code 1.2-6.4x. */
#if defined(__AVX512F__)
#define FM_DOT_PATH 1
#define DOT_MB 4
#elif defined(__x86_64__)
#define FM_DOT_PATH 1
#define DOT_MB 2
#else
#define FM_DOT_PATH 0
#define DOT_MB 4
#endif
/* Also when one side is short and k long: packing B is then paid for by few rows of A ([64, 1600]
   @ [1600, 128], a CNN's first linear layer: 145 -> 126 us on 2 threads; [16, 1024] @ [1024,
   1024]: 610 -> 344 us), while a short k leaves the sums across lanes too large a share. The
   short side must fit in L2 (a block of its columns is reused by every row of the long side;
   [96, 4096] @ [4096, 4096] as dot products was 0.79x the packed kernel) ... */
#define DOT_SHORT_MAX 96
#define DOT_LONG_K 512
#define DOT_SHORT_BYTES (512 * 1024)
/* ... and C small: with a long other side the packing is amortised again ([4096, 1024] @ [1024,
   96] as dot products was 0.76x the packed kernel). */
#define DOT_SHORT_C 65536
/* Each thread's slice of k when few rows split k instead (below, gemm_dot). */
#define DOT_SPLIT_K 4096
static inline int64_t fm_min(int64_t a, int64_t b) { return a < b ? a : b; }
/* Pins a vector in a register (an empty asm that "changes" it): see dot_block. */
#if FM_DOT_PATH
#define FM_IN_REGISTER(v) __asm__("" : "+x"(v))
#else
#define FM_IN_REGISTER(v) (void)0
#endif
/* clang has no __builtin_shuffle with a mask vector: there hsum adds each vector's lanes in turn. */
#if defined(__clang__)
#define FM_SHUFFLE_SUMS 0
#define FM_SHUFFLE2(a, b, mask) (a)
#else
#define FM_SHUFFLE_SUMS 1
#define FM_SHUFFLE2(a, b, mask) __builtin_shuffle(a, b, mask)
#endif
#define GEMM_DOT(T, IT, SFX)                                                                             \
  /* Rows [i0, i1) of C += the partial products 1 .. nparts - 1 of a k split (m x n, row-major,   \
     one after another in `part`), added in that order. */                                       \
  static void add_parts_##SFX(T* c, int64_t crs, int64_t ccs, const T* part, int nparts, int64_t m,     \
                              int64_t n, int64_t i0, int64_t i1) {                                       \
    for (int64_t i = i0; i < i1; i++)                                                                    \
      for (int u = 1; u < nparts; u++) {                                                                 \
        const T* src = part + (u - 1) * m * n + i * n;                                                   \
        T* row = c + i * crs;                                                                            \
        if (ccs == 1) for (int64_t j = 0; j < n; j++) row[j] += src[j];                                  \
        else for (int64_t j = 0; j < n; j++) row[j * ccs] += src[j];                                     \
      }                                                                                                  \
  }                                                                                                      \
  typedef IT vi_##SFX __attribute__((vector_size(sizeof(v_##SFX))));                                     \
  enum { VL_##SFX = sizeof(v_##SFX) / sizeof(T) };                                                      \
  /* Level L's shuffles (w = VL >> L lanes per group, VL / w groups): lo takes the first half of  \
     each group of the first vector, then of the second; hi the second halves. Built at load. */  \
  static vi_##SFX hsum_masks_##SFX[8][2];                                                              \
  __attribute__((constructor)) static void hsum_init_##SFX(void) {                                     \
    for (int L = 0, w = VL_##SFX; w > 1 && L < 8; L++, w /= 2) {                                       \
      const int g = VL_##SFX / w;                                                                        \
      for (int q = 0; q < 2 * g; q++)                                                                    \
        for (int l = 0; l < w / 2; l++) {                                                                \
          hsum_masks_##SFX[L][0][q * (w / 2) + l] = (q < g ? 0 : VL_##SFX) + (q % g) * w + l;            \
          hsum_masks_##SFX[L][1][q * (w / 2) + l] = (q < g ? 0 : VL_##SFX) + (q % g) * w + w / 2 + l;    \
        }                                                                                                \
    }                                                                                                    \
  }                                                                                                      \
  /* out[q] = the sum of x[q]'s lanes, for N (a power of two) vectors: pairs of vectors fold into  \
     one (each half of every lane group added to the other, the first vector's groups then the   \
     second's) until each lane holds a whole sum, so N sums cost about 2N shuffles, not N * lanes   \
     dependent scalar adds. */                                                                     \
  static inline __attribute__((always_inline)) void hsum_##SFX(const int N, v_##SFX* x, T* out) {     \
    int n = N, w = VL_##SFX, L = 0;                                                                      \
    for (; FM_SHUFFLE_SUMS && n > 1 && w > 1; n /= 2, w /= 2, L++) {                                     \
      const vi_##SFX lo = hsum_masks_##SFX[L][0], hi = hsum_masks_##SFX[L][1];                           \
      for (int p = 0; p < n / 2; p++)                                                                    \
        x[p] = FM_SHUFFLE2(x[2 * p], x[2 * p + 1], lo) + FM_SHUFFLE2(x[2 * p], x[2 * p + 1], hi); \
    }                                                                                                    \
    const int g = VL_##SFX / w;                                                                          \
    for (int p = 0; p < n; p++)                                                                          \
      for (int q = 0; q < g; q++) {                                                                      \
        T s = 0;                                                                                         \
        for (int l = 0; l < w; l++) s += x[p][q * w + l];                                                \
        out[p * g + q] = s;                                                                              \
      }                                                                                                  \
  }                                                                                                      \
  static inline __attribute__((always_inline)) void dot_block_##SFX(const int MB, const int NB, int64_t k, \
      const T* restrict a, int64_t ars, const T* restrict b, int64_t bcs, T* c, int64_t crs, int64_t ccs) { \
    v_##SFX acc[4][4];                                                                                   \
    for (int i = 0; i < MB; i++)                                                                         \
      for (int j = 0; j < NB; j++) acc[i][j] = (v_##SFX){0};                                             \
    const int VL = VL_##SFX;                                                                             \
    int64_t p = 0;                                                                                       \
    for (; p + VL <= k; p += VL) {                                                                       \
      v_##SFX av[4], bv[4];                                                                              \
      /* Loads through the under-aligned vector type: with 256-bit vectors GCC copied memcpy's    \
         vectors through the stack (the 2 x 4 blocks ran at a sixth of their speed). */            \
      for (int i = 0; i < MB; i++) av[i] = *(const v_##SFX*)(a + i * ars + p);                           \
      for (int j = 0; j < NB; j++) bv[j] = *(const v_##SFX*)(b + j * bcs + p);                           \
      /* Held in registers: GCC otherwise reloads each vector for every FMA that uses it (20 loads \
         per 16 FMAs instead of 8: the loop was load-bound). */                                    \
      for (int i = 0; i < MB; i++) FM_IN_REGISTER(av[i]);                                                \
      for (int j = 0; j < NB; j++) FM_IN_REGISTER(bv[j]);                                                \
      for (int i = 0; i < MB; i++)                                                                       \
        for (int j = 0; j < NB; j++) acc[i][j] += av[i] * bv[j];                                         \
    }                                                                                                    \
    /* The 16 (or fewer) sums across their lanes at once (hsum_), then k's tail. */                \
    v_##SFX x[16];                                                                                       \
    const int N = MB * NB <= 1 ? 1 : MB * NB <= 2 ? 2 : MB * NB <= 4 ? 4 : MB * NB <= 8 ? 8 : 16;        \
    for (int i = 0; i < MB; i++)                                                                         \
      for (int j = 0; j < NB; j++) x[i * NB + j] = acc[i][j];                                            \
    for (int q = MB * NB; q < N; q++) x[q] = (v_##SFX){0};                                               \
    T sums[16];                                                                                          \
    hsum_##SFX(N, x, sums);                                                                              \
    for (int i = 0; i < MB; i++)                                                                         \
      for (int j = 0; j < NB; j++) {                                                                     \
        T s = sums[i * NB + j];                                                                          \
        for (int64_t q = p; q < k; q++) s += a[i * ars + q] * b[j * bcs + q];                           \
        c[i * crs + j * ccs] = s;                                                                        \
      }                                                                                                  \
  }                                                                                                      \
  /* Rows [i0, i1) of C: DOT_MB x 4 blocks, then the edges as blocks of fewer rows or columns.   \
     Columns go in blocks whose B rows (jb of them, k long) stay in L2 while every row of A passes. */ \
  static void dot_rows_##SFX(int64_t i0, int64_t i1, int64_t n, int64_t k, const T* a, int64_t ars,      \
                             const T* b, int64_t bcs, T* c, int64_t crs, int64_t ccs) {                  \
    int64_t jb = (int64_t)(256 * 1024 / sizeof(T)) / k / 4 * 4;                                          \
    if (jb < 4) jb = 4;                                                                                  \
    for (int64_t j0 = 0; j0 < n; j0 += jb) {                                                             \
      const int64_t j1 = n - j0 < jb ? n : j0 + jb;                                                      \
      for (int64_t i = i0; i < i1; i += DOT_MB) {                                                        \
        const int64_t mb = i1 - i < DOT_MB ? i1 - i : DOT_MB;                                            \
        const T* ai = a + i * ars; T* ci = c + i * crs;                                                  \
        for (int64_t j = j0; j < j1; j += 4) {                                                           \
          const int64_t nb = j1 - j < 4 ? j1 - j : 4;                                                    \
          const T* bj = b + j * bcs; T* cij = ci + j * ccs;                                              \
          /* Constant block sizes: each call is inlined as its own register-blocked kernel. */       \
          if (mb == DOT_MB) {                                                                            \
            if (nb == 4) dot_block_##SFX(DOT_MB, 4, k, ai, ars, bj, bcs, cij, crs, ccs);                 \
            else if (nb == 3) dot_block_##SFX(DOT_MB, 3, k, ai, ars, bj, bcs, cij, crs, ccs);            \
            else if (nb == 2) dot_block_##SFX(DOT_MB, 2, k, ai, ars, bj, bcs, cij, crs, ccs);            \
            else dot_block_##SFX(DOT_MB, 1, k, ai, ars, bj, bcs, cij, crs, ccs);                         \
          } else                                                                                         \
            for (int64_t r = 0; r < mb; r++) {                                                           \
              if (nb == 4) dot_block_##SFX(1, 4, k, ai + r * ars, ars, bj, bcs, cij + r * crs, crs, ccs); \
              else for (int64_t q = 0; q < nb; q++) dot_block_##SFX(1, 1, k, ai + r * ars, ars, bj + q * bcs, bcs, cij + r * crs + q * ccs, crs, ccs); \
            }                                                                                            \
        }                                                                                                \
      }                                                                                                  \
    }                                                                                                    \
  }                                                                                                      \
  /* C = A @ B by dot products, A's rows and B's columns contiguous; m >= n (callers swap).        \
     Threads take equal shares of C's rows; with too few rows for that and a long k (the dot      \
     product of two long vectors, a Gram matrix of a few), slices of k instead: thread 0 sums its  \
     slice into C, the others into buffers added to C in thread order after the region. */       \
  static void gemm_dot_##SFX(int64_t m, int64_t n, int64_t k, const T* a, int64_t ars, const T* b,       \
                             int64_t bcs, T* c, int64_t crs, int64_t ccs, int nth) {                     \
    if (nth > 1 && m >= 8 * nth) {                                                                       \
      _Pragma("omp parallel num_threads(nth)") {                                                         \
        const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();                              \
        dot_rows_##SFX((m / DOT_MB) * t / nt * DOT_MB, t == nt - 1 ? m : (m / DOT_MB) * (t + 1) / nt * DOT_MB, n, k, a, ars, b, bcs, c, crs, ccs); \
      }                                                                                                  \
      return;                                                                                            \
    }                                                                                                    \
    T* part = nth > 1 && k >= DOT_SPLIT_K * nth ? malloc(sizeof(T) * (size_t)(nth - 1) * m * n) : NULL; \
    if (!part) {                                                                                         \
      dot_rows_##SFX(0, m, n, k, a, ars, b, bcs, c, crs, ccs);                                           \
      return;                                                                                            \
    }                                                                                                    \
    int used = 1;                                                                                        \
    _Pragma("omp parallel num_threads(nth)") {                                                           \
      const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num(), k0 = k * t / nt;               \
      if (t == 0) used = (int)nt;                                                                        \
      dot_rows_##SFX(0, m, n, k * (t + 1) / nt - k0, a + k0, ars, b + k0, bcs, t == 0 ? c : part + (t - 1) * m * n, \
                     t == 0 ? crs : n, t == 0 ? ccs : 1);                                                \
    }                                                                                                    \
    add_parts_##SFX(c, crs, ccs, part, used, m, n, 0, m);                                                \
    free(part);                                                                                          \
  }
GEMM_DOT(float, int32_t, f32)
GEMM_DOT(double, int64_t, f64)

#define GEMM_THREADED(T, SFX, MR, MC, NC)                                                             \
  void fm_gemm_##SFX(int64_t m, int64_t n, int64_t k, const T* a, int64_t ars, int64_t acs, const T* b, \
                     int64_t brs, int64_t bcs, T* c, int64_t crs, int64_t ccs, int threads) {           \
    if (m == 0 || n == 0) return;                                                                        \
    const int nth_ = (double)m * n * k < 2e6 ? 1 : threads; /* small products: not worth waking threads */ \
    if (FM_DOT_PATH && acs == 1 && brs == 1 && k >= 16 && (fm_min(m, n) <= DOT_NARROW_MAX || (fm_min(m, n) <= DOT_SHORT_MAX && m * n <= DOT_SHORT_C && k >= DOT_LONG_K && fm_min(m, n) * k * (int64_t)sizeof(T) <= DOT_SHORT_BYTES))) { \
      /* C^T = B^T A^T keeps both operands contiguous along k: the longer side takes the rows. */   \
      if (m >= n) gemm_dot_##SFX(m, n, k, a, ars, b, bcs, c, crs, ccs, nth_);                             \
      else gemm_dot_##SFX(n, m, k, b, bcs, a, ars, c, ccs, crs, nth_);                                    \
      return;                                                                                            \
    }                                                                                                    \
    if (k == 0 || m * n * k <= 32 * 32 * 32) {                                                           \
      small_##SFX(m, n, k, a, ars, acs, b, brs, bcs, c, crs, ccs);                                       \
      return;                                                                                            \
    }                                                                                                    \
    int nth = nth_;                                                                                      \
    /* Threads own disjoint blocks of the work, each packing its own operands, with no barrier      \
       inside the product (a thread the machine delays holds up no other until the end): row      \
       panels of C, column tiles of C, or slices of k (each thread's partial product in a buffer,  \
       then summed into C in thread order). Each split's cost per thread, in flops: the micro-    \
       kernel's whole tiles, PACK per packed element, and CST per element of C (or of a buffer)   \
       stored once per k block, and for a k split the buffers and their sum (cross-core reads);   \
       the cheapest wins. Constants from measurements on the bench machine. */                     \
    const int64_t rp = (m + MR - 1) / MR, cp = (n + NR_##SFX - 1) / NR_##SFX;                            \
    const double tile = 2.0 * MR * NR_##SFX, PACK = 24, CST = 16;                                        \
    int mode = 0; /* 0: rows, 1: columns, 2: k */                                                        \
    if (nth > 1) {                                                                                       \
      const int64_t rpt = (rp + nth - 1) / nth, cpt = (cp + nth - 1) / nth, kt = (k + nth - 1) / nth;   \
      /* k blocks for the rows each split gives a thread (k_block: fewer rows, shorter blocks). */     \
      const int64_t ks0 = k_block_##SFX(m), ksr = k_block_##SFX(MR * rpt);                                \
      const double nkb = (k + ks0 - 1) / ks0, nkbr = (k + ksr - 1) / ksr, nkbt = (kt + ks0 - 1) / ks0;     \
      const double serial = tile * k * rp * cp + PACK * ((double)m * k + (double)k * n) + CST * nkb * m * n; \
      const double rows = tile * k * rpt * cp + PACK * ((double)MR * rpt * k + (double)k * n) + CST * nkbr * MR * rpt * n; \
      const double cols = tile * k * rp * cpt + PACK * ((double)m * k + (double)k * NR_##SFX * cpt) + CST * nkb * m * NR_##SFX * cpt; \
      const double ks = (double)(nth - 1) * m * n * sizeof(T) > 64.0 * (1 << 20) || k < 64 * nth ? 1e300 /* buffers; k slices */ \
        : tile * kt * rp * cp + PACK * (double)(m + n) * kt + CST * (nkbt + 3.0) * m * n;                 \
      double best = rows;                                                                                \
      if (cols < best) { best = cols; mode = 1; }                                                        \
      if (ks < best) { best = ks; mode = 2; }                                                            \
      if (best > 0.9 * serial) { nth = 1; mode = 0; }                                                    \
    }                                                                                                    \
    int64_t nc_max = n < NC ? n : NC;                                                                    \
    size_t bbytes = fm_lines((nc_max + NR_##SFX - 1) / NR_##SFX * NR_##SFX * KC_##SFX * sizeof(T));  \
    size_t abytes = fm_lines(MC * KC_##SFX * sizeof(T));                                                       \
    /* Every buffer up front (packing space per thread, a k split's partial products), so that  \
       when memory runs out the product falls back to fewer threads, then to plain loops. */     \
    T* part = NULL;                                                                                      \
    if (mode == 2) {                                                                                     \
      part = aligned_alloc(64, fm_lines((nth - 1) * m * n * sizeof(T)));                             \
      if (!part) mode = 0;                                                                               \
    }                                                                                                    \
    char* packs = aligned_alloc(64, nth * (abytes + bbytes));                                            \
    if (!packs && nth > 1) {                                                                             \
      free(part); part = NULL; nth = 1; mode = 0;                                                        \
      packs = aligned_alloc(64, abytes + bbytes);                                                        \
    }                                                                                                    \
    if (!packs) {                                                                                        \
      small_##SFX(m, n, k, a, ars, acs, b, brs, bcs, c, crs, ccs);                                       \
      return;                                                                                            \
    }                                                                                                    \
    _Pragma("omp parallel num_threads(nth)") {                                                           \
      int nt = omp_get_num_threads(), t = omp_get_thread_num();                                          \
      T* apack = (T*)(packs + t * (abytes + bbytes));                                                    \
      T* bpack = (T*)(packs + t * (abytes + bbytes) + abytes);                                           \
      if (mode == 1) {                                                                                   \
        int64_t j0 = cp * t / nt * NR_##SFX, j1 = cp * (t + 1) / nt * NR_##SFX;                          \
        if (j1 > n) j1 = n;                                                                              \
        if (j1 > j0) gemm_serial_##SFX(m, j1 - j0, k, a, ars, acs, b + j0 * bcs, brs, bcs, c + j0 * ccs, crs, ccs, apack, bpack); \
      } else if (mode == 0) {                                                                            \
        int64_t i0 = rp * t / nt * MR, i1 = rp * (t + 1) / nt * MR;                                      \
        if (i1 > m) i1 = m;                                                                              \
        if (i1 > i0) gemm_serial_##SFX(i1 - i0, n, k, a + i0 * ars, ars, acs, b, brs, bcs, c + i0 * crs, crs, ccs, apack, bpack); \
      } else {                                                                                           \
        /* Thread 0 writes C, the others their buffers (k >= 64 nth: each slice has some k). */    \
        int64_t k0 = k * t / nt, k1 = k * (t + 1) / nt;                                                  \
        T* out = t == 0 ? c : part + (t - 1) * m * n;                                                    \
        gemm_serial_##SFX(m, n, k1 - k0, a + k0 * acs, ars, acs, b + k0 * brs, brs, bcs, out, t == 0 ? crs : n, t == 0 ? ccs : 1, apack, bpack); \
        _Pragma("omp barrier")                                                                           \
        add_parts_##SFX(c, crs, ccs, part, nt, m, n, m * t / nt, m * (t + 1) / nt);                      \
      }                                                                                                  \
    }                                                                                                    \
    free(packs);                                                                                         \
    free(part);                                                                                          \
  }

GEMM_THREADED(float, f32, FM_MR, FM_MC, FM_NC)
GEMM_THREADED(double, f64, FM_MR, FM_MC, FM_NC)

/** The machine's fp32 FMA peak probe: `iters` rounds of independent vector FMAs (for the bench). */
float fm_fma_probe_f32(int64_t iters) {
  typedef float vf __attribute__((vector_size(FM_VBYTES)));
  vf acc[12];
  for (int i = 0; i < 12; i++) acc[i] = (vf){0} + (float)i;
  vf x = (vf){0} + 1.0000001f, y = (vf){0} + 0.9999999f;
  for (int64_t t = 0; t < iters; t++)
    for (int i = 0; i < 12; i++) acc[i] = acc[i] * x + y;
  vf s = (vf){0};
  for (int i = 0; i < 12; i++) s += acc[i];
  return s[0];
}

/** Floats one vector holds, for the bench's flop count. */
int fm_vector_floats(void) { return FM_VBYTES / 4; }
/** The micro-kernel's tile, MR rows by NR float32 columns (the backend weighs transposed products with it). */
int fm_gemm_mr(void) { return FM_MR; }
int fm_gemm_nr(void) { return FM_VBYTES / 4 * FM_NV; }

/** The FMA probe on `threads` threads at once (each runs `iters` rounds). */
double fm_fma_probe(int64_t iters, int threads) {
  double s = 0;
#pragma omp parallel num_threads(threads) reduction(+ : s)
  s += fm_fma_probe_f32(iters);
  return s;
}
