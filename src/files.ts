import type * as Crypto from 'node:crypto';
import * as fs from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fsError, StfError } from './errors';

/** What a path holds now, seen through any chain of symlinks. */
export interface FileState {
  path: string;
  /** The file that is really read and written: the end of the symlink chain. */
  realPath: string;
  exists: boolean;
  content: Buffer | null;
  mode: number | null;
  /** readlink of `path` itself when it is a symlink. */
  symlinkTarget: string | null;
}

/** Follows symlinks by hand, so a dangling chain still tells where the file would be. */
export function resolveWritePath(path: string): string {
  let current = path;
  for (let hops = 0; hops < 40; hops += 1) {
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(current);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return current;
      throw fsError('inspect', current, err);
    }
    if (!stat.isSymbolicLink()) return current;
    current = resolve(dirname(current), fs.readlinkSync(current));
  }
  throw new StfError(`cannot follow ${path}: too many levels of symbolic links\n  next step: fix or remove the symlink loop`);
}

export function readFileState(path: string): FileState {
  const realPath = resolveWritePath(path);
  let symlinkTarget: string | null = null;
  try {
    if (fs.lstatSync(path).isSymbolicLink()) symlinkTarget = fs.readlinkSync(path);
  } catch {
    // missing: nothing to record
  }
  try {
    const stat = fs.statSync(realPath);
    if (!stat.isFile()) {
      throw new StfError(`${path} is not a regular file\n  next step: move it aside, then run the command again`);
    }
    return { path, realPath, exists: true, content: fs.readFileSync(realPath), mode: stat.mode & 0o7777, symlinkTarget };
  } catch (err) {
    if (err instanceof StfError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return { path, realPath, exists: false, content: null, mode: null, symlinkTarget };
    }
    throw fsError('read', path, err);
  }
}

/**
 * The temporary name a file is written under. One name per file, not per process: the lock
 * allows one writer per home, and recovery after a kill knows what to clean up.
 */
export function tempPathOf(realPath: string): string {
  return join(dirname(realPath), `.${basename(realPath)}.ssh-tmux-fix.tmp`);
}

/**
 * Replaces a file's bytes all at once: a temporary file in the same directory, flushed,
 * given the final mode, then renamed over the target. A crash leaves old or new, never half.
 */
export function atomicWrite(realPath: string, data: Buffer, mode: number, newOwner: Owner | null = null): void {
  const tmp = tempPathOf(realPath);
  try {
    fs.rmSync(tmp, { force: true });
    const owner = ownerOf(realPath) ?? newOwner;
    const fd = fs.openSync(tmp, 'wx', 0o600);
    try {
      fs.writeSync(fd, data);
      if (owner) fs.fchownSync(fd, owner.uid, owner.gid);
      fs.fchmodSync(fd, mode);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, realPath);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw fsError('write', realPath, err);
  }
}

export interface Owner {
  uid: number;
  gid: number;
}

/**
 * Root working on another user's home (`--home`, a fleet playbook): everything it creates
 * there must belong to the home's owner, or the user could not change it later.
 */
export function homeOwner(home: string): Owner | null {
  if (process.getuid?.() !== 0) return null;
  const stat = fs.statSync(home);
  return stat.uid === 0 ? null : { uid: stat.uid, gid: stat.gid };
}

/** Creates one directory with an exact mode, owned by `owner` when given; false if it existed. */
export function makeDir(path: string, mode: number, owner: Owner | null): boolean {
  try {
    fs.mkdirSync(path, { mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  fs.chmodSync(path, mode);
  if (owner) fs.chownSync(path, owner.uid, owner.gid);
  return true;
}

/** The owner to keep when the writer may change it (root): the file's current one. */
function ownerOf(path: string): Owner | null {
  if (process.getuid?.() !== 0) return null;
  try {
    const stat = fs.statSync(path);
    return { uid: stat.uid, gid: stat.gid };
  } catch {
    return null;
  }
}

export function removeFile(realPath: string): void {
  try {
    fs.rmSync(realPath, { force: true });
  } catch (err) {
    throw fsError('remove', realPath, err);
  }
}

/** The directories that must be created, outermost first, for `dir` to exist. */
export function missingDirs(dir: string): string[] {
  const missing: string[] = [];
  for (let d = dir; !fs.existsSync(d); d = dirname(d)) missing.unshift(d);
  return missing;
}

/** node:crypto is loaded at the first hash: `--version` and `snippet` hash nothing, and it costs ~8% of node's start. */
export function sha256(data: Buffer): string;
export function sha256(data: Buffer | null): string | null;
export function sha256(data: Buffer | null): string | null {
  if (data === null) return null;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { createHash } = require('node:crypto') as typeof Crypto;
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Whether `path` names the entry `link` names (the symlink itself, not what it points to):
 * the same string, the same path once normalised (`//`, `/./`, a trailing `/`), or the same
 * inode (a home reached through a symlinked directory, /home/u and /data/home/u).
 */
export function sameEntry(path: string, link: string): boolean {
  if (path === link || resolve(path) === resolve(link)) return true;
  try {
    const a = fs.lstatSync(path);
    const b = fs.lstatSync(link);
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    try {
      return basename(path) === basename(link) && fs.realpathSync(dirname(path)) === fs.realpathSync(dirname(link));
    } catch {
      return false;
    }
  }
}
