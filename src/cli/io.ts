/**
 * The process streams the CLI talks to, gathered so commands do not reach for
 * globals (and stdin is only opened when a prompt needs it).
 */
import tty from 'node:tty';

/** Standard streams and environment of one CLI run. */
export interface CliIo {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
  /** Whether standard input is a terminal (checked without opening it). */
  stdinIsTTY: boolean;
  /** Standard input, opened on first use. */
  stdin(): NodeJS.ReadStream;
}

/** The real process streams. */
export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    stdinIsTTY: tty.isatty(0),
    stdin: () => process.stdin,
  };
}
