import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allowedCpus, formatCpuList, parseCpuList, pinProcess } from '../src/index';
import { native, skipReason } from './helpers';

describe('CPU lists', () => {
  it('parses the kernel notation, sorted and without repeats, and formats it back', () => {
    expect(parseCpuList('0', 'x')).toEqual([0]);
    expect(parseCpuList(' 3, 1-2 ,2,7 ', 'x')).toEqual([1, 2, 3, 7]);
    expect(formatCpuList([7, 0, 1, 2, 5, 6, 1])).toBe('0-2,5-7');
    expect(formatCpuList(parseCpuList('0-3,8', 'x'))).toBe('0-3,8');
  });

  it('names the source and the bad part of a malformed list', () => {
    expect(() => parseCpuList('', '--cpu-affinity')).toThrow(/--cpu-affinity: empty CPU list/);
    expect(() => parseCpuList('0,a', '--cpu-affinity')).toThrow(/--cpu-affinity: 'a' is not a CPU id or range/);
    expect(() => parseCpuList('1,,2', 'f')).toThrow(/f: '' is not a CPU id/);
    expect(() => parseCpuList('-1', 'f')).toThrow(/'-1' is not a CPU id/);
    expect(() => parseCpuList('3-1', 'f')).toThrow(/range '3-1' runs backwards/);
    expect(() => parseCpuList('0-5000', 'f')).toThrow(/CPU 5000 is beyond/);
  });
});

// Pinning changes the process it runs in, so each case runs in a child process of its own.
const script = (body: string) => `
const { pinProcess, allowedCpus } = require(${JSON.stringify(join(__dirname, '..', 'dist', 'index.js'))});
const { readdirSync, readFileSync } = require('node:fs');
const masks = () => readdirSync('/proc/self/task').map((t) => /Cpus_allowed_list:\\s*(\\S+)/.exec(readFileSync('/proc/self/task/' + t + '/status', 'utf8'))[1]);
${body}`;
const runChild = (body: string) => spawnSync(process.execPath, ['-e', script(body)], { encoding: 'utf8', timeout: 30_000 });

describe.skipIf(!native || process.platform !== 'linux')(`pinProcess${skipReason}`, () => {
  const cpus = allowedCpus()!;
  const last = cpus[cpus.length - 1]!;

  it('pins every thread of the process, and threads started afterwards inherit the mask', () => {
    const r = runChild(`
      const before = masks().length;
      const res = pinProcess([${last}]);
      const { Worker } = require('node:worker_threads');
      const w = new Worker('setTimeout(() => {}, 300)', { eval: true });
      w.on('online', () => {
        console.log(JSON.stringify({ res, before, after: masks() }));
        w.terminate();
      });`);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout.trim());
    expect(out.res).toEqual({ pinned: true, cpus: [last] });
    expect(out.after.length).toBeGreaterThan(out.before); // the worker thread is among them
    expect(new Set(out.after)).toEqual(new Set([String(last)]));
  });

  it('refuses a CPU the process may not use, naming it and what is allowed, and leaves the mask alone', () => {
    const r = runChild(`
      try { pinProcess([${last + 1}], '--cpu-affinity'); } catch (e) { console.log(e.message); }
      console.log(JSON.stringify(masks()));`);
    const [message, after] = r.stdout.trim().split('\n');
    expect(message).toBe(`--cpu-affinity: CPU ${last + 1} is not available to this process (it may run on ${formatCpuList(cpus)})`);
    expect(new Set(JSON.parse(after!))).toEqual(new Set([formatCpuList(cpus)]));
  });

  it('without the addon it reports why and pins nothing', () => {
    const r = spawnSync(process.execPath, ['-e', script(`console.log(JSON.stringify([pinProcess([${last}]), masks()]))`)], {
      encoding: 'utf8',
      env: { ...process.env, MTL_NATIVE: '0' },
    });
    const [res, masks] = JSON.parse(r.stdout.trim());
    expect(res).toEqual({ pinned: false, reason: 'the native addon is not loaded (disabled by MTL_NATIVE=0)' });
    expect(new Set(masks)).toEqual(new Set([formatCpuList(cpus)]));
  });
});

describe('pinProcess input', () => {
  it('refuses an empty list', () => {
    expect(() => pinProcess([], '--cpu-affinity')).toThrow(/--cpu-affinity: no CPU given/);
  });
});
