import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadNative, nativeStatus } from '../src/index';

const distIndex = path.join(__dirname, '..', 'dist', 'index.js');

function compilerExists(): boolean {
  const cxx = process.env.CXX ?? 'g++';
  return spawnSync(cxx, ['--version'], { stdio: 'ignore' }).status === 0;
}

describe('loader', () => {
  it('caches: the same object on every call, and a status with a reason', () => {
    expect(loadNative()).toBe(loadNative());
    const s = nativeStatus();
    expect(typeof s.reason).toBe('string');
    if (s.loaded) {
      expect(s.reason).toBe('loaded');
      expect(s.path).toMatch(/mtl_native\.node$/);
      expect(s.isa).toBeTruthy();
      expect(loadNative()!.isa).toBe(s.isa);
    } else {
      expect(loadNative()).toBeNull();
    }
  });

  it('returns null with a reason naming MTL_NATIVE when run with MTL_NATIVE=0', () => {
    const code = `const n = require(${JSON.stringify(distIndex)});
      process.stdout.write(JSON.stringify({ k: n.loadNative(), s: n.nativeStatus() }));`;
    const r = spawnSync(process.execPath, ['-e', code], {
      env: { ...process.env, MTL_NATIVE: '0' },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { k: unknown; s: { loaded: boolean; reason: string } };
    expect(out.k).toBeNull();
    expect(out.s.loaded).toBe(false);
    expect(out.s.reason).toMatch(/MTL_NATIVE=0/);
  });

  it('in CI with a C++ compiler the addon must have been built and loaded', () => {
    const s = nativeStatus();
    if (process.env.CI && compilerExists()) {
      expect(s.loaded, `native addon not loaded in CI although a compiler exists: ${s.reason}`).toBe(true);
    }
  });

  it.skipIf(!nativeStatus().loaded)('MTL_SGEMM_ISA pins the GEMM path, and an unknown one fails naming it', () => {
    const run = (isa: string) =>
      spawnSync(process.execPath, ['-e', `const n = require(${JSON.stringify(distIndex)});
        process.stdout.write(JSON.stringify({ k: n.loadNative().isa, s: n.nativeStatus().isa }));`], {
        env: { ...process.env, MTL_SGEMM_ISA: isa },
        encoding: 'utf8',
      });
    const generic = run('generic');
    expect(generic.status, generic.stderr).toBe(0);
    expect(JSON.parse(generic.stdout)).toEqual({ k: 'generic 4x8', s: 'generic 4x8' });
    const bad = run('avx9');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/MTL_SGEMM_ISA=avx9: .*unknown or unsupported isa 'avx9'/);
  });
});
