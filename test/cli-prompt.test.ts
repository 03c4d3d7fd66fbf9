/**
 * The input prompt (status 10 and 11) on a real pseudo-terminal: Ctrl-C there
 * is an interruption (exit 130), Ctrl-D a cancellation (exit 7).
 */
import { describe, expect, it } from 'vitest';
import { inputPrompt, routes } from './support/gemini-server.js';
import { cliFixture, ptyAvailable, runInPty } from './support/cli.js';

const hasPty = ptyAvailable();
const cli = cliFixture(
  routes({
    '/input': inputPrompt('What is your name?'),
    '/secret': inputPrompt('Password?', { sensitive: true }),
  }),
);

describe.skipIf(!hasPty).concurrent('Ctrl-C and Ctrl-D at the input prompt', () => {
  for (const [path, question] of [['/input', 'What is your name?'], ['/secret', 'Password?']] as const) {
    it(`Ctrl-C at the ${path === '/input' ? 'status 10' : 'status 11 (hidden)'} prompt exits 130 and says so`, async () => {
      const { code, output } = await runInPty(cli.home, [cli.server.url(path)], { answers: [[question, '\x03']] });
      expect(code).toBe(130);
      expect(output).toContain('interrupted at the input prompt');
    });

    it(`Ctrl-D on an empty ${path === '/input' ? 'status 10' : 'status 11'} prompt is a cancellation: exit 7`, async () => {
      const { code } = await runInPty(cli.home, [cli.server.url(path)], { answers: [[question, '\x04']] });
      expect(code).toBe(7);
    });
  }
});
