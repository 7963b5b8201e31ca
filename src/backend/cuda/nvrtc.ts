// CUDA C to device code at run time with NVRTC, for the device's own architecture (sm_XY cubin),
// cached on disk under the kernel cache folder keyed by the source, NVRTC's version, the
// architecture and the options. A compile error carries NVRTC's log.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LibraryHandle } from 'koffi';
import { DeviceError } from '../../errors.js';
import { cacheDir } from '../cpu/compile.js';
import { loadLibrary } from './libs.js';

type Fn = (...args: unknown[]) => number;

export class Nvrtc {
  readonly path: string;
  readonly version: string;
  private readonly lib: LibraryHandle;
  private readonly fns = new Map<string, Fn>();
  private readonly u64 = new BigUint64Array(1);

  constructor() {
    const { lib, path: p } = loadLibrary('nvrtc');
    this.lib = lib;
    this.path = p;
    const v = new Int32Array(2);
    this.check('nvrtcVersion', this.fn('int nvrtcVersion(int *major, int *minor)')(v, v.subarray(1)));
    this.version = `${v[0]}.${v[1]}`;
  }

  private fn(proto: string): Fn {
    let f = this.fns.get(proto);
    if (!f) this.fns.set(proto, (f = this.lib.func(proto) as unknown as Fn));
    return f;
  }

  private check(call: string, status: number, log = ''): void {
    if (status === 0) return;
    const text = (this.lib.func('const char *nvrtcGetErrorString(int result)') as unknown as (s: number) => string)(status);
    throw new DeviceError('cuda', `${call} failed with ${text}${log ? `:\n${log}` : ''}`);
  }

  /**
   * Device code (a cubin) for `source` on compute capability `arch` (e.g. 90), from the disk cache
   * when it was compiled before.
   */
  compile(source: string, name: string, arch: number): Buffer {
    const options = [`--gpu-architecture=sm_${arch}`, '--std=c++17', '-default-device'];
    const key = createHash('sha256').update(source).update(this.version).update(options.join(' ')).digest('hex').slice(0, 32);
    const dir = path.join(cacheDir(), 'cuda');
    const file = path.join(dir, `${name}-${key}.cubin`);
    if (fs.existsSync(file)) return fs.readFileSync(file);
    const image = this.compileNow(source, name, options);
    fs.mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, image);
    fs.renameSync(tmp, file);
    return image;
  }

  private compileNow(source: string, name: string, options: string[]): Buffer {
    this.check('nvrtcCreateProgram', this.fn('int nvrtcCreateProgram(void *prog, const char *src, const char *name, int n, void *headers, void *names)')(this.u64, source, `${name}.cu`, 0, null, null));
    const prog = Number(this.u64[0]);
    try {
      const status = this.fn('int nvrtcCompileProgram(uintptr_t prog, int n, const char **options)')(prog, options.length, options);
      if (status !== 0) this.check(`nvrtcCompileProgram (${name})`, status, this.log(prog));
      this.check('nvrtcGetCUBINSize', this.fn('int nvrtcGetCUBINSize(uintptr_t prog, void *size)')(prog, this.u64));
      const image = Buffer.alloc(Number(this.u64[0]));
      this.check('nvrtcGetCUBIN', this.fn('int nvrtcGetCUBIN(uintptr_t prog, void *out)')(prog, image));
      return image;
    } finally {
      this.u64[0] = BigInt(prog);
      this.fn('int nvrtcDestroyProgram(void *prog)')(this.u64);
    }
  }

  private log(prog: number): string {
    this.fn('int nvrtcGetProgramLogSize(uintptr_t prog, void *size)')(prog, this.u64);
    const buf = Buffer.alloc(Number(this.u64[0]));
    this.fn('int nvrtcGetProgramLog(uintptr_t prog, void *log)')(prog, buf);
    return buf.toString('utf8').replace(/\0+$/, '');
  }
}
