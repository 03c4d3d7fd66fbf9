/**
 * Input lines of the bulk commands (src/cli/bounded-lines.ts): split on LF,
 * CR and CRLF, and at most one bounded line held (an endless line is refused
 * as soon as it passes the limit, instead of being read into memory whole).
 */
import { describe, expect, it } from 'vitest';
import { boundedLines, LineTooLongError, MAX_INPUT_LINE_BYTES } from '../src/cli/bounded-lines.js';

async function collect(chunks: AsyncIterable<Buffer | string>, maxBytes?: number): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of boundedLines(chunks, maxBytes)) lines.push(line);
  return lines;
}

async function* from(...chunks: Array<string | Buffer>): AsyncGenerator<Buffer | string> {
  yield* chunks;
}

describe('boundedLines', () => {
  it('splits on LF, CR and CRLF across chunk boundaries, keeps a last line without an ending, and UTF-8 split between chunks', async () => {
    const euro = Buffer.from('€');
    const lines = await collect(from('a\nb', 'c\r', '\nd\re', Buffer.concat([Buffer.from('\n'), euro.subarray(0, 1)]), euro.subarray(1), 'x'));
    expect(lines).toEqual(['a', 'bc', '', 'd', 'e', '€x']);
  });

  it('accepts a line of exactly the limit and refuses one byte more, naming the line', async () => {
    expect(await collect(from('ok\n', 'x'.repeat(8), '\n'), 8)).toEqual(['ok', 'x'.repeat(8)]);
    const err = await collect(from('ok\n', 'x'.repeat(5), 'x'.repeat(4), '\n'), 8).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LineTooLongError);
    expect((err as LineTooLongError).line).toBe(2);
    expect((err as Error).message).toBe('line 2 is longer than 8 bytes: this is not a list of URLs');
  });

  it('stops reading an endless line once it passes the limit (an endless source ends)', async () => {
    let chunksRead = 0;
    async function* endless(): AsyncGenerator<Buffer> {
      for (;;) {
        chunksRead++;
        yield Buffer.alloc(4096, 'a');
      }
    }
    await expect(collect(endless())).rejects.toThrow(`line 1 is longer than ${MAX_INPUT_LINE_BYTES / 1024} KiB`);
    expect(chunksRead).toBe(MAX_INPUT_LINE_BYTES / 4096 + 1);
  });
});
