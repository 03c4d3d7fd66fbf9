/**
 * Asking the user for a 1x input answer on a terminal. Loaded only when a
 * server asks for input and both stdin and stderr are terminals.
 */
import { StringDecoder } from 'node:string_decoder';
import readline from 'node:readline';

/** A terminal input stream (process.stdin). */
export interface PromptInput extends NodeJS.ReadableStream {
  isTTY?: boolean;
  setRawMode?: (mode: boolean) => unknown;
}

/** Options of {@link promptForInput}. */
export interface PromptOptions {
  input: PromptInput;
  output: NodeJS.WritableStream;
  /** Status 11: do not echo what is typed. */
  sensitive: boolean;
}

/**
 * Shows `question` (already sanitized for the terminal) and reads one line.
 * Resolves with the answer, or `undefined` when the user cancels (Ctrl-C,
 * Ctrl-D on an empty line, or end of input). With `sensitive`, nothing typed
 * is echoed (like password prompts).
 */
export function promptForInput(question: string, options: PromptOptions): Promise<string | undefined> {
  return options.sensitive ? promptHidden(question, options) : promptVisible(question, options);
}

function promptVisible(question: string, options: PromptOptions): Promise<string | undefined> {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: options.input, output: options.output, terminal: true });
    const onClose = (): void => {
      options.output.write('\n');
      resolve(undefined); // Ctrl-D or end of input before an answer
    };
    rl.on('SIGINT', () => rl.close());
    rl.on('close', onClose);
    rl.question(`${question} `, (answer) => {
      rl.off('close', onClose);
      rl.close();
      resolve(answer);
    });
  });
}

function promptHidden(question: string, options: PromptOptions): Promise<string | undefined> {
  const { input, output } = options;
  return new Promise((resolve) => {
    const decoder = new StringDecoder('utf8');
    let answer = '';
    const finish = (value: string | undefined): void => {
      input.removeListener('data', onData);
      input.removeListener('end', onEnd);
      input.setRawMode?.(false);
      input.pause();
      output.write('\n');
      resolve(value);
    };
    const onEnd = (): void => finish(undefined);
    const onData = (chunk: Buffer | string): void => {
      const text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
      for (const ch of text) {
        if (ch === '\r' || ch === '\n') return finish(answer);
        if (ch === '\u0003') return finish(undefined); // Ctrl-C
        if (ch === '\u0004') {
          if (answer === '') return finish(undefined); // Ctrl-D on an empty line
          continue;
        }
        if (ch === '\u007f' || ch === '\b') {
          answer = [...answer].slice(0, -1).join('');
          continue;
        }
        if (ch === '\u0015') {
          answer = ''; // Ctrl-U
          continue;
        }
        if (ch < ' ') continue;
        answer += ch;
      }
    };
    output.write(`${question} (input hidden) `);
    input.setRawMode?.(true);
    input.on('data', onData);
    input.on('end', onEnd);
    input.resume();
  });
}
