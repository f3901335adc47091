import * as fs from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { TOOL } from './context';
import { resolveWritePath } from './files';

/*
 * Dotfiles kept in a git repository and linked into the home (GNU stow, rcm's rcup, a
 * hand-made `ln -s ~/dotfiles/bashrc ~/.bashrc`): a block written through the link lands in the
 * repository, is committed with it and reaches every machine that checks it out. There, without
 * the rest of the install, the parts do nothing and print nothing (they check for the helper
 * first); install and doctor say so, and name the snippets a dotfile manager can carry instead.
 */

/** The shell whose snippet carries the same part, for each template of a shell's file. */
const SHELL_OF: Record<string, string> = { 'bash-rc': 'bash', sh: 'sh', zsh: 'zsh', fish: 'fish' };

/** Whether `path` is reached through a symlink below `home` (the file itself or a directory on the way). */
function throughSymlink(home: string, path: string): boolean {
  const rel = relative(home, path);
  if (rel === '' || rel.startsWith('..')) return false;
  let at = home;
  for (const part of rel.split(sep)) {
    at = join(at, part);
    try {
      if (fs.lstatSync(at).isSymbolicLink()) return true;
    } catch {
      return false;
    }
  }
  return false;
}

/** The nearest existing directory of `path`'s real location, with symlinks resolved. */
function realDirOf(path: string): string | null {
  for (let d = dirname(resolveWritePath(path)); ; d = dirname(d)) {
    try {
      return fs.realpathSync(d);
    } catch {
      if (d === dirname(d)) return null;
    }
  }
}

/**
 * The top directory of the git repository a home's file really lives in, when it is reached
 * through a symlink (walking up from where the link leads for a `.git`); else null.
 */
export function symlinkedRepoOf(home: string, path: string): string | null {
  if (!throughSymlink(home, path)) return null;
  for (let d = realDirOf(path); d !== null; d = d === dirname(d) ? null : dirname(d)) {
    if (fs.existsSync(join(d, '.git'))) return d;
  }
  return null;
}

/** One note per repository: which of these files lead into it, what happens, and the snippets instead. */
export function dotfileRepoNotes(home: string, files: { path: string; template: string }[]): string[] {
  const byRepo = new Map<string, { path: string; template: string }[]>();
  for (const f of files) {
    const repo = symlinkedRepoOf(home, f.path);
    if (repo) byRepo.set(repo, [...(byRepo.get(repo) ?? []), f]);
  }
  const tilde = (p: string) => (p === home || p.startsWith(`${home}/`) ? `~${p.slice(home.length)}` : p);
  return [...byRepo].map(([repo, inRepo]) => {
    const shells = [...new Set(inRepo.map((f) => SHELL_OF[f.template]).filter(Boolean))];
    const instead = shells.length
      ? ` For a dotfile manager the cleaner path: install without ${shells.join(', ')} (--shell) and carry ` +
        `${shells.map((s) => `'${TOOL} snippet ${s}'`).join(', ')} in the repository yourself (docs/dotfile-managers.md).`
      : '';
    return (
      `${inRepo.map((f) => tilde(f.path)).join(', ')} ${inRepo.length > 1 ? 'lead' : 'leads'} into the git repository ${tilde(repo)} (a symlink): ` +
      'the block is written there, and once committed it travels to every machine that checks the repository out; ' +
      `where ${TOOL} is not installed it stays inert (does nothing, prints nothing).${instead}`
    );
  });
}
