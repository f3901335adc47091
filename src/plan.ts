import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { Block, findBlocks, insertBlock, isEdited, removeBlock, replaceBlock } from './blocks';
import { RenderContext, TOOL, VERSION } from './context';
import { StfError } from './errors';
import { FileState, missingDirs, readFileState } from './files';
import { dotfileRepoNotes } from './dotrepo';
import { frameworkPlaces } from './frameworks';
import { render } from './render';
import { BackupSet, StateDir } from './state';
import { HomeEnv, PARTS, Part, Target, formerFiles, targetsFor } from './targets';

export type Action = 'install' | 'uninstall' | 'rollback';

export interface FileChange {
  path: string;
  realPath: string;
  before: Buffer | null;
  /** null: the file is deleted. */
  after: Buffer | null;
  mode: number;
  symlinkTarget: string | null;
  summary: string;
}

/** Everything an action will do, computed before anything is touched. */
export interface Plan {
  action: Action;
  home: string;
  changes: FileChange[];
  createDirs: { path: string; mode: number }[];
  /** Removed when empty, innermost first. */
  removeDirs: string[];
  removeLink: boolean;
  warnings: string[];
  /** The backup set a rollback restores. */
  rollbackFrom?: BackupSet;
}

const latin1 = (b: Buffer | null): string => (b === null ? '' : b.toString('latin1'));
const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');
/** Rendered text is UTF-8; files are handled byte for byte as latin1 strings. */
const bodyOf = (text: string): string => latin1(Buffer.from(text.endsWith('\n') ? text : `${text}\n`, 'utf8'));

function lines(b: Block): string {
  return `lines ${b.beginLine}-${b.endLine}`;
}

function singleBlock(state: FileState): Block | null {
  const blocks = findBlocks(latin1(state.content), state.path);
  if (blocks.length > 1) {
    throw new StfError(
      `${state.path}: ${blocks.length} ${TOOL} blocks (${blocks.map(lines).join(', ')}); nothing was changed.\n` +
        '  next step: delete all but one of them by hand, then run the command again',
    );
  }
  return blocks[0] ?? null;
}

function refuseEdited(state: FileState, block: Block, verb: 'replace' | 'remove'): never {
  throw new StfError(
    `${state.path}: the ${TOOL} block (${lines(block)}) was edited by hand; it was not ${verb}d and nothing was changed.\n` +
      `  next step: move your edits outside the block, or run again with --force to ${verb} it anyway`,
  );
}

/** `targets`: the files of a system-wide install instead of the home's. */
export function planInstall(he: HomeEnv, ctx: RenderContext, parts: readonly Part[], force: boolean, targets: Target[] = targetsFor(he, parts)): Plan {
  const plan: Plan = { action: 'install', home: he.home, changes: [], createDirs: [], removeDirs: [], removeLink: false, warnings: [] };
  const sshDir = join(he.home, '.ssh');
  sshDirWarnings(sshDir, plan.warnings);
  const planned = new Set<string>();
  const written: Target[] = [];
  for (const target of targets) {
    const state = readFileState(target.path);
    // Two names for one file (.bash_profile -> .profile): the first block is enough.
    if (planned.has(state.realPath)) continue;
    planned.add(state.realPath);
    const content = latin1(state.content);
    const block = singleBlock(state);
    // A ~/.ssh/rc the install creates (or created: the block says so) takes /etc/ssh/sshrc's turn.
    const ownsRc = target.template === 'ssh-rc' && !ctx.system && (block ? block.created : !state.exists);
    const body = bodyOf(render(target.template, { ...ctx, ownsRc }));
    if (target.owned && state.exists && !block) {
      throw new StfError(
        `${target.path} exists and was not written by ${TOOL}; nothing was changed.\n  next step: move it aside, then run the command again`,
      );
    }
    let after: string;
    if (!block) {
      after = insertBlock(content, body, VERSION, target.placement, state.exists);
    } else {
      const current = content.slice(block.bodyStart, block.bodyEnd);
      if (current === body && block.version === VERSION) continue;
      if (isEdited(content, block) && !force) refuseEdited(state, block, 'replace');
      after = replaceBlock(content, block, body, VERSION);
    }
    addMissingDirs(plan, he.home, state.realPath);
    written.push(target);
    plan.changes.push({
      path: target.path,
      realPath: state.realPath,
      before: state.content,
      after: bytes(after),
      mode: state.mode ?? target.newMode,
      symlinkTarget: state.symlinkTarget,
      summary: (!state.exists ? 'new file' : block ? `upgrade block from ${block.version}` : 'add block') + (target.why ? `; ${target.why}` : ''),
    });
  }
  // Blocks that go through a symlink into a dotfiles repository travel with it.
  plan.warnings.push(...dotfileRepoNotes(he.home, written));
  // A framework's own file gets no block: one there (written by an earlier version) is taken out.
  for (const framework of frameworkPlaces(he, parts)) {
    if (framework.warning) plan.warnings.push(framework.warning);
    for (const path of framework.instead) {
      const file = readFileState(path);
      if (!file.exists || planned.has(file.realPath)) continue;
      planned.add(file.realPath);
      const block = singleBlock(file);
      if (block) plan.changes.push(removal(file, block, force, `remove block; ${framework.why}`));
    }
  }
  return plan;
}

/** Taking a block out of a file (deleting the file when the install created it). */
function removal(file: FileState, block: Block, force: boolean, summary: string): FileChange {
  const content = latin1(file.content);
  if (isEdited(content, block) && !force) refuseEdited(file, block, 'remove');
  const removed = removeBlock(content, block);
  return {
    path: file.path,
    realPath: file.realPath,
    before: file.content,
    after: removed.deleteFile ? null : bytes(removed.content),
    mode: file.mode ?? 0o644,
    symlinkTarget: file.symlinkTarget,
    summary: removed.deleteFile ? 'delete (created by the install)' : summary,
  };
}

/** Directories a file needs; anything under ~/.ssh is made 0700 like ~/.ssh itself. */
function addMissingDirs(plan: Plan, home: string, file: string): void {
  const sshDir = join(home, '.ssh');
  for (const dir of missingDirs(dirname(file))) {
    if (!plan.createDirs.some((d) => d.path === dir)) {
      plan.createDirs.push({ path: dir, mode: dir === sshDir || dir.startsWith(`${sshDir}/`) ? 0o700 : 0o755 });
    }
  }
}

function sshDirWarnings(sshDir: string, warnings: string[]): void {
  try {
    const mode = fs.statSync(sshDir).mode & 0o777;
    if (mode & 0o022) {
      warnings.push(
        `${sshDir} is writable by group or others (mode ${mode.toString(8)}); sshd may refuse keys. Left as is: run 'chmod 700 ${sshDir}' to fix it.`,
      );
    }
  } catch {
    // created with mode 700 by the install
  }
}

/** Every path an install of any version may have written, for any shell. */
function candidatePaths(he: HomeEnv, record: { files: string[] } | null): string[] {
  const paths = [...targetsFor(he, PARTS).map((t) => t.path), ...formerFiles(he)];
  if (record) paths.push(...record.files);
  return [...new Set(paths)];
}

/** `system`: every file a system-wide install may have written; the users' links in their homes stay (root writes nothing there). */
export function planUninstall(he: HomeEnv, state: StateDir, force: boolean, system?: Target[]): Plan {
  const plan: Plan = { action: 'uninstall', home: he.home, changes: [], createDirs: [], removeDirs: [], removeLink: !system, warnings: [] };
  const record = state.readRecord();
  const planned = new Set<string>();
  const candidates = system ? [...new Set([...system.map((t) => t.path), ...(record?.files ?? [])])] : candidatePaths(he, record);
  for (const path of candidates) {
    const file = readFileState(path);
    if (!file.exists || planned.has(file.realPath)) continue;
    planned.add(file.realPath);
    const block = singleBlock(file);
    if (!block) continue;
    const content = latin1(file.content);
    if (isEdited(content, block) && !force) refuseEdited(file, block, 'remove');
    const removed = removeBlock(content, block);
    plan.changes.push({
      path,
      realPath: file.realPath,
      before: file.content,
      after: removed.deleteFile ? null : bytes(removed.content),
      mode: file.mode ?? 0o644,
      symlinkTarget: file.symlinkTarget,
      summary: removed.deleteFile ? 'delete (created by the install)' : 'remove block',
    });
  }
  plan.removeDirs = [...(record?.createdDirs ?? [])].sort((a, b) => b.length - a.length);
  // The shared directory is the tool's by its name, whoever made it (after a rollback no record says).
  const own = system?.find((t) => t.template === 'helper');
  if (own && !plan.removeDirs.includes(dirname(own.path))) plan.removeDirs.unshift(dirname(own.path));
  return plan;
}

export function planRollback(he: HomeEnv, state: StateDir, id?: string, system = false): Plan {
  const sets = state.listSets();
  const set = id ? sets.find((s) => s.id === id) : sets.filter((s) => s.action === 'install' && s.status === 'complete').at(-1);
  if (!set) {
    throw new StfError(
      id
        ? `no backup set ${id} in ${state.backupsDir}\n  next step: run 'ssh-tmux-fix rollback --list' to see the sets there are`
        : `no backup set to roll back to in ${state.backupsDir}\n  next step: nothing was installed from this home; 'ssh-tmux-fix status' shows what is there`,
    );
  }
  const plan: Plan = { action: 'rollback', home: he.home, changes: [], createDirs: [], removeDirs: [], removeLink: !system, warnings: [], rollbackFrom: set };
  for (const entry of set.files) {
    const file = readFileState(entry.path);
    const after = entry.existed ? state.readBlob(set, entry) : null;
    if (file.content === null ? after === null : after !== null && file.content.equals(after)) continue;
    if (after !== null) addMissingDirs(plan, he.home, file.realPath);
    plan.changes.push({
      path: entry.path,
      realPath: file.realPath,
      before: file.content,
      after,
      mode: entry.mode ?? file.mode ?? 0o644,
      symlinkTarget: file.symlinkTarget,
      summary: after === null ? 'delete (did not exist before)' : 'restore',
    });
  }
  // Directories the restored set's own run created go away again (when empty), and so do those
  // an earlier run created that a later set's file kept from going (~/.ssh/ssh-tmux-fix holds
  // files of several parts).
  const created = [...new Set(sets.flatMap((s) => (s === set || sets.indexOf(s) < sets.indexOf(set) ? s.createdDirs : [])))];
  plan.removeDirs = created.filter((d) => !plan.createDirs.some((c) => c.path === d)).sort((a, b) => b.length - a.length);
  return plan;
}
