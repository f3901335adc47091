import { existsSync } from 'node:fs';
import { basename, delimiter, join, resolve } from 'node:path';
import { TOOL, linkDirOf } from './context';
import { Placement } from './blocks';
import { MULTIPLEXERS, MULTIPLEXER_NAMES } from './multiplexers';
import { SHELLS, SHELL_NAMES } from './shells';
import { askZdotdir } from './shells/zsh';

/** The parts `--only` can pick; the helper comes with any of them. */
export const PARTS: readonly string[] = ['ssh-rc', ...SHELL_NAMES, ...MULTIPLEXER_NAMES];
export type Part = string;

/** One file the install writes a managed block into. */
export interface Target {
  path: string;
  template: string;
  placement: Placement;
  /** Mode for a file the install creates. */
  newMode: number;
  /** Whole file owned by the tool (helper, fish drop-in): created and deleted by it. */
  owned: boolean;
  /** Why the part goes to this file, when a framework decided it (src/frameworks.ts). */
  why?: string;
}

/** Environment that decides where shells and multiplexers look; only trusted for the user's own home. */
export interface HomeEnv {
  home: string;
  xdgConfigHome: string;
  zdotdir: string;
}

/** Whether env is the environment of the user whose home this is (a trailing slash in HOME is the same home). */
function isOwn(home: string, env: NodeJS.ProcessEnv): boolean {
  return env.HOME !== undefined && env.HOME !== '' && resolve(env.HOME) === resolve(home);
}

export function homeEnv(home: string, env: NodeJS.ProcessEnv = process.env): HomeEnv {
  const own = isOwn(home, env);
  let zdotdir: string | undefined;
  return {
    home,
    xdgConfigHome: (own && env.XDG_CONFIG_HOME) || join(home, '.config'),
    // Asked of zsh only when a zsh file is needed: it runs ~/.zshenv.
    get zdotdir() {
      zdotdir ??= own ? askZdotdir(home, env) : home;
      return zdotdir;
    },
  };
}

export function stateDirOf(home: string, env: NodeJS.ProcessEnv = process.env): string {
  return join((isOwn(home, env) && env.XDG_STATE_HOME) || join(home, '.local', 'state'), TOOL);
}

/** The shells on this machine (on PATH) plus the login shell. */
export function detectShells(env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs = (env.PATH ?? '/usr/bin:/bin').split(delimiter);
  const login = basename(env.SHELL ?? '');
  return SHELLS.filter((s) => s.detected && (s.name === login || dirs.some((d) => existsSync(join(d, s.name))))).map((s) => s.name);
}

const REGISTRY = [...SHELLS, ...MULTIPLEXERS];

/** Every file the install manages, for the parts chosen. Order is the order shown. */
export function targetsFor(he: HomeEnv, parts: readonly Part[]): Target[] {
  const { home } = he;
  const want = new Set(parts);
  const targets: Target[] = [
    { path: join(linkDirOf(home), 'refresh.sh'), template: 'helper', placement: 'append', newMode: 0o600, owned: true },
  ];
  const add = (path: string, template: string, owned = false, placement: Placement = 'append', why?: string) => {
    if (!targets.some((t) => t.path === path)) targets.push({ path, template, placement, newMode: 0o644, owned, ...(why ? { why } : {}) });
  };
  if (want.has('ssh-rc')) add(join(home, '.ssh', 'rc'), 'ssh-rc', false, 'top');
  for (const entry of REGISTRY) {
    if (!want.has(entry.name)) continue;
    for (const file of entry.files(he)) add(file.path, file.template, file.owned, file.placement, file.why);
  }
  return targets;
}

/** Files an install of any version may have written, besides those targetsFor(PARTS) names. */
export function formerFiles(he: HomeEnv): string[] {
  return REGISTRY.flatMap((entry) => entry.formerFiles(he));
}
