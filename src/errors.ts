/** An error meant for the user: says what failed, on which path, and what to do next. */
export class StfError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
  }
}

/** Wraps a filesystem error with the path and a next step the user can take. */
export function fsError(action: string, path: string, err: unknown): StfError {
  const code = (err as NodeJS.ErrnoException)?.code ?? '';
  const hints: Record<string, string> = {
    EACCES: 'check its permissions (ls -ld) or run as the user who owns it',
    EPERM: 'check its permissions and attributes (ls -ld, lsattr)',
    EROFS: 'the filesystem is read-only; remount it read-write or use --home on a writable home',
    ENOSPC: 'the disk is full; free some space and run the command again',
    EDQUOT: 'the disk quota is exhausted; free some space and run the command again',
    ENOENT: 'a parent directory is missing; check the path',
    ENOTDIR: 'a parent of this path is not a directory; check the path',
    ELOOP: 'it is a symlink loop; fix or remove the symlink',
    EXDEV: 'the temporary file would land on another filesystem; keep the file and its directory on one filesystem',
  };
  const detail = (err as Error)?.message ?? String(err);
  const hint = hints[code] ?? 'check the path and run the command again';
  return new StfError(`cannot ${action} ${path}: ${detail}\n  next step: ${hint}`);
}
