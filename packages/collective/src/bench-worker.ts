/**
 * Child process of the benchmarks in bench.ts (forked with an IPC channel;
 * MTL_BENCH_MODE selects the role). Not part of the public API.
 */
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { PeerListener } from './listener';
import { abstractPath } from './local-socket';
import { ProcessGroup, type PeerAddress } from './group';

const SECRET = 'mtl-bench-secret-0123456789';

function send(msg: unknown): void {
  process.send!(msg);
}

async function message<T>(): Promise<T> {
  const [m] = await once(process, 'message');
  return m as T;
}

async function allReduce(): Promise<void> {
  const rank = Number(process.env['MTL_BENCH_RANK']);
  const listener = await PeerListener.listen({ host: '127.0.0.1', port: 0, secret: SECRET });
  send({ port: listener.port, local: listener.local ?? null });
  const o = await message<{ world: number; peers: PeerAddress[]; sizesBytes: number[]; iterations: number; warmup: number; chunkBytes?: number }>();
  const group = await ProcessGroup.connect({
    rank,
    world: o.world,
    peers: o.peers,
    listener,
    secret: SECRET,
    runId: 'bench',
    ...(o.chunkBytes ? { chunkBytes: o.chunkBytes } : {}),
  });
  const results = [];
  for (const bytes of o.sizesBytes) {
    const buf = new Float32Array(bytes / 4).fill(1);
    for (let k = 0; k < o.warmup; k++) await group.allReduce(buf);
    await group.barrier();
    const native0 = group.stats.nativeOps;
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < o.iterations; k++) await group.allReduce(buf);
    const sec = Number(process.hrtime.bigint() - t0) / 1e9 / Math.max(1, o.iterations);
    const cpu = process.cpuUsage(cpu0);
    const algbw = bytes / sec / 1e9;
    results.push({
      world: o.world,
      bytes,
      meanMs: sec * 1e3,
      algbwGBs: algbw,
      busbwGBs: (algbw * 2 * (o.world - 1)) / o.world,
      cpuMsPerOp: (cpu.user + cpu.system) / 1e3 / Math.max(1, o.iterations),
      cpuUserMsPerOp: cpu.user / 1e3 / Math.max(1, o.iterations),
      cpuSysMsPerOp: cpu.system / 1e3 / Math.max(1, o.iterations),
      nativeShare: (group.stats.nativeOps - native0) / Math.max(1, o.iterations),
      transport: group.linkTransports.unix > 0 ? 'unix' : 'tcp',
    });
  }
  await group.barrier();
  send({ results });
  await group.close();
  await listener.close();
}

/** Receiver side of the point-to-point benchmark: ack every `bytes` received. */
async function p2pReceiver(): Promise<void> {
  // Modes differ in transport; the listener of each is created on request.
  const tcp = createServer();
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, maxPayload: 2 ** 31 });
  await once(wss, 'listening');
  const listener = await PeerListener.listen({ host: '127.0.0.1', port: 0, secret: SECRET, maxFrameBytes: 64 * 1024 * 1024 });
  tcp.listen(0, '127.0.0.1');
  await once(tcp, 'listening');
  // The same raw receiver on an abstract Unix socket (Linux): the same-host transport's limit.
  const unixName = `mtl-bench-p2p-${process.pid}`;
  const unix = process.platform === 'linux' ? createServer() : undefined;
  if (unix) {
    unix.listen({ path: abstractPath(unixName) });
    await once(unix, 'listening');
  }
  const ports: Record<string, number> = {
    tcp: (tcp.address() as { port: number }).port,
    ws: (wss.address() as { port: number }).port,
    mtl: listener.port,
  };
  const o = await new Promise<{ mode: string; bytes: number; iterations: number }>((resolve) => {
    process.once('message', (m) => resolve(m as { mode: string; bytes: number; iterations: number }));
    send({ ports, ...(unix ? { unix: unixName } : {}), local: listener.local ?? null });
  });
  const raw = (s: Socket) => {
    let got = 0;
    s.on('data', (d: Buffer) => {
      got += d.length;
      while (got >= o.bytes) {
        got -= o.bytes;
        s.write(Buffer.of(1));
      }
    });
  };
  tcp.on('connection', raw);
  unix?.on('connection', raw);
  wss.on('connection', (ws) => {
    ws.on('message', (d: Buffer) => {
      if (d.length === o.bytes) ws.send(Buffer.of(1));
    });
  });
  if (o.mode === 'mtl-link' || o.mode === 'mtl-link-unix') {
    // The sender is rank 0 (it dials; the placeholder port is never used) and the broadcast root.
    const peers = [
      { rank: 0, host: '127.0.0.1', port: 1 },
      { rank: 1, host: '127.0.0.1', port: listener.port, ...(o.mode === 'mtl-link-unix' && listener.local ? { local: listener.local } : {}) },
    ];
    const group = await ProcessGroup.connect({ rank: 1, world: 2, peers, listener, secret: SECRET, runId: 'p2p' });
    const buf = new Float32Array(o.bytes / 4);
    for (let k = 0; k < o.iterations + 1; k++) await group.broadcast(buf, 0);
    await group.barrier();
    await group.close();
  }
  await new Promise(() => {}); // killed by the parent
}

async function p2pSender(): Promise<void> {
  send({ ready: true });
  const o = await message<{ mode: string; bytes: number; iterations: number; ports: Record<string, number>; unix?: string; local?: PeerAddress['local'] | null }>();
  const payload = Buffer.alloc(o.bytes, 7);
  let seconds = 0;
  if (o.mode === 'tcp' || o.mode === 'unix') {
    if (o.mode === 'unix' && !o.unix) throw new Error('no Unix socket to measure (not Linux)');
    const s = o.mode === 'tcp' ? connect(o.ports['tcp']!, '127.0.0.1') : connect({ path: abstractPath(o.unix!) });
    await once(s, 'connect');
    s.setNoDelay(true);
    const acks: (() => void)[] = [];
    s.on('data', (d: Buffer) => {
      for (let i = 0; i < d.length; i++) acks.shift()?.();
    });
    const one = () =>
      new Promise<void>((resolve) => {
        acks.push(resolve);
        s.write(payload);
      });
    await one();
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < o.iterations; k++) await one();
    seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    s.destroy();
  } else if (o.mode === 'ws-default' || o.mode === 'ws-zero-mask') {
    const ws = new WebSocket(`ws://127.0.0.1:${o.ports['ws']}/`, {
      perMessageDeflate: false,
      ...(o.mode === 'ws-zero-mask' ? { generateMask: (m: Buffer) => void m.fill(0) } : {}),
    });
    await once(ws, 'open');
    const acks: (() => void)[] = [];
    ws.on('message', () => acks.shift()?.());
    const one = () =>
      new Promise<void>((resolve) => {
        acks.push(resolve);
        ws.send(payload, { binary: true, compress: false });
      });
    await one();
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < o.iterations; k++) await one();
    seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    ws.terminate();
  } else {
    const listener = await PeerListener.listen({ host: '127.0.0.1', port: 0, secret: SECRET, maxFrameBytes: 64 * 1024 * 1024 });
    const peers = [
      { rank: 0, host: '127.0.0.1', port: listener.port },
      { rank: 1, host: '127.0.0.1', port: o.ports['mtl']!, ...(o.mode === 'mtl-link-unix' && o.local ? { local: o.local } : {}) },
    ];
    const group = await ProcessGroup.connect({ rank: 0, world: 2, peers, listener, secret: SECRET, runId: 'p2p' });
    const buf = new Float32Array(o.bytes / 4).fill(1);
    await group.broadcast(buf, 0);
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < o.iterations; k++) await group.broadcast(buf, 0);
    await group.barrier(); // the receiver has everything
    seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await group.close();
    await listener.close();
  }
  send({ results: { seconds } });
}

async function main(): Promise<void> {
  const mode = process.env['MTL_BENCH_MODE'];
  if (mode === 'allreduce') await allReduce();
  else if (mode === 'p2p' && process.env['MTL_BENCH_ROLE'] === 'receiver') await p2pReceiver();
  else if (mode === 'p2p') await p2pSender();
  else throw new Error(`unknown MTL_BENCH_MODE ${mode}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    send({ error: String((err as Error)?.stack ?? err) });
    process.exit(1);
  },
);
