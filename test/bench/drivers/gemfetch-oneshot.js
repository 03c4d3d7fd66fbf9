// Library one-shot: the smallest gemfetch program that fetches one URL (body to stdout).
// Separates the library's own start-up from the CLI's.
import { Client } from '../../../dist/index.js';
const response = await new Client({ trust: 'insecure' }).fetch(process.argv[2]);
process.stdout.write(response.body);
if (!response.complete) process.exitCode = 1;
