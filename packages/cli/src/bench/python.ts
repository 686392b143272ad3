// The Python side of the benchmark: numpy's float32 GEMM rate on the reference workload's shapes
// (the machine's compute limit), torch.distributed all_reduce on gloo, and a PyTorch DDP training
// step of the reference workload. The script is written to a temp file at run time and driven with
// JSON lines on stdout; everything is skipped with a note where no Python has the module.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** Reference workload shapes shared with the TypeScript side. */
export const REF = { inputDim: 512, trunk: [1024, 1024], tasks: 4, perWorkerBatch: 256 } as const;

const SCRIPT = String.raw`
import json, os, sys, time

def emit(**kw):
    print(json.dumps(kw), flush=True)

D, H, T = 512, 1024, 4

def gemm(batch, reps):
    import numpy as np
    rng = np.random.default_rng(0)
    f32 = lambda *s: rng.standard_normal(s, dtype=np.float32)
    B = batch
    # The products of one training step of the reference MLP (trunk D-H-H, T one-unit heads):
    # forward x@W, input gradient dy@W^T and weight gradient x^T@dy for every layer; that is the
    # 3 * 2 * sum(in*out) FLOPs per example the TypeScript side counts.
    layers = [(D, H), (H, H), (H, T)]
    work = []
    for (i, o) in layers:
        x, w, dy = f32(B, i), f32(i, o), f32(B, o)
        work += [(x, w), (dy, w.T), (x.T, dy)]
    flops = sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b in work)
    outs = [np.empty((a.shape[0], b.shape[1]), dtype=np.float32) for a, b in work]
    def once():
        for (a, b), o in zip(work, outs):
            np.matmul(a, b, out=o)
    for _ in range(3):
        once()
    times = []
    for _ in range(reps):
        t = time.perf_counter(); once(); times.append(time.perf_counter() - t)
    times.sort()
    med = times[len(times) // 2]
    blas = 'unknown'
    try:
        blas = np.show_config(mode='dicts')['Build Dependencies']['blas']['name']
    except Exception:
        try:
            info = np.__config__.get_info('blas_opt_info') or {}
            blas = ','.join(info.get('libraries', [])) or 'unknown'
        except Exception:
            pass
    emit(kind='gemm', threads=os.environ.get('OPENBLAS_NUM_THREADS', 'default'), gflops=flops / med / 1e9,
         bestGflops=flops / times[0] / 1e9, flopsPerStep=flops, batch=B, numpy=np.__version__, blas=blas,
         python=sys.executable + ' ' + sys.version.split()[0])

def _init(rank, world, port):
    import torch, torch.distributed as dist
    os.environ['MASTER_ADDR'] = '127.0.0.1'
    os.environ['MASTER_PORT'] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    return torch, dist

def _gloo(rank, world, port, sizes, iters, warmup):
    torch, dist = _init(rank, world, port)
    for nbytes in sizes:
        x = torch.ones(nbytes // 4)
        for _ in range(warmup):
            dist.all_reduce(x)
        dist.barrier()
        t = time.perf_counter()
        for _ in range(iters):
            dist.all_reduce(x)
        dt = (time.perf_counter() - t) / iters
        if rank == 0:
            algbw = nbytes / dt / 1e9
            emit(kind='gloo', world=world, bytes=nbytes, meanMs=dt * 1e3, algbwGBs=algbw, busbwGBs=algbw * 2 * (world - 1) / world,
                 torch=torch.__version__)
    dist.destroy_process_group()

def _ddp(rank, world, port, steps, warmup):
    torch, dist = _init(rank, world, port)
    nn = torch.nn
    class Hps(nn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, H), nn.ReLU())
            self.heads = nn.ModuleList([nn.Linear(H, 1) for _ in range(T)])
        def forward(self, x):
            h = self.trunk(x)
            return [head(h) for head in self.heads]
    B = 256
    model = nn.parallel.DistributedDataParallel(Hps())
    opt = torch.optim.Adam(model.parameters(), lr=0.003)
    x = torch.randn(B, D)
    ys = [torch.randn(B, 1) for _ in range(T)]
    def step():
        opt.zero_grad()
        loss = sum(nn.functional.mse_loss(o, y) for o, y in zip(model(x), ys))
        loss.backward()
        opt.step()
    for _ in range(warmup):
        step()
    dist.barrier()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    dt = (time.perf_counter() - t) / steps
    if rank == 0:
        flops = 3 * 2 * B * (D * H + H * H + H * T)
        import re
        m = re.search(r'BLAS_INFO=([^,\s]+)', torch.__config__.show())
        emit(kind='ddp', world=world, stepMs=dt * 1e3, samplesPerSec=world * B / dt, gflopsPerProc=flops / dt / 1e9,
             torch=torch.__version__, blas=m.group(1) if m else 'unknown')
    dist.destroy_process_group()

if __name__ == '__main__':
    mode, args = sys.argv[1], json.loads(sys.argv[2])
    if mode == 'gemm':
        gemm(args['batch'], args['reps'])
    else:
        import torch.multiprocessing as mp
        w = args['world']
        if mode == 'gloo':
            mp.spawn(_gloo, args=(w, args['port'], args['sizes'], args['iters'], args['warmup']), nprocs=w)
        elif mode == 'ddp':
            mp.spawn(_ddp, args=(w, args['port'], args['steps'], args['warmup']), nprocs=w)
`;

export interface PythonProbe {
  exe: string;
  version?: string;
  numpy?: string;
  torch?: string;
}

export interface PythonEnv {
  /** Every candidate that ran, with the modules it has. */
  found: PythonProbe[];
  numpy?: PythonProbe;
  torch?: PythonProbe;
}

const PROBE = `import json, sys
r = {'version': sys.version.split()[0]}
for m in ('numpy', 'torch'):
    try:
        r[m] = __import__(m).__version__
    except Exception:
        pass
print(json.dumps(r))`;

/** Candidates: $MTL_BENCH_PYTHON, Debian's /usr/bin/python3.11 (python3-torch), python3 on PATH. */
export function probePython(): PythonEnv {
  const candidates = [process.env.MTL_BENCH_PYTHON, '/usr/bin/python3.11', '/usr/bin/python3', 'python3'].filter(
    (c): c is string => !!c,
  );
  const found: PythonProbe[] = [];
  for (const exe of [...new Set(candidates)]) {
    const r = spawnSync(exe, ['-c', PROBE], { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0 || !r.stdout) continue;
    try {
      found.push({ exe, ...(JSON.parse(r.stdout.trim().split('\n').pop()!) as Omit<PythonProbe, 'exe'>) });
    } catch {
      /* not a usable python */
    }
  }
  return { found, numpy: found.find((p) => p.numpy), torch: found.find((p) => p.torch) };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

type Json = Record<string, unknown>;

/** Run one mode of the script; resolves with the JSON lines it printed. Rejects on failure or timeout. */
export async function runPython(exe: string, mode: 'gemm' | 'gloo' | 'ddp', args: Json, opts: { timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<Json[]> {
  const dir = mkdtempSync(join(tmpdir(), 'mtl-bench-py-'));
  const file = join(dir, 'mtl_bench.py');
  writeFileSync(file, SCRIPT);
  try {
    return await new Promise<Json[]>((resolve, reject) => {
      // Own process group, so a timeout also stops torch's spawned ranks.
      const child = spawn(exe, [file, mode, JSON.stringify(args)], {
        env: { ...process.env, PYTHONUNBUFFERED: '1', ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      const lines: Json[] = [];
      let stderr = '';
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const t = line.trim();
        if (!t.startsWith('{')) return;
        try {
          lines.push(JSON.parse(t) as Json);
        } catch {
          /* ignore non-JSON output */
        }
      });
      child.stderr!.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-4000);
      });
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
        reject(new Error(`python ${mode} timed out after ${opts.timeoutMs} ms`));
      }, opts.timeoutMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        if (code === 0) resolve(lines);
        else reject(new Error(`python ${mode} exited with code ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
      });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Interpreters (distinct numpy installs) whose GEMM rate is measured; the fastest is the limit. */
export function numpyCandidates(env: PythonEnv): PythonProbe[] {
  const seen = new Set<string>();
  return env.found.filter((p) => {
    if (!p.numpy) return false;
    const key = `${p.version}|${p.numpy}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
