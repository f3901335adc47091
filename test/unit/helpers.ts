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

// ---------------------------------------------------------------------------------------------
// Tree snapshots

export type Entry =
  | { kind: 'file'; mode: number; data: Buffer }
  | { kind: 'dir'; mode: number }
  | { kind: 'link'; target: string }
  | { kind: 'other'; mode: number };

export type Tree = Map<string, Entry>;

/**
 * Every entry under `root` (not following symlinks), keyed by its path relative to root.
 * Absolute symlink targets inside root are written as <root>/..., so trees of two roots compare.
 * `exclude` drops those relative paths and everything below them.
 */
export function snapshot(root: string, exclude: string[] = []): Tree {
  const tree: Tree = new Map();
  const walk = (dir: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const abs = path.join(dir, name);
      const rel = path.relative(root, abs);
      if (exclude.some((e) => rel === e || rel.startsWith(`${e}/`))) continue;
      const st = fs.lstatSync(abs);
      if (st.isSymbolicLink()) {
        const target = fs.readlinkSync(abs);
        tree.set(rel, { kind: 'link', target: target.startsWith(`${root}/`) ? `<root>/${target.slice(root.length + 1)}` : target });
      } else if (st.isDirectory()) {
        tree.set(rel, { kind: 'dir', mode: st.mode & 0o7777 });
        walk(abs);
      } else if (st.isFile()) {
        tree.set(rel, { kind: 'file', mode: st.mode & 0o7777, data: fs.readFileSync(abs) });
      } else {
        tree.set(rel, { kind: 'other', mode: st.mode & 0o7777 });
      }
    }
  };
  walk(root);
  return tree;
}

function describeEntry(e: Entry | undefined): string {
  if (!e) return 'absent';
  switch (e.kind) {
    case 'file':
      return `file mode ${e.mode.toString(8)} ${e.data.length} bytes`;
    case 'dir':
      return `dir mode ${e.mode.toString(8)}`;
    case 'link':
      return `symlink -> ${e.target}`;
    default:
      return `special mode ${e.mode.toString(8)}`;
  }
}

function firstDifference(a: Buffer, b: Buffer): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i += 1;
  const show = (buf: Buffer) => JSON.stringify(buf.subarray(Math.max(0, i - 20), i + 40).toString('latin1'));
  return `first difference at byte ${i}: ${show(a)} vs ${show(b)}`;
}

/** Human-readable differences between two trees; [] when they are identical. */
export function treeDiff(actual: Tree, expected: Tree): string[] {
  const out: string[] = [];
  const keys = [...new Set([...actual.keys(), ...expected.keys()])].sort();
  for (const k of keys) {
    const a = actual.get(k);
    const e = expected.get(k);
    if (!a || !e || a.kind !== e.kind) {
      out.push(`${k}: actual ${describeEntry(a)}, expected ${describeEntry(e)}`);
      continue;
    }
    if (a.kind === 'link' && e.kind === 'link' && a.target !== e.target) out.push(`${k}: ${describeEntry(a)}, expected ${describeEntry(e)}`);
    if ((a.kind === 'dir' || a.kind === 'file' || a.kind === 'other') && a.mode !== (e as { mode: number }).mode) {
      out.push(`${k}: mode ${a.mode.toString(8)}, expected ${(e as { mode: number }).mode.toString(8)}`);
    }
    if (a.kind === 'file' && e.kind === 'file' && !a.data.equals(e.data)) {
      out.push(`${k}: ${a.data.length} bytes, expected ${e.data.length}; ${firstDifference(a.data, e.data)}`);
    }
  }
  return out;
}

/** Paths the tool may leave behind in a home: its state directory and the parents lock() made. */
export function stateExcludes(homeRel: string): string[] {
  const p = (s: string) => (homeRel ? path.join(homeRel, s) : s);
  return [p('.local/state/ssh-tmux-fix')];
}

/**
 * Removes `.local/state` and `.local` from a tree when they are empty directories there and
 * absent from `before`: lock() creates them with the state directory.
 */
export function dropStateParents(tree: Tree, before: Tree, homeRel: string): Tree {
  const out = new Map(tree);
  for (const rel of ['.local/state', '.local'].map((s) => (homeRel ? path.join(homeRel, s) : s))) {
    const hasChildren = [...out.keys()].some((k) => k.startsWith(`${rel}/`));
    if (!before.has(rel) && out.get(rel)?.kind === 'dir' && !hasChildren) out.delete(rel);
  }
  return out;
}

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

/** Builds dist/ when it is missing or older than src/ (other engineers change src/ meanwhile). */
export function ensureBuilt(): void {
  if (built) return;
  let stale = true;
  try {
    stale = fs.statSync(CLI).mtimeMs < newestMtime(path.join(REPO, 'src'));
  } catch {
    stale = true;
  }
  if (stale) {
    const out = spawnSync('npx', ['tsc', '-p', '.'], { cwd: REPO, encoding: 'utf8' });
    if (out.status !== 0) throw new Error(`npx tsc -p . failed:\n${out.stdout}\n${out.stderr}`);
  }
  built = true;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node dist/cli.js ...args --home home` with HOME set to the throwaway home, a PATH where
 * the shells are found, no XDG_* or ZDOTDIR from the outer environment, and TMUX_TMPDIR pointing
 * into the throwaway root so the CLI never sees (nor changes) a real tmux server.
 */
export function runCli(
  args: string[],
  opts: { home: string; env?: Record<string, string>; input?: string; homeArg?: string | null; uid?: number; gid?: number },
): CliResult {
  const tmuxTmp = path.join(path.dirname(opts.home), '.tmux-tmpdir');
  fs.mkdirSync(tmuxTmp, { recursive: true, mode: 0o700 });
  if (opts.uid !== undefined) fs.chownSync(tmuxTmp, opts.uid, opts.gid ?? opts.uid);
  const env: Record<string, string> = {
    HOME: opts.home,
    PATH: TEST_PATH,
    TMUX_TMPDIR: tmuxTmp,
    LANG: 'C.UTF-8',
    NO_COLOR: '1',
    ...opts.env,
  };
  const homeArg = opts.homeArg === undefined ? opts.home : opts.homeArg;
  const full = homeArg === null ? args : [...args, '--home', homeArg];
  // Another user cannot be assumed to reach the checkout (it may sit in a 0700 directory).
  const cli = opts.uid === undefined || opts.uid === process.getuid?.() ? CLI : publicCli();
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
