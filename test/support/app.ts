/*
 * The built app, copied where every user can read it. The checkout may sit in a private
 * directory (a 0700 mktemp dir, a home under /root): a test that runs the CLI as another user
 * (nobody, a throwaway e2e user) runs this copy, never the checkout's dist/.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const REPO_DIR = path.resolve(__dirname, '..', '..');

/** Copies package.json, dist/, templates/ and the production node_modules into `dest` (a+rX). */
export function copyAppTo(dest: string): string {
  const cli = path.join(REPO_DIR, 'dist', 'cli.js');
  if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: build the app first (npm run build)`);
  const repo = fs.realpathSync(REPO_DIR); // npm ls prints real paths
  const ls = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: repo, encoding: 'utf8' });
  if (ls.status !== 0) throw new Error(`npm ls --omit=dev failed (${ls.status}): ${ls.stderr}`);
  const prodDirs = ls.stdout.split('\n').filter((d) => d.startsWith(path.join(repo, 'node_modules') + path.sep));
  // A nested node_modules comes along with its parent package's directory.
  const topLevel = prodDirs.filter((d) => !prodDirs.some((other) => d.startsWith(other + path.sep)));
  for (const entry of ['package.json', 'dist', 'templates']) {
    fs.cpSync(path.join(repo, entry), path.join(dest, entry), { recursive: true });
  }
  for (const dir of topLevel) {
    fs.cpSync(dir, path.join(dest, path.relative(repo, dir)), { recursive: true });
  }
  const chmod = spawnSync('chmod', ['-R', 'a+rX', dest], { encoding: 'utf8' });
  if (chmod.status !== 0) throw new Error(`chmod -R a+rX ${dest} failed: ${chmod.stderr}`);
  // Every directory above dest must be traversable too.
  for (let dir = path.dirname(dest); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if ((fs.statSync(dir).mode & 0o001) === 0) throw new Error(`${dir} is not traversable by other users: copy the app elsewhere`);
  }
  return path.join(dest, 'dist', 'cli.js');
}
