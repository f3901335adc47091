import { resolve } from 'node:path';
import type { Argv } from 'yargs';
import { recoverInterrupted } from '../apply';
import { runtimeTracesOf } from '../context';
import { homeOwner } from '../files';
import { unifiedDiff } from '../diff';
import { StfError } from '../errors';
import { Plan } from '../plan';
import { StateDir } from '../state';
import { MULTIPLEXERS } from '../multiplexers';
import { SHELL_NAMES } from '../shells';
import { HomeEnv, PARTS, Part, detectShells, homeEnv, stateDirOf } from '../targets';
import { SystemPaths, systemPaths } from '../system';
import { GlobalArgs, checkedHome, paint, withHome, withSystem } from './options';

export function withChangeOptions<T>(y: Argv<T>) {
  return withSystem(withHome(y))
    .option('dry-run', { type: 'boolean', default: false, describe: 'Print the unified diff of every change; touch nothing' })
    .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'Do not ask for confirmation' });
}

export function withForce<T>(y: Argv<T>) {
  return y.option('force', { type: 'boolean', default: false, describe: 'Replace or remove managed blocks even when edited by hand' });
}

/** The home to work on: it must exist, because writing into a mistyped path helps nobody. */
export function resolveHome(arg: string | undefined): { he: HomeEnv; state: StateDir } {
  const home = checkedHome(arg);
  return { he: homeEnv(home), state: new StateDir(stateDirOf(home), homeOwner(home)) };
}

/**
 * --system: the site-wide files, their backups in /var/lib, and '/' as the "home" the plan is
 * shown against. Root only, unless SSH_TMUX_FIX_ROOT puts every system path elsewhere.
 */
export function resolveSystem(args: GlobalArgs): { he: HomeEnv; state: StateDir; paths: SystemPaths } {
  if (args.home !== undefined) throw new StfError('--system and --home exclude each other: the system-wide install writes into no home', 2);
  const paths = systemPaths();
  if (paths.root === '' && process.getuid?.() !== 0) {
    throw new StfError('--system changes files under /etc and /usr/local/lib: it needs root\n  next step: run it with sudo', 2);
  }
  return { he: homeEnv('/', {}), state: new StateDir(paths.stateDir), paths };
}

/** --shell and --only decide which parts are installed. */
export function resolveParts(he: HomeEnv, shell: string | undefined, only: string | undefined, detected: string[] = detectShells()): Part[] {
  if (only !== undefined) {
    const parts = splitList(only);
    const unknown = parts.filter((p) => !(PARTS as readonly string[]).includes(p));
    if (unknown.length) throw new StfError(`--only: unknown part ${unknown.join(', ')}; choose from ${PARTS.join(', ')}`, 2);
    return parts as Part[];
  }
  const shells = shell === undefined ? [...detected, 'sh'] : splitList(shell);
  const allowed = [...SHELL_NAMES.filter((s) => s !== 'sh'), 'sh', 'none'];
  const unknown = shells.filter((s) => !allowed.includes(s));
  if (unknown.length) throw new StfError(`--shell: unknown shell ${unknown.join(', ')}; choose from ${allowed.join(', ')}`, 2);
  return ['ssh-rc', ...shells.filter((s) => s !== 'none'), ...MULTIPLEXERS.filter((m) => m.inUse(he)).map((m) => m.name)];
}

function splitList(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

export function tilde(path: string, home: string): string {
  return path === home || path.startsWith(`${home}/`) ? `~${path.slice(home.length)}` : path;
}

export function printWarnings(plan: Plan): void {
  for (const w of plan.warnings) process.stderr.write(`${paint('33', 'warning:')} ${w}\n`);
}

export function describePlan(plan: Plan): string {
  const home = plan.home;
  const rows = plan.createDirs.map((d) => `  mkdir   ${tilde(d.path, home)} (mode ${d.mode.toString(8)})`);
  for (const c of plan.changes) {
    const via = c.symlinkTarget !== null ? ` (through symlink to ${tilde(c.realPath, home)})` : '';
    rows.push(`  ${c.after === null ? 'delete ' : c.before === null ? 'create ' : 'patch  '} ${tilde(c.path, home)}: ${c.summary}${via}`);
  }
  return rows.join('\n');
}

export function printDiff(plan: Plan): void {
  for (const d of plan.createDirs) process.stdout.write(`mkdir -m ${d.mode.toString(8)} ${d.path}\n`);
  for (const c of plan.changes) process.stdout.write(Buffer.from(unifiedDiff(c.path, c.before, c.after), 'latin1'));
  if (plan.removeLink) {
    const traces = runtimeTracesOf(plan.home);
    for (const file of traces.files) process.stdout.write(`rm -f ${file}\n`);
    for (const dir of traces.dirs) process.stdout.write(`rm -rf ${dir}\n`);
  }
  for (const d of plan.removeDirs) process.stdout.write(`rmdir ${d} (if empty)\n`);
}

/** Asks on a terminal; without one, refuses unless --yes was given. */
export async function confirm(args: GlobalArgs, question: string): Promise<void> {
  if (args.yes) return;
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new StfError('refusing to change files without confirmation: there is no terminal to ask on.\n  next step: run again with --yes, or with --dry-run to see the changes first', 2);
  }
  // Loaded here: only a confirmation needs it, and it is costly to load at every start.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { createInterface } = require('node:readline/promises') as typeof import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new StfError('cancelled; nothing was changed', 2);
  } finally {
    rl.close();
  }
}

/** Live tmux servers and the agent link are only touched for the user's own home. */
export function isOwnHome(home: string): boolean {
  return process.env.HOME !== undefined && resolve(process.env.HOME) === home;
}

/** Undoes a run that was killed half-way, and says so; a dry run only reports it. */
export function recoverFirst(state: StateDir, dryRun: boolean | undefined): void {
  const interrupted = state.listSets().at(-1);
  if (interrupted?.status !== 'applying') return;
  if (dryRun) {
    process.stderr.write(`${paint('33', 'warning:')} an interrupted ${interrupted.action} (backup set ${interrupted.id}) will be undone first\n`);
    return;
  }
  recoverInterrupted(state);
  process.stderr.write(`${paint('33', 'warning:')} an interrupted ${interrupted.action} was undone first, from backup set ${interrupted.id}\n`);
}
