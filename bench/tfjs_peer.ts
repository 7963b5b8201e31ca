// The TensorFlow.js side of `npm run bench`: the same workloads on tfjs's wasm backend (the
// fastest tfjs backend that installs without a native build), in this process.
import { createRequire } from 'node:module';
import * as path from 'node:path';

type Run = (reps: number) => void;
// tfjs's types are large; the bench uses a small surface of it.
type Tf = typeof import('@tensorflow/tfjs');

/** tfjs on the wasm backend, or the reason it is not available. */
export async function startTfjs(): Promise<{ tf: Tf; version: string } | string> {
  try {
    const require = createRequire(import.meta.url);
    const tf = (await import('@tensorflow/tfjs')) as Tf;
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + path.sep);
    await tf.setBackend('wasm');
    await tf.ready();
    return { tf, version: tf.version.tfjs };
  } catch (e) {
    return (e as Error).message;
  }
}

/** A run function for workload `key`, or the reason tfjs cannot run it; undefined: not compared. */
export function tfjsWorkload(tf: Tf, key: string, size: readonly number[]): Run | string | undefined {
  const loop = (op: () => { dispose(): void }): Run => (reps) => {
    for (let i = 0; i < reps; i++) op().dispose();
  };
  switch (key) {
    case 'tiny_add': {
      const [a, b] = [tf.tensor([1.5]), tf.tensor([2.25])];
      return loop(() => a.add(b));
    }
    case 'tiny_mul_backward': {
      const [a, b] = [tf.tensor([1.5]), tf.tensor([2.25])];
      const g = tf.grads((x, y) => x!.mul(y!));
      return (reps) => {
        for (let i = 0; i < reps; i++) for (const t of g([a, b])) t.dispose();
      };
    }
    case 'add_4m': {
      const [a, b] = [tf.randomUniform([size[0]!]), tf.randomUniform([size[0]!])];
      return loop(() => a.add(b));
    }
    case 'matmul_256':
    case 'matmul_1024':
    case 'matmul_2048': {
      const [a, b] = [tf.randomNormal([size[0]!, size[1]!]), tf.randomNormal([size[0]!, size[1]!])];
      return loop(() => tf.matMul(a, b));
    }
    case 'sum_4m': {
      const a = tf.randomUniform([size[0]!]);
      return loop(() => a.sum());
    }
    case 'exp_1m': {
      const a = tf.randomNormal([size[0]!]);
      return loop(() => a.exp());
    }
    case 'softmax_1024': {
      const a = tf.randomNormal([size[0]!, size[1]!]);
      return loop(() => tf.softmax(a));
    }
    case 'rand_1m':
      return loop(() => tf.randomUniform([size[0]!]));
    case 'cross_entropy': {
      const x = tf.variable(tf.randomNormal([size[0]!, size[1]!]));
      const y = tf.oneHot(tf.randomUniform([size[0]!], 0, size[1]!, 'int32'), size[1]!);
      const grad = tf.grad((a: ReturnType<Tf['randomNormal']>) => tf.losses.softmaxCrossEntropy(y, a));
      return loop(() => grad(x));
    }
    case 'mlp_step': {
      const x = tf.randomNormal([128, 784]);
      const y = tf.oneHot(tf.randomUniform([128], 0, 10, 'int32'), 10);
      const p = (s: number[], fan: number) => tf.variable(tf.randomUniform(s, -1 / Math.sqrt(fan), 1 / Math.sqrt(fan)));
      const [w1, b1, w2, b2, w3, b3] = [p([784, 256], 784), p([256], 784), p([256, 256], 256), p([256], 256), p([256, 10], 256), p([10], 256)];
      const opt = tf.train.sgd(0.01);
      const loss = () => {
        const h1 = tf.relu(x.matMul(w1).add(b1));
        const h2 = tf.relu(h1.matMul(w2).add(b2));
        return tf.losses.softmaxCrossEntropy(y, h2.matMul(w3).add(b3)) as ReturnType<Tf['scalar']>;
      };
      return (reps) => {
        for (let i = 0; i < reps; i++) opt.minimize(loss, true)!.dataSync();
      };
    }
    case 'cnn_step':
      return tf.getBackend() === 'wasm' && !tf.getKernel('Conv2DBackpropFilter', 'wasm') ? 'the wasm backend has no Conv2DBackpropFilter kernel (CNNs cannot train)' : undefined;
    default:
      return undefined;
  }
}
