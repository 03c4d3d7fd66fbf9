#!/usr/bin/env node
// gemfetch command-line entry point: runs the compiled CLI and exits with its code.
import { main } from '../dist/cli/main.js';

const code = await main(process.argv.slice(2));
// Let pending output drain, then exit even if a handle (a stalled socket...) is still open.
process.exitCode = code;
process.stdout.write('', () => process.exit(code));
