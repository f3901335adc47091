import { existsSync } from 'node:fs';
import { basename, delimiter, join } from 'node:path';
import { TOOL, linkDirOf } from './context';
import { Placement } from './blocks';
import { TemplateName } from './render';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];
/** The parts `--only` can pick; the helper comes with any of them. */
export const PARTS = ['ssh-rc', 'sh', 'bash', 'zsh', 'fish', 'tmux'] as const;
export type Part = (typeof PARTS)[number];

/** One file the install writes a managed block into. */
export interface Target {
  path: string;
  template: TemplateName;
  placement: Placement;
  /** Mode for a file the install creates. */
  newMode: number;
  /** Whole file owned by the tool (helper, fish drop-in): created and deleted by it. */
  owned: boolean;
}

/** Environment that decides where shells and tmux look; only trusted for the user's own home. */
export interface HomeEnv {
  home: string;
  xdgConfigHome: string;
  zdotdir: string;
}

export function homeEnv(home: string, env: NodeJS.ProcessEnv = process.env): HomeEnv {
  const own = env.HOME !== undefined && join(env.HOME) === join(home);
  return {
    home,
    xdgConfigHome: (own && env.XDG_CONFIG_HOME) || join(home, '.config'),
    zdotdir: (own && env.ZDOTDIR) || home,
  };
}

export function stateDirOf(home: string, env: NodeJS.ProcessEnv = process.env): string {
  const own = env.HOME !== undefined && join(env.HOME) === join(home);
  return join((own && env.XDG_STATE_HOME) || join(home, '.local', 'state'), TOOL);
}

/** bash reads the first of these that exists as a login shell. */
export function bashLoginFile(home: string): string {
  for (const name of ['.bash_profile', '.bash_login']) {
    if (existsSync(join(home, name))) return join(home, name);
  }
  return join(home, '.profile');
}

/** tmux reads ~/.tmux.conf, else $XDG_CONFIG_HOME/tmux/tmux.conf; we create ~/.tmux.conf. */
export function tmuxConfFile(he: HomeEnv): string {
  const classic = join(he.home, '.tmux.conf');
  const xdg = join(he.xdgConfigHome, 'tmux', 'tmux.conf');
  if (existsSync(classic) || !existsSync(xdg)) return classic;
  return xdg;
}

export function fishDropIn(he: HomeEnv): string {
  return join(he.xdgConfigHome, 'fish', 'conf.d', `${TOOL}.fish`);
}

/** The shells on this machine (on PATH) plus the login shell. */
export function detectShells(env: NodeJS.ProcessEnv = process.env): Shell[] {
  const dirs = (env.PATH ?? '/usr/bin:/bin').split(delimiter);
  const login = basename(env.SHELL ?? '');
  return SHELLS.filter((s) => s === login || dirs.some((d) => existsSync(join(d, s))));
}

/** Every file the install manages, for the parts chosen. Order is the order shown. */
export function targetsFor(he: HomeEnv, parts: readonly Part[]): Target[] {
  const { home } = he;
  const want = new Set(parts);
  const targets: Target[] = [
    { path: join(linkDirOf(home), 'refresh.sh'), template: 'helper', placement: 'append', newMode: 0o600, owned: true },
  ];
  const add = (path: string, template: TemplateName, owned = false, placement: Placement = 'append') => {
    if (!targets.some((t) => t.path === path)) targets.push({ path, template, placement, newMode: 0o644, owned });
  };
  if (want.has('ssh-rc')) add(join(home, '.ssh', 'rc'), 'ssh-rc', false, 'top');
  if (want.has('sh')) add(join(home, '.profile'), 'sh');
  if (want.has('bash')) {
    // One bash file, sourced from .bashrc and from the login file bash picks. When that is
    // ~/.profile, its POSIX block sources it under bash.
    add(join(linkDirOf(home), 'init.bash'), 'bash', true);
    add(join(home, '.bashrc'), 'bash-rc');
    const login = bashLoginFile(home);
    add(login, login.endsWith('.profile') ? 'sh' : 'bash-rc');
  }
  if (want.has('zsh')) add(join(he.zdotdir, '.zshrc'), 'zsh');
  if (want.has('fish')) add(fishDropIn(he), 'fish', true);
  if (want.has('tmux')) add(tmuxConfFile(he), 'tmux');
  return targets;
}
