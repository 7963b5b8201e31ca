// nn.Module: the base of every layer. A module is callable (`model(x)` runs its hooks around
// `forward`); parameters, buffers and child modules are registered by assigning them to fields,
// in assignment order, which gives PyTorch's state-dict keys (`features.0.weight`).
import { inspect } from 'node:util';
import { Tensor } from '../tensor/tensor.js';
import { Device, type DeviceLike } from '../device.js';
import { isDType, isFloating, type DType } from '../dtype.js';
import { noGrad } from '../autograd/grad_mode.js';
import { dropGrad, letGo } from '../tensor/scope.js';
import { Function as AutogradFunction, type FunctionCtx } from '../autograd/api.js';
import { ShapeError, ValueError } from '../errors.js';
import { fmtShape } from '../tensor/shape.js';
import { Parameter, isParameter } from './parameter.js';

/** A handle that removes the hook it was returned for. */
export interface RemovableHandle {
  remove(): void;
}
export type ForwardPreHook = (module: Module, input: unknown[]) => unknown[] | void;
export type ForwardHook = (module: Module, input: unknown[], output: unknown) => unknown;
export type BackwardHook = (module: Module, gradInput: (Tensor | null)[], gradOutput: (Tensor | null)[]) => (Tensor | null)[] | void;

/** What loadStateDict reports (strict: false) or raises on (strict: true). */
export interface IncompatibleKeys {
  missingKeys: string[];
  unexpectedKeys: string[];
}

interface Internals {
  training: boolean;
  buffers: Map<string, boolean>; // name -> persistent
  preHooks: Map<number, ForwardPreHook>;
  hooks: Map<number, ForwardHook>;
  backwardHooks: Map<number, BackwardHook>;
}
let nextHookId = 0;
const internals = new WeakMap<Module, Internals>();
function inner(m: Module): Internals {
  return internals.get(m)!;
}

/**
 * An empty module of `m`'s class and training mode that runs `m`'s forward, pre- and backward
 * hooks (the same hook tables, so one added later reaches both): the shell of a DataParallel
 * replica, whose fields the caller fills. It is registered nowhere.
 */
export function hookSharingShell<M extends Module>(m: M): M {
  const r = new Module();
  Object.setPrototypeOf(r, Object.getPrototypeOf(m) as object);
  const from = inner(m);
  internals.set(r, { training: from.training, buffers: new Map(), preHooks: from.preHooks, hooks: from.hooks, backwardHooks: from.backwardHooks });
  return r as M;
}

/** Calls a module: its forward wrapped in hooks. */
export interface Module {
  (...args: Parameters<this['forward']>): ReturnType<this['forward']>;
}

/**
 * The base class of every layer: subclass it, assign parameters (`nn.Parameter`), buffers
 * (`registerBuffer`) and child modules to fields in the constructor, and define `forward`.
 * Example:
 * ```ts
 * class Net extends nn.Module {
 *   fc = new nn.Linear(4, 2);
 *   forward(x: Tensor) { return this.fc(x).relu(); }
 * }
 * const y = new Net()(x);
 * ```
 */
export class Module {
  constructor() {
    // The instance is a function, so that `model(x)` works as in PyTorch; its prototype is the
    // subclass's, so methods and fields behave as on any object.
    const self = function (this: unknown, ...args: unknown[]) {
      return callModule(self as unknown as Module, args);
    } as unknown as Module;
    Object.setPrototypeOf(self, new.target.prototype);
    // A function's own name and length would hide fields and getters of those names (ModuleList's length).
    delete (self as unknown as { name?: string }).name;
    delete (self as unknown as { length?: number }).length;
    internals.set(self, { training: true, buffers: new Map(), preHooks: new Map(), hooks: new Map(), backwardHooks: new Map() });
    return self;
  }

  /** The computation. Subclasses define it; call the module rather than forward directly. */
  forward(..._args: never[]): unknown {
    throw new ValueError(this.constructor.name, 'Module subclasses must define forward()');
  }

  /** True in training mode (dropout active, batch norm updating its statistics). */
  get training(): boolean {
    return inner(this).training;
  }

  /** Registers a tensor that is state but not a parameter (batch norm's running mean). Example: `this.registerBuffer('runningMean', fm.zeros([n]))`. */
  registerBuffer(name: string, tensor: Tensor | null, persistent = true): void {
    checkName(this, 'registerBuffer', 'buffer', name, (v) => inner(this).buffers.has(name) || v === null || v === undefined);
    if (tensor !== null && !(tensor instanceof Tensor)) throw new ValueError('registerBuffer', `cannot assign a ${typeof tensor} as buffer '${name}' (a Tensor or null is required)`);
    inner(this).buffers.set(name, persistent);
    (this as unknown as Record<string, unknown>)[name] = tensor;
  }

  /** Registers a parameter under `name` (the same as assigning nn.Parameter(t) to the field). */
  registerParameter(name: string, p: Tensor | null): void {
    checkName(this, 'registerParameter', 'parameter', name, (v) => v === null || v === undefined || isParameter(v));
    if (p !== null && !(p instanceof Tensor)) throw new ValueError('registerParameter', `cannot assign a ${typeof p} as parameter '${name}' (a Tensor or null is required)`);
    (this as unknown as Record<string, unknown>)[name] = p === null ? null : isParameter(p) ? p : Parameter(p);
  }

  /** Adds a child module under `name` (the same as assigning it to the field). */
  addModule(name: string, m: Module | null): void {
    checkName(this, 'addModule', 'module', name, (v) => v === null || v === undefined || v instanceof Module);
    if (m !== null && !(m instanceof Module)) throw new ValueError('addModule', `${String(m)} is not a Module`);
    (this as unknown as Record<string, unknown>)[name] = m;
  }

  /** Direct children with their names, each module once (as PyTorch's named_children). */
  *namedChildren(): Generator<[string, Module]> {
    const seen = new Set<Module>();
    for (const [k, v] of childEntries(this)) {
      if (seen.has(v)) continue;
      seen.add(v);
      yield [k, v];
    }
  }
  *children(): Generator<Module> {
    for (const [, m] of this.namedChildren()) yield m;
  }
  /** This module and every descendant, depth first, each once, with dotted names ('' for this one). */
  *namedModules(prefix = '', seen = new Set<Module>()): Generator<[string, Module]> {
    if (seen.has(this)) return;
    seen.add(this);
    yield [prefix, this];
    for (const [k, m] of this.namedChildren()) yield* m.namedModules(prefix ? `${prefix}.${k}` : k, seen);
  }
  *modules(): Generator<Module> {
    for (const [, m] of this.namedModules()) yield m;
  }
  /** Parameters with dotted names, each tensor once (shared ones under their first name). Example: `for (const [name, p] of model.namedParameters())`. */
  *namedParameters(opts: { recurse?: boolean } = {}): Generator<[string, Tensor]> {
    const seen = new Set<Tensor>();
    const mods = opts.recurse === false ? [['', this] as [string, Module]] : this.namedModules();
    for (const [prefix, m] of mods) {
      for (const [k, v] of ownEntries(m)) {
        if (!isParameter(v) || seen.has(v)) continue;
        seen.add(v);
        yield [prefix ? `${prefix}.${k}` : k, v];
      }
    }
  }
  /** Every parameter, for an optimizer. Example: `new optim.SGD(model.parameters(), { lr: 0.1 })`. */
  parameters(opts: { recurse?: boolean } = {}): Tensor[] {
    return [...this.namedParameters(opts)].map(([, p]) => p);
  }
  /** Buffers with dotted names, each tensor once. */
  *namedBuffers(opts: { recurse?: boolean } = {}): Generator<[string, Tensor]> {
    const seen = new Set<Tensor>();
    const mods = opts.recurse === false ? [['', this] as [string, Module]] : this.namedModules();
    for (const [prefix, m] of mods) {
      for (const name of inner(m).buffers.keys()) {
        const t = (m as unknown as Record<string, unknown>)[name];
        if (!(t instanceof Tensor) || seen.has(t)) continue;
        seen.add(t);
        yield [prefix ? `${prefix}.${name}` : name, t];
      }
    }
  }
  buffers(opts: { recurse?: boolean } = {}): Tensor[] {
    return [...this.namedBuffers(opts)].map(([, b]) => b);
  }

  /** Sets training mode here and below (returns this). */
  train(mode = true): this {
    for (const m of this.modules()) inner(m).training = mode;
    return this;
  }
  /** Evaluation mode: `train(false)`. */
  eval(): this {
    return this.train(false);
  }
  /** Calls fn on every descendant, then on this module (as PyTorch's apply). Example: `model.apply(initWeights)`. */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }
  /** Sets requiresGrad on every parameter (freezing with false). */
  requiresGrad_(requiresGrad = true): this {
    for (const p of this.parameters()) p.requiresGrad_(requiresGrad);
    return this;
  }
  /**
   * Clears every parameter's gradient (setToNone: true drops it; false zeroes it). Dropped
   * gradients that a closed scope made are disposed, as Optimizer.zeroGrad does.
   */
  zeroGrad(opts: { setToNone?: boolean } = {}): void {
    for (const p of this.parameters()) {
      if (p.grad === null) continue;
      if (opts.setToNone === false) noGrad(() => p.grad!.zero_());
      else dropGrad(p);
    }
  }

  /**
   * Moves parameters and buffers to a device and/or casts floating ones to a dtype (returns this).
   * As in PyTorch, parameters keep their identity (their memory is swapped with `set_`), so an
   * optimizer built before the move still holds them; gradients move with them.
   * Example: `model.to('cuda')`, `model.to('float64')`.
   */
  to(target: DeviceLike | DType, opts: { dtype?: DType } = {}): this {
    const dtype = isDType(target) ? target : opts.dtype;
    const device = isDType(target) ? undefined : Device.of(target);
    const move = (t: Tensor) => {
      let out = device ? t.to(device) : t;
      if (dtype && isFloating(t.dtype)) out = out.to(dtype);
      return out;
    };
    // Each tensor is moved once, so that tied parameters (and shared buffers) stay one tensor.
    const moved = new Map<Tensor, Tensor>();
    const once = (t: Tensor, make: (t: Tensor) => Tensor) => {
      if (!moved.has(t)) moved.set(t, make(t));
      return moved.get(t)!;
    };
    for (const m of this.modules()) {
      const fields = m as unknown as Record<string, unknown>;
      for (const [k, v] of ownEntries(m)) {
        if (isParameter(v)) {
          fields[k] = once(v, (t) => {
            const out = noGrad(() => move(t));
            if (out === t) return t;
            t.set_(out.detach());
            const old = t.grad;
            if (old) {
              t.grad = noGrad(() => move(old));
              if (t.grad !== old) letGo(old);
            }
            return t;
          });
        } else if (inner(m).buffers.has(k) && v instanceof Tensor) {
          fields[k] = once(v, (t) => noGrad(() => move(t)));
        }
      }
    }
    return this;
  }
  /** Casts floating parameters and buffers to float32 (returns this). Example: `model.float()`. */
  float(): this {
    return this.to('float32');
  }
  /** Casts floating parameters and buffers to float64. */
  double(): this {
    return this.to('float64');
  }
  /** Casts floating parameters and buffers to float16. */
  half(): this {
    return this.to('float16');
  }
  /** Casts floating parameters and buffers to bfloat16. */
  bfloat16(): this {
    return this.to('bfloat16');
  }


  /**
   * Parameters and persistent buffers by PyTorch's dotted names, detached.
   * Example: `fm.save(model.stateDict(), 'model.safetensors')`.
   */
  stateDict(opts: { keepVars?: boolean } = {}): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    // As PyTorch: a module's own parameters, then its persistent buffers, then each child's under its name; a
    // shared module (or tied parameter) appears under every name it has.
    const visit = (m: Module, prefix: string) => {
      const fields = m as unknown as Record<string, unknown>;
      const put = (k: string, t: Tensor) => (out[prefix + k] = opts.keepVars ? t : t.detach());
      for (const [k, v] of ownEntries(m)) if (isParameter(v)) put(k, v);
      for (const [k, persistent] of inner(m).buffers) {
        const t = fields[k];
        if (persistent && t instanceof Tensor) put(k, t);
      }
      for (const [k, c] of childEntries(m)) visit(c, `${prefix}${k}.`);
    };
    visit(this, '');
    return out;
  }

  /**
   * Copies values from a state dict into the parameters and buffers (in place, shapes must
   * agree). strict (default true) raises when keys are missing or unexpected; otherwise they are
   * returned. Example: `model.loadStateDict(fm.load('model.safetensors'))`.
   */
  loadStateDict(sd: Record<string, Tensor>, opts: { strict?: boolean } = {}): IncompatibleKeys {
    const own = this.stateDict({ keepVars: true });
    const missingKeys = Object.keys(own).filter((k) => !(k in sd));
    const unexpectedKeys = Object.keys(sd).filter((k) => !(k in own));
    if (opts.strict !== false && (missingKeys.length > 0 || unexpectedKeys.length > 0)) {
      throw new ValueError('loadStateDict', `error(s) in loading the state dict for ${this.constructor.name}:` +
        `${missingKeys.length ? ` missing keys: ${missingKeys.map((k) => `"${k}"`).join(', ')}.` : ''}` +
        `${unexpectedKeys.length ? ` unexpected keys: ${unexpectedKeys.map((k) => `"${k}"`).join(', ')}.` : ''}`);
    }
    // Every value is checked before any is copied, so a failed load leaves the module as it was.
    const pairs = Object.entries(own).filter(([k]) => k in sd).map(([k, t]) => {
      const src = sd[k];
      if (!(src instanceof Tensor)) throw new ValueError('loadStateDict', `the value of "${k}" is not a tensor`);
      if (src.shape.length !== t.shape.length || src.shape.some((s, i) => s !== t.shape[i])) {
        throw new ShapeError('loadStateDict', `size mismatch for ${k}: copying a param with shape ${fmtShape(src.shape)} from the state dict, the shape in the current model is ${fmtShape(t.shape)}`);
      }
      return [t, src] as const;
    });
    noGrad(() => {
      for (const [t, src] of pairs) t.copy_(src);
    });
    return { missingKeys, unexpectedKeys };
  }

  /** Runs `hook(module, input)` before forward; it may return replacement inputs. */
  registerForwardPreHook(hook: ForwardPreHook): RemovableHandle {
    return addHook(inner(this).preHooks, hook);
  }
  /** Runs `hook(module, input, output)` after forward; it may return a replacement output. */
  registerForwardHook(hook: ForwardHook): RemovableHandle {
    return addHook(inner(this).hooks, hook);
  }
  /**
   * Runs `hook(module, gradInput, gradOutput)` when the gradients with respect to the module's
   * tensor inputs have been computed; it may return replacement gradInput.
   */
  registerFullBackwardHook(hook: BackwardHook): RemovableHandle {
    return addHook(inner(this).backwardHooks, hook);
  }

  /** The part of the printed form inside the parentheses (`in_features=4, ...`). */
  extraRepr(): string {
    return '';
  }

  /** PyTorch's print(model): one line when there is no child and one line of extraRepr, else one line each. */
  toString(): string {
    const extra = this.extraRepr();
    const extraLines = extra ? extra.split('\n') : [];
    // Every child under every name (a shared module is printed each time, as PyTorch's _modules).
    const childLines = childEntries(this).map(([k, m]) => `(${k}): ${String(m).split('\n').join('\n  ')}`);
    const lines = [...extraLines, ...childLines];
    if (lines.length === 0) return `${this.constructor.name}()`;
    if (extraLines.length === 1 && childLines.length === 0) return `${this.constructor.name}(${extraLines[0]})`;
    return `${this.constructor.name}(\n  ${lines.join('\n  ')}\n)`;
  }
  [inspect.custom](): string {
    return this.toString();
  }
}

/** A module's own fields in assignment order. */
function ownEntries(m: Module): [string, unknown][] {
  return Object.keys(m).map((k) => [k, (m as unknown as Record<string, unknown>)[k]]);
}
/** A module's child modules under every field name (a module assigned twice appears twice). */
function childEntries(m: Module): [string, Module][] {
  return ownEntries(m).filter((e): e is [string, Module] => e[1] instanceof Module);
}

/**
 * Checks a name given to registerBuffer, registerParameter or addModule: non-empty, without '.', and not an
 * attribute of another kind (a method, a getter, a field holding something else); `free` says whether the
 * current value may be replaced.
 */
function checkName(m: Module, op: string, kind: string, name: string, free: (current: unknown) => boolean): void {
  if (typeof name !== 'string' || name === '' || name.includes('.')) throw new ValueError(op, `${kind} name must be a non-empty string without '.', got '${String(name)}'`);
  const own = Object.prototype.hasOwnProperty.call(m, name);
  const current = (m as unknown as Record<string, unknown>)[name];
  if ((own && !free(current)) || (!own && name in m)) throw new ValueError(op, `attribute '${name}' already exists`);
}

function addHook<H>(map: Map<number, H>, hook: H): RemovableHandle {
  const id = nextHookId++;
  map.set(id, hook);
  return { remove: () => map.delete(id) };
}

function callModule(m: Module, args: unknown[]): unknown {
  const i = inner(m);
  for (const h of i.preHooks.values()) {
    const r = h(m, args);
    if (r !== undefined) args = Array.isArray(r) ? r : [r];
  }
  if (i.backwardHooks.size > 0) return callWithBackwardHooks(m, i, args);
  let out = (m.forward as (...a: unknown[]) => unknown)(...args);
  for (const h of i.hooks.values()) {
    const r = h(m, args, out);
    if (r !== undefined) out = r;
  }
  return out;
}

/**
 * Full backward hooks: the tensor inputs pass through an identity op whose backward sees the
 * gradients with respect to them (gradInput); a hook on each output records gradOutput.
 */
function callWithBackwardHooks(m: Module, i: Internals, args: unknown[]): unknown {
  const gradOutputs: (Tensor | null)[] = [];
  const fire = (gradInput: (Tensor | null)[]) => {
    let gi = gradInput;
    for (const h of i.backwardHooks.values()) {
      const r = h(m, gi, gradOutputs);
      if (r !== undefined) gi = r;
    }
    return gi;
  };
  // gradInput has one entry per tensor argument, null for those that need no gradient (as PyTorch's).
  const tensorArgs = args.map((a, k) => (a instanceof Tensor ? k : -1)).filter((k) => k >= 0);
  const gradArgs = tensorArgs.filter((k) => (args[k] as Tensor).requiresGrad);
  class BackwardHookFn extends AutogradFunction {
    static override forward(_ctx: FunctionCtx, ...xs: Tensor[]): Tensor[] {
      return xs;
    }
    static override backward(_ctx: FunctionCtx, ...gs: Tensor[]): (Tensor | null)[] {
      const gi = fire(tensorArgs.map((k) => (gradArgs.includes(k) ? gs[gradArgs.indexOf(k)]! : null)));
      return gradArgs.map((k) => gi[tensorArgs.indexOf(k)] ?? null);
    }
  }
  if (gradArgs.length > 0) {
    const wrapped = (BackwardHookFn.apply as (...a: Tensor[]) => Tensor[])(...gradArgs.map((k) => args[k] as Tensor));
    args = args.slice();
    gradArgs.forEach((k, j) => (args[k] = wrapped[j]));
  }
  let out = (m.forward as (...a: unknown[]) => unknown)(...args);
  for (const h of i.hooks.values()) {
    const r = h(m, args, out);
    if (r !== undefined) out = r;
  }
  const outs = (Array.isArray(out) ? out : [out]).filter((o): o is Tensor => o instanceof Tensor && o.requiresGrad);
  outs.forEach((o, k) => {
    gradOutputs[k] = null;
    o.registerHook((g) => {
      gradOutputs[k] = g;
      // With no tensor input needing grad, the hook fires once gradOutput is known (gradInput all null).
      if (gradArgs.length === 0 && k === outs.length - 1) fire(tensorArgs.map(() => null));
    });
  });
  return out;
}
