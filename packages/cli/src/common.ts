import { readFileSync } from 'node:fs';
import { Option } from 'commander';
import { loadSecret, createLogger, type Logger, type LogFormat } from '@mtl/protocol';

export const logFormatOption = () =>
  new Option('--log-format <format>', 'log lines as readable text or as pino JSON').choices(['pretty', 'json']).default('pretty');

export const dataTransportOption = () =>
  new Option('--data-transport <mode>', 'peer links: auto (a Unix socket to workers of the same host and network namespace, TCP to the rest) or tcp (always)')
    .choices(['auto', 'tcp'])
    .default('auto');

export function makeLogger(name: string, format: LogFormat): Logger {
  return createLogger({ name, format });
}

export function secretFrom(opts: { secretFile?: string }): string {
  return loadSecret(opts.secretFile ? { file: opts.secretFile } : {});
}

/** Children of the local launcher exit when it goes away, whatever killed it: no orphans. */
export function exitWithParent(onExit: () => void): void {
  if (typeof process.send === 'function') {
    process.on('disconnect', onExit);
  }
}

/** Read a PEM file named by a flag; the error names the flag and the file. */
export function readPem(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`${flag} ${file}: ${(err as Error).message}`);
  }
}
