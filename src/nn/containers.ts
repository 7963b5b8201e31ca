// Containers: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict. Children are
// fields named '0', '1', ... (or by key), which gives PyTorch's state-dict keys ('0.weight').
import type { Tensor } from '../tensor/tensor.js';
import { IndexError, ValueError } from '../errors.js';
import { Module } from './module.js';
import { Parameter, isParameter } from './parameter.js';

type Fields = Record<string, unknown>;

function normIndex(op: string, i: number, n: number): number {
  const j = i < 0 ? i + n : i;
  if (!Number.isInteger(j) || j < 0 || j >= n) throw new IndexError(op, `index ${i} is out of range for ${n} modules`);
  return j;
}

/** Modules in a list, registered as '0', '1', ... Example: `this.blocks = new nn.ModuleList([a, b])`. */
export class ModuleList extends Module {
  constructor(modules: Iterable<Module> = []) {
    super();
    for (const m of modules) this.append(m);
  }
  override get length(): number {
    return Object.keys(this).filter((k) => /^\d+$/.test(k)).length;
  }
  /** The module at i (negative from the end). */
  at(i: number): Module {
    return (this as unknown as Fields)[String(normIndex(this.constructor.name, i, this.length))] as Module;
  }
  append(m: Module): this {
    if (!(m instanceof Module)) throw new ValueError(this.constructor.name, `${String(m)} is not a Module`);
    this.addModule(String(this.length), m);
    return this;
  }
  extend(ms: Iterable<Module>): this {
    for (const m of ms) this.append(m);
    return this;
  }
  *[Symbol.iterator](): Iterator<Module> {
    for (let i = 0; i < this.length; i++) yield this.at(i);
  }
  override forward(..._args: unknown[]): unknown {
    throw new ValueError(this.constructor.name, 'ModuleList has no forward: iterate over it in your own forward');
  }
}

/** Runs modules in order, each on the previous one's output. Example: `new nn.Sequential(new nn.Linear(4, 8), new nn.ReLU())`. */
export class Sequential extends ModuleList {
  constructor(...modules: Module[]) {
    super(modules);
  }
  override forward(x: Tensor): Tensor {
    let out: unknown = x;
    for (const m of this) out = (m as unknown as (a: unknown) => unknown)(out);
    return out as Tensor;
  }
}

/** Modules by name. */
export class ModuleDict extends Module {
  constructor(modules: Record<string, Module> = {}) {
    super();
    for (const [k, m] of Object.entries(modules)) this.set(k, m);
  }
  get(key: string): Module | undefined {
    const v = (this as unknown as Fields)[key];
    return v instanceof Module ? v : undefined;
  }
  set(key: string, m: Module): this {
    this.addModule(key, m);
    return this;
  }
  keys(): string[] {
    return [...this.namedChildren()].map(([k]) => k);
  }
  entries(): [string, Module][] {
    return [...this.namedChildren()];
  }
  override forward(): never {
    throw new ValueError(this.constructor.name, 'ModuleDict has no forward');
  }
}

/** Parameters in a list ('0', '1', ...). */
export class ParameterList extends Module {
  constructor(params: Iterable<Tensor> = []) {
    super();
    for (const p of params) this.append(p);
  }
  override get length(): number {
    return Object.keys(this).length;
  }
  at(i: number): Tensor {
    return (this as unknown as Fields)[String(normIndex(this.constructor.name, i, this.length))] as Tensor;
  }
  append(p: Tensor): this {
    (this as unknown as Fields)[String(this.length)] = isParameter(p) ? p : Parameter(p);
    return this;
  }
  *[Symbol.iterator](): Iterator<Tensor> {
    for (let i = 0; i < this.length; i++) yield this.at(i);
  }
  override extraRepr(): string {
    return [...this].map((p, i) => describeParameter(String(i), p)).join('\n');
  }
}

/** Parameters by name. */
export class ParameterDict extends Module {
  constructor(params: Record<string, Tensor> = {}) {
    super();
    for (const [k, p] of Object.entries(params)) this.set(k, p);
  }
  get(key: string): Tensor | undefined {
    const v = (this as unknown as Fields)[key];
    return isParameter(v) ? v : undefined;
  }
  set(key: string, p: Tensor): this {
    (this as unknown as Fields)[key] = isParameter(p) ? p : Parameter(p);
    return this;
  }
  keys(): string[] {
    return Object.keys(this);
  }
  override extraRepr(): string {
    return this.keys().map((k) => describeParameter(k, this.get(k)!)).join('\n');
  }
}

/**
 * A line of ParameterList's and ParameterDict's print, as PyTorch's (indented by two more spaces) but with
 * Fiamma's dtype names: `  (0): Parameter containing: [float32 of size 3x4]`.
 */
function describeParameter(key: string, p: Tensor): string {
  const device = p.device.type === 'cpu' ? '' : ` (${String(p.device)})`;
  return `  (${key}): Parameter containing: [${p.dtype} of size ${p.shape.join('x')}${device}]`;
}
