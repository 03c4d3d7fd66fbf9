/**
 * The error for a mistake in how gemfetch was invoked (bad option value,
 * unreadable certificate file...). The CLI prints its message without a stack
 * trace and exits with the usage exit code (2), in the one format of
 * ./messages.ts: `gemfetch: <what> (<which>): <why>. Try 'gemfetch CMD --help'.`
 */
export class UsageError extends Error {
  /** Stable code, like the library's errors. */
  readonly code = 'ERR_USAGE';
  /** The parts of the message, when the thrower gave them (`what`, and the option, URL or argument concerned). */
  readonly parts: UsageMessageParts | undefined;

  /**
   * `message` alone is the whole message (a leading `--option: ` is read as
   * the option concerned); with `parts`, `message` is the why and `parts`
   * says what went wrong and which option, URL or argument it concerns.
   */
  constructor(message: string, parts?: UsageMessageParts) {
    super(parts ? `${parts.what}${parts.which ? ` (${parts.which})` : ''}: ${message}` : message);
    this.name = 'UsageError';
    this.parts = parts && { ...parts, why: message };
  }
}

/** The parts of a usage message: `<what> (<which>): <why>`. */
export interface UsageMessageParts {
  /** What went wrong, in a few words: `invalid size`, `unknown option`. */
  what: string;
  /** The option, URL or argument concerned: `--max-size`, `tofu pin`. */
  which?: string;
  /** Why, or what was expected (set from the message). */
  why?: string;
}
