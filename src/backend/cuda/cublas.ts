// cuBLAS through koffi: one handle per device, float32 and float64 GEMM (single and strided
// batched), TF32 tensor-core math when the user allows it (setFloat32MatmulPrecision('high')),
// and float16 / bfloat16 GEMM on tensor cores accumulating in float32 (cublasGemmEx, as PyTorch's).
import type { LibraryHandle } from 'koffi';
import { isReducedFloat, type DType } from '../../dtype.js';
import { DeviceError } from '../../errors.js';
import { loadLibrary } from './libs.js';

type Fn = (...args: unknown[]) => number;

export const OP_N = 0;
export const OP_T = 1;
const DEFAULT_MATH = 0;
const TF32_TENSOR_OP_MATH = 3;
/** cudaDataType_t of the 16-bit operands, cublasComputeType_t and cublasGemmAlgo_t (library_types.h, cublas_api.h). */
const CUDA_R_16F = 2;
const CUDA_R_16BF = 14;
const CUBLAS_COMPUTE_32F = 68;
const CUBLAS_GEMM_DEFAULT = -1;


export class Cublas {
  private readonly lib: LibraryHandle;
  private readonly handle: number;
  private readonly fns = new Map<string, Fn>();
  private mathMode = DEFAULT_MATH;
  private readonly one32 = Float32Array.of(1);
  private readonly zero32 = Float32Array.of(0);
  private readonly one64 = Float64Array.of(1);
  private readonly zero64 = Float64Array.of(0);

  /** A handle for the device whose context is current, queuing its products on `stream` (0: the legacy default stream). */
  constructor(stream = 0) {
    this.lib = loadLibrary('cublas').lib;
    const out = new BigUint64Array(1);
    this.check('cublasCreate', this.fn('int cublasCreate_v2(void *handle)')(out));
    this.handle = Number(out[0]);
    if (stream !== 0) this.check('cublasSetStream', this.fn('int cublasSetStream_v2(uintptr_t handle, uintptr_t stream)')(this.handle, stream));
  }

  destroy(): void {
    this.check('cublasDestroy', this.fn('int cublasDestroy_v2(uintptr_t handle)')(this.handle));
  }

  private fn(proto: string): Fn {
    let f = this.fns.get(proto);
    if (!f) this.fns.set(proto, (f = this.lib.func(proto) as unknown as Fn));
    return f;
  }

  private check(call: string, status: number): void {
    if (status === 0) return;
    let text = `status ${status}`;
    try {
      text = (this.lib.func('const char *cublasGetStatusString(int status)') as unknown as (s: number) => string)(status);
    } catch {
      // cuBLAS before 11.4 has no cublasGetStatusString
    }
    throw new DeviceError('matmul', `${call} failed with ${text}`);
  }

  /** TF32 tensor cores for float32 products (true) or full float32 (false, the default). */
  setTf32(on: boolean): void {
    const mode = on ? TF32_TENSOR_OP_MATH : DEFAULT_MATH;
    if (mode === this.mathMode) return;
    this.check('cublasSetMathMode', this.fn('int cublasSetMathMode(uintptr_t handle, int mode)')(this.handle, mode));
    this.mathMode = mode;
  }

  /**
   * Column-major C[m, n] = op(A)[m, k] op(B)[k, n] for `batch` matrices `stride*` elements apart
   * (0: the same matrix for every batch), all of `dtype` (float32, float64, float16 or bfloat16).
   * Pointers are device addresses.
   */
  gemm(dtype: DType, ta: number, tb: number, m: number, n: number, k: number,
    A: number, lda: number, strideA: number, B: number, ldb: number, strideB: number,
    C: number, ldc: number, strideC: number, batch: number): void {
    if (isReducedFloat(dtype)) {
      const t = dtype === 'float16' ? CUDA_R_16F : CUDA_R_16BF;
      if (batch === 1) {
        const f = this.fn('int cublasGemmEx(uintptr_t h, int ta, int tb, int m, int n, int k, void *alpha, uintptr_t A, int Atype, int lda, uintptr_t B, int Btype, int ldb, void *beta, uintptr_t C, int Ctype, int ldc, int computeType, int algo)');
        this.check('cublasGemmEx', f(this.handle, ta, tb, m, n, k, this.one32, A, t, lda, B, t, ldb, this.zero32, C, t, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        return;
      }
      const f = this.fn('int cublasGemmStridedBatchedEx(uintptr_t h, int ta, int tb, int m, int n, int k, void *alpha, uintptr_t A, int Atype, int lda, int64_t sA, uintptr_t B, int Btype, int ldb, int64_t sB, void *beta, uintptr_t C, int Ctype, int ldc, int64_t sC, int batch, int computeType, int algo)');
      this.check('cublasGemmStridedBatchedEx', f(this.handle, ta, tb, m, n, k, this.one32, A, t, lda, strideA, B, t, ldb, strideB, this.zero32, C, t, ldc, strideC, batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      return;
    }
    const f64 = dtype === 'float64';
    const [one, zero, t] = f64 ? [this.one64, this.zero64, 'D'] : [this.one32, this.zero32, 'S'];
    if (batch === 1) {
      const f = this.fn(`int cublas${t}gemm_v2(uintptr_t h, int ta, int tb, int m, int n, int k, void *alpha, uintptr_t A, int lda, uintptr_t B, int ldb, void *beta, uintptr_t C, int ldc)`);
      this.check(`cublas${t}gemm`, f(this.handle, ta, tb, m, n, k, one, A, lda, B, ldb, zero, C, ldc));
      return;
    }
    const f = this.fn(`int cublas${t}gemmStridedBatched(uintptr_t h, int ta, int tb, int m, int n, int k, void *alpha, uintptr_t A, int lda, int64_t sA, uintptr_t B, int ldb, int64_t sB, void *beta, uintptr_t C, int ldc, int64_t sC, int batch)`);
    this.check(`cublas${t}gemmStridedBatched`, f(this.handle, ta, tb, m, n, k, one, A, lda, strideA, B, ldb, strideB, zero, C, ldc, strideC, batch));
  }
}
