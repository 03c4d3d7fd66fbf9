/**
 * The error for a mistake in how gemfetch was invoked (bad option value,
 * unreadable certificate file...). The CLI prints its message without a stack
 * trace and exits with the usage exit code (2).
 */
export class UsageError extends Error {
  /** Stable code, like the library's errors. */
  readonly code = 'ERR_USAGE';

  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
