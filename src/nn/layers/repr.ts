// Printing helpers: numbers, booleans and tuples as Python prints them, so that print(model)
// reads like PyTorch's (extraRepr strings).
/** 1e-05, 0.1, 3.0 as Python's repr of a float. */
export function pyFloat(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return `${x}.0`;
  if (x !== 0 && (Math.abs(x) < 1e-4 || Math.abs(x) >= 1e16)) {
    const [m, e] = x.toExponential().split('e') as [string, string];
    const sign = e.startsWith('-') ? '-' : '+';
    return `${m}e${sign}${e.replace(/^[-+]/, '').padStart(2, '0')}`;
  }
  return String(x);
}
export const pyBool = (b: boolean): string => (b ? 'True' : 'False');
/** (3, 3) or (3,) as a Python tuple. */
export function pyTuple(v: readonly number[]): string {
  return v.length === 1 ? `(${v[0]},)` : `(${v.join(', ')})`;
}
/** A size given as one number or a list, as the list of k sizes. */
export function ntuple(v: number | readonly number[], k: number): number[] {
  return typeof v === 'number' ? Array(k).fill(v) as number[] : [...v];
}
