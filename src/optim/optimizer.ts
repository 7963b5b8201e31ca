// The base of every optimizer (PyTorch's torch.optim.Optimizer): parameter groups with per-group
// options, per-parameter state, zeroGrad, step with a closure, and state dicts laid out as PyTorch's.
import { Tensor } from '../tensor/tensor.js';
import { DeviceError, ShapeError, ValueError } from '../errors.js';
import { enableGrad, noGrad } from '../autograd/grad_mode.js';
import { dropGrad, scope } from '../tensor/scope.js';
import { fromPyName, toPyName } from './names.js';
import { checkNonNegative, describe, restack } from './validate.js';
import { castState, copyPlain, keepTensors } from './state_dict.js';

/** The option every optimizer has: the learning rate. Example: `{ lr: 0.01 }`. */
export interface OptimizerOptions {
  lr: number;
}

/**
 * A parameter group: its parameters and its options (the optimizer's defaults where the group did
 * not set them). Schedulers add their own keys (`initialLr`, `maxLr`, ...).
 * Example: `opt.paramGroups[0].lr = 0.01`.
 */
export type ParamGroup<O extends OptimizerOptions = OptimizerOptions> = O & {
  params: Tensor[];
  initialLr?: number;
  [option: string]: unknown;
};

/**
 * A parameter group as given to a constructor or to addParamGroup: options left out take the
 * optimizer's defaults. Example: `{ params: [bias], weightDecay: 0 }`.
 */
export type ParamGroupInput<O extends OptimizerOptions = OptimizerOptions> = Partial<O> & {
  params: Tensor | readonly Tensor[];
  [option: string]: unknown;
};

/** What an optimizer optimizes: tensors (one group; any iterable), or groups with their own options. Example: `[w, b]`. */
export type Params<O extends OptimizerOptions = OptimizerOptions> = readonly Tensor[] | readonly ParamGroupInput<O>[] | Iterable<Tensor>;

/**
 * An optimizer's state in PyTorch's layout and names: per-parameter state keyed by the parameter's
 * index (counted across groups in order), and the groups with `params` as those indices.
 * Example: `{ state: { 0: { step: 1, exp_avg, exp_avg_sq } }, param_groups: [{ lr: 0.001, ..., params: [0] }] }`.
 */
export interface OptimizerStateDict {
  state: Record<number, Record<string, unknown>>;
  param_groups: { params: number[]; [option: string]: unknown }[];
}

/**
 * The base of the optimizers. A subclass gives its defaults, checks its options in
 * `validateOptions` and updates one group's parameters in place in `updateGroup`, which `step`
 * runs under noGrad, in a scope that frees its temporaries.
 * Example: `const opt = new fm.optim.SGD(model.parameters(), { lr: 0.1 }); opt.zeroGrad(); loss.backward(); opt.step();`
 */
export abstract class Optimizer<O extends OptimizerOptions = OptimizerOptions, S extends object = object> {
  /** The options of a group that does not set them. Example: `opt.defaults.lr`. */
  readonly defaults: Readonly<O>;
  /** The parameter groups: `params` and options in camelCase. Example: `opt.paramGroups[1].lr = 0.01`. */
  paramGroups: ParamGroup<O>[] = [];
  /** Per-parameter state (`step`, `expAvg`, ...), made on a parameter's first step. Example: `opt.state.get(w)`. */
  state = new Map<Tensor, S>();

  constructor(params: Params<O>, defaults: O) {
    const op = this.constructor.name;
    this.defaults = defaults;
    this.validateOptions(defaults, op);
    const iterable = params !== null && typeof params === 'object' && typeof (params as Iterable<unknown>)[Symbol.iterator] === 'function';
    if (params instanceof Tensor || !iterable) {
      throw new ValueError(op, `params should be an array of Tensors or of param groups, but got ${describe(params)}`);
    }
    const list = [...(params as Iterable<Tensor | ParamGroupInput<O>>)];
    if (list.length === 0) throw new ValueError(op, 'optimizer got an empty parameter list');
    const groups = list[0] instanceof Tensor ? [{ params: list as Tensor[] }] : (list as ParamGroupInput<O>[]);
    for (const g of groups) this.addGroup(g as ParamGroupInput<O>, op);
  }

  /** Checks a group's options (the defaults, then each group's); raises a ValueError naming `op`. */
  protected validateOptions(options: O, op: string): void {
    checkNonNegative(op, 'learning rate', options.lr);
  }

  /** Updates the parameters of one group that have a gradient, in place (run by step under noGrad). */
  protected abstract updateGroup(group: ParamGroup<O>): void;

  /**
   * Adds a parameter group (say, layers unfrozen while fine-tuning); its options default to the
   * optimizer's. A parameter may appear only once across all groups.
   * Example: `opt.addParamGroup({ params: [head.weight], lr: 1e-3 })`.
   */
  addParamGroup(group: ParamGroupInput<O>): void {
    this.addGroup(group, `${this.constructor.name}.addParamGroup`);
  }

  /** Checks a group and adds it with the defaults filled in (the constructor and addParamGroup call it). */
  protected addGroup(input: ParamGroupInput<O>, op: string): void {
    if (input === null || typeof input !== 'object' || input instanceof Tensor || Array.isArray(input)) {
      throw new ValueError(op, `a param group must be an object with params and options, got ${describe(input)}`);
    }
    const raw: unknown = input.params;
    if (!(raw instanceof Tensor) && !Array.isArray(raw)) {
      throw new ValueError(op, `a param group's params must be a Tensor or an array of Tensors, got ${describe(raw)}`);
    }
    const params: unknown[] = raw instanceof Tensor ? [raw] : [...(raw as unknown[])];
    const seen = new Map<unknown, number>();
    params.forEach((p, i) => {
      if (!(p instanceof Tensor)) throw new ValueError(op, `optimizer can only optimize Tensors, but params[${i}] is ${describe(p)}`);
      if (!p.isLeaf && !p.retainsGrad) throw new ValueError(op, `can't optimize a non-leaf Tensor (params[${i}] was made by an op; optimize the leaf it came from, or a detach().requiresGrad_())`);
      const j = seen.get(p);
      if (j !== undefined) throw new ValueError(op, `params[${j}] and params[${i}] are the same tensor: a parameter may appear only once`);
      seen.set(p, i);
    });
    const taken = new Set(this.paramGroups.flatMap((g) => g.params));
    params.forEach((p, i) => {
      if (taken.has(p as Tensor)) throw new ValueError(op, `some parameters appear in more than one parameter group (params[${i}] is already in another group)`);
    });
    const group: Record<string, unknown> = {};
    for (const [k, v] of Object.entries({ ...this.defaults, ...input })) {
      if (k !== 'params') group[k] = v === undefined ? (this.defaults as Record<string, unknown>)[k] : Array.isArray(v) ? [...v] : v;
    }
    group.params = params;
    this.validateOptions(group as O, op);
    this.paramGroups.push(group as ParamGroup<O>);
  }

  /**
   * Clears the gradients of all parameters: to null (the default, as in PyTorch 2) or to zeros.
   * Gradients that a closed scope made (a scoped training step's) are disposed when set to null,
   * so the next backward reuses their memory: `clone()` one to keep it past this call.
   * Example: `opt.zeroGrad()`, `opt.zeroGrad({ setToNone: false })`.
   */
  zeroGrad({ setToNone = true }: { setToNone?: boolean } = {}): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        if (p.grad === null) continue;
        if (setToNone) {
          dropGrad(p);
          continue;
        }
        if (p.grad.gradFn !== null) p.grad.detach_();
        else p.grad.requiresGrad = false;
        noGrad(() => p.grad!.zero_());
      }
    }
  }

  /**
   * One optimization step: updates every parameter that has a gradient, in place. A closure, if
   * given, is called first with grad enabled (it should zero the gradients, compute the loss and
   * call backward); step returns what it returned.
   * Example: `opt.step()`; `const loss = opt.step(() => { opt.zeroGrad(); const l = f(); l.backward(); return l; })`.
   */
  step<L = Tensor>(closure?: () => L): L | undefined {
    const op = `${this.constructor.name}.step`;
    const loss = closure === undefined ? undefined : enableGrad(closure);
    if (loss instanceof Promise) throw new ValueError(op, 'the closure returned a Promise: step needs a synchronous closure (or await the loss first, then call step())');
    this.checkGrads(op);
    try {
      noGrad(() =>
        scope(() => {
          for (const g of this.paramGroups) this.updateGroup(g);
        }),
      );
    } catch (e) {
      throw restack(e);
    }
    return loss;
  }

  /** Raises unless every gradient has its parameter's shape and device (an update would broadcast or fail inside). */
  protected checkGrads(op: string): void {
    this.paramGroups.forEach((g, gi) =>
      g.params.forEach((p, i) => {
        const grad = p.grad;
        if (grad === null) return;
        if (grad.shape.length !== p.shape.length || grad.shape.some((n, d) => n !== p.shape[d])) {
          throw new ShapeError(op, `the gradient of paramGroups[${gi}].params[${i}] has shape [${grad.shape.join(', ')}], but the parameter has shape [${p.shape.join(', ')}]`);
        }
        if (grad.device !== p.device) throw new DeviceError(op, `the gradient of paramGroups[${gi}].params[${i}] is on ${grad.device}, but the parameter is on ${p.device}`);
      }),
    );
  }

  /** The state of `p`, made by `init` on first use (its tensors kept from any enclosing scope). */
  protected stateFor(p: Tensor, init: () => S): S {
    let s = this.state.get(p);
    if (s === undefined) {
      s = keepTensors(init());
      this.state.set(p, s);
    }
    return s;
  }

  /**
   * The optimizer's state in PyTorch's layout and names (see OptimizerStateDict). As in PyTorch,
   * its tensors are the optimizer's own (a later step changes them): save or clone it to keep a copy.
   * Example: `const sd = opt.stateDict(); sd.state[0].exp_avg`.
   */
  stateDict(): OptimizerStateDict {
    const ids = new Map<Tensor, number>();
    const paramGroups = this.paramGroups.map((g) => {
      const packed: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(g)) if (k !== 'params') packed[toPyName(k)] = copyPlain(v);
      // Indices in order across groups, last in the group as in PyTorch.
      packed.params = g.params.map((p) => {
        if (!ids.has(p)) ids.set(p, ids.size);
        return ids.get(p)!;
      });
      return packed as OptimizerStateDict['param_groups'][number];
    });
    const state: Record<number, Record<string, unknown>> = {};
    for (const [p, s] of this.state) {
      const id = ids.get(p);
      if (id === undefined) continue;
      state[id] = Object.fromEntries(Object.entries(s).map(([k, v]) => [toPyName(k), copyPlain(v)]));
    }
    return { state, param_groups: paramGroups };
  }

  /**
   * Loads a state dict made by stateDict (here or, with tensors converted, by PyTorch): the groups'
   * options and the per-parameter state, matched to this optimizer's parameters by position.
   * Tensors are copied (cast to the parameter's dtype and device); PyTorch's 0-dim `step` and
   * `mu_product` tensors become numbers.
   * Example: `opt2.loadStateDict(opt1.stateDict())`.
   */
  loadStateDict(stateDict: OptimizerStateDict): void {
    const op = `${this.constructor.name}.loadStateDict`;
    if (stateDict === null || typeof stateDict !== 'object' || typeof stateDict.state !== 'object' || stateDict.state === null || !Array.isArray(stateDict.param_groups)) {
      throw new ValueError(op, `expected a state dict { state, param_groups }, got ${describe(stateDict)}`);
    }
    const groups = this.paramGroups;
    const saved = stateDict.param_groups;
    if (groups.length !== saved.length) {
      throw new ValueError(op, `loaded state dict has ${saved.length} parameter group(s), but the optimizer has ${groups.length}`);
    }
    saved.forEach((sg, i) => {
      if (sg === null || typeof sg !== 'object' || !Array.isArray(sg.params)) throw new ValueError(op, `param_groups[${i}] of the loaded state dict has no params list`);
      if (sg.params.length !== groups[i]!.params.length) {
        throw new ValueError(op, `loaded state dict's parameter group ${i} has ${sg.params.length} parameter(s), but the optimizer's group ${i} has ${groups[i]!.params.length}`);
      }
    });
    const idMap = new Map<number, Tensor>();
    saved.forEach((sg, i) => sg.params.forEach((id, j) => idMap.set(Number(id), groups[i]!.params[j]!)));
    const state = new Map<Tensor, S>();
    for (const [key, value] of Object.entries(stateDict.state)) {
      const p = idMap.get(Number(key));
      if (p === undefined) throw new ValueError(op, `the loaded state has an entry for parameter ${key}, which no parameter group lists`);
      if (value === null || typeof value !== 'object') throw new ValueError(op, `the loaded state of parameter ${key} is not an object`);
      const entry: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) entry[fromPyName(k)] = castState(p, v, k);
      state.set(p, keepTensors(entry as S));
    }
    this.state = state;
    this.paramGroups = saved.map((sg, i) => {
      const group: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(sg)) if (k !== 'params') group[fromPyName(k)] = copyPlain(v);
      group.params = groups[i]!.params;
      return group as ParamGroup<O>;
    });
  }
}
