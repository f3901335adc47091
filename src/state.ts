import * as fs from 'node:fs';
import { join } from 'node:path';
import { fsError, StfError } from './errors';
import { Owner, atomicWrite, makeDir, missingDirs, sha256 } from './files';

/** How many backup sets are kept; the oldest go first, the newest is never pruned. */
export const KEEP_BACKUP_SETS = 10;

export interface BackupEntry {
  path: string;
  realPath: string;
  existed: boolean;
  mode: number | null;
  symlinkTarget: string | null;
  sha256: string | null;
  /** File name of the saved bytes inside the set, when the file existed. */
  blob: string | null;
}

export interface BackupSet {
  id: string;
  time: string;
  version: string;
  action: string;
  /**
   * "applying" until every change is written: the journal of a run. A run that failed or
   * was killed is undone from it ("undone") before the next run plans anything.
   */
  status: 'applying' | 'complete' | 'undone';
  createdDirs: string[];
  /** Directories the run removes (uninstall, rollback), made again by an undo before its files. */
  removedDirs?: { path: string; mode: number }[];
  /** installed.json before the run, put back by an undo (absent in sets of 1.1.0 and older). */
  recordBefore?: InstallRecord | null;
  files: BackupEntry[];
}

/** What is installed, so uninstall knows the directories it may remove. */
export interface InstallRecord {
  version: string;
  files: string[];
  createdDirs: string[];
}

export class StateDir {
  /** `owner`: whom every file and directory made here belongs to (root working on a user's home). */
  constructor(readonly dir: string, readonly owner: Owner | null = null) {}

  get backupsDir(): string {
    return join(this.dir, 'backups');
  }

  private get recordFile(): string {
    return join(this.dir, 'installed.json');
  }

  readRecord(): InstallRecord | null {
    try {
      return JSON.parse(fs.readFileSync(this.recordFile, 'utf8')) as InstallRecord;
    } catch {
      return null;
    }
  }

  writeRecord(record: InstallRecord | null): void {
    if (record === null) fs.rmSync(this.recordFile, { force: true });
    else atomicWrite(this.recordFile, Buffer.from(`${JSON.stringify(record, null, 2)}\n`), 0o600, this.owner);
  }

  /** Backup sets, oldest first. */
  listSets(): BackupSet[] {
    let ids: string[];
    try {
      ids = fs.readdirSync(this.backupsDir).sort();
    } catch {
      return [];
    }
    const sets: BackupSet[] = [];
    for (const id of ids) {
      try {
        sets.push(JSON.parse(fs.readFileSync(join(this.backupsDir, id, 'manifest.json'), 'utf8')) as BackupSet);
      } catch {
        // a set whose manifest was never written holds nothing to restore
      }
    }
    return sets;
  }

  readBlob(set: BackupSet, entry: BackupEntry): Buffer {
    return fs.readFileSync(join(this.backupsDir, set.id, 'files', entry.blob as string));
  }

  /** Saves the current bytes of every file about to change, before the first change. */
  createSet(
    action: string,
    version: string,
    files: { path: string; realPath: string; content: Buffer | null; mode: number | null; symlinkTarget: string | null }[],
    dirs: { created: string[]; removed: { path: string; mode: number }[] },
  ): BackupSet {
    const id = this.newId();
    const setDir = join(this.backupsDir, id);
    try {
      for (const dir of [this.backupsDir, setDir, join(setDir, 'files')]) makeDir(dir, 0o700, this.owner);
      const entries: BackupEntry[] = files.map((f, i) => {
        const blob = f.content === null ? null : String(i);
        if (blob !== null) atomicWrite(join(setDir, 'files', blob), f.content as Buffer, 0o600, this.owner);
        return {
          path: f.path,
          realPath: f.realPath,
          existed: f.content !== null,
          mode: f.mode,
          symlinkTarget: f.symlinkTarget,
          sha256: sha256(f.content),
          blob,
        };
      });
      const set: BackupSet = {
        id,
        time: new Date().toISOString(),
        version,
        action,
        status: 'applying',
        createdDirs: dirs.created,
        removedDirs: dirs.removed,
        recordBefore: this.readRecord(),
        files: entries,
      };
      this.writeSet(set);
      return set;
    } catch (err) {
      if (err instanceof StfError) throw err;
      throw fsError('write the backup set in', setDir, err);
    }
  }

  writeSet(set: BackupSet): void {
    atomicWrite(join(this.backupsDir, set.id, 'manifest.json'), Buffer.from(`${JSON.stringify(set, null, 2)}\n`), 0o600, this.owner);
  }

  /** Removes the oldest sets beyond KEEP_BACKUP_SETS. */
  prune(): void {
    const ids = this.listSets().map((s) => s.id);
    for (const id of ids.slice(0, Math.max(0, ids.length - KEEP_BACKUP_SETS))) {
      fs.rmSync(join(this.backupsDir, id), { recursive: true, force: true });
    }
  }

  private newId(): string {
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    let names: string[] = [];
    try {
      names = fs.readdirSync(this.backupsDir);
    } catch {
      // no sets yet
    }
    // One more than any set of the same second, even a pruned one: ids only ever grow.
    const used = names.filter((n) => n.startsWith(`${stamp}-`)).map((n) => Number(n.slice(stamp.length + 1)));
    const next = Math.max(0, ...used.filter(Number.isInteger)) + 1;
    return `${stamp}-${String(next).padStart(4, '0')}`;
  }

  /**
   * One run at a time per home: the lock file holds the owner's pid; a lock whose process
   * is gone (killed mid-run, even if not yet reaped) is taken over.
   */
  lock(): () => void {
    const lockFile = join(this.dir, 'lock');
    const created = missingDirs(this.dir);
    // A failure here must not leave the state directory behind in an otherwise untouched home.
    const giveUp = (err: StfError): never => {
      for (const dir of created.reverse()) {
        if (isDirectory(dir)) fs.rmSync(dir, { recursive: true, force: true });
      }
      throw err;
    };
    try {
      // Parents as `mkdir -p` makes them (~/.local must stay usable by other programs);
      // the state directory itself is private.
      for (const dir of created) makeDir(dir, dir === this.dir ? 0o700 : 0o755 & ~currentUmask(), this.owner);
    } catch (err) {
      giveUp(fsError('create the state directory', this.dir, err));
    }
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        const fd = fs.openSync(lockFile, 'wx', 0o600);
        try {
          fs.writeSync(fd, `${process.pid}\n`);
          if (this.owner) fs.fchownSync(fd, this.owner.uid, this.owner.gid);
        } finally {
          fs.closeSync(fd);
        }
        return () => fs.rmSync(lockFile, { force: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') giveUp(fsError('create the lock file', lockFile, err));
        const owner = Number.parseInt(fs.readFileSync(lockFile, 'utf8'), 10);
        if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
          throw new StfError(
            `another ssh-tmux-fix run (pid ${owner}) is changing this home; nothing was changed (lock: ${lockFile}).\n` +
              '  next step: wait for it to finish, then run the command again',
          );
        }
        fs.rmSync(lockFile, { force: true });
      }
    }
    throw new StfError(`cannot take the lock ${lockFile}\n  next step: remove it if no ssh-tmux-fix is running, then run again`);
  }
}

function isDirectory(path: string): boolean {
  try {
    return fs.statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** process.umask() without changing it (its getter form is deprecated). */
function currentUmask(): number {
  const mask = process.umask(0o022);
  process.umask(mask);
  return mask;
}

/** A zombie (killed, not yet reaped by its parent) runs nothing and holds no lock. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false; // no /proc (not Linux): trust kill(pid, 0)
  }
  // "pid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state === 'Z' || state === 'X';
}
