// The GEMM's building blocks, shared by gemm.c (matrix products) and conv.c (convolutions as
// products over windows packed straight from the image): BLIS-layout packers (B into KC x NR
// panels, A into MR x KC panels), a register-blocked micro-kernel (GCC vector extensions:
// AVX-512, AVX2 or NEON, whichever -march gives) computing MR x NR tiles, and a one-thread
// driver over operands that pack themselves. Every function is static: each file that includes
// this gets its own copy, compiled for its own callers.
#ifndef FIAMMA_GEMM_CORE_H
#define FIAMMA_GEMM_CORE_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#else
static inline int omp_get_num_threads(void) { return 1; }
static inline int omp_get_thread_num(void) { return 0; }
#endif

/* n bytes rounded up to whole 64-byte lines (aligned_alloc's sizes; per-thread buffers each start
   on their own line). */
static inline size_t fm_lines(size_t n) { return (n + 63) / 64 * 64; }

/* True when a micro-kernel's rows of a row-major A, `bytes` apart, spread over L1's sets (64 sets
   of 64-byte lines): it then broadcasts from A in place, and A is never packed (a 256^3 product
   10% faster, the MLP's [128, 784] @ [784, 256] 8-18%). Strides that are multiples of 4 KiB (k =
   1024, 2048, ... floats) put every row in one set, where they evict one another (17% slower):
   those A are packed. */
static inline int fm_a_rows_spread(int64_t bytes) {
  if (bytes >= (1 << 16)) return 0;
  if (bytes % 64 != 0) return 1;
  int64_t s = (bytes / 64) % 64, g = 64;
  while (s) { int64_t t = g % s; g = s; s = t; }
  return g <= 32;
}

#define GEMM_CORE(T, SFX, VLEN, MR, NV, KC, KC1, MC, NC)                                              \
  typedef T v_##SFX __attribute__((vector_size(VLEN * sizeof(T)), aligned(sizeof(T))));                  \
  enum { MR_##SFX = MR, NR_##SFX = VLEN * NV, KC_##SFX = KC };                                         \
  /* The k block size for m rows: KC1 where A is one block (m <= MC; see gemm_driver), else KC. */       \
  static inline int64_t k_block_##SFX(int64_t m) { return m <= MC ? KC1 : KC; }                          \
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
  /* R rows (R <= MR, a compile-time constant once inlined) of a tile: acc = A @ Bpanel over kc,   \
     then C (+)= acc for the valid R x nr part. A's row i at step k is a[i * ars + k * astep]: a    \
     packed panel (ars 1, astep MR, MR rows high whatever R) or A itself (ars its row stride, 1). */ \
  static inline __attribute__((always_inline)) void rows_##SFX(const int R, int64_t kc,                \
      const T* restrict a, const T* restrict b, T* c, int64_t rs, int64_t cs, int64_t nr, int accumulate, \
      const int64_t ars, const int64_t astep) {                                                          \
    v_##SFX acc[MR][NV];                                                                                 \
    for (int i = 0; i < R; i++)                                                                          \
      for (int v = 0; v < NV; v++) acc[i][v] = (v_##SFX){0};                                             \
    /* C's rows, read and written after the loop: fetched now, they arrive while it runs (rows a     \
       page apart share an L1 set, and would each wait on L2 at the end: 1% on 1024^3 and 2048^3). */ \
    if (cs == 1)                                                                                         \
      for (int i = 0; i < R; i++)                                                                        \
        for (int v = 0; v < NV && v * VLEN < nr; v++) __builtin_prefetch(c + i * rs + v * VLEN, 1, 3);    \
    for (int64_t k = 0; k < kc; k++) {                                                                   \
      v_##SFX bv[NV];                                                                                    \
      for (int v = 0; v < NV; v++) bv[v] = *(const v_##SFX*)(b + v * VLEN);                            \
      for (int i = 0; i < R; i++) {                                                                      \
        T ai = a[i * ars];                                                                               \
        for (int v = 0; v < NV; v++) acc[i][v] += ai * bv[v];                                            \
      }                                                                                                  \
      a += astep;                                                                                        \
      b += NR_##SFX;                                                                                     \
    }                                                                                                    \
    if (nr == NR_##SFX && cs == 1) {                                                                     \
      for (int i = 0; i < R; i++) {                                                                      \
        T* row = c + i * rs;                                                                             \
        for (int v = 0; v < NV; v++) {                                                                  \
          v_##SFX cur;                                                                                   \
          if (accumulate) cur = *(const v_##SFX*)(row + v * VLEN) + acc[i][v];                           \
          else cur = acc[i][v];                                                                          \
          *(v_##SFX*)(row + v * VLEN) = cur;                                                             \
        }                                                                                                \
      }                                                                                                  \
      return;                                                                                            \
    }                                                                                                    \
    T tile[MR][NR_##SFX];                                                                                \
    for (int i = 0; i < R; i++)                                                                          \
      for (int v = 0; v < NV; v++) *(v_##SFX*)(&tile[i][v * VLEN]) = acc[i][v];                         \
    if (rs == 1) {                                                                                       \
      /* A column-major C (a product run transposed): each column's R values are contiguous. */   \
      for (int64_t j = 0; j < nr; j++) {                                                                 \
        T* col = c + j * cs;                                                                             \
        for (int i = 0; i < R; i++) col[i] = accumulate ? col[i] + tile[i][j] : tile[i][j];              \
      }                                                                                                  \
      return;                                                                                            \
    }                                                                                                    \
    for (int64_t i = 0; i < R; i++)                                                                      \
      for (int64_t j = 0; j < nr; j++) {                                                                 \
        T* p = c + i * rs + j * cs;                                                                      \
        *p = accumulate ? *p + tile[i][j] : tile[i][j];                                                  \
      }                                                                                                  \
  }                                                                                                      \
  /* One MR x NR tile, mr x nr of it valid. A short last panel (a batch of 128 leaves 2 rows    \
     past 9 panels of 14) runs as kernels of 8, 4, 2 and 1 rows rather than a whole panel. */   \
  static inline __attribute__((always_inline)) void tile_##SFX(int64_t kc, const T* a, int64_t ars,    \
      int64_t astep, const T* b, T* c, int64_t rs, int64_t cs, int64_t mr, int64_t nr, int acc) {      \
    /* Constant row counts: each call is inlined as its own register-blocked kernel. */            \
    if (mr == MR) { rows_##SFX(MR, kc, a, b, c, rs, cs, nr, acc, ars, astep); return; }                  \
    int64_t i = 0;                                                                                       \
    if (mr - i >= 8 && MR > 8) { rows_##SFX(8, kc, a + i * ars, b, c + i * rs, rs, cs, nr, acc, ars, astep); i += 8; } \
    if (mr - i >= 4 && MR > 4) { rows_##SFX(4, kc, a + i * ars, b, c + i * rs, rs, cs, nr, acc, ars, astep); i += 4; } \
    if (mr - i >= 2 && MR > 2) { rows_##SFX(2, kc, a + i * ars, b, c + i * rs, rs, cs, nr, acc, ars, astep); i += 2; } \
    if (mr - i >= 1) rows_##SFX(1, kc, a + i * ars, b, c + i * rs, rs, cs, nr, acc, ars, astep);          \
  }                                                                                                      \
  /* A packed A panel (constant strides, so its loads fold into fixed offsets) or A in place. */     \
  static void micro_##SFX(int64_t kc, const T* a, const T* b, T* c, int64_t rs, int64_t cs,              \
                          int64_t mr, int64_t nr, int acc) {                                              \
    tile_##SFX(kc, a, 1, MR, b, c, rs, cs, mr, nr, acc);                                                 \
  }                                                                                                      \
  static void micro_direct_##SFX(int64_t kc, const T* a, int64_t ars, const T* b, T* c, int64_t rs,     \
                                 int64_t cs, int64_t mr, int64_t nr, int acc) {                          \
    tile_##SFX(kc, a, ars, 1, b, c, rs, cs, mr, nr, acc);                                                \
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
  /* A packer of the serial driver: A's rows i0.. (mr of them, packed MR high) over k0.. (kc of  \
     them), or B's rows k0.. (kc) over columns j0.. (nr, packed NR wide). An operand is a strided \
     matrix (below) or one computed while packing (conv.c's windows of an image). */            \
  typedef void (*pack_a_fn_##SFX)(const void* op, int64_t i0, int64_t mr, int64_t k0, int64_t kc, T* out); \
  typedef void (*pack_b_fn_##SFX)(const void* op, int64_t k0, int64_t kc, int64_t j0, int64_t nr, T* out); \
  typedef struct { const T* p; int64_t rs, cs; } strided_##SFX;                                          \
  /* A, when the micro-kernel can read it in place (row-major, rows spread over L1's sets); else NULL. */ \
  static const strided_##SFX* direct_a_##SFX(const strided_##SFX* a) {                                  \
    return a->cs == 1 && fm_a_rows_spread(a->rs * (int64_t)sizeof(T)) ? a : NULL;                        \
  }                                                                                                      \
  static void pack_a_strided_##SFX(const void* op, int64_t i0, int64_t mr, int64_t k0, int64_t kc, T* out) { \
    const strided_##SFX* s = op;                                                                         \
    pack_a_##SFX(mr, kc, s->p + i0 * s->rs + k0 * s->cs, s->rs, s->cs, out);                             \
  }                                                                                                      \
  static void pack_b_strided_##SFX(const void* op, int64_t k0, int64_t kc, int64_t j0, int64_t nr, T* out) { \
    const strided_##SFX* s = op;                                                                         \
    pack_b_##SFX(kc, nr, s->p + k0 * s->rs + j0 * s->cs, s->rs, s->cs, out);                             \
  }                                                                                                      \
                                                                                                         \
  /* A KC x NC block of a row-major B, all its panels at once: each row of B is read once, in            \
     order, and its NR-wide pieces written to their panels. A panel at a time read kc rows a row        \
     apart for every NR columns (2 threads on the bench machine: 1000^3 4-5% faster this way,           \
     1024^3, 2048^3 and [4096, 1024] @ [1024, 1024] 0.5-2%). */                                          \
  static void pack_b_rows_##SFX(const strided_##SFX* s, int64_t k0, int64_t kc, int64_t j0, int64_t nc, T* out) { \
    const int64_t full = nc / NR_##SFX, rest = nc - full * NR_##SFX;                                     \
    for (int64_t k = 0; k < kc; k++) {                                                                   \
      const T* row = s->p + (k0 + k) * s->rs + j0;                                                       \
      T* o = out + k * NR_##SFX;                                                                         \
      for (int64_t jp = 0; jp < full; jp++) memcpy(o + jp * NR_##SFX * kc, row + jp * NR_##SFX, NR_##SFX * sizeof(T)); \
      if (rest) {                                                                                        \
        T* l = o + full * NR_##SFX * kc;                                                                 \
        int64_t j = 0;                                                                                   \
        for (; j < rest; j++) l[j] = row[full * NR_##SFX + j];                                           \
        for (; j < NR_##SFX; j++) l[j] = 0;                                                              \
      }                                                                                                  \
    }                                                                                                    \
  }                                                                                                      \
                                                                                                       \
  /* C[0:m, 0:n] = A @ B (+ C when accumulate) on one thread, blocked BLIS-style: B in KC x NC     \
     blocks packed into NR-wide panels, A in MC x KC blocks packed into MR-high panels (buffers    \
     from the caller: MC x KC for A, NC x KC for B), or A read in place when `ad` is A itself.    \
     When A is one block (m <= MC), each B panel is packed just before its tiles run, so it is    \
     written to L1 rather than to a block in L3 (a convolution's [64, 288] @ [288, 7744]: 7%      \
     faster on 1 and 2 threads), and k runs in blocks of KC1 <= KC: few rows use each panel,       \
     and a shorter one stays nearer ([64, 2048] @ [2048, 4096] 8-13% slower with 1024 than 512). */ \
  static void gemm_driver_##SFX(int64_t m, int64_t n, int64_t k, pack_a_fn_##SFX pa, const void* ao,    \
                                pack_b_fn_##SFX pb, const void* bo, T* c, int64_t crs, int64_t ccs,     \
                                T* apack, T* bpack, int accumulate, const strided_##SFX* ad) {           \
    const int64_t kb = k_block_##SFX(m);                                                                 \
    for (int64_t jc = 0; jc < n; jc += NC) {                                                             \
      int64_t nc = n - jc < NC ? n - jc : NC;                                                            \
      int64_t np = (nc + NR_##SFX - 1) / NR_##SFX;                                                       \
      for (int64_t pc = 0; pc < k; pc += kb) {                                                           \
        int64_t kc = k - pc < kb ? k - pc : kb;                                                          \
        int acc = accumulate || pc > 0;                                                                  \
        if (m <= MC) {                                                                                   \
          if (!ad) for (int64_t ir = 0; ir < m; ir += MR) pa(ao, ir, m - ir < MR ? m - ir : MR, pc, kc, apack + ir * kc); \
          for (int64_t jp = 0; jp < np; jp++) {                                                          \
            int64_t j0 = jp * NR_##SFX;                                                                  \
            int64_t nr = nc - j0 < NR_##SFX ? nc - j0 : NR_##SFX;                                        \
            pb(bo, pc, kc, jc + j0, nr, bpack);                                                          \
            for (int64_t ir = 0; ir < m; ir += MR) {                                                     \
              T* ct = c + ir * crs + (jc + j0) * ccs;                                                    \
              int64_t mr = m - ir < MR ? m - ir : MR;                                                    \
              if (ad) micro_direct_##SFX(kc, ad->p + ir * ad->rs + pc, ad->rs, bpack, ct, crs, ccs, mr, nr, acc); \
              else micro_##SFX(kc, apack + ir * kc, bpack, ct, crs, ccs, mr, nr, acc);                   \
            }                                                                                            \
          }                                                                                              \
          continue;                                                                                      \
        }                                                                                                \
        if (pb == pack_b_strided_##SFX && ((const strided_##SFX*)bo)->cs == 1)                           \
          pack_b_rows_##SFX((const strided_##SFX*)bo, pc, kc, jc, nc, bpack);                            \
        else                                                                                             \
          for (int64_t jp = 0; jp < np; jp++) {                                                          \
            int64_t j0 = jp * NR_##SFX;                                                                  \
            pb(bo, pc, kc, jc + j0, nc - j0 < NR_##SFX ? nc - j0 : NR_##SFX, bpack + jp * NR_##SFX * kc); \
          }                                                                                              \
        for (int64_t ic = 0; ic < m; ic += MC) {                                                         \
          int64_t mc = m - ic < MC ? m - ic : MC;                                                        \
          if (!ad) for (int64_t ir = 0; ir < mc; ir += MR) pa(ao, ic + ir, mc - ir < MR ? mc - ir : MR, pc, kc, apack + ir * kc); \
          for (int64_t jp = 0; jp < np; jp++) {                                                          \
            int64_t j0 = jp * NR_##SFX;                                                                  \
            int64_t nr = nc - j0 < NR_##SFX ? nc - j0 : NR_##SFX;                                        \
            for (int64_t ir = 0; ir < mc; ir += MR) {                                                    \
              T* ct = c + (ic + ir) * crs + (jc + j0) * ccs;                                             \
              int64_t mr = mc - ir < MR ? mc - ir : MR;                                                  \
              if (ad) micro_direct_##SFX(kc, ad->p + (ic + ir) * ad->rs + pc, ad->rs, bpack + jp * NR_##SFX * kc, ct, crs, ccs, mr, nr, acc); \
              else micro_##SFX(kc, apack + ir * kc, bpack + jp * NR_##SFX * kc, ct, crs, ccs, mr, nr, acc); \
            }                                                                                            \
          }                                                                                              \
        }                                                                                                \
      }                                                                                                  \
    }                                                                                                    \
  }                                                                                                      \
                                                                                                         \
  /* The driver over strided A and B. */                                                                 \
  static void gemm_serial_##SFX(int64_t m, int64_t n, int64_t k, const T* a, int64_t ars, int64_t acs,   \
                                const T* b, int64_t brs, int64_t bcs, T* c, int64_t crs, int64_t ccs,    \
                                T* apack, T* bpack) {                                                     \
    strided_##SFX A = {a, ars, acs}, B = {b, brs, bcs};                                                  \
    gemm_driver_##SFX(m, n, k, pack_a_strided_##SFX, &A, pack_b_strided_##SFX, &B, c, crs, ccs, apack, bpack, 0, direct_a_##SFX(&A)); \
  }

#if defined(__AVX512F__)
#define FM_VBYTES 64
#elif defined(__AVX__)
#define FM_VBYTES 32
#else
#define FM_VBYTES 16
#endif

// Tiles: MR rows by NV vectors of columns, their sums held in registers: 14 x 2 uses 28 of
// AVX-512's 32; with 16 vector registers (AVX2, SSE) 6 x 2 uses 12 (14 x 2 spilled there: an
// x86-64-v3 build ran the 256^3 product at 19 GFLOP/s on one core of the bench machine, whose FMA
// peak is 115 for either width). KC deep, for fewer passes over C, while MC x KC of A stays in
// L2: 1024 floats with AVX-512 (whose hosts have 1-2 MiB of L2 per core; on the bench machine's
// 1 MiB, 2 threads: 1024^3 1-6% and 2048^3 2-3% faster than 512, which was 4-6% faster than
// 256), 512 elsewhere and for float64 (whose 512 take the bytes of 1024 floats); KC1 (the driver:
// one block of A) 512. Packing space is sized from each type's KC_<type>. MC
// a multiple of MR (A's packing space holds MC rows). Sizes chosen by measurement on the bench
// machine.
#ifndef FM_KC1
#define FM_KC1 512
#endif
#ifndef FM_KC
#if defined(__AVX512F__)
#define FM_KC 1024
#else
#define FM_KC FM_KC1
#endif
#endif
#ifndef FM_NC
#define FM_NC 4096
#endif
#if defined(__AVX512F__) || defined(__aarch64__)
#ifndef FM_MR
#define FM_MR 14
#endif
#ifndef FM_MC
#define FM_MC 196
#endif
#else
#ifndef FM_MR
#define FM_MR 6
#endif
#ifndef FM_MC
#define FM_MC 192
#endif
#endif
#ifndef FM_NV
#define FM_NV 2
#endif
_Static_assert(FM_MC % FM_MR == 0, "the packing space of A holds MC rows in whole panels of MR");
_Static_assert(FM_KC1 <= FM_KC, "packing space is sized for KC");
GEMM_CORE(float, f32, FM_VBYTES / 4, FM_MR, FM_NV, FM_KC, FM_KC1, FM_MC, FM_NC)
GEMM_CORE(double, f64, FM_VBYTES / 8, FM_MR, FM_NV, FM_KC1, FM_KC1, FM_MC, FM_NC)

#endif
