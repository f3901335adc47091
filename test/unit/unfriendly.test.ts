/**
 * Unfriendly homes: each gets a clear error naming the path and the next step, exit 1, and
 * the home is left unchanged. The full-disk and other-filesystem cases mount a tiny tmpfs of
 * their own, which needs root; without it they are skipped with the reason.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureBuilt, isRoot, makeRoot, removeAllRoots, runCli, snapshot, treeDiff } from './helpers';

beforeAll(ensureBuilt);
afterAll(removeAllRoots);

const canMount = isRoot && spawnSync('mount', ['--version']).status === 0;
if (!canMount) console.warn('unfriendly.test.ts: tmpfs cases skipped: mounting a tmpfs needs root');

/** Mounts a tmpfs of `size` at dir for the duration of fn. */
function withTmpfs(dir: string, size: string, fn: () => void): void {
  fs.mkdirSync(dir, { recursive: true });
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  if (mounted.status !== 0) throw new Error(`cannot mount a tmpfs at ${dir}: ${mounted.stderr}`);
  try {
    fn();
  } finally {
    spawnSync('umount', [dir]);
  }
}

test('a read-only dotfile: refused before any write, named with the chmod to run', () => {
  const { home } = makeRoot();
  fs.writeFileSync(path.join(home, '.bashrc'), 'mine\n', { mode: 0o444 });
  fs.chmodSync(path.join(home, '.bashrc'), 0o444);
  const before = snapshot(home);
  const res = runCli(['install', '--yes', '--shell', 'bash'], { home });
  expect(res.code).toBe(1);
  expect(res.stderr).toContain(`${home}/.bashrc is read-only (mode 444); nothing was changed.`);
  expect(res.stderr).toContain(`next step: make it writable with 'chmod u+w ${home}/.bashrc'`);
  expect(treeDiff(snapshot(home), before)).toEqual([]);
});

test('a ~/.ssh open to others: a warning naming the fix, and the mode is left as it is', () => {
  const { home } = makeRoot();
  fs.mkdirSync(path.join(home, '.ssh'));
  fs.chmodSync(path.join(home, '.ssh'), 0o777);
  const res = runCli(['install', '--yes', '--shell', 'bash'], { home });
  expect(res.code).toBe(0);
  expect(res.stderr).toContain(`warning: ${home}/.ssh is writable by group or others (mode 777)`);
  expect(res.stderr).toContain(`run 'chmod 700 ${home}/.ssh' to fix it`);
  expect(fs.statSync(path.join(home, '.ssh')).mode & 0o777).toBe(0o777);
});

(canMount ? test : test.skip)('a full disk: exit 1 naming the file and "disk is full", home unchanged', () => {
  const { root } = makeRoot();
  const home = path.join(root, 'full');
  withTmpfs(home, '64k', () => {
    fs.writeFileSync(path.join(home, '.bashrc'), 'mine\n');
    // Fill the disk; leave no room for a new file's data.
    const fd = fs.openSync(path.join(home, 'filler'), 'w');
    try {
      for (;;) fs.writeSync(fd, Buffer.alloc(4096, 120));
    } catch {
      // ENOSPC: full
    } finally {
      fs.closeSync(fd);
    }
    const before = snapshot(home);
    const res = runCli(['install', '--yes', '--shell', 'bash'], { home });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(new RegExp(`cannot (write|create) .*${home}/\\S+: ENOSPC`));
    expect(res.stderr).toContain('next step: the disk is full; free some space and run the command again');
    expect(treeDiff(snapshot(home), before)).toEqual([]);
  });
});

(canMount ? test : test.skip)('a dotfile that is a symlink onto another filesystem: the temporary file is made beside the target', () => {
  const { root, home } = makeRoot();
  const other = path.join(root, 'otherfs');
  withTmpfs(other, '1m', () => {
    fs.writeFileSync(path.join(other, 'tmux.conf'), 'set -g mouse on\n');
    fs.symlinkSync(path.join(other, 'tmux.conf'), path.join(home, '.tmux.conf'));
    const res = runCli(['install', '--yes', '--only', 'tmux'], { home });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(fs.lstatSync(path.join(home, '.tmux.conf')).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(path.join(other, 'tmux.conf'), 'utf8')).toMatch(/^set -g mouse on\n# >>> ssh-tmux-fix /);
    expect(fs.readdirSync(other)).toEqual(['tmux.conf']);
  });
});
