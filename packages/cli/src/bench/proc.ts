// Memory of the processes a benchmark run spawns, sampled from /proc (Linux) by the bench
// process itself: nothing is added to the workers. VmHWM is the kernel's own peak-RSS counter,
// so sampling only has to catch the process before it exits; VmRSS samples show the trend.
import { readFileSync, readdirSync } from 'node:fs';

export interface ProcSample {
  /** ms since sampling started */
  t: number;
  rssMB: number;
}

export interface ProcMemory {
  pid: number;
  role: string;
  peakRssMB: number;
  samples: ProcSample[];
}

function readStatusKB(pid: number, key: string): number | undefined {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function childrenOf(pid: number): number[] {
  // /proc/<pid>/task/<tid>/children lists direct children (CONFIG_PROC_CHILDREN); fall back to a
  // scan of every process's parent pid.
  try {
    const out: number[] = [];
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const s = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (s) out.push(...s.split(/\s+/).map(Number));
    }
    return out;
  } catch {
    /* fall through */
  }
  const out: number[] = [];
  try {
    for (const e of readdirSync('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      try {
        const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === pid) out.push(Number(e));
      } catch {
        /* gone */
      }
    }
  } catch {
    /* no /proc */
  }
  return out;
}

function roleOf(pid: number): string {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const name = argv.indexOf('--name');
    if (argv.includes('worker')) return name >= 0 ? argv[name + 1] : 'worker';
    if (argv.includes('coordinator')) return 'coordinator';
    return argv.slice(0, 3).join(' ');
  } catch {
    return 'unknown';
  }
}

/** Samples every descendant of `rootPid` every `intervalMs` until stop() is called. */
export class ProcessTreeSampler {
  private readonly procs = new Map<number, ProcMemory>();
  private readonly timer: NodeJS.Timeout;
  /** Epoch ms of the sampler's start; samples' `t` counts from here. */
  readonly t0 = Date.now();

  constructor(private readonly rootPid: number, intervalMs = 500) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  static supported(): boolean {
    return readStatusKB(process.pid, 'VmHWM') !== undefined;
  }

  sample(): void {
    const stack = childrenOf(this.rootPid);
    const seen = new Set<number>();
    while (stack.length) {
      const pid = stack.pop()!;
      if (seen.has(pid)) continue;
      seen.add(pid);
      stack.push(...childrenOf(pid));
      const hwm = readStatusKB(pid, 'VmHWM');
      const rss = readStatusKB(pid, 'VmRSS');
      if (hwm === undefined || rss === undefined) continue;
      let p = this.procs.get(pid);
      if (!p) {
        p = { pid, role: roleOf(pid), peakRssMB: 0, samples: [] };
        this.procs.set(pid, p);
      }
      p.peakRssMB = Math.max(p.peakRssMB, hwm / 1024);
      p.samples.push({ t: Date.now() - this.t0, rssMB: rss / 1024 });
    }
  }

  stop(): ProcMemory[] {
    clearInterval(this.timer);
    return [...this.procs.values()].sort((a, b) => a.role.localeCompare(b.role));
  }
}
