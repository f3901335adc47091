/*
 * Shared helpers for the unit tests: throwaway homes under os.tmpdir(), exact snapshots of a
 * directory tree (bytes, modes, symlink targets), the planner/applier wired to a home, and the
 * built CLI run as a child process with a clean environment.
 */
import { spawnSync, SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildContext, RenderContext } from '../../src/context';
import { StfError } from '../../src/errors';
import { StateDir } from '../../src/state';
import { HomeEnv, homeEnv, stateDirOf } from '../../src/targets';
import { copyAppTo } from '../support/app';

export const REPO = path.resolve(__dirname, '..', '..');
export const CLI = path.join(REPO, 'dist', 'cli.js');
/** The PATH the CLI and the shells are run with: where bash, zsh, fish, tmux live here. */
export const TEST_PATH = '/usr/local/bin:/usr/bin:/bin';
export const isRoot = process.getuid?.() === 0;

const roots: string[] = [];

/**
 * A fresh directory under os.tmpdir() holding `home/` (a name with a space and a single quote,
 * so every quoting path is exercised) and room for files outside the home.
 */
export function makeRoot(homeName = "ho me'q"): { root: string; home: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'stf-unit-'));
  roots.push(root);
  const home = path.join(root, homeName);
  fs.mkdirSync(home, { mode: 0o755 });
  fs.chmodSync(home, 0o755);
  return { root, home };
}

export function removeRoot(root: string): void {
  try {
    fs.rmSync(root, { recursive: true, force: true });
  } catch {
    // a test that made something unremovable already failed on its own
  }
  const i = roots.indexOf(root);
  if (i >= 0) roots.splice(i, 1);
}

export function removeAllRoots(): void {
  for (const root of [...roots]) removeRoot(root);
}

export interface Api {
  home: string;
  he: HomeEnv;
  ctx: RenderContext;
  state: StateDir;
  stateDir: string;
}

/** The planner's view of a throwaway home, exactly as the brief prescribes. */
export function api(home: string): Api {
  const env = { HOME: home };
  const stateDir = stateDirOf(home, env);
  return { home, he: homeEnv(home, env), ctx: buildContext(home, true), state: new StateDir(stateDir), stateDir };
}

export * from '../support/tree';

// ---------------------------------------------------------------------------------------------
// The CLI

let built = false;

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of fs.readdirSync(dir)) {
    const abs = path.join(dir, name);
    const st = fs.statSync(abs);
    newest = Math.max(newest, st.isDirectory() ? newestMtime(abs) : st.mtimeMs);
  }
  return newest;
}

/** Builds dist/ when it is missing or older than its sources (src/, templates/, scripts/). */
export function ensureBuilt(): void {
  if (built) return;
  let stale = true;
  try {
    stale = fs.statSync(CLI).mtimeMs < Math.max(...['src', 'templates', 'scripts'].map((d) => newestMtime(path.join(REPO, d))));
  } catch {
    stale = true;
  }
  if (stale) {
    // The whole build: tsc alone would leave dist/cli.js unbundled and the templates as they were.
    const out = spawnSync('npm', ['run', 'build'], { cwd: REPO, encoding: 'utf8' });
    if (out.status !== 0) throw new Error(`npm run build failed:\n${out.stdout}\n${out.stderr}`);
  }
  built = true;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The environment every CLI run gets: HOME set to the throwaway home, a PATH where the shells are
 * found, no XDG_* or ZDOTDIR from the outer environment, and TMUX_TMPDIR pointing into the
 * throwaway root so the CLI never sees (nor changes) a real tmux server.
 */
export function cliEnv(home: string, extra: Record<string, string> = {}, owner?: { uid: number; gid?: number }): Record<string, string> {
  const tmuxTmp = path.join(path.dirname(home), '.tmux-tmpdir');
  fs.mkdirSync(tmuxTmp, { recursive: true, mode: 0o700 });
  if (owner) fs.chownSync(tmuxTmp, owner.uid, owner.gid ?? owner.uid);
  return { HOME: home, PATH: TEST_PATH, TMUX_TMPDIR: tmuxTmp, LANG: 'C.UTF-8', NO_COLOR: '1', ...extra };
}

/**
 * Runs `node dist/cli.js ...args --home home` (or another build's CLI, `cli`) in cliEnv(home).
 * homeArg: null leaves --home out; a string passes that instead of home.
 */
export function runCli(
  args: string[],
  opts: { home: string; env?: Record<string, string>; input?: string; homeArg?: string | null; uid?: number; gid?: number; cli?: string },
): CliResult {
  const env = cliEnv(opts.home, opts.env, opts.uid === undefined ? undefined : { uid: opts.uid, gid: opts.gid });
  const homeArg = opts.homeArg === undefined ? opts.home : opts.homeArg;
  const full = homeArg === null ? args : [...args, '--home', homeArg];
  // Another user cannot be assumed to reach the checkout (it may sit in a 0700 directory).
  const cli = opts.cli ?? (opts.uid === undefined || opts.uid === process.getuid?.() ? CLI : publicCli());
  const out: SpawnSyncReturns<string> = spawnSync(process.execPath, [cli, ...full], {
    env,
    encoding: 'utf8',
    input: opts.input ?? '',
    timeout: 30_000,
    uid: opts.uid,
    gid: opts.gid,
  });
  if (out.error) throw out.error;
  return { code: out.status, stdout: out.stdout, stderr: out.stderr };
}

/** 1.0.0, the release upgrades start from (main at this commit). */
export const RELEASE_1_0_0 = '3aa71fe';
export const haveRelease100 = spawnSync('git', ['-C', REPO, 'cat-file', '-e', `${RELEASE_1_0_0}^{commit}`]).status === 0;
let release100Cli: string | undefined;

/** Builds 1.0.0 from git once per test file (its sources, this checkout's node_modules); its CLI. */
export function buildRelease100(): string {
  if (release100Cli) return release100Cli;
  const { root } = makeRoot('release-1.0.0');
  const app = path.join(root, 'app');
  fs.mkdirSync(app);
  const archive = spawnSync('sh', ['-c', 'git -C "$1" archive "$2" | tar -x -C "$3"', 'sh', REPO, RELEASE_1_0_0, app], { encoding: 'utf8' });
  if (archive.status !== 0) throw new Error(`git archive ${RELEASE_1_0_0} failed: ${archive.stderr}`);
  fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(app, 'node_modules'));
  const tsc = spawnSync(process.execPath, [path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], { encoding: 'utf8' });
  if (tsc.status !== 0) throw new Error(`building ${RELEASE_1_0_0} failed:\n${tsc.stdout}${tsc.stderr}`);
  release100Cli = path.join(app, 'dist', 'cli.js');
  return release100Cli;
}

let publicCopy: string | undefined;

/** The CLI of an app copy that every user can read, made once per test file under a 0755 root. */
function publicCli(): string {
  if (!publicCopy || !fs.existsSync(publicCopy)) {
    const { root } = makeRoot();
    fs.chmodSync(root, 0o755);
    publicCopy = copyAppTo(path.join(root, 'app'));
  }
  return publicCopy;
}

/** Runs a program; returns its status and output (never throws on a non-zero exit). */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeout?: number } = {}) {
  // Without an env of its own a tool still gets a throwaway HOME: never the machine's real one.
  const env = opts.env ?? { PATH: TEST_PATH, HOME: makeRoot('tool-home').home, LANG: 'C.UTF-8' };
  const out = spawnSync(cmd, args, { encoding: 'utf8', env, cwd: opts.cwd, input: opts.input, timeout: opts.timeout ?? 20_000 });
  if (out.error) throw out.error;
  return { code: out.status, stdout: out.stdout, stderr: out.stderr };
}

/** Runs fn, expects it to throw an StfError, and returns that error. */
export function stfError(fn: () => unknown): StfError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StfError);
    return err as StfError;
  }
  throw new Error('expected an StfError, nothing was thrown');
}
