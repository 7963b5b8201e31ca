// What one kernel launch costs from JavaScript on this GPU, by the ways the driver offers to pass
// arguments and streams: the numbers behind the tiny-op figure in bench/cuda.ts. Prints JSON.
import * as fm from '../src/index.js';
import { cudaRuntime } from '../src/backend/cuda/index.js';
import { argsLayout as L } from '../src/backend/cuda/codegen.js';

interface DeviceInternals {
  launch: (...a: unknown[]) => number;
  extra: { address: number };
  args: { address: number };
  i32: Int32Array;
  kernel(spec: unknown): number;
  setPtr(q: number, a: number): void;
  setInt(field: number, v: number): void;
}

const dev = cudaRuntime().device(0) as unknown as DeviceInternals;
const drv = cudaRuntime().driver;
const t = fm.zeros([1], { device: 'cuda' });
const fn = dev.kernel({ kind: 'fill', dtype: 'float32' });
dev.setPtr(0, (t.storage.handle as unknown as { ptr: number }).ptr);
dev.setInt(L.n, 1);
dev.i32[L.nd >> 2] = 1;
dev.i32[L.flags >> 2] = 1;
// kernelParams: an array holding one pointer, to the FmArgs struct.
const params = drv.hostBuffer(8);
new BigUint64Array(params.view)[0] = BigInt(dev.args.address);
const streamOut = new BigUint64Array(1);
drv.check('cuStreamCreate', drv.fn('int cuStreamCreate(void *s, uint32_t flags)')(streamOut, 1));
const own = Number(streamOut[0]);

function time(label: string, f: () => number, n = 20000): [string, number] {
  for (let i = 0; i < 100; i++) f();
  drv.synchronize();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) f();
  const issue = Number(process.hrtime.bigint() - t0) / n / 1000;
  drv.synchronize();
  return [label, issue];
}
const rows = [
  time('legacy stream, extra buffer (current)', () => dev.launch(fn, 1, 1, 1, 256, 1, 1, 0, 0, 0, dev.extra.address)),
  time('legacy stream, kernelParams', () => dev.launch(fn, 1, 1, 1, 256, 1, 1, 0, 0, params.address, 0)),
  time('per-thread stream (2), kernelParams', () => dev.launch(fn, 1, 1, 1, 256, 1, 1, 0, 2, params.address, 0)),
  time('own non-blocking stream, kernelParams', () => dev.launch(fn, 1, 1, 1, 256, 1, 1, 0, own, params.address, 0)),
  time('own non-blocking stream, extra buffer', () => dev.launch(fn, 1, 1, 1, 256, 1, 1, 0, own, 0, dev.extra.address)),
];
console.log(JSON.stringify({ device: fm.cuda.getDeviceName(), unit: 'us per launch (issue time)', rows: Object.fromEntries(rows) }, null, 1));
