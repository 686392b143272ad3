import { Command, InvalidArgumentError, Option } from 'commander';
import { join, resolve } from 'node:path';
import type { BackendName } from '@mtl/mtl';
import { predict } from './predict';

interface PredictFlags {
  data?: string;
  split: 'val' | 'train';
  out?: string;
  backend?: BackendName;
}

export function predictCommand(): Command {
  return new Command('predict')
    .description("predict with a run's saved model on its validation (or training) split, or on a CSV / JSON-lines file; prints the task metrics where labels are present")
    .argument('<runDir>', 'run directory written by mtl train / mtl coordinator (its model/ and config.json)')
    .option('--data <file>', 'CSV or JSON-lines file with the run\'s feature columns (labels optional); default: the run\'s own data')
    .addOption(new Option('--split <name>', "split of the run's own data").choices(['val', 'train']).default('val'))
    .option('-o, --out <file>', 'predictions, one row per example: .jsonl or .csv (default <runDir>/predictions-<split>.jsonl)', (v: string) => {
      if (!/\.(jsonl|csv)$/i.test(v)) throw new InvalidArgumentError(`--out must end in .jsonl or .csv, got '${v}'`);
      return v;
    })
    .addOption(new Option('--backend <name>', 'compute backend (default: the run\'s)').choices(['auto', 'node-gpu', 'node', 'wasm', 'cpu']))
    .action(async (runDir: string, flags: PredictFlags) => {
      const out = resolve(flags.out ?? join(runDir, `predictions-${flags.data ? 'data' : flags.split}.jsonl`));
      const r = await predict({ runDir, split: flags.split, out, ...(flags.data ? { data: flags.data } : {}), ...(flags.backend ? { backend: flags.backend } : {}) });
      process.stdout.write(`${r.rows} predictions on ${r.source}\n`);
      for (const [task, m] of Object.entries(r.metrics)) {
        const parts = Object.entries(m).map(([k, v]) => `${k}=${k === 'count' ? v : Number.isFinite(v) ? v.toFixed(4) : v}`);
        process.stdout.write(`  ${task}: ${parts.join(' ')}\n`);
      }
      const unlabelled = Object.entries(r.labelled).filter(([, n]) => n === 0).map(([t]) => t);
      if (unlabelled.length) process.stdout.write(`  no labels for ${unlabelled.join(', ')}: predictions only\n`);
      process.stdout.write(`predictions: ${r.out}\n`);
    });
}
