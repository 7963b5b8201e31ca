// 2-D convolution of [N, C, H, W] images as GEMMs whose window operand is packed straight from the
// image (implicit GEMM): per image and group, y = W @ X~ where X~ is the image's window matrix
// (rows: an input channel and a kernel offset; columns: the output positions). im2col never
// materialises X~: the packers read each panel's windows from the image, so the 9 MB of columns
// of a [64, 32, 13, 13] batch are neither written nor read back. Threads take whole images, so
// they share nothing but the weight (the forward also splits an image's columns when there are
// fewer images than threads; the TypeScript side sends such batches to the composite, whose
// threaded GEMMs suit them better, and a test calls this path directly). The backward, per image: the weight's gradient X~ @ gy^T summed into a buffer
// per thread (then summed in thread order), the input's W^T @ gy into a block of columns that is
// folded back into the image at once (col2im), and the bias's the sums of gy's rows.
#include "gemm_core.h"

/* Input [n, c, h, w], weight [oc, c / g, kh, kw], output [n, oc, oh, ow]; stride sh x sw, padding
   ph x pw before the first row and column (the output size implies the rest), dilation dh x dw,
   g groups. The order is the int64 array's that the backend passes. */
typedef struct { int64_t n, c, h, w, oc, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw, g; } conv_geom;

/* A padded image's size: room for every window, and the padding before the first row and column. */
static int64_t padded_rows(const conv_geom* g) {
  int64_t need = (g->oh - 1) * g->sh + (g->kh - 1) * g->dh + 1;
  return need > g->ph + g->h ? need : g->ph + g->h;
}
static int64_t padded_cols(const conv_geom* g) {
  int64_t need = (g->ow - 1) * g->sw + (g->kw - 1) * g->dw + 1;
  return need > g->pw + g->w ? need : g->pw + g->w;
}

/* Offsets into a (padded) image of the window matrix's rows (channel, kernel row, kernel column)
   and columns (output row, output column): element (r, l) is image[row[r] + col[l]]. Every window
   lies inside the padded image, so packing is a gather with no bounds to test. */
static void window_offsets(const conv_geom* g, int64_t hp, int64_t wp, int32_t* row, int32_t* col) {
  int64_t r = 0;
  for (int64_t c = 0; c < g->c / g->g; c++)
    for (int64_t i = 0; i < g->kh; i++)
      for (int64_t j = 0; j < g->kw; j++) row[r++] = (int32_t)((c * hp + i * g->dh) * wp + j * g->dw);
  int64_t l = 0;
  for (int64_t i = 0; i < g->oh; i++)
    for (int64_t j = 0; j < g->ow; j++) col[l++] = (int32_t)(i * g->sh * wp + j * g->sw);
}

/* The window offsets (kg rows, then l columns, filled for the padded image hp x wp) and `bytes`
   of space per thread, for *nth threads or, when memory is short, one. NULL when out of memory;
   else free both with free_conv_buffers. */
static char* conv_buffers(const conv_geom* g, int64_t kg, int64_t l, int64_t hp, int64_t wp, int* nth,
                          size_t bytes, int32_t** offsets) {
  *offsets = malloc((kg + l) * sizeof(int32_t));
  if (!*offsets) return NULL;
  char* space = aligned_alloc(64, *nth * bytes);
  if (!space && *nth > 1) space = aligned_alloc(64, (*nth = 1) * bytes);
  if (!space) {
    free(*offsets);
    return NULL;
  }
  window_offsets(g, hp, wp, *offsets, *offsets + kg);
  return space;
}

/* Copies of short runs (a row of outputs: 11 values of a [13, 13] image): with AVX-512, a
   masked load and store per 16 values; else a plain loop (kept from becoming a call to memcpy,
   which costs more than the copy). */
#if defined(__AVX512F__)
#include <immintrin.h>
static inline void copy_run_f32(float* dst, const float* src, int64_t n) {
  for (; n >= 16; n -= 16, src += 16, dst += 16) _mm512_storeu_ps(dst, _mm512_loadu_ps(src));
  if (n) {
    const __mmask16 m = (__mmask16)((1u << n) - 1);
    _mm512_mask_storeu_ps(dst, m, _mm512_maskz_loadu_ps(m, src));
  }
}
static inline void copy_run_f64(double* dst, const double* src, int64_t n) {
  for (; n >= 8; n -= 8, src += 8, dst += 8) _mm512_storeu_pd(dst, _mm512_loadu_pd(src));
  if (n) {
    const __mmask8 m = (__mmask8)((1u << n) - 1);
    _mm512_mask_storeu_pd(dst, m, _mm512_maskz_loadu_pd(m, src));
  }
}
#else
#define COPY_RUN(T, SFX)                                                                               \
  static __attribute__((optimize("no-tree-loop-distribute-patterns")))                                 \
  void copy_run_##SFX(T* restrict dst, const T* restrict src, int64_t n) {                              \
    for (int64_t i = 0; i < n; i++) dst[i] = src[i];                                                     \
  }
COPY_RUN(float, f32)
COPY_RUN(double, f64)
#endif
/* Sums run as plain loops on every target: masked AVX-512 loads of what was just stored nearby
   (col2im's runs of neighbouring kernel offsets overlap) measured 12% slower over a backward. */
#define ADD_RUN(T, SFX)                                                                                \
  static inline void add_run_##SFX(T* restrict dst, const T* restrict src, int64_t n) {                 \
    for (int64_t i = 0; i < n; i++) dst[i] += src[i];                                                    \
  }
ADD_RUN(float, f32)
ADD_RUN(double, f64)

/* The sum of x[0 .. n) in four vector accumulators (a plain loop's one chain of dependent adds
   took half of a [64, 32, 26, 26] backward's time). */
#define ROW_SUM(T, SFX)                                                                                \
  static T row_sum_##SFX(const T* x, int64_t n) {                                                        \
    enum { L = sizeof(v_##SFX) / sizeof(T) };                                                            \
    v_##SFX acc[4] = {{0}};                                                                              \
    int64_t j = 0;                                                                                       \
    for (; j + 4 * L <= n; j += 4 * L)                                                                   \
      for (int u = 0; u < 4; u++) {                                                                      \
        v_##SFX v;                                                                                       \
        memcpy(&v, x + j + u * L, sizeof v);                                                             \
        acc[u] += v;                                                                                     \
      }                                                                                                  \
    acc[0] += acc[1] + acc[2] + acc[3];                                                                  \
    T s = 0;                                                                                             \
    for (int i = 0; i < L; i++) s += acc[0][i];                                                          \
    for (; j < n; j++) s += x[j];                                                                        \
    return s;                                                                                            \
  }
ROW_SUM(float, f32)
ROW_SUM(double, f64)

/* A panel's columns as runs that are contiguous in the image (a stride-1 convolution's output
   rows): run i covers columns start[i] .. start[i + 1] of the panel, from col[start[i]] on. */
static int panel_runs(const int32_t* col, int64_t n, int32_t* start) {
  int runs = 0;
  for (int64_t j = 0; j < n; j++)
    if (j == 0 || col[j] != col[j - 1] + 1) start[runs++] = (int32_t)j;
  start[runs] = (int32_t)n;
  return runs;
}

#define CONV_DEFINE(T, SFX)                                                                              \
  /* x's channels (c of them) zero-padded into xp [c, hp, wp]. */                                      \
  static void pad_image_##SFX(const conv_geom* g, int64_t c, const T* x, T* xp, int64_t hp, int64_t wp) { \
    memset(xp, 0, c * hp * wp * sizeof(T));                                                              \
    for (int64_t ch = 0; ch < c; ch++)                                                                   \
      for (int64_t i = 0; i < g->h; i++)                                                                 \
        memcpy(xp + (ch * hp + g->ph + i) * wp + g->pw, x + (ch * g->h + i) * g->w, g->w * sizeof(T));   \
  }                                                                                                      \
                                                                                                         \
  /* An image's (one group's) window matrix as a GEMM operand, its columns from l0 on. */             \
  typedef struct { const T* x; const int32_t* row; const int32_t* col; int64_t l0; } windows_##SFX;     \
  /* As B (the forward: rows k, columns the output positions). */                                      \
  static void pack_b_windows_##SFX(const void* op, int64_t k0, int64_t kc, int64_t j0, int64_t nr, T* out) { \
    const windows_##SFX* w = op;                                                                         \
    const int32_t* restrict col = w->col + w->l0 + j0;                                                   \
    int32_t start[NR_##SFX + 1];                                                                         \
    const int runs = panel_runs(col, nr, start);                                                         \
    for (int64_t k = 0; k < kc; k++, out += NR_##SFX) {                                                  \
      const T* restrict xr = w->x + w->row[k0 + k];                                                      \
      if (runs * 4 <= nr)                                                                                \
        for (int i = 0; i < runs; i++) copy_run_##SFX(out + start[i], xr + col[start[i]], start[i + 1] - start[i]); \
      else                                                                                               \
        for (int64_t j = 0; j < nr; j++) out[j] = xr[col[j]];                                            \
      for (int64_t j = nr; j < NR_##SFX; j++) out[j] = 0;                                                \
    }                                                                                                    \
  }                                                                                                      \
  /* As A (the weight's gradient: rows i, the output positions summed over). */                        \
  static void pack_a_windows_##SFX(const void* op, int64_t i0, int64_t mr, int64_t k0, int64_t kc, T* out) { \
    const windows_##SFX* w = op;                                                                         \
    const int32_t* restrict col = w->col + w->l0 + k0;                                                   \
    int32_t row[MR_##SFX];                                                                               \
    for (int64_t i = 0; i < mr; i++) row[i] = w->row[i0 + i];                                            \
    for (int64_t k = 0; k < kc; k++, out += MR_##SFX) {                                                  \
      const T* restrict xk = w->x + col[k];                                                              \
      int64_t i = 0;                                                                                     \
      for (; i < mr; i++) out[i] = xk[row[i]];                                                           \
      for (; i < MR_##SFX; i++) out[i] = 0;                                                              \
    }                                                                                                    \
  }                                                                                                      \
                                                                                                         \
  /* Packing space for one thread: an MC x KC block of A and a KC x NC block of B (n columns at    \
     most), 64-byte aligned. */                                                                      \
  static size_t pack_bytes_##SFX(int64_t n) {                                                           \
    int64_t nc = n < FM_NC ? n : FM_NC;                                                                  \
    return fm_lines((FM_MC * KC_##SFX + (nc + NR_##SFX - 1) / NR_##SFX * NR_##SFX * KC_##SFX) * sizeof(T));     \
  }                                                                                                      \
                                                                                                         \
  /* y = conv(x, w) + bias (bias may be NULL); x, w, y contiguous. Returns 0, or -1 when out of    \
     memory. */                                                                                     \
  int fm_conv2d_##SFX(const int64_t* geom, const T* x, const T* w, const T* bias, T* y, int threads) {   \
    const conv_geom g = *(const conv_geom*)geom;                                                         \
    const int64_t cg = g.c / g.g, ocg = g.oc / g.g, kg = cg * g.kh * g.kw, l = g.oh * g.ow;              \
    if (g.n == 0 || g.oc == 0 || l == 0) return 0;                                                       \
    if (kg == 0) { /* products of no terms: the bias, or zeros */                                        \
      for (int64_t b = 0; b < g.n; b++)                                                                  \
        for (int64_t o = 0; o < g.oc; o++)                                                               \
          for (int64_t j = 0; j < l; j++) y[(b * g.oc + o) * l + j] = bias ? bias[o] : 0;                \
      return 0;                                                                                          \
    }                                                                                                    \
    const int64_t hp = padded_rows(&g), wp = padded_cols(&g);                                            \
    const int pad = hp != g.h || wp != g.w;                                                              \
    /* Work items: images, each split into column blocks when there are fewer images than        \
       threads (whole tiles of NR columns each). */                                               \
    const int64_t tiles = (l + NR_##SFX - 1) / NR_##SFX;                                                 \
    int64_t split = g.n >= threads ? 1 : (threads + g.n - 1) / g.n;                                      \
    if (split > tiles) split = tiles;                                                                    \
    const int64_t items = g.n * split;                                                                   \
    int nth = 2.0 * g.n * g.oc * kg * l < 2e6 ? 1 : threads < items ? threads : (int)items;              \
    const size_t packb = pack_bytes_##SFX((tiles + split - 1) / split * NR_##SFX);                       \
    const size_t bytes = packb + (pad ? fm_lines(g.c * hp * wp * sizeof(T)) : 0);                           \
    int32_t* offsets;                                                                                    \
    char* space = conv_buffers(&g, kg, l, hp, wp, &nth, bytes, &offsets);                                \
    if (!space) return -1;                                                                               \
    _Pragma("omp parallel for num_threads(nth) schedule(static)")                                       \
    for (int64_t it = 0; it < items; it++) {                                                             \
      char* mine = space + omp_get_thread_num() * bytes;                                                 \
      T* apack = (T*)mine;                                                                               \
      T* bpack = apack + FM_MC * KC_##SFX;                                                                  \
      const int64_t b = it / split, part = it % split;                                                   \
      const int64_t l0 = tiles * part / split * NR_##SFX, l1_ = tiles * (part + 1) / split * NR_##SFX;   \
      const int64_t l1 = l1_ < l ? l1_ : l;                                                              \
      const T* xb = x + b * g.c * g.h * g.w;                                                             \
      if (pad) {                                                                                         \
        pad_image_##SFX(&g, g.c, xb, (T*)(mine + packb), hp, wp);                                        \
        xb = (const T*)(mine + packb);                                                                   \
      }                                                                                                  \
      for (int64_t gi = 0; gi < g.g && l1 > l0; gi++) {                                                  \
        windows_##SFX B = {xb + gi * cg * hp * wp, offsets, offsets + kg, l0};                           \
        strided_##SFX A = {w + gi * ocg * kg, kg, 1};                                                    \
        T* yb = y + (b * g.oc + gi * ocg) * l + l0;                                                      \
        gemm_driver_##SFX(ocg, l1 - l0, kg, pack_a_strided_##SFX, &A, pack_b_windows_##SFX, &B, yb, l, 1, apack, bpack, 0, direct_a_##SFX(&A)); \
        if (bias)                                                                                        \
          for (int64_t o = 0; o < ocg; o++) {                                                            \
            const T bo = bias[gi * ocg + o];                                                             \
            T* row = yb + o * l;                                                                         \
            for (int64_t j = 0; j < l1 - l0; j++) row[j] += bo;                                          \
          }                                                                                              \
      }                                                                                                  \
    }                                                                                                    \
    free(space);                                                                                         \
    free(offsets);                                                                                       \
    return 0;                                                                                            \
  }                                                                                                      \
                                                                                                         \
  /* The gradients of fm_conv2d for gy: gx [n, c, h, w], gw [oc, c / g, kh, kw] and gb [oc], each   \
     computed only when not NULL (and overwritten). Threads take whole images. Returns 0, or -1   \
     when out of memory. */                                                                         \
  int fm_conv2d_backward_##SFX(const int64_t* geom, const T* x, const T* w, const T* gy, T* gx, T* gw,   \
                               T* gb, int threads) {                                                     \
    const conv_geom g = *(const conv_geom*)geom;                                                         \
    const int64_t cg = g.c / g.g, ocg = g.oc / g.g, kg = cg * g.kh * g.kw, l = g.oh * g.ow;              \
    const int64_t hw = g.h * g.w, hp = padded_rows(&g), wp = padded_cols(&g);                            \
    if (ocg == 0 || kg == 0 || l == 0) { /* sums of no terms */                                          \
      if (gx) memset(gx, 0, g.n * g.c * hw * sizeof(T));                                                 \
      if (gw) memset(gw, 0, g.oc * kg * sizeof(T));                                                      \
      if (gb) for (int64_t o = 0; o < g.oc; o++) {                                                       \
        T s = 0;                                                                                         \
        for (int64_t b = 0; b < g.n; b++) s += row_sum_##SFX(gy + (b * g.oc + o) * l, l);                \
        gb[o] = s;                                                                                       \
      }                                                                                                  \
      return 0;                                                                                          \
    }                                                                                                    \
    const int pad = hp != g.h || wp != g.w;                                                              \
    /* Columns of W^T @ gy per block: about 1 MB of them, folded back into the image at once. */    \
    int64_t lc = (1 << 20) / (int64_t)sizeof(T) / kg; /* kg > 0: returned above otherwise */            \
    lc = lc < NR_##SFX ? NR_##SFX : lc > l ? l : lc;                                                     \
    int nth = 2.0 * g.n * g.oc * kg * l < 2e6 ? 1 : threads < g.n ? threads : (int)g.n;                   \
    if (nth < 1) nth = 1;                                                                                \
    const size_t img = pad ? fm_lines(g.c * hp * wp * sizeof(T)) : 0;                             \
    const size_t packb = pack_bytes_##SFX(lc > ocg ? lc : ocg);                                          \
    const size_t gwb = gw ? fm_lines(g.oc * kg * sizeof(T)) : 0;                                  \
    const size_t gbb = gb ? fm_lines(g.oc * sizeof(T)) : 0;                                       \
    const size_t colb = gx ? fm_lines(kg * lc * sizeof(T)) : 0;                                   \
    /* Per thread: packing space, the weight's and the bias's partial gradients, a block of        \
       columns, padded copies of the image (for gw) and of its gradient (for gx), and the runs of  \
       a block's columns. */                                                                       \
    const size_t runb = gx ? fm_lines((lc + 1) * sizeof(int32_t)) : 0;                            \
    const size_t bytes = packb + gwb + gbb + colb + (gw ? img : 0) + (gx ? img : 0) + runb;               \
    int32_t* offsets;                                                                                    \
    char* space = conv_buffers(&g, kg, l, hp, wp, &nth, bytes, &offsets);                                \
    if (!space) return -1;                                                                               \
    const int32_t* row = offsets;                                                                        \
    const int32_t* col = offsets + kg;                                                                   \
    _Pragma("omp parallel num_threads(nth)") {                                                           \
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();                                    \
      char* mine = space + t * bytes;                                                                    \
      T* apack = (T*)mine;                                                                               \
      T* bpack = apack + FM_MC * KC_##SFX;                                                                  \
      T* pw = (T*)(mine + packb); /* per group [kg][ocg]: the transpose of the weight's gradient */     \
      T* pb = (T*)(mine + packb + gwb);                                                                  \
      T* cols = (T*)(mine + packb + gwb + gbb);                                                          \
      T* xpad = (T*)(mine + packb + gwb + gbb + colb);                                                   \
      T* gxpad = (T*)(mine + packb + gwb + gbb + colb + (gw ? img : 0));                                 \
      int32_t* start = (int32_t*)(mine + packb + gwb + gbb + colb + (gw ? img : 0) + (gx ? img : 0));    \
      if (gw) memset(pw, 0, g.oc * kg * sizeof(T));                                                      \
      if (gb) memset(pb, 0, g.oc * sizeof(T));                                                           \
      for (int64_t b = g.n * t / nt; b < g.n * (t + 1) / nt; b++) {                                      \
        const T* xb = x + b * g.c * hw;                                                                  \
        T* gxb = gx ? gx + b * g.c * hw : NULL;                                                          \
        if (gw && pad) { pad_image_##SFX(&g, g.c, xb, xpad, hp, wp); xb = xpad; }                        \
        if (gx) {                                                                                        \
          if (pad) gxb = gxpad;                                                                          \
          memset(gxb, 0, g.c * hp * wp * sizeof(T));                                                     \
        }                                                                                                \
        for (int64_t gi = 0; gi < g.g; gi++) {                                                           \
          const T* gyb = gy + (b * g.oc + gi * ocg) * l;                                                 \
          if (gw) {                                                                                      \
            windows_##SFX A = {xb + gi * cg * hp * wp, row, col, 0};                                     \
            strided_##SFX B = {gyb, 1, l};                                                               \
            gemm_driver_##SFX(kg, ocg, l, pack_a_windows_##SFX, &A, pack_b_strided_##SFX, &B, pw + gi * kg * ocg, ocg, 1, apack, bpack, 1, NULL); \
          }                                                                                              \
          if (gx)                                                                                        \
            for (int64_t l0 = 0; l0 < l; l0 += lc) {                                                     \
              const int64_t n = l - l0 < lc ? l - l0 : lc;                                               \
              strided_##SFX A = {w + gi * ocg * kg, 1, kg}, B = {gyb + l0, l, 1};                        \
              gemm_driver_##SFX(kg, n, ocg, pack_a_strided_##SFX, &A, pack_b_strided_##SFX, &B, cols, n, 1, apack, bpack, 0, NULL); /* A = W^T: column-major, packed */ \
              /* col2im: each column's windows added back where they came from, a run of columns \
                 contiguous in the image at a time. */                                              \
              T* gxg = gxb + gi * cg * hp * wp;                                                          \
              const int32_t* restrict cl = col + l0;                                                     \
              const int runs = panel_runs(cl, n, start);                                                 \
              for (int64_t r = 0; r < kg; r++) {                                                         \
                T* restrict xr = gxg + row[r];                                                           \
                const T* restrict src = cols + r * n;                                                    \
                if (runs * 4 <= n)                                                                       \
                  for (int i = 0; i < runs; i++) add_run_##SFX(xr + cl[start[i]], src + start[i], start[i + 1] - start[i]); \
                else                                                                                     \
                  for (int64_t j = 0; j < n; j++) xr[cl[j]] += src[j];                                   \
              }                                                                                          \
            }                                                                                            \
          if (gb)                                                                                        \
            for (int64_t o = 0; o < ocg; o++) pb[gi * ocg + o] += row_sum_##SFX(gyb + o * l, l);          \
        }                                                                                                \
        if (gx && pad) /* the padded gradient's inside is the image's */                                 \
          for (int64_t ch = 0; ch < g.c; ch++)                                                           \
            for (int64_t i = 0; i < g.h; i++)                                                            \
              memcpy(gx + (b * g.c + ch) * hw + i * g.w, gxpad + (ch * hp + g.ph + i) * wp + g.pw, g.w * sizeof(T)); \
      }                                                                                                  \
      _Pragma("omp barrier")                                                                             \
      /* The threads' sums, in thread order, each thread a share of the weight's rows. */              \
      if (gw)                                                                                            \
        for (int64_t o = g.oc * t / nt; o < g.oc * (t + 1) / nt; o++) {                                  \
          const int64_t gi = o / ocg, oo = o % ocg;                                                      \
          for (int64_t r = 0; r < kg; r++) {                                                             \
            T s = 0;                                                                                     \
            for (int u = 0; u < nt; u++) s += ((const T*)(space + u * bytes + packb))[(gi * kg + r) * ocg + oo]; \
            gw[o * kg + r] = s;                                                                          \
          }                                                                                              \
        }                                                                                                \
      if (gb && t == 0)                                                                                  \
        for (int64_t o = 0; o < g.oc; o++) {                                                             \
          T s = 0;                                                                                       \
          for (int u = 0; u < nt; u++) s += ((const T*)(space + u * bytes + packb + gwb))[o];            \
          gb[o] = s;                                                                                     \
        }                                                                                                \
    }                                                                                                    \
    free(space);                                                                                         \
    free(offsets);                                                                                       \
    return 0;                                                                                            \
  }

CONV_DEFINE(float, f32)
CONV_DEFINE(double, f64)
