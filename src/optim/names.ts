// PyTorch's spelling of option and state names (snake_case, as its state dicts have them) from
// Fiamma's camelCase, and back, so that a Fiamma state dict maps one to one onto PyTorch's.

/** Names that do not follow the plain camelCase <-> snake_case rule. */
const irregular: Readonly<Record<string, string>> = {
  hDiag: 'H_diag',
  tMax: 'T_max',
  t0: 'T_0',
  tMult: 'T_mult',
  tI: 'T_i',
  tCur: 'T_cur',
  stepCount: '_step_count',
  lastLr: '_last_lr',
  schedulers: '_schedulers',
};
const regular = Object.fromEntries(Object.entries(irregular).map(([ts, py]) => [py, ts]));

/** PyTorch's name of a Fiamma option or state key. Example: `toPyName('weightDecay') === 'weight_decay'`. */
export function toPyName(name: string): string {
  return irregular[name] ?? name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Fiamma's name of a PyTorch option or state key. Example: `fromPyName('exp_avg_sq') === 'expAvgSq'`. */
export function fromPyName(name: string): string {
  return regular[name] ?? name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
