/**
 * The package as users get it: `npm pack` holds only what runs, and the packed tarball
 * installs and runs (`npx ./ssh-tmux-fix-<version>.tgz …` does exactly this install).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO, ensureBuilt } from './helpers';

const VERSION = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')).version;
let work: string;

beforeAll(() => {
  ensureBuilt();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'stf-pack-'));
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function npm(args: string[], cwd: string) {
  const out = spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: 120_000, env: { ...process.env, npm_config_loglevel: 'error' } });
  if (out.status !== 0) throw new Error(`npm ${args.join(' ')} failed: ${out.stderr}`);
  return out.stdout;
}

test('the tarball holds the built CLI, the templates and the docs a package needs; no sources or tests', () => {
  const files: string[] = JSON.parse(npm(['pack', '--dry-run', '--json', '--ignore-scripts'], REPO))[0].files.map((f: { path: string }) => f.path);
  const unexpected = files.filter((f) => !/^(dist\/.*\.js|templates\/[^/]+\.hbs|package\.json|README\.md|LICENSE)$/.test(f));
  expect(unexpected).toEqual([]);
  expect(files).toEqual(expect.arrayContaining(['dist/cli.js', 'templates/helper.sh.hbs', 'templates/tmux.conf.hbs']));
});

test('the packed tarball installs and runs', () => {
  const tarball = npm(['pack', '--ignore-scripts', '--pack-destination', work], REPO).trim().split('\n').pop() as string;
  expect(tarball).toBe(`ssh-tmux-fix-${VERSION}.tgz`);
  const app = path.join(work, 'app');
  fs.mkdirSync(app);
  npm(['install', '--omit=dev', '--no-audit', '--no-fund', path.join(work, tarball)], app);
  const bin = path.join(app, 'node_modules', '.bin', 'ssh-tmux-fix');
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  expect(version.stdout.trim()).toBe(VERSION);
  const snippet = spawnSync(bin, ['snippet', 'tmux', '--home', work], { encoding: 'utf8' });
  expect(snippet.stdout).toContain(`set-environment -g SSH_AUTH_SOCK "${work}/.ssh/ssh-tmux-fix/agent.sock"`);
});
