// GEMM for the cpu backend: C = A @ B (+ C when accumulating) for strided A, B, C, in the
// BLIS layout: B is packed into KC x NR panels and A into MR x KC panels, and a register-
// blocked micro-kernel (GCC vector extensions: AVX-512, AVX2 or NEON, whichever -march gives)
// computes MR x NR tiles. Threads (OpenMP) each compute a block of C's rows or columns, packing
// their own operands.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#else
static int omp_get_num_threads(void) { return 1; }
static int omp_get_thread_num(void) { return 0; }
#endif

#define GEMM_DEFINE(T, SFX, VLEN, MR, NV, KC, MC, NC)                                                   \
  typedef T v_##SFX __attribute__((vector_size(VLEN * sizeof(T)), aligned(sizeof(T))));                  \
  enum { MR_##SFX = MR, NR_##SFX = VLEN * NV };                                                        \
                                                                                                         \
  /* Packs a KC x NR panel of B (rows k, columns j) row by row, zero-padding missing columns.     \
     A column-major B (a transposed view) is read column by column, so reads stay contiguous. */ \
  static void pack_b_##SFX(int64_t kc, int64_t nr, const T* b, int64_t rs, int64_t cs, T* out) {        \
    if (cs != 1 && rs == 1) {                                                                            \
      /* 8 x 8 blocks: each column is read 8 contiguous values at a time, and each row of the  \
         panel written 8 values at a time, so neither side strides through a cache line per value. */ \
      int64_t k = 0;                                                                                     \
      for (; k + 8 <= kc; k += 8) {                                                                      \
        int64_t j = 0;                                                                                   \
        for (; j + 8 <= nr; j += 8) {                                                                    \
          T blk[8][8];                                                                                   \
          for (int jj = 0; jj < 8; jj++) memcpy(blk[jj], b + (j + jj) * cs + k, 8 * sizeof(T));          \
          for (int kk = 0; kk < 8; kk++)                                                                 \
            for (int jj = 0; jj < 8; jj++) out[(k + kk) * NR_##SFX + j + jj] = blk[jj][kk];              \
        }                                                                                                \
        for (; j < nr; j++)                                                                              \
          for (int kk = 0; kk < 8; kk++) out[(k + kk) * NR_##SFX + j] = b[j * cs + k + kk];              \
      }                                                                                                  \
      for (; k < kc; k++)                                                                                \
        for (int64_t j = 0; j < nr; j++) out[k * NR_##SFX + j] = b[j * cs + k];                          \
      for (k = 0; k < kc; k++)                                                                           \
        for (int64_t j = nr; j < NR_##SFX; j++) out[k * NR_##SFX + j] = 0;                               \
      return;                                                                                            \
    }                                                                                                    \
    for (int64_t k = 0; k < kc; k++) {                                                                   \
      const T* row = b + k * rs;                                                                         \
      int64_t j = 0;                                                                                     \
      if (cs == 1) for (; j < nr; j++) out[j] = row[j];                                                  \
      else for (; j < nr; j++) out[j] = row[j * cs];                                                     \
      for (; j < NR_##SFX; j++) out[j] = 0;                                                              \
      out += NR_##SFX;                                                                                   \
    }                                                                                                    \
  }                                                                                                      \
                                                                                                         \
  /* Packs an MR x KC panel of A column by column, zero-padding missing rows; a row-major A is    \
     read row by row (contiguous), a column-major one column by column. */                       \
  static void pack_a_##SFX(int64_t mr, int64_t kc, const T* a, int64_t rs, int64_t cs, T* out) {        \
    if (cs == 1 && rs != 1) {                                                                            \
      /* 8 columns at a time: each row is read 8 contiguous values at a time into a block, and   \
         the block written out as 8 packed columns, each MR contiguous values. */                  \
      int64_t k = 0;                                                                                     \
      if (mr == MR)                                                                                      \
        for (; k + 8 <= kc; k += 8) {                                                                    \
          T blk[MR][8];                                                                                  \
          for (int i = 0; i < MR; i++) memcpy(blk[i], a + i * rs + k, 8 * sizeof(T));                   \
          for (int kk = 0; kk < 8; kk++)                                                                 \
            for (int i = 0; i < MR; i++) out[(k + kk) * MR_##SFX + i] = blk[i][kk];                      \
        }                                                                                                \
      for (int64_t i = 0; i < mr; i++) {                                                                 \
        const T* row = a + i * rs;                                                                       \
        for (int64_t kk = k; kk < kc; kk++) out[kk * MR_##SFX + i] = row[kk];                            \
      }                                                                                                  \
      for (int64_t kk = k; kk < kc; kk++)                                                                \
        for (int64_t i = mr; i < MR_##SFX; i++) out[kk * MR_##SFX + i] = 0;                              \
      return;                                                                                            \
    }                                                                                                    \
    for (int64_t k = 0; k < kc; k++) {                                                                   \
      const T* col = a + k * cs;                                                                         \
      int64_t i = 0;                                                                                     \
      for (; i < mr; i++) out[i] = col[i * rs];                                                          \
      for (; i < MR_##SFX; i++) out[i] = 0;                                                              \
      out += MR_##SFX;                                                                                   \
    }                                                                                                    \
  }                                                                                                      \
                                                                                                         \
  /* R rows (R <= MR, a compile-time constant once inlined) of a tile: acc = Apanel @ Bpanel over  \
     kc, then C (+)= acc for the valid R x nr part. The A panel is packed MR rows high whatever R. */  \
  static inline __attribute__((always_inline)) void rows_##SFX(const int R, int64_t kc,                \
      const T* restrict a, const T* restrict b, T* c, int64_t rs, int64_t cs, int64_t nr, int accumulate) { \
    v_##SFX acc[MR][NV];                                                                                 \
    for (int i = 0; i < R; i++)                                                                          \
      for (int v = 0; v < NV; v++) acc[i][v] = (v_##SFX){0};                                             \
    for (int64_t k = 0; k < kc; k++) {                                                                   \
      v_##SFX bv[NV];                                                                                    \
      for (int v = 0; v < NV; v++) memcpy(&bv[v], b + v * VLEN, sizeof(v_##SFX));                       \
      for (int i = 0; i < R; i++) {                                                                      \
        T ai = a[i];                                                                                     \
        for (int v = 0; v < NV; v++) acc[i][v] += ai * bv[v];                                            \
      }                                                                                                  \
      a += MR;                                                                                           \
      b += NR_##SFX;                                                                                     \
    }                                                                                                    \
    if (nr == NR_##SFX && cs == 1) {                                                                     \
      for (int i = 0; i < R; i++) {                                                                      \
        T* row = c + i * rs;                                                                             \
        for (int v = 0; v < NV; v++) {                                                                  \
          v_##SFX cur;                                                                                   \
          if (accumulate) { memcpy(&cur, row + v * VLEN, sizeof cur); cur += acc[i][v]; }                \
          else cur = acc[i][v];                                                                          \
          memcpy(row + v * VLEN, &cur, sizeof cur);                                                      \
        }                                                                                                \
      }                                                                                                  \
      return;                                                                                            \
    }                                                                                                    \
    T tile[MR][NR_##SFX];                                                                                \
    memcpy(tile, acc, sizeof(T) * R * NR_##SFX);                                                         \
    for (int64_t i = 0; i < R; i++)                                                                      \
      for (int64_t j = 0; j < nr; j++) {                                                                 \
        T* p = c + i * rs + j * cs;                                                                      \
        *p = accumulate ? *p + tile[i][j] : tile[i][j];                                                  \
      }                                                                                                  \
  }                                                                                                      \
  /* One MR x NR tile, mr x nr of it valid. A short last panel (a batch of 128 leaves 2 rows    \
     past 9 panels of 14) runs as kernels of 8, 4, 2 and 1 rows rather than a whole panel. */   \
  static void micro_##SFX(int64_t kc, const T* a, const T* b, T* c, int64_t rs, int64_t cs,              \
                          int64_t mr, int64_t nr, int acc) {                                              \
    /* Constant row counts: each call is inlined as its own register-blocked kernel. */            \
    if (mr == MR) { rows_##SFX(MR, kc, a, b, c, rs, cs, nr, acc); return; }                              \
    int64_t i = 0;                                                                                       \
    if (mr - i >= 8 && MR > 8) { rows_##SFX(8, kc, a + i, b, c + i * rs, rs, cs, nr, acc); i += 8; }    \
    if (mr - i >= 4 && MR > 4) { rows_##SFX(4, kc, a + i, b, c + i * rs, rs, cs, nr, acc); i += 4; }    \
    if (mr - i >= 2 && MR > 2) { rows_##SFX(2, kc, a + i, b, c + i * rs, rs, cs, nr, acc); i += 2; }    \
    if (mr - i >= 1) rows_##SFX(1, kc, a + i, b, c + i * rs, rs, cs, nr, acc);                           \
  }                                                                                                      \
                                                                                                         \
  /* Small products skip packing: one pass of plain loops. */                                           \
  static void small_##SFX(int64_t m, int64_t n, int64_t k, const T* a, int64_t ars, int64_t acs,        \
                          const T* b, int64_t brs, int64_t bcs, T* c, int64_t crs, int64_t ccs) {      \
    for (int64_t i = 0; i < m; i++) {                                                                    \
      T* crow = c + i * crs;                                                                             \
      for (int64_t j = 0; j < n; j++) crow[j * ccs] = 0;                                                 \
      for (int64_t p = 0; p < k; p++) {                                                                  \
        T aip = a[i * ars + p * acs];                                                                    \
        const T* brow = b + p * brs;                                                                     \
        for (int64_t j = 0; j < n; j++) crow[j * ccs] += aip * brow[j * bcs];                            \
      }                                                                                                  \
    }                                                                                                    \
  }                                                                                                      \
                                                                                                         \
  /* C[0:m, 0:n] (+)= A @ B on one thread, blocked BLIS-style: B in KC x NC blocks packed into NR-wide \
     panels, A in MC x KC blocks packed into MR-high panels (buffers from the caller). */                \
  static void gemm_serial_##SFX(int64_t m, int64_t n, int64_t k, const T* a, int64_t ars, int64_t acs,   \
                                const T* b, int64_t brs, int64_t bcs, T* c, int64_t crs, int64_t ccs,    \
                                T* apack, T* bpack) {                                                     \
    for (int64_t jc = 0; jc < n; jc += NC) {                                                             \
      int64_t nc = n - jc < NC ? n - jc : NC;                                                            \
      int64_t np = (nc + NR_##SFX - 1) / NR_##SFX;                                                       \
      for (int64_t pc = 0; pc < k; pc += KC) {                                                           \
        int64_t kc = k - pc < KC ? k - pc : KC;                                                          \
        int acc = pc > 0;                                                                                \
        for (int64_t jp = 0; jp < np; jp++) {                                                            \
          int64_t j0 = jp * NR_##SFX;                                                                    \
          int64_t nr = nc - j0 < NR_##SFX ? nc - j0 : NR_##SFX;                                          \
          pack_b_##SFX(kc, nr, b + pc * brs + (jc + j0) * bcs, brs, bcs, bpack + jp * NR_##SFX * kc);   \
        }                                                                                                \
        for (int64_t ic = 0; ic < m; ic += MC) {                                                         \
          int64_t mc = m - ic < MC ? m - ic : MC;                                                        \
          for (int64_t ir = 0; ir < mc; ir += MR) {                                                      \
            int64_t mr = mc - ir < MR ? mc - ir : MR;                                                    \
            pack_a_##SFX(mr, kc, a + (ic + ir) * ars + pc * acs, ars, acs, apack + ir * kc);             \
          }                                                                                              \
          for (int64_t jp = 0; jp < np; jp++) {                                                          \
            int64_t j0 = jp * NR_##SFX;                                                                  \
            int64_t nr = nc - j0 < NR_##SFX ? nc - j0 : NR_##SFX;                                        \
            for (int64_t ir = 0; ir < mc; ir += MR) {                                                    \
              int64_t mr = mc - ir < MR ? mc - ir : MR;                                                  \
              micro_##SFX(kc, apack + ir * kc, bpack + jp * NR_##SFX * kc,                               \
                          c + (ic + ir) * crs + (jc + j0) * ccs, crs, ccs, mr, nr, acc);                 \
            }                                                                                            \
          }                                                                                              \
        }                                                                                                \
      }                                                                                                  \
    }                                                                                                    \
  }                                                                                                      \
                                                                                                         \
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
    size_t bbytes = ((nc_max + NR_##SFX - 1) / NR_##SFX * NR_##SFX * KC * sizeof(T) + 63) / 64 * 64;     \
    size_t abytes = (MC * KC * sizeof(T) + 63) / 64 * 64;                                                \
    /* Every buffer up front (packing space per thread, a k split's partial products), so that  \
       when memory runs out the product falls back to fewer threads, then to plain loops. */     \
    T* part = NULL;                                                                                      \
    if (mode == 2) {                                                                                     \
      part = aligned_alloc(64, ((nth - 1) * m * n * sizeof(T) + 63) / 64 * 64);                          \
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

#if defined(__AVX512F__)
#define FM_VBYTES 64
#elif defined(__AVX__)
#define FM_VBYTES 32
#else
#define FM_VBYTES 16
#endif

// Tiles: MR rows by NV vectors of columns (14 x 2 uses 28 of AVX-512's 32 registers for sums); KC
// deep so an A panel stays in L1 and MC x KC of A in L2; sizes chosen by measurement on the bench machine.
#ifndef FM_KC
#define FM_KC 256
#endif
#ifndef FM_MC
#define FM_MC 196
#endif
#ifndef FM_NC
#define FM_NC 4096
#endif
#ifndef FM_MR
#define FM_MR 14
#endif
#ifndef FM_NV
#define FM_NV 2
#endif
GEMM_DEFINE(float, f32, FM_VBYTES / 4, FM_MR, FM_NV, FM_KC, FM_MC, FM_NC)
GEMM_DEFINE(double, f64, FM_VBYTES / 8, FM_MR, FM_NV, FM_KC, FM_MC, FM_NC)

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
