import * as fs from 'node:fs';
import { linkOf, VERSION } from './context';
import { fsError } from './errors';
import { atomicWrite, removeFile } from './files';
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
  const unlock = state.lock();
  try {
    const createdDirs = plan.createDirs.map((d) => d.path);
    let backupSet: BackupSet | null = null;
    if (plan.changes.length > 0 || plan.createDirs.length > 0) {
      backupSet = state.createSet(plan.action, VERSION, plan.changes.map((c) => ({
        path: c.path,
        realPath: c.realPath,
        content: c.before,
        mode: c.before === null ? null : c.mode,
        symlinkTarget: c.symlinkTarget,
      })), createdDirs);
    }
    for (const dir of plan.createDirs) {
      try {
        fs.mkdirSync(dir.path, { mode: dir.mode });
        fs.chmodSync(dir.path, dir.mode);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError('create the directory', dir.path, err);
      }
    }
    for (const change of plan.changes) {
      if (change.after === null) removeFile(change.realPath);
      else atomicWrite(change.realPath, change.after, change.mode);
    }
    if (plan.removeLink) removeFile(linkOf(plan.home));
    for (const dir of plan.removeDirs) removeDirIfEmpty(dir);
    updateRecord(plan, state, createdDirs);
    if (backupSet) {
      backupSet.status = 'complete';
      state.writeSet(backupSet);
      state.prune();
    }
    return { backupSet };
  } finally {
    unlock();
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
