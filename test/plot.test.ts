// fm.utils.lineChart: SVG structure, scaling, ticks, escaping and errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import { expectError as expectErrorIn } from './helpers.js';

const expectError = (fn: () => unknown, cls: new (...a: never[]) => fm.FiammaError, op: string, re: RegExp) => expectErrorIn(fn, cls, op, re, /plot\.test\.js/);

test('ticks are round numbers covering the range', () => {
  assert.deepEqual(fm.utils.ticks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(fm.utils.ticks(0.93, 0.99), [0.94, 0.96, 0.98]);
  assert.deepEqual(fm.utils.ticks(3, 3), [3]);
});

test('a chart has one path per series, points scaled into the plot area, and a legend', () => {
  const svg = fm.utils.lineChart([{ name: 'loss', values: [2, 1, 0.5] }, { name: 'acc <test>', values: [0.5, 0.9], xs: [1, 3] }], { title: 'curves', width: 400, height: 300 });
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="400" height="300"/);
  assert.equal((svg.match(/<path /g) ?? []).length, 2);
  assert.match(svg, />curves</);
  assert.match(svg, />acc &lt;test&gt;</);
  // x from 1 to 3 spans left margin 60 to 400 - 20; y from 0.5 to 2 spans 300 - 48 to 36.
  assert.match(svg, /d="M60\.0,36\.0 L220\.0,180\.0 L380\.0,252\.0"/);
  assert.ok(svg.trimEnd().endsWith('</svg>'));
});

test('bad input raises', () => {
  expectError(() => fm.utils.lineChart([{ name: 'a', values: [NaN] }]), fm.ValueError, 'lineChart', /no finite values to plot/);
  expectError(() => fm.utils.lineChart([{ name: 'a', values: [1, 2], xs: [1] }]), fm.ValueError, 'lineChart', /series 'a' has 1 xs but 2 values/);
});
