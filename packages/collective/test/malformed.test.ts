import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { nativeRing } from '../src/native-ring';
import { CollectiveError, PeerListener, ProcessGroup } from '../src';
import { CloseCode } from '../src/codes';
import { HEADER_BYTES, MAGIC, OpKind, VERSION } from '../src/frame';
import { listeners, SECRET } from './helpers';
import { rogueDial, type Rogue } from './rogue';

/** A well-formed header for the first allReduce of a 2-rank world (group mask 0b11). */
function header(o: Partial<{ magic: number; version: number; kind: number; step: number; group: number; seq: number; chunk: number; total: number; aux: number; bytes: number }> = {}): Buffer {
  const b = Buffer.alloc(HEADER_BYTES);
  b.writeUInt32LE(o.magic ?? MAGIC, 0);
  b[4] = o.version ?? VERSION;
  b[5] = o.kind ?? OpKind.AllReduce;
  b.writeUInt16LE(o.step ?? 0, 6);
  b.writeUInt32LE(o.group ?? 0b11, 8);
  b.writeUInt32LE(o.seq ?? 0, 12);
  b.writeUInt32LE(o.chunk ?? 0, 16);
  b.writeUInt32LE(o.total ?? 8, 20);
  b.writeUInt32LE(o.aux ?? 0, 24);
  b.writeUInt32LE(o.bytes ?? 16, 28);
  return b;
}

function frame(h: Buffer, payloadBytes: number): Buffer {
  return Buffer.concat([h, Buffer.alloc(payloadBytes)]);
}

interface Setup {
  listener: PeerListener;
  group: ProcessGroup;
  rogue: Rogue;
  lost: [number, string][];
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** Rank 1 is real; rank 0 is the test, authenticated, writing raw frames. */
async function setup(maxFrameBytes?: number, randomMask = false): Promise<Setup> {
  const [listener] = await listeners(1, maxFrameBytes ? { maxFrameBytes } : {});
  const groupP = ProcessGroup.connect({
    rank: 1,
    world: 2,
    peers: [
      { rank: 0, host: '127.0.0.1', port: 1 },
      { rank: 1, host: '127.0.0.1', port: listener!.port },
    ],
    listener: listener!,
    secret: SECRET,
    runId: 'run-1',
    timeoutMs: 3000,
    chunkBytes: 1024,
  });
  const rogue = rogueDial(listener!.port, { from: 0, to: 1, world: 2, chunkBytes: 1024, randomMask });
  expect(await rogue.welcomed).toBe(true);
  const group = await groupP;
  const lost: [number, string][] = [];
  group.on('peer-lost', (r, reason) => lost.push([r, reason]));
  cleanups.push(async () => {
    rogue.ws.terminate();
    await group.close();
    await listener!.close();
  });
  return { listener: listener!, group, rogue, lost };
}

const cases: { name: string; send: (r: Rogue) => void; expect: RegExp; maxFrameBytes?: number }[] = [
  { name: 'short header', send: (r) => r.ws.send(Buffer.alloc(10)), expect: /short frame: 10 bytes/ },
  { name: 'bad magic', send: (r) => r.ws.send(frame(header({ magic: 0xdeadbeef }), 16)), expect: /bad magic 0xdeadbeef/ },
  { name: 'bad version', send: (r) => r.ws.send(frame(header({ version: 9 }), 16)), expect: /unsupported frame version 9/ },
  { name: 'unknown op kind', send: (r) => r.ws.send(frame(header({ kind: 99 }), 16)), expect: /unknown op kind 99/ },
  { name: 'length field mismatch', send: (r) => r.ws.send(frame(header({ bytes: 400 }), 16)), expect: /length mismatch: header says 400 payload bytes, frame carries 16/ },
  { name: 'payload of the wrong size for the chunk', send: (r) => r.ws.send(frame(header({ bytes: 8 }), 8)), expect: /payload of 8 bytes, expected 16/ },
  { name: 'element count differing from ours', send: (r) => r.ws.send(frame(header({ total: 9 }), 16)), expect: /element count mismatch in allReduce seq 0: peer has 9, this rank has 8/ },
  { name: 'wrong op kind for the sequence', send: (r) => r.ws.send(frame(header({ kind: OpKind.Broadcast }), 16)), expect: /op kind mismatch: peer runs broadcast, this rank runs allReduce seq 0/ },
  { name: 'wrong group', send: (r) => r.ws.send(frame(header({ group: 0b100 }), 16)), expect: /unknown group 0x4/ },
  { name: 'sequence out of window', send: (r) => r.ws.send(frame(header({ seq: 5000 }), 16)), expect: /unexpected sequence number 5000/ },
  { name: 'step out of range', send: (r) => r.ws.send(frame(header({ step: 7 }), 16)), expect: /step 7 out of range/ },
  {
    name: 'duplicate chunk',
    send: (r) => {
      r.ws.send(frame(header(), 16));
      r.ws.send(frame(header(), 16));
    },
    expect: /duplicate chunk 0 of step 0/,
  },
  { name: 'text frame', send: (r) => r.ws.send('{"hello":1}'), expect: /text frame \(11 bytes\)/ },
  { name: 'oversize frame beyond maxFrameBytes', send: (r) => r.ws.send(Buffer.alloc(100_000)), expect: /oversize frame beyond maxFrameBytes 65536/, maxFrameBytes: 65536 },
];

// Every case runs on both receive paths: the JS op, and the native ring (forced for these tiny
// buffers with MTL_NATIVE_RING_MIN=0), which must raise the same errors.
const ring = nativeRing() !== null;
for (const path of ['js', 'native'] as const) describe.skipIf(path === 'native' && !ring)(`malformed frames on an authenticated link (${path} path)`, () => {
  beforeAll(() => {
    if (path === 'native') process.env.MTL_NATIVE_RING_MIN = '0';
  });
  afterAll(() => {
    delete process.env.MTL_NATIVE_RING_MIN;
  });
  for (const c of cases) {
    it(`${c.name}: the op fails naming the peer and the defect, the link closes, the process survives`, async () => {
      const s = await setup(c.maxFrameBytes);
      // Rank 1 holds segment 1 (elements 4..7) and expects segment 0 from rank 0: one 16-byte chunk at step 0.
      const op = s.group.allReduce(new Float32Array(8));
      c.send(s.rogue);
      const err = (await op.catch((e: unknown) => e)) as CollectiveError;
      expect(err).toBeInstanceOf(CollectiveError);
      expect(err.peer).toBe(0);
      expect(err.message).toMatch(/peer 0 \(127\.0\.0\.1:1\)/);
      expect(err.message).toMatch(c.expect);
      const closed = await s.rogue.closed;
      expect([CloseCode.BadFrame, 1009, 1002]).toContain(closed.code);
      expect(s.lost).toEqual([[0, err.message]]);
      // Later ops fail fast with the same error instead of hanging.
      await expect(s.group.barrier()).rejects.toBe(err);
      expect(s.group.stats.nativeOps).toBe(0);
    });
  }

  it('a defective frame kept aside before its op began fails that op with the same error', async () => {
    const s = await setup();
    // Well-formed enough to be kept for seq 0, but step 7 does not exist in a 2-rank all-reduce.
    s.rogue.ws.send(frame(header({ step: 7 }), 16));
    s.rogue.ws.send(frame(header(), 16));
    await new Promise((r) => setTimeout(r, 50));
    const err = (await s.group.allReduce(new Float32Array(8)).catch((e: unknown) => e)) as CollectiveError;
    expect(err).toBeInstanceOf(CollectiveError);
    expect(err.peer).toBe(0);
    expect(err.message).toMatch(/malformed frame from peer 0 \(127\.0\.0\.1:1\): step 7 out of range \(allReduce seq 0\)/);
    expect((await s.rogue.closed).code).toBe(CloseCode.BadFrame);
  });

  it('a malformed frame arriving before any op still fails the next op', async () => {
    const s = await setup();
    s.rogue.ws.send(frame(header({ magic: 1 }), 16));
    await s.rogue.closed;
    const err = (await s.group.allReduce(new Float32Array(8)).catch((e: unknown) => e)) as CollectiveError;
    expect(err).toBeInstanceOf(CollectiveError);
    expect(err.message).toMatch(/bad magic 0x00000001/);
  });

  for (const randomMask of [false, true]) {
    it(`a well-formed peer completes the same op (the rogue harness itself is sound)${randomMask ? ', random mask keys' : ''}`, async () => {
      const s = await setup(undefined, randomMask);
      const buf = Float32Array.of(1, 1, 1, 1, 1, 1, 1, 1);
      const op = s.group.allReduce(buf);
      // Step 0: our segment 0 (elements 0..3) as rank 0; rank 1 reduces it and sends the final back.
      const payload = Buffer.from(Float32Array.of(2, 2, 2, 2).buffer);
      s.rogue.ws.send(Buffer.concat([header(), payload]));
      // Rank 1 sends its segment 1 at step 0; reply with the final sum of segment 1 at step 1.
      const got: Buffer[] = [];
      await new Promise<void>((resolve) =>
        s.rogue.ws.on('message', (d) => {
          got.push(d as Buffer);
          if (got.length === 1) {
            s.rogue.ws.send(Buffer.concat([header({ step: 1 }), Buffer.from(Float32Array.of(5, 5, 5, 5).buffer)]));
          }
          if (got.length === 2) resolve();
        }),
      );
      await op;
      expect(Array.from(buf)).toEqual([3, 3, 3, 3, 5, 5, 5, 5]);
      expect(s.group.stats.nativeOps).toBe(path === 'native' ? 1 : 0);
    });
  }

  it('traffic for other ops during an op (a ping, the next op\'s frame) is kept for them, in order', async () => {
    const s = await setup();
    const buf = Float32Array.of(1, 1, 1, 1, 1, 1, 1, 1);
    const op = s.group.allReduce(buf);
    let pongs = 0;
    s.rogue.ws.on('pong', () => pongs++);
    const got: Buffer[] = [];
    s.rogue.ws.on('message', (d) => got.push(d as Buffer));
    s.rogue.ws.send(Buffer.concat([header(), Buffer.from(Float32Array.of(2, 2, 2, 2).buffer)]));
    // Before op 0's last frame: a ping, then op 1's step-0 frame (this rank has not issued op 1 yet).
    s.rogue.ws.ping();
    s.rogue.ws.send(Buffer.concat([header({ seq: 1 }), Buffer.from(Float32Array.of(7, 7, 7, 7).buffer)]));
    s.rogue.ws.send(Buffer.concat([header({ step: 1 }), Buffer.from(Float32Array.of(5, 5, 5, 5).buffer)]));
    await op;
    expect(Array.from(buf)).toEqual([3, 3, 3, 3, 5, 5, 5, 5]);
    // Op 1 finds its early frame: rank 1 sums segment 0 (7 + 1) and sends it back at step 1.
    const buf1 = Float32Array.of(1, 1, 1, 1, 1, 1, 1, 1);
    const op1 = s.group.allReduce(buf1);
    await new Promise<void>((resolve) => {
      const wait = (): void => {
        if (got.length >= 3) resolve();
        else setTimeout(wait, 5);
      };
      wait();
    });
    s.rogue.ws.send(Buffer.concat([header({ seq: 1, step: 1 }), Buffer.from(Float32Array.of(9, 9, 9, 9).buffer)]));
    await op1;
    expect(Array.from(buf1)).toEqual([8, 8, 8, 8, 9, 9, 9, 9]);
    expect(pongs).toBe(1);
    // On the native path both run natively: op 1's early frame is handed to the thread.
    expect(s.group.stats.nativeOps).toBe(path === 'native' ? 2 : 0);
  });
});
