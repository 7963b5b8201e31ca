// GEMM for the cpu backend: C = A @ B for strided A, B, C, on the building blocks of
// gemm_core.h. Threads (OpenMP) each compute a block of C's rows or columns, or a slice of k,
// packing their own operands.
#include "gemm_core.h"

#define GEMM_THREADED(T, SFX, MR, KC, MC, NC)                                                         \
  void fm_gemm_##SFX(int64_t m, int64_t n, int64_t k, const T* a, int64_t ars, int64_t acs, const T* b, \
                     int64_t brs, int64_t bcs, T* c, int64_t crs, int64_t ccs, int threads) {           \
    if (m == 0 || n == 0) return;                                                                        \
    if (k == 0 || m * n * k <= 32 * 32 * 32) {                                                           \
      small_##SFX(m, n, k, a, ars, acs, b, brs, bcs, c, crs, ccs);                                       \
      return;                                                                                            \
    }                                                                                                    \
    int nth = (double)m * n * k < 2e6 ? 1 : threads; /* small products: not worth waking threads */      \
    /* Threads own disjoint blocks of the work, each packing its own operands, with no barrier      \
       inside the product (a thread the machine delays holds up no other until the end): row      \
       panels of C, column tiles of C, or slices of k (each thread's partial product in a buffer,  \
       then summed into C in thread order). Each split's cost per thread, in flops: the micro-    \
       kernel's whole tiles, PACK per packed element, and CST per element of C (or of a buffer)   \
       stored once per KC block, and for a k split the buffers and their sum (cross-core reads);  \
       the cheapest wins. Constants from measurements on the bench machine. */                     \
    const int64_t rp = (m + MR - 1) / MR, cp = (n + NR_##SFX - 1) / NR_##SFX;                            \
    const double tile = 2.0 * MR * NR_##SFX, PACK = 24, CST = 16;                                        \
    int mode = 0; /* 0: rows, 1: columns, 2: k */                                                        \
    if (nth > 1) {                                                                                       \
      const int64_t rpt = (rp + nth - 1) / nth, cpt = (cp + nth - 1) / nth, kt = (k + nth - 1) / nth;   \
      const double kb = (k + KC - 1) / KC, kbt = (kt + KC - 1) / KC;                                     \
      const double serial = tile * k * rp * cp + PACK * ((double)m * k + (double)k * n) + CST * kb * m * n; \
      const double rows = tile * k * rpt * cp + PACK * ((double)MR * rpt * k + (double)k * n) + CST * kb * MR * rpt * n; \
      const double cols = tile * k * rp * cpt + PACK * ((double)m * k + (double)k * NR_##SFX * cpt) + CST * kb * m * NR_##SFX * cpt; \
      const double ks = (double)(nth - 1) * m * n * sizeof(T) > 64.0 * (1 << 20) || k < 64 * nth ? 1e300 /* buffers; k slices */ \
        : tile * kt * rp * cp + PACK * (double)(m + n) * kt + CST * (kbt + 3.0) * m * n;                 \
      double best = rows;                                                                                \
      if (cols < best) { best = cols; mode = 1; }                                                        \
      if (ks < best) { best = ks; mode = 2; }                                                            \
      if (best > 0.9 * serial) { nth = 1; mode = 0; }                                                    \
    }                                                                                                    \
    int64_t nc_max = n < NC ? n : NC;                                                                    \
    size_t bbytes = fm_lines((nc_max + NR_##SFX - 1) / NR_##SFX * NR_##SFX * KC * sizeof(T));        \
    size_t abytes = fm_lines(MC * KC * sizeof(T));                                                       \
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
        for (int64_t i = m * t / nt; i < m * (t + 1) / nt; i++)                                          \
          for (int u = 1; u < nt; u++) {                                                                 \
            const T* src = part + (u - 1) * m * n + i * n;                                               \
            T* row = c + i * crs;                                                                        \
            if (ccs == 1) for (int64_t j = 0; j < n; j++) row[j] += src[j];                              \
            else for (int64_t j = 0; j < n; j++) row[j * ccs] += src[j];                                 \
          }                                                                                              \
      }                                                                                                  \
    }                                                                                                    \
    free(packs);                                                                                         \
    free(part);                                                                                          \
  }

GEMM_THREADED(float, f32, FM_MR, FM_KC, FM_MC, FM_NC)
GEMM_THREADED(double, f64, FM_MR, FM_KC, FM_MC, FM_NC)

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

/** The FMA probe on `threads` threads at once (each runs `iters` rounds). */
double fm_fma_probe(int64_t iters, int threads) {
  double s = 0;
#pragma omp parallel num_threads(threads) reduction(+ : s)
  s += fm_fma_probe_f32(iters);
  return s;
}
