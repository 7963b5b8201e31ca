// Line charts as standalone SVG text: training curves a demo can write next to its checkpoint
// and any browser can open. No dependencies; one chart per call, several series per chart.
import { ValueError } from '../errors.js';

/** One line: its name (in the legend) and y values at x = 1, 2, ... (or at the given xs). */
export interface Series {
  name: string;
  values: readonly number[];
  xs?: readonly number[];
}

export interface ChartOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
}

const colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Round tick values covering [lo, hi] (about five of them). */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (hi <= lo) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/**
 * An SVG line chart of the series. Example:
 * `fs.writeFileSync('loss.svg', fm.utils.lineChart([{ name: 'loss', values: losses }], { title: 'training' }))`.
 */
export function lineChart(series: readonly Series[], opts: ChartOptions = {}): string {
  const points = series.flatMap((s) => s.values.map((v, i) => [s.xs?.[i] ?? i + 1, v] as const)).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (points.length === 0) throw new ValueError('lineChart', 'no finite values to plot');
  for (const s of series) if (s.xs && s.xs.length !== s.values.length) throw new ValueError('lineChart', `series '${s.name}' has ${s.xs.length} xs but ${s.values.length} values`);
  const { width = 640, height = 400, title = '', xLabel = '', yLabel = '' } = opts;
  const m = { left: 60, right: 20, top: title ? 36 : 16, bottom: 48 };
  let [x0, x1] = [Math.min(...points.map((p) => p[0])), Math.max(...points.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...points.map((p) => p[1])), Math.max(...points.map((p) => p[1]))];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const px = (x: number) => m.left + ((x - x0) / (x1 - x0)) * (width - m.left - m.right);
  const py = (y: number) => height - m.bottom - ((y - y0) / (y1 - y0)) * (height - m.top - m.bottom);
  const fmt = (v: number) => (Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(1) : String(v));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
  ];
  if (title) parts.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`);
  for (const t of ticks(y0, y1)) {
    parts.push(`<line x1="${m.left}" x2="${width - m.right}" y1="${py(t).toFixed(1)}" y2="${py(t).toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${m.left - 6}" y="${(py(t) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`);
  }
  for (const t of ticks(x0, x1)) parts.push(`<text x="${px(t).toFixed(1)}" y="${height - m.bottom + 16}" text-anchor="middle">${fmt(t)}</text>`);
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${width - m.left - m.right}" height="${height - m.top - m.bottom}" fill="none" stroke="#444"/>`);
  if (xLabel) parts.push(`<text x="${(m.left + width - m.right) / 2}" y="${height - 10}" text-anchor="middle">${esc(xLabel)}</text>`);
  if (yLabel) parts.push(`<text transform="translate(14 ${(m.top + height - m.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  series.forEach((s, k) => {
    const d = s.values.map((v, i) => [s.xs?.[i] ?? i + 1, v] as const).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
      .map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    const c = colors[k % colors.length]!;
    parts.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="1.5"/>`);
    parts.push(`<text x="${width - m.right - 8}" y="${m.top + 16 + 16 * k}" text-anchor="end" fill="${c}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
