import * as fs from 'node:fs';
import { join } from 'node:path';
import { RenderContext, TOOL, buildContext, detectAtomicLn } from './context';
import { StfError } from './errors';
import { Part, Target } from './targets';

/*
 * `install --system`: the site-wide files that sshd, the shells and tmux read, for every user
 * of the machine, and the shared runtime files in one system directory. Nothing is written into
 * a home by root: each user's link directory is made by the runtime at that user's login, and
 * every path under a home is computed at runtime from $HOME.
 *
 * SSH_TMUX_FIX_ROOT puts every system path under another directory (unit tests, image builds).
 */

export interface SystemPaths {
  /** '' for the machine itself. */
  root: string;
  /** The shared runtime files: helper, bash, zsh and tmux parts. */
  libDir: string;
  /** Backups and the install record. */
  stateDir: string;
  /** sshd(8) SSHRC: run for users without their own ~/.ssh/rc. */
  sshrc: string;
  profileD: string;
  bashrc: string;
  zshrc: string;
  fishConfD: string;
  tmuxConf: string;
}

/** The first of these that exists (the distribution's name for it), else the first. */
function firstExisting(root: string, names: string[]): string {
  return join(root, names.find((n) => fs.existsSync(join(root, n))) ?? names[0]);
}

/** The names distributions give the system bashrc and zshrc: Debian and Ubuntu, then Fedora and Arch. */
export const SYSTEM_BASHRC_NAMES = ['etc/bash.bashrc', 'etc/bashrc'];
export const SYSTEM_ZSHRC_NAMES = ['etc/zsh/zshrc', 'etc/zshrc'];

export function systemPaths(env: NodeJS.ProcessEnv = process.env): SystemPaths {
  const root = env.SSH_TMUX_FIX_ROOT ?? '';
  if (root !== '' && !root.startsWith('/')) throw new StfError(`SSH_TMUX_FIX_ROOT must be an absolute path (got ${root})`, 2);
  const at = (p: string): string => join(root || '/', p);
  return {
    root,
    libDir: at(`/usr/local/lib/${TOOL}`),
    stateDir: at(`/var/lib/${TOOL}`),
    sshrc: at('/etc/ssh/sshrc'),
    profileD: at(`/etc/profile.d/${TOOL}.sh`),
    bashrc: firstExisting(root || '/', SYSTEM_BASHRC_NAMES),
    zshrc: firstExisting(root || '/', SYSTEM_ZSHRC_NAMES),
    fishConfD: at(`/etc/fish/conf.d/${TOOL}.fish`),
    tmuxConf: at('/etc/tmux.conf'),
  };
}

/** Stands for the user's home in rendered system parts; replaced by $HOME, read at runtime. */
export const HOME_MARK = `/__${TOOL.replace(/-/g, '_')}_home__`;

export function buildSystemContext(paths: SystemPaths, atomicLn = detectAtomicLn(), display = true): RenderContext {
  return {
    ...buildContext(HOME_MARK, atomicLn, display),
    helper: join(paths.libDir, 'refresh.sh'),
    bashInit: join(paths.libDir, 'init.bash'),
    zshInit: join(paths.libDir, 'init.zsh'),
    tmuxInit: join(paths.libDir, 'tmux.conf'),
    system: true,
  };
}

/**
 * A rendered system part with the home computed at runtime: a quoted path that starts at the
 * home ('~/x' in sh, bash, zsh and fish; "~/x" in tmux, which expands $HOME in double-quoted
 * strings when it reads the file) starts with "$HOME" instead; a comment names $HOME.
 */
export function homeAtRuntime(text: string, name: string): string {
  const out = text
    .split(`'${HOME_MARK}`)
    .join(`"$HOME"'`)
    .split(`"${HOME_MARK}`)
    .join('"$HOME');
  const lines = out.split('\n');
  lines.forEach((line, i) => {
    if (line.includes(HOME_MARK) && !/^\s*#/.test(line)) {
      throw new Error(`template ${name}, line ${i + 1}: the home is used outside a quoted path or a comment: ${line}`);
    }
  });
  // Its files are removed by the system-wide uninstall.
  return lines.map((l) => l.split(HOME_MARK).join('$HOME')).join('\n').split(`${TOOL} uninstall'`).join(`${TOOL} uninstall --system'`);
}

/** Every system file the install manages, for the parts chosen; the helper comes with any. */
export function systemTargets(paths: SystemPaths, parts: readonly Part[]): Target[] {
  const want = new Set(parts);
  const t = (path: string, template: string, owned: boolean, placement: Target['placement'] = 'append'): Target => ({ path, template, placement, newMode: 0o644, owned });
  const targets: Target[] = [t(join(paths.libDir, 'refresh.sh'), 'helper', true)];
  if (want.has('ssh-rc')) targets.push(t(paths.sshrc, 'ssh-rc', false, 'top'));
  if (want.has('sh') || want.has('bash')) targets.push(t(paths.profileD, 'sh', true));
  if (want.has('bash')) targets.push(t(join(paths.libDir, 'init.bash'), 'bash', true), t(paths.bashrc, 'bash-rc', false));
  if (want.has('zsh')) targets.push(t(join(paths.libDir, 'init.zsh'), 'zsh', true), t(paths.zshrc, 'system-zsh-rc', false));
  if (want.has('fish')) targets.push(t(paths.fishConfD, 'fish', true));
  if (want.has('tmux')) targets.push(t(join(paths.libDir, 'tmux.conf'), 'tmux', true), t(paths.tmuxConf, 'system-tmux-rc', false));
  return targets;
}

/** The parts --system knows: screen and byobu keep no system file of theirs here. */
export const SYSTEM_PARTS: readonly Part[] = ['ssh-rc', 'sh', 'bash', 'zsh', 'fish', 'tmux'];

/** Whether this machine holds a system-wide install: the shared helper with our block. */
export function systemInstalled(paths: SystemPaths = systemPaths()): boolean {
  try {
    return fs.readFileSync(join(paths.libDir, 'refresh.sh'), 'latin1').includes(`# >>> ${TOOL} `);
  } catch {
    return false;
  }
}
