// CPU pinning of a whole process, for workers that share a host: the addon sets every thread's
// mask (src/native/affinity.h); this side parses CPU lists as Linux prints them and reads back
// what the kernel applied.
import { readFileSync } from 'node:fs';
import { loadNative, nativeStatus } from './index';

/**
 * Parses a CPU list in the kernel's notation ("0", "0,2", "0-3,6"), sorted and without
 * repeats. `what` names where the text came from (a flag, a file) in the error.
 */
export function parseCpuList(text: string, what: string): number[] {
  const out = new Set<number>();
  const trimmed = text.trim();
  if (!trimmed) throw new Error(`${what}: empty CPU list (expected e.g. 0 or 0,2 or 0-3)`);
  for (const part of trimmed.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new Error(`${what}: '${part.trim()}' is not a CPU id or range (expected e.g. 0 or 0,2 or 0-3)`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new Error(`${what}: range '${part.trim()}' runs backwards`);
    if (hi > 4095) throw new Error(`${what}: CPU ${hi} is beyond the largest id the kernel accepts (4095)`);
    for (let c = lo; c <= hi; c++) out.add(c);
  }
  return [...out].sort((a, b) => a - b);
}

/** Formats CPU ids the way the kernel does ("0-3,6"). */
export function formatCpuList(cpus: readonly number[]): string {
  const s = [...new Set(cpus)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j]! + 1) j++;
    parts.push(j > i ? `${s[i]}-${s[j]}` : String(s[i]));
    i = j + 1;
  }
  return parts.join(',');
}

/** The CPUs a process may run on (its main thread's mask), or null where /proc does not say. */
export function allowedCpus(pid: number | 'self' = 'self'): number[] | null {
  try {
    const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? parseCpuList(m[1]!, `/proc/${pid}/status`) : null;
  } catch {
    return null;
  }
}

export type PinResult = { pinned: true; cpus: number[] } | { pinned: false; reason: string };

/**
 * Pins every thread of this process to `cpus`. A CPU this process may not use is an error that
 * names it; where pinning is unavailable (not Linux, addon not built) the result says why and
 * the process runs on as before, since pinning only changes speed.
 */
export function pinProcess(cpus: readonly number[], what = 'CPU affinity'): PinResult {
  if (!cpus.length) throw new Error(`${what}: no CPU given`);
  const allowed = allowedCpus();
  if (allowed) {
    const bad = cpus.filter((c) => !allowed.includes(c));
    if (bad.length) throw new Error(`${what}: CPU ${formatCpuList(bad)} is not available to this process (it may run on ${formatCpuList(allowed)})`);
  }
  const native = loadNative();
  if (!native?.setProcessAffinity) {
    const why = process.platform !== 'linux' ? `not supported on ${process.platform}` : `the native addon is not loaded (${nativeStatus().reason})`;
    return { pinned: false, reason: why };
  }
  const rc = native.setProcessAffinity([...cpus]);
  if (rc !== 0) throw new Error(`${what}: sched_setaffinity(${formatCpuList(cpus)}) failed with errno ${rc}`);
  return { pinned: true, cpus: allowedCpus() ?? [...cpus] };
}
