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
 * What the user did at the prompt: answered, interrupted it (Ctrl-C, which
 * the terminal delivers as a key, not as SIGINT, while the prompt reads), or
 * cancelled it (Ctrl-D on an empty line, or end of input).
 */
export type PromptResult = { kind: 'answer'; text: string } | { kind: 'interrupted' } | { kind: 'cancelled' };

/**
 * Shows `question` (already sanitized for the terminal) and reads one line.
 * With `sensitive`, nothing typed is echoed (like password prompts).
 */
export function promptForInput(question: string, options: PromptOptions): Promise<PromptResult> {
  return options.sensitive ? promptHidden(question, options) : promptVisible(question, options);
}

function promptVisible(question: string, options: PromptOptions): Promise<PromptResult> {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: options.input, output: options.output, terminal: true });
    let result: PromptResult = { kind: 'cancelled' }; // Ctrl-D or end of input before an answer
    const onClose = (): void => {
      options.output.write('\n');
      resolve(result);
    };
    rl.on('SIGINT', () => {
      result = { kind: 'interrupted' };
      rl.close();
    });
    rl.on('close', onClose);
    rl.question(`${question} `, (answer) => {
      rl.off('close', onClose);
      rl.close();
      resolve({ kind: 'answer', text: answer });
    });
  });
}

function promptHidden(question: string, options: PromptOptions): Promise<PromptResult> {
  const { input, output } = options;
  return new Promise((resolve) => {
    const decoder = new StringDecoder('utf8');
    let answer = '';
    const finish = (value: PromptResult): void => {
      input.removeListener('data', onData);
      input.removeListener('end', onEnd);
      input.setRawMode?.(false);
      input.pause();
      output.write('\n');
      resolve(value);
    };
    const onEnd = (): void => finish({ kind: 'cancelled' });
    const onData = (chunk: Buffer | string): void => {
      const text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
      for (const ch of text) {
        if (ch === '\r' || ch === '\n') return finish({ kind: 'answer', text: answer });
        if (ch === '\u0003') return finish({ kind: 'interrupted' }); // Ctrl-C
        if (ch === '\u0004') {
          if (answer === '') return finish({ kind: 'cancelled' }); // Ctrl-D on an empty line
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
