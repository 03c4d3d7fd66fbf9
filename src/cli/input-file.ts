/**
 * `--input-file FILE`: the answer to an input prompt (status 10 or 11) read
 * from a file or stdin, so a sensitive answer never appears in argv (`ps`,
 * shell history), as gmni's `-D`.
 */
import fs from 'node:fs';
import { UsageError } from './usage-error.js';

/**
 * Most bytes an answer file may hold. An answer travels in the URL's query,
 * and a Gemini request URL is at most 1024 bytes, so a larger file is a
 * mistake (the wrong file, a whole document): it is refused without being
 * read further.
 */
export const INPUT_FILE_LIMIT = 4096;

/**
 * Reads the answer in `file` (`-` = `stdin`): at most {@link INPUT_FILE_LIMIT}
 * bytes of UTF-8; one trailing newline (`\n` or `\r\n`) is removed, as an
 * editor or `echo` adds one; nothing else is changed.
 * @throws UsageError naming `--input-file` and the file when it cannot be
 *   read, is a directory, is larger than the limit, or is not UTF-8.
 */
export async function readInputFile(file: string, stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  // `--input-file -: ...` is read by the message format as the option and its value (a parenthesis here broke the format).
  const name = `--input-file ${file}`;
  const source = file === '-' ? 'standard input' : 'the file';
  if (file.trim() === '') throw new UsageError('--input-file needs a file name (or - for standard input)');
  const chunks: Buffer[] = [];
  let total = 0;
  const tooLarge = (): never => {
    throw new UsageError(`${name}: ${source} holds more than ${INPUT_FILE_LIMIT} bytes; an answer is sent in the URL, which holds at most 1024 bytes`);
  };
  let stream: NodeJS.ReadableStream;
  if (file === '-') stream = stdin;
  else {
    try {
      if (fs.statSync(file).isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      fs.accessSync(file, fs.constants.R_OK);
    } catch (err) {
      throw new UsageError(`${name}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    stream = fs.createReadStream(file, { highWaterMark: INPUT_FILE_LIMIT + 1 });
  }
  try {
    for await (const chunk of stream as AsyncIterable<Buffer | string>) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      total += bytes.length;
      if (total > INPUT_FILE_LIMIT) {
        if (stream !== stdin) (stream as fs.ReadStream).destroy();
        tooLarge();
      }
      chunks.push(bytes);
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${name}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new UsageError(`${name}: ${source} is not UTF-8 text`);
  }
  return text.replace(/\r?\n$/, '');
}
