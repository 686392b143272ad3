import { Command } from 'commander';
import { relative } from 'node:path';
import { writeRunReport } from './run-report';

export function reportCommand(): Command {
  return new Command('report')
    .description('write report.html of a run directory (mtl train and mtl coordinator write it at the end of every run)')
    .argument('<runDir>', 'run directory written by mtl train / mtl coordinator')
    .action(async (runDir: string) => {
      const file = await writeRunReport(runDir);
      const rel = relative(process.cwd(), file);
      process.stdout.write(`report: ${rel && !rel.startsWith('..') ? rel : file}\n`);
    });
}
