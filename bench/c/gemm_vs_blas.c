// Fiamma's GEMM (csrc/gemm.c) against the system BLAS's sgemm (the library PyTorch's CPU matmul
// calls: OpenBLAS on Debian) in one C process, taking turns round by round, so that both see the
// same machine and neither pays a runtime's overhead: the kernels' own comparison, beside the
// bench's op-level one. Args: threads, then square sizes. Prints one JSON line per size.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void fm_gemm_f32(int64_t m, int64_t n, int64_t k, const float* a, int64_t ars, int64_t acs, const float* b, int64_t brs, int64_t bcs, float* c, int64_t crs, int64_t ccs, int threads);
void sgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k, const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
            const float* beta, float* c, const int* ldc);

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}
static int ascending(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

enum { ROUNDS = 25 };

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  const int threads = atoi(argv[1]);
  for (int s = 2; s < argc; s++) {
    const int n = atoi(argv[s]);
    float *a = malloc(4L * n * n), *b = malloc(4L * n * n), *c = malloc(4L * n * n), *c2 = malloc(4L * n * n);
    if (!a || !b || !c || !c2) return 3;
    for (long q = 0; q < (long)n * n; q++) {
      a[q] = (float)(q % 7) * 0.125f;
      b[q] = (float)(q % 5) * 0.125f;
    }
    const int reps = (int)(3e8 / (2.0 * n * n * n)) + 1;
    const float one = 1, zero = 0;
    double ours[ROUNDS], blas[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
      double t0 = now();
      for (int q = 0; q < reps; q++) fm_gemm_f32(n, n, n, a, n, 1, b, n, 1, c, n, 1, threads);
      ours[r] = (now() - t0) / reps;
      /* Row-major C = A B is column-major C^T = B^T A^T. */
      t0 = now();
      for (int q = 0; q < reps; q++) sgemm_("N", "N", &n, &n, &n, &one, b, &n, a, &n, &zero, c2, &n);
      blas[r] = (now() - t0) / reps;
    }
    /* Multiples of 1/8 below 1 and n <= 2^13 terms: every sum is exact, so the results are equal. */
    long differ = 0;
    for (long q = 0; q < (long)n * n; q++) differ += c[q] != c2[q];
    qsort(ours, ROUNDS, sizeof ours[0], ascending);
    qsort(blas, ROUNDS, sizeof blas[0], ascending);
    const double gflop = 2.0 * n * n * n / 1e9;
    printf("{\"n\": %d, \"threads\": %d, \"rounds\": %d, \"fiammaGflops\": {\"best\": %.1f, \"median\": %.1f}, \"blasGflops\": {\"best\": %.1f, \"median\": %.1f}, \"elementsDiffering\": %ld}\n",
           n, threads, ROUNDS, gflop / ours[0], gflop / ours[ROUNDS / 2], gflop / blas[0], gflop / blas[ROUNDS / 2], differ);
    fflush(stdout);
    free(a); free(b); free(c); free(c2);
  }
  return 0;
}
