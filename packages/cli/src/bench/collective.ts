// The communication figures come from @mtl/collective's own benchmark entry points (they spawn the
// W processes themselves). They are looked up at run time so that the suite still runs, and says
// 'unavailable', against a collective package that does not export them (yet).
export interface AllReduceRow {
  world: number;
  bytes: number;
  meanMs: number;
  algbwGBs: number;
  busbwGBs: number;
  /** Which ring ran the timed ops: 'native' (the addon's thread), 'js', or e.g. '60% native'. */
  ring?: string;
  /** What carried the links: 'tcp' (loopback, as between hosts and as gloo) or 'unix' (what workers of one host use). */
  transport: 'tcp' | 'unix';
}

export interface PointToPoint {
  /** a `ws` client with default settings (masks every payload byte in JavaScript) */
  wsDefaultGBs?: number;
  /** a `ws` client with a zero mask */
  wsZeroMaskGBs?: number;
  /** a raw TCP socket between two processes: the transport's limit */
  tcpGBs?: number;
  /** the collective's own peer link, where reported */
  mtlLinkGBs?: number;
  /** a raw Unix socket, and the peer link over one (Linux) */
  unixGBs?: number;
  mtlLinkUnixGBs?: number;
  /** whatever the collective package returned, as returned */
  raw: unknown;
}

type AllReduceFn = (o: {
  world: number;
  sizesBytes: number[];
  iterations: number;
  warmup: number;
  transport: 'tcp' | 'unix';
}) => ReportedRow[] | Promise<ReportedRow[]>;

type ReportedRow = Omit<AllReduceRow, 'transport' | 'ring'> & { nativeShare?: number; transport?: 'tcp' | 'unix' };

function ringName(share: number | undefined): string {
  if (share === undefined) return 'js';
  if (share >= 0.995) return 'native';
  if (share <= 0.005) return 'js';
  return `${Math.round(share * 100)}% native`;
}
type P2PFn = (o: { bytes: number; iterations: number }) => unknown;

function api(): { allReduce?: AllReduceFn; p2p?: P2PFn; error?: string } {
  try {
    const mod = require('@mtl/collective') as Record<string, unknown>;
    return {
      allReduce: typeof mod.runAllReduceBenchmark === 'function' ? (mod.runAllReduceBenchmark as AllReduceFn) : undefined,
      p2p: typeof mod.runPointToPointBenchmark === 'function' ? (mod.runPointToPointBenchmark as P2PFn) : undefined,
    };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; note: string };

export async function allReduceBenchmark(world: number, sizesBytes: number[], iterations: number, warmup: number, transport: 'tcp' | 'unix'): Promise<Outcome<AllReduceRow[]>> {
  const a = api();
  if (!a.allReduce) {
    return { ok: false, note: a.error ? `@mtl/collective failed to load: ${a.error}` : 'unavailable: @mtl/collective does not export runAllReduceBenchmark' };
  }
  try {
    const rows = await a.allReduce({ world, sizesBytes, iterations, warmup, transport });
    return {
      ok: true,
      value: rows.map((r) => ({ world: r.world, bytes: r.bytes, meanMs: r.meanMs, algbwGBs: r.algbwGBs, busbwGBs: r.busbwGBs, ring: ringName(r.nativeShare), transport: r.transport ?? 'tcp' })),
    };
  } catch (err) {
    return { ok: false, note: `runAllReduceBenchmark failed: ${(err as Error).message}` };
  }
}

/** Pick a GB/s figure out of whatever shape the collective returns (object of numbers, or rows). */
function pick(raw: unknown, test: (key: string) => boolean): number | undefined {
  if (raw && typeof raw === 'object') {
    if (Array.isArray(raw)) {
      for (const row of raw) {
        const r = row as Record<string, unknown>;
        const label = String(r.name ?? r.kind ?? r.transport ?? r.label ?? '');
        const v = r.gbs ?? r.GBs ?? r.gbps ?? r.throughputGBs;
        if (label && test(label.toLowerCase()) && typeof v === 'number') return v;
      }
      return undefined;
    }
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
      if (typeof v === 'number' && test(k.toLowerCase())) return v;
      if (v && typeof v === 'object' && test(k.toLowerCase())) {
        const inner = Object.values(v as Record<string, unknown>).find((x) => typeof x === 'number');
        if (typeof inner === 'number') return inner;
      }
    }
  }
  return undefined;
}

export async function pointToPointBenchmark(bytes: number, iterations: number): Promise<Outcome<PointToPoint>> {
  const a = api();
  if (!a.p2p) {
    return { ok: false, note: a.error ? `@mtl/collective failed to load: ${a.error}` : 'unavailable: @mtl/collective does not export runPointToPointBenchmark' };
  }
  try {
    const raw = await a.p2p({ bytes, iterations });
    const num = (k: string) => {
      const v = raw && typeof raw === 'object' ? (raw as Record<string, unknown>)[k] : undefined;
      return typeof v === 'number' ? v : undefined;
    };
    return {
      ok: true,
      value: {
        mtlLinkGBs: num('mtlLinkGBs') ?? pick(raw, (k) => k.includes('link')),
        wsDefaultGBs: num('wsDefaultGBs') ?? pick(raw, (k) => k.includes('ws') && (k.includes('default') || k.includes('mask')) && !k.includes('zero') && !k.includes('unmask')),
        wsZeroMaskGBs: num('wsZeroMaskGBs') ?? pick(raw, (k) => k.includes('zero') || k.includes('unmask') || k.includes('nomask')),
        tcpGBs: num('tcpGBs') ?? pick(raw, (k) => k.includes('tcp')),
        unixGBs: num('unixGBs'),
        mtlLinkUnixGBs: num('mtlLinkUnixGBs'),
        raw,
      },
    };
  } catch (err) {
    return { ok: false, note: `runPointToPointBenchmark failed: ${(err as Error).message}` };
  }
}
