#!/usr/bin/env node
// GFLOP/s of the native sgemm on the shapes of the reference training step (best of N), and the
// tfjs wasm backend's tf.matMul on the same shapes (non-transposed case) for comparison.
// Run after `npm run build` in packages/native:
//   node bench/gemm-bench.js [--reps N] [--isa avx2-6x16|avx2-4x24|avx2-8x8|generic]
//                            [--block mc,kc,nc] [--no-wasm] [--quick]
'use strict';

const path = require('node:path');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const reps = Number(opt('--reps', '7'));
const quick = args.includes('--quick');

const { loadNative, nativeStatus } = require(path.join(__dirname, '..', 'dist', 'index.js'));
const nat = loadNative();
const status = nativeStatus();
if (!nat) {
  console.error(`native addon not loaded: ${status.reason}`);
  process.exit(1);
}
const raw = require(status.path);
let isa = status.isa;
if (opt('--isa')) isa = raw._setIsa(opt('--isa'));
if (opt('--block')) {
  const [mc, kc, nc] = opt('--block').split(',').map(Number);
  raw._setBlocking(mc, kc, nc);
}

// [label, m, k, n]
const SQUARE = [['fwd 256x1024@1024x1024', 256, 1024, 1024]];
const SHAPES = [
  ['fwd 256x512@512x1024', 256, 512, 1024],
  ['fwd 256x1024@1024x1024', 256, 1024, 1024],
  ['head 256x1024@1024x1', 256, 1024, 1],
  ['dW x^T@dy 512x256@256x1024', 512, 256, 1024],
  ['dW x^T@dy 1024x256@256x1024', 1024, 256, 1024],
  ['dX dy@W^T 256x1024@1024x512', 256, 1024, 512],
  ['dX dy@W^T 256x1024@1024x1024', 256, 1024, 1024],
  ['head dW x^T@dy 1024x256@256x1', 1024, 256, 1],
  ['head dX dy@W^T 256x1@1x1024', 256, 1, 1024],
];
// Transposes used by the training step for each shape (x^T@dy: transA, dy@W^T: transB).
const natural = (label) => (label.includes('x^T') ? [true, false] : label.includes('W^T') ? [false, true] : [false, false]);

function rand(len) {
  const a = new Float32Array(len);
  for (let i = 0; i < len; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

function timeBest(fn, flops) {
  fn(); // warm up (packing buffers, caches)
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return { ms: best, gflops: flops / best / 1e6 };
}

function benchNative(m, k, n, ta, tb) {
  const a = rand(m * k), b = rand(k * n), c = new Float32Array(m * n);
  return timeBest(() => nat.sgemm(ta, tb, m, n, k, a, b, c), 2 * m * n * k);
}

async function benchWasm(rows) {
  let tf;
  try {
    tf = require('@tensorflow/tfjs');
    require('@tensorflow/tfjs-backend-wasm');
    await tf.setBackend('wasm');
    await tf.ready();
  } catch (e) {
    console.log(`(tfjs wasm backend unavailable: ${e.message})`);
    return;
  }
  for (const row of rows) {
    const { m, k, n } = row;
    const a = tf.tensor2d(rand(m * k), [m, k]);
    const b = tf.tensor2d(rand(k * n), [k, n]);
    const r = timeBest(() => {
      const c = tf.matMul(a, b);
      c.dataSync();
      c.dispose();
    }, 2 * m * n * k);
    row.wasm = r.gflops;
    a.dispose();
    b.dispose();
  }
}

function fmt(x) {
  return x === undefined ? '-' : x.toFixed(1);
}

async function main() {
  console.log(`native isa: ${isa}; best of ${reps}; GFLOP/s (2*m*n*k / time)`);
  const rows = [];
  const combos = [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ];
  console.log('\nm=256 k=1024 n=1024, all transpose combinations:');
  for (const [, m, k, n] of SQUARE)
    for (const [ta, tb] of combos) {
      const r = benchNative(m, k, n, ta, tb);
      console.log(`  transA=${ta ? 1 : 0} transB=${tb ? 1 : 0}: ${fmt(r.gflops)} GFLOP/s (${r.ms.toFixed(2)} ms)`);
    }
  if (quick) return;
  for (const [label, m, k, n] of SHAPES) {
    const [ta, tb] = natural(label);
    const nn = benchNative(m, k, n, false, false);
    const nt = ta || tb ? benchNative(m, k, n, ta, tb) : nn;
    rows.push({ label, m, k, n, ta, tb, nn: nn.gflops, nt: nt.gflops, ms: nt.ms });
  }
  if (!args.includes('--no-wasm')) await benchWasm(rows);
  console.log('\n| product (m x k @ k x n) | native NN | native as used (transA/B) | tfjs wasm NN |');
  console.log('|---|---:|---:|---:|');
  for (const r of rows) {
    const t = r.ta ? ' (transA)' : r.tb ? ' (transB)' : '';
    console.log(`| ${r.label} | ${fmt(r.nn)} | ${fmt(r.nt)}${t} | ${fmt(r.wasm)} |`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
