import { Command, CommanderError } from 'commander';
import { coordinatorCommand } from './commands/coordinator';
import { workerCommand } from './commands/worker';
import { trainCommand } from './commands/train';
import { compareCommand } from './compare';
import { benchCommand } from './bench';
import { reportCommand } from './report/command';
import { predictCommand } from './predict/command';

export function buildProgram(): Command {
  const program = new Command('mtl')
    .description('mtl-cluster: distributed multi-task learning with TensorFlow.js workers and a WebSocket ring all-reduce')
    .version(require('../package.json').version as string)
    .showHelpAfterError('(run with --help for usage)');
  program.addCommand(trainCommand());
  program.addCommand(coordinatorCommand());
  program.addCommand(workerCommand());
  program.addCommand(compareCommand());
  program.addCommand(predictCommand());
  program.addCommand(reportCommand());
  program.addCommand(benchCommand());
  return program;
}

/** Entry point of bin/mtl.js; resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  for (const c of program.commands) c.exitOverride();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    process.stderr.write(`mtl: ${(err as Error).message}\n`);
    return 1;
  }
}
