// A stand-alone check of csrc/gemm.c against a plain double-precision product, for builds the
// node tests cannot load: other vector widths on this host, and other architectures (aarch64
// under qemu). Every layout of A, B and C (row- or column-major), float32 and float64, 1 and 2
// threads, on shapes around the tiles' and blocks' edges. Prints the failures and "ok N" or "BAD".
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

void fm_gemm_f32(int64_t m, int64_t n, int64_t k, const float* a, int64_t ars, int64_t acs, const float* b, int64_t brs, int64_t bcs, float* c, int64_t crs, int64_t ccs, int threads);
void fm_gemm_f64(int64_t m, int64_t n, int64_t k, const double* a, int64_t ars, int64_t acs, const double* b, int64_t brs, int64_t bcs, double* c, int64_t crs, int64_t ccs, int threads);

/* m, n, k: single elements, the narrow and short dot-product cases, tiles' edges (MR 6 or 14, NR
   16 or 32 floats), KC's (512) and MC's (192 or 196), the plain-loops size (32^3), and products
   large enough for two threads with row, column or k splits. */
static const int64_t shapes[][3] = {
  {1, 1, 1}, {5, 3, 17}, {13, 1, 100}, {1, 9, 47}, {7, 12, 33}, {32, 32, 32}, {128, 10, 256}, {15, 33, 65},
  {29, 65, 513}, {197, 64, 200}, {24, 24, 4000}, {70, 33, 530}, {18, 96, 600}, {33, 200, 31}, {200, 7, 129}, {100, 130, 300},
  {199, 40, 1030}, {15, 40, 1030}, /* k past KC and KC1 (512 in these builds; the host's AVX-512 KC of 1024: native.test.ts) */
  {203, 5, 2000}, {5, 203, 2000}, /* the dot path on two threads with a row left over */
  {5, 3, 140000}, {1, 1, 2100000}, /* and with slices of k (few rows, a long k) */
};

int main(void) {
  int checked = 0, bad = 0;
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
    double *ad = malloc(8 * m * k), *bd = malloc(8 * k * n), *ref = malloc(8 * m * n), *mag = malloc(8 * m * n), *cd = malloc(8 * m * n);
    float *cf = malloc(4 * m * n);
    double *a2 = malloc(8 * m * k), *b2 = malloc(8 * k * n);
    float *af2 = malloc(4 * m * k), *bf2 = malloc(4 * k * n);
    if (!ad || !bd || !ref || !mag || !cd || !cf || !a2 || !b2 || !af2 || !bf2) {
      printf("BAD: out of memory\n");
      return 1;
    }
    /* Values in [-1, 1), exactly representable in float32, so both precisions share a reference. */
    for (int64_t i = 0; i < m * k; i++) ad[i] = (double)(int)((i * 7919 + s) % 1000 - 500) / 512;
    for (int64_t i = 0; i < k * n; i++) bd[i] = (double)(int)((i * 104729 + 3 * s) % 1000 - 500) / 512;
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) {
        double r = 0, g = 0;
        for (int64_t p = 0; p < k; p++) {
          r += ad[i * k + p] * bd[p * n + j];
          g += fabs(ad[i * k + p] * bd[p * n + j]);
        }
        ref[i * n + j] = r;
        mag[i * n + j] = g;
      }
    for (int layout = 0; layout < 8; layout++) {
      /* Bit 0: A column-major; bit 1: B column-major; bit 2: C column-major. */
      const int acol = layout & 1, bcol = layout & 2, ccol = layout & 4;
      const int64_t ars = acol ? 1 : k, acs = acol ? m : 1, brs = bcol ? 1 : n, bcs = bcol ? k : 1, crs = ccol ? 1 : n, ccs = ccol ? m : 1;
      for (int64_t i = 0; i < m; i++)
        for (int64_t p = 0; p < k; p++) af2[i * ars + p * acs] = (float)(a2[i * ars + p * acs] = ad[i * k + p]);
      for (int64_t p = 0; p < k; p++)
        for (int64_t j = 0; j < n; j++) bf2[p * brs + j * bcs] = (float)(b2[p * brs + j * bcs] = bd[p * n + j]);
      for (int threads = 1; threads <= 2; threads++) {
        fm_gemm_f32(m, n, k, af2, ars, acs, bf2, brs, bcs, cf, crs, ccs, threads);
        fm_gemm_f64(m, n, k, a2, ars, acs, b2, brs, bcs, cd, crs, ccs, threads);
        /* float32: sums of k products of values below 1 round by about k ulps of 1, and by a
           share of the sum of the products' magnitudes where the partial sums grow large (the
           periodic inputs make them grow with k); a missing slice of k or a wrong element is
           off by far more. float64: every sum is exact (multiples of 2^-18 below 2^35). A NaN
           fails too (it is not within any tolerance). */
        double e32 = 0, e64 = 0;
        int64_t wrong = 0;
        for (int64_t i = 0; i < m; i++)
          for (int64_t j = 0; j < n; j++) {
            const double r = ref[i * n + j], d32 = fabs(cf[i * crs + j * ccs] - r), d64 = fabs(cd[i * crs + j * ccs] - r);
            const double tol32 = 1e-6 * k + 2e-5 * mag[i * n + j], tol64 = 1e-14 * k;
            wrong += !(d32 <= tol32) || !(d64 <= tol64);
            if (d32 > e32) e32 = d32;
            if (d64 > e64) e64 = d64;
          }
        const int ok = wrong == 0;
        checked++;
        if (!ok) {
          bad++;
          printf("FAIL [%lld, %lld] @ [%lld, %lld], A %s, B %s, C %s, %d thread(s): float32 error %.3g, float64 error %.3g\n", (long long)m, (long long)k, (long long)k,
                 (long long)n, acol ? "col" : "row", bcol ? "col" : "row", ccol ? "col" : "row", threads, e32, e64);
          printf("  (%lld elements out of tolerance)\n", (long long)wrong);
        }
      }
    }
    free(ad); free(bd); free(ref); free(mag); free(cd); free(cf); free(a2); free(b2); free(af2); free(bf2);
  }
  if (bad) printf("BAD: %d of %d products wrong\n", bad, checked);
  else printf("ok %d\n", checked);
  return bad != 0;
}
