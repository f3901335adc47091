/*
 * Dotfiles kept in a git repository and linked into the home (stow, rcm): install and doctor say
 * that the blocks go into the repository, travel with it and stay inert where the tool is not
 * installed, and name the snippets to carry instead. Issue 11, item 2.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { symlinkedRepoOf } from '../../src/dotrepo';
import { ensureBuilt, makeRoot, removeAllRoots, runCli } from './helpers';

afterAll(removeAllRoots);

/** A home whose .bashrc and .zshrc are stow-like symlinks into ~/dotfiles, a git repository (`.git` is all git needs to be found). */
function stowHome(): { home: string; repo: string } {
  const { home } = makeRoot('home');
  const repo = path.join(home, 'dotfiles');
  fs.mkdirSync(path.join(repo, '.git'), { recursive: true });
  fs.mkdirSync(path.join(repo, 'bash'));
  fs.writeFileSync(path.join(repo, 'bash', '.bashrc'), 'alias ll="ls -l"\n');
  fs.mkdirSync(path.join(repo, 'zsh'));
  fs.writeFileSync(path.join(repo, 'zsh', '.zshrc'), 'PROMPT="%# "\n');
  fs.symlinkSync('dotfiles/bash/.bashrc', path.join(home, '.bashrc'));
  fs.symlinkSync('dotfiles/zsh/.zshrc', path.join(home, '.zshrc'));
  return { home, repo };
}

describe('symlinkedRepoOf', () => {
  test('a symlink into a repository, a symlinked directory on the way, a plain file, a symlink outside any repository', () => {
    const { home, repo } = stowHome();
    expect(symlinkedRepoOf(home, path.join(home, '.bashrc'))).toBe(repo);
    // stow folds a whole directory into one link: the file below it is in the repository too.
    fs.mkdirSync(path.join(repo, 'fish', '.config', 'fish', 'conf.d'), { recursive: true });
    fs.mkdirSync(path.join(home, '.config'));
    fs.symlinkSync('../dotfiles/fish/.config/fish', path.join(home, '.config', 'fish'));
    expect(symlinkedRepoOf(home, path.join(home, '.config', 'fish', 'conf.d', 'ssh-tmux-fix.fish'))).toBe(repo);
    // A file of the home itself, even inside a repository, is not reached through a link.
    fs.writeFileSync(path.join(home, '.profile'), '');
    expect(symlinkedRepoOf(home, path.join(home, '.profile'))).toBeNull();
    fs.writeFileSync(path.join(repo, 'plain'), '');
    expect(symlinkedRepoOf(home, path.join(repo, 'plain'))).toBeNull();
    // A symlink to a file that is in no repository.
    const { root, home: other } = makeRoot('other');
    fs.writeFileSync(path.join(root, 'tmux.conf'), '');
    fs.symlinkSync('../tmux.conf', path.join(other, '.tmux.conf'));
    expect(symlinkedRepoOf(other, path.join(other, '.tmux.conf'))).toBeNull();
  });
});

describe('install and doctor in a home whose dotfiles link into a git repository', () => {
  beforeAll(ensureBuilt);

  test('install --dry-run and install say where the blocks go and name the snippets; doctor says it after', () => {
    const { home } = stowHome();
    const note = /~\/\.bashrc, ~\/\.zshrc lead into the git repository ~\/dotfiles \(a symlink\): the block is written there, and once committed it travels to every machine that checks the repository out; where ssh-tmux-fix is not installed it stays inert \(does nothing, prints nothing\)\. For a dotfile manager the cleaner path: install without bash, zsh \(--shell\) and carry 'ssh-tmux-fix snippet bash', 'ssh-tmux-fix snippet zsh' in the repository yourself/;
    const dry = runCli(['install', '--dry-run', '--shell', 'bash,zsh'], { home });
    expect(dry.code).toBe(0);
    expect(dry.stderr).toMatch(note);
    const install = runCli(['install', '--yes', '--shell', 'bash,zsh'], { home });
    expect(install.code).toBe(0);
    expect(install.stderr).toMatch(note);
    expect(fs.readFileSync(path.join(home, 'dotfiles', 'bash', '.bashrc'), 'utf8')).toContain('# >>> ssh-tmux-fix ');
    const doctor = runCli(['doctor', '--json'], { home });
    const found = JSON.parse(doctor.stdout).findings.filter((f: { id: string }) => f.id === 'dotfiles-repo');
    expect(found).toHaveLength(1);
    expect(found[0].message).toMatch(note);
    // Without the repository's shells in the plan (the cleaner path) nothing is said.
    expect(runCli(['uninstall', '--yes'], { home }).code).toBe(0);
    const apart = runCli(['install', '--dry-run', '--shell', 'none'], { home });
    expect(apart.stderr).not.toContain('git repository');
  });
});
