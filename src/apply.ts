import * as fs from 'node:fs';
import { dirname, isAbsolute } from 'node:path';
import { hostname } from 'node:os';
import { hostDirOf, legacyLinkOf, linkOf, runtimeTracesOf, VERSION } from './context';
import { fsError, StfError } from './errors';
import { atomicWrite, makeDir, Owner, removeFile, sha256, tempPathOf } from './files';
import { Plan } from './plan';
import { BackupSet, StateDir } from './state';

export interface ApplyResult {
  backupSet: BackupSet | null;
}

/**
 * Writes a plan: lock, save every file about to change into a backup set (the journal an
 * interrupted run is recovered from), then change each file atomically.
 */
export function applyPlan(plan: Plan, state: StateDir): ApplyResult {
  preflight(plan);
  const unlock = state.lock();
  let backupSet: BackupSet | null = null;
  const owner = state.owner;
  try {
    const createdDirs = plan.createDirs.map((d) => d.path);
    if (plan.changes.length > 0 || plan.createDirs.length > 0) {
      backupSet = state.createSet(plan.action, VERSION, plan.changes.map((c) => ({
        path: c.path,
        realPath: c.realPath,
        content: c.before,
        mode: c.before === null ? null : c.mode,
        symlinkTarget: c.symlinkTarget,
      })), { created: createdDirs, removed: existingDirs(plan.removeDirs) });
    }
    for (const dir of plan.createDirs) {
      try {
        makeDir(dir.path, dir.mode, owner);
      } catch (err) {
        throw fsError('create the directory', dir.path, err);
      }
    }
    for (const change of plan.changes) {
      if (change.after === null) removeFile(change.realPath);
      else atomicWrite(change.realPath, change.after, change.mode, change.before === null ? owner : null);
    }
    if (plan.removeLink) {
      // What the runtime made: each host's directory (agent link, DISPLAY link and records,
      // client records), 1.0.0's link, and the one-link layout's records.
      const traces = runtimeTracesOf(plan.home);
      for (const file of traces.files) removeFile(file);
      for (const dir of traces.dirs) fs.rmSync(dir, { recursive: true, force: true });
    }
    for (const dir of plan.removeDirs) removeDirIfEmpty(dir);
    if (plan.action === 'install') adoptLegacyLink(plan.home, owner);
    updateRecord(plan, state, createdDirs);
    if (backupSet) {
      backupSet.status = 'complete';
      state.writeSet(backupSet);
      state.prune();
    }
    return { backupSet };
  } catch (err) {
    // Leave the home as it was: undo the changes already made, from the journal.
    if (backupSet) undoSet(state, backupSet);
    throw err;
  } finally {
    unlock();
  }
}

/**
 * 1.0.0 kept one link per home, <dir>/agent.sock, pointing at a socket; the panes it started
 * still name it. This host's link takes its target (when it has none yet), and the old link
 * becomes a relative link to this host's, so those panes follow this host's link from now on.
 * A relative one (made by the runtime) is left alone. Best effort: the link is runtime state,
 * and the next login makes it anyway.
 */
function adoptLegacyLink(home: string, owner: Owner | null): void {
  const legacy = legacyLinkOf(home);
  try {
    const target = fs.readlinkSync(legacy);
    if (!isAbsolute(target)) return;
    makeDir(hostDirOf(home), 0o700, owner);
    const link = linkOf(home);
    if (!lexists(link)) {
      fs.symlinkSync(target, link);
      if (owner) fs.lchownSync(link, owner.uid, owner.gid);
    }
    const temp = `${legacy}.${process.pid}.tmp`;
    fs.symlinkSync(`${hostname()}/agent.sock`, temp);
    if (owner) fs.lchownSync(temp, owner.uid, owner.gid);
    fs.renameSync(temp, legacy);
  } catch {
    // No 1.0.0 link, or it cannot be changed: the helper makes the relative one when absent.
  }
}

function lexists(path: string): boolean {
  try {
    fs.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Refuses before anything is written when a file or directory cannot be changed. */
function preflight(plan: Plan): void {
  for (const change of plan.changes) {
    if (change.before !== null && change.after !== null && (change.mode & 0o200) === 0) {
      throw new StfError(
        `${change.path} is read-only (mode ${change.mode.toString(8)}); nothing was changed.\n` +
          `  next step: make it writable with 'chmod u+w ${change.realPath}', or leave this file out with --shell/--only`,
      );
    }
    let dir = dirname(change.realPath);
    while (!fs.existsSync(dir)) dir = dirname(dir);
    try {
      fs.accessSync(dir, fs.constants.W_OK);
    } catch (err) {
      throw fsError('write into the directory of', change.path, err);
    }
  }
}

/** The directories of `dirs` that exist, with their modes: what an undo must make again. */
function existingDirs(dirs: string[]): { path: string; mode: number }[] {
  return dirs.flatMap((path) => {
    try {
      return [{ path, mode: fs.statSync(path).mode & 0o7777 }];
    } catch {
      return [];
    }
  });
}

/**
 * Puts back every file of a set as it was before its run (after the directories it removed,
 * which hold them), removes the dirs it made, and puts back the install record.
 */
function undoSet(state: StateDir, set: BackupSet): void {
  for (const dir of [...(set.removedDirs ?? [])].sort((a, b) => a.path.length - b.path.length)) {
    makeDir(dir.path, dir.mode, state.owner);
  }
  for (const entry of set.files) {
    removeFile(tempPathOf(entry.realPath));
    // A file the run never got to is already right; rewriting it could fail for no reason.
    if (currentSha(entry.realPath) === entry.sha256) continue;
    if (entry.existed) atomicWrite(entry.realPath, state.readBlob(set, entry), entry.mode ?? 0o644, state.owner);
    else removeFile(entry.realPath);
  }
  for (const dir of [...set.createdDirs].sort((a, b) => b.length - a.length)) removeDirIfEmpty(dir);
  if (set.recordBefore !== undefined) state.writeRecord(set.recordBefore);
  set.status = 'undone';
  state.writeSet(set);
}

/**
 * A run that was killed (SIGKILL, power loss) leaves its set "applying": each file is wholly
 * old or wholly new, and the set holds the old bytes. Undo it before planning anew.
 */
export function recoverInterrupted(state: StateDir): BackupSet | null {
  const last = state.listSets().at(-1);
  if (!last || last.status !== 'applying') return null;
  const unlock = state.lock();
  try {
    undoSet(state, last);
    return last;
  } finally {
    unlock();
  }
}

function currentSha(path: string): string | null {
  try {
    return sha256(fs.readFileSync(path));
  } catch {
    return null;
  }
}

function removeDirIfEmpty(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST') throw fsError('remove the directory', dir, err);
  }
}

function updateRecord(plan: Plan, state: StateDir, createdDirs: string[]): void {
  if (plan.action !== 'install') {
    state.writeRecord(null);
    return;
  }
  const previous = state.readRecord();
  state.writeRecord({
    version: VERSION,
    files: [...new Set([...(previous?.files ?? []), ...plan.changes.map((c) => c.path)])],
    createdDirs: [...new Set([...(previous?.createdDirs ?? []), ...createdDirs])],
  });
}
