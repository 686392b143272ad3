#!/usr/bin/env node
// Builds dist/native/mtl_native.node from src/native/*.cc with the system C++ compiler and the
// N-API headers of the `node-api-headers` package (no node-gyp, nothing downloaded).
//
// Never fails the build: with MTL_NATIVE=0, without a compiler, or when compilation fails it
// prints one warning line and exits 0 (every caller falls back to the JS / wasm kernels).
// Skips the work when the addon is newer than every source and this script.
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const srcDir = path.join(root, 'src', 'native');
const outDir = path.join(root, 'dist', 'native');
const objDir = path.join(outDir, 'obj');
const out = path.join(outDir, 'mtl_native.node');
const logFile = path.join(outDir, 'build.log');

function warn(reason) {
  console.warn(`[@mtl/native] warning: native addon not built (${reason}); callers use the JS/wasm kernels`);
  process.exit(0);
}

function removeStale() {
  try {
    fs.rmSync(out, { force: true });
  } catch {
    /* ignore */
  }
}

if (process.env.MTL_NATIVE === '0') warn('MTL_NATIVE=0');

function findCompiler() {
  const candidates = process.env.CXX ? [process.env.CXX] : ['c++', 'g++', 'clang++'];
  for (const cxx of candidates) {
    const r = spawnSync(cxx, ['--version'], { stdio: 'ignore', shell: false });
    if (r.status === 0) return cxx;
  }
  return null;
}

let include;
try {
  include = path.join(path.dirname(require.resolve('node-api-headers/package.json')), 'include');
} catch {
  removeStale();
  warn('the node-api-headers package is not installed');
}

const sources = fs
  .readdirSync(srcDir)
  .filter((f) => f.endsWith('.cc'))
  .sort();
const deps = fs
  .readdirSync(srcDir)
  .filter((f) => /\.(cc|h)$/.test(f))
  .map((f) => path.join(srcDir, f))
  .concat([__filename]);

function mtime(p) {
  try {
    return fs.statSync(p).mtimeMs;
  } catch {
    return -1;
  }
}

const outTime = mtime(out);
if (outTime > 0 && deps.every((d) => mtime(d) <= outTime)) process.exit(0); // up to date

const cxx = findCompiler();
if (cxx === null) {
  removeStale();
  warn(`no C++ compiler found (${process.env.CXX ? `CXX=${process.env.CXX}` : 'tried c++, g++, clang++'})`);
}

// -ffp-contract=off everywhere: optimizers.cc must be bit-identical to the JS references (no
// fused multiply-add); the GEMM uses explicit FMA intrinsics so it does not depend on it.
// Never -ffast-math. No -march: the AVX2 paths use target attributes and runtime dispatch, so
// one .node runs on any CPU of the architecture.
const common = [
  '-O3',
  '-std=c++17',
  '-fPIC',
  '-pthread',
  '-fvisibility=hidden',
  '-ffp-contract=off',
  '-fno-math-errno',
  '-DNAPI_VERSION=8',
  '-I',
  include,
];
const linkFlags = ['-shared', '-pthread'];
if (process.platform === 'darwin') linkFlags.push('-undefined', 'dynamic_lookup');

fs.mkdirSync(objDir, { recursive: true });
const log = [];

function run(args) {
  return new Promise((resolve) => {
    const child = spawn(cxx, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    child.on('error', (e) => resolve({ ok: false, text: String(e) }));
    child.on('close', (code) => {
      log.push(`$ ${cxx} ${args.join(' ')}\n${text}`);
      resolve({ ok: code === 0, text });
    });
  });
}

function firstError(text) {
  const line = text.split('\n').find((l) => /error/i.test(l)) ?? text.split('\n')[0] ?? '';
  return line.replace(root + path.sep, '').trim().slice(0, 200);
}

async function main() {
  const started = Date.now();
  // Compile the translation units in parallel (2 at a time), then link.
  const objs = sources.map((s) => path.join(objDir, s.replace(/\.cc$/, '.o')));
  const queue = sources.map((s, i) => ['-c', path.join(srcDir, s), '-o', objs[i], ...common]);
  const jobs = Math.max(1, Math.min(2, queue.length));
  const failures = [];
  await Promise.all(
    Array.from({ length: jobs }, async () => {
      for (let args = queue.shift(); args; args = queue.shift()) {
        const r = await run(args);
        if (!r.ok) failures.push(r.text);
      }
    }),
  );
  let ok = failures.length === 0;
  let reason = ok ? '' : firstError(failures[0]);
  if (ok) {
    const tmp = `${out}.tmp`;
    const r = await run([...objs, '-o', tmp, ...linkFlags]);
    ok = r.ok;
    if (ok) fs.renameSync(tmp, out);
    else reason = `link failed: ${firstError(r.text)}`;
  }
  fs.writeFileSync(logFile, log.join('\n'));
  if (!ok) {
    removeStale();
    warn(`compilation failed with ${cxx}: ${reason} — see dist/native/build.log`);
  }
  console.log(`[@mtl/native] built dist/native/mtl_native.node with ${cxx} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((e) => {
  removeStale();
  warn(`build script error: ${e && e.message ? e.message : e}`);
});
