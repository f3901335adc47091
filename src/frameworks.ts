import * as fs from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { TOOL } from './context';
import { resolveWritePath } from './files';
import { tmuxConfFile } from './multiplexers/tmux';
import type { HomeEnv } from './targets';

/*
 * Frameworks: shell and tmux configurations people install from a git checkout. Their own
 * files are the framework's (an update is a `git pull`, which a local change blocks), and each
 * documents a place for the user's own settings. A part goes there, never into the
 * framework's files. Each is recognised by its documented structure, never by a name alone.
 */

/** Where one part goes when a framework owns the file it would otherwise get. */
export interface FrameworkPlace {
  /** The part (`--only` name) it concerns. */
  part: 'tmux' | 'zsh' | 'bash';
  framework: string;
  /** The file the part is written to instead; null: none (see `warning`). */
  path: string | null;
  /** The file is the tool's own (a drop-in the framework sources): created and deleted whole. */
  owned: boolean;
  /** Files the part would have gone to (and earlier versions wrote): any block of ours there is taken out. */
  instead: string[];
  /** Said in the plan: where the part goes and why. */
  why: string;
  /** Said as a warning when the part is not written at all. */
  warning?: string;
}

function readText(path: string): string | null {
  try {
    return fs.readFileSync(path, 'latin1');
  } catch {
    return null;
  }
}

const isDir = (path: string): boolean => fs.statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;

/**
 * The value of a shell assignment's right-hand side when it is a plain path: quotes, `~`,
 * `$HOME` and the variables in `vars` are resolved; anything else (a command substitution,
 * another variable) makes it unknown (null).
 */
export function staticPath(raw: string, home: string, vars: Record<string, string> = {}): string | null {
  let value = raw.trim().replace(/\s+#.*$/, '');
  const quoted = /^"([^"]*)"$/.exec(value) ?? /^'([^']*)'$/.exec(value);
  if (quoted) value = quoted[1];
  else if (/["'\s]/.test(value)) return null;
  if (value === '~' || value.startsWith('~/')) value = home + value.slice(1);
  const all: Record<string, string> = { HOME: home, ...vars };
  value = value.replace(/\$\{(\w+)\??\}|\$(\w+)/g, (m, a: string | undefined, b: string | undefined) => all[(a ?? b) as string] ?? m);
  if (/[$`\\]/.test(value) || !isAbsolute(value)) return null;
  return value.replace(/\/+$/, '') || '/';
}

/** The last `NAME=value` or `export NAME=value` in an rc file's text, as written. */
function lastAssignment(text: string, name: string): string | null {
  const re = new RegExp(`^[ \\t]*(?:export[ \\t]+)?${name}=(.*)$`, 'gm');
  let last: string | null = null;
  for (let m = re.exec(text); m; m = re.exec(text)) last = m[1];
  return last;
}

const tilde = (path: string, home: string): string => (path.startsWith(`${home}/`) ? `~${path.slice(home.length)}` : path);

/**
 * Oh my tmux! (gpakosz/.tmux): `~/.tmux.conf` is a symlink into its checkout (`~/.tmux`) and
 * is at the same time a shell script: its first line `# : << 'EOF'` opens a here-document that
 * hides the tmux lines from sh, `# EOF` ends it, and its bindings and start-up run
 * `cut -c3- ~/.tmux.conf | sh -s FUNCTION`. User settings go in `$TMUX_CONF.local`
 * (`~/.tmux.conf.local`, copied from the checkout's example), which it sources.
 */
export function ohMyTmux(he: HomeEnv, conf: string): FrameworkPlace | null {
  const text = readText(conf);
  if (text === null) return null;
  if (!/^# : << *(['"]?)EOF\1[ \t]*\r?\n/.test(text)) return null;
  if (!/cut -c3- \S+ \| sh -s _apply_configuration/.test(text)) return null;
  const local = `${conf}.local`;
  const own = resolveWritePath(conf);
  const checkout = dirname(own);
  if (own !== conf && resolveWritePath(local).startsWith(`${checkout}/`)) {
    // ~/.tmux.conf.local linked to the checkout's example instead of copied from it.
    return {
      part: 'tmux',
      framework: 'Oh my tmux!',
      path: null,
      owned: false,
      instead: [conf, local],
      why: `Oh my tmux!: ${tilde(local, he.home)} is its checkout's example`,
      warning:
        `tmux: ${tilde(local, he.home)} is a link to Oh my tmux!'s example in its checkout ${tilde(checkout, he.home)}, so the tmux part was not written. ` +
        `Oh my tmux! asks for a copy: 'cp --remove-destination ${resolveWritePath(local)} ${local}', then run '${TOOL} install' again.`,
    };
  }
  return {
    part: 'tmux',
    framework: 'Oh my tmux!',
    path: local,
    owned: false,
    instead: [conf],
    why: `Oh my tmux!: ${tilde(conf, he.home)}${own === conf ? '' : ` (${tilde(own, he.home)})`} is its own file and a script; user settings go here`,
  };
}

/**
 * oh-my-zsh: `~/.zshrc` (from its template) sets `ZSH`, then `source $ZSH/oh-my-zsh.sh`, which
 * sources every `$ZSH_CUSTOM/*.zsh` (default `$ZSH/custom`, git-ignored for user files): the
 * zsh part is a file of its own there, and `.zshrc` is left alone.
 */
export function ohMyZsh(he: HomeEnv, zshrc: string): FrameworkPlace | null {
  const text = readText(zshrc);
  if (text === null) return null;
  const sourced = /^[ \t]*(?:source|\.)[ \t]+["']?(\$\{?ZSH\}?|[^\s"'$]+)\/oh-my-zsh\.sh["']?[ \t]*(?:[;#].*)?$/m.exec(text);
  if (!sourced) return null;
  const before = text.slice(0, sourced.index);
  const zshRaw = sourced[1].startsWith('$') ? lastAssignment(before, 'ZSH') : sourced[1];
  const zshDir = zshRaw === null ? null : staticPath(zshRaw, he.home);
  if (zshDir === null) return null;
  const main = readText(join(zshDir, 'oh-my-zsh.sh'));
  if (main === null || !main.includes('"$ZSH_CUSTOM"/*.zsh')) return null;
  const customRaw = lastAssignment(before, 'ZSH_CUSTOM');
  const custom = customRaw === null ? join(zshDir, 'custom') : staticPath(customRaw, he.home, { ZSH: zshDir });
  if (custom === null || !isDir(custom)) return null;
  return {
    part: 'zsh',
    framework: 'oh-my-zsh',
    path: join(custom, `${TOOL}.zsh`),
    owned: true,
    instead: [zshrc],
    why: `oh-my-zsh sources $ZSH_CUSTOM/*.zsh (${tilde(custom, he.home)}), its place for user settings; ${tilde(zshrc, he.home)} is left alone`,
  };
}

/**
 * prezto: its install links `~/.zshrc` (and the other zsh startup files) to `runcoms/` in its
 * checkout (`~/.zprezto`, with `init.zsh`), and it asks users to keep their changes in a fork
 * of it. Every zsh startup file is then a file of the checkout: nothing is written there.
 */
export function prezto(he: HomeEnv, zshrc: string): FrameworkPlace | null {
  let real: string;
  try {
    if (!fs.lstatSync(zshrc).isSymbolicLink()) return null;
    real = resolveWritePath(zshrc);
  } catch {
    return null;
  }
  const checkout = dirname(dirname(real));
  if (!real.endsWith('/runcoms/zshrc')) return null;
  const init = readText(join(checkout, 'init.zsh'));
  if (init === null || !/\bfunction pmodload\b/.test(init)) return null;
  const where = tilde(real, he.home);
  return {
    part: 'zsh',
    framework: 'prezto',
    path: null,
    owned: false,
    instead: [zshrc],
    why: `prezto: ${tilde(zshrc, he.home)} is its checkout's ${where}`,
    warning:
      `zsh: ${tilde(zshrc, he.home)} is prezto's ${where}, a file of its git checkout, so the zsh part was not written there ` +
      '(zsh panes still get the link from the tmux hooks and ~/.ssh/rc, without the heal at the prompt). ' +
      `Prezto keeps your changes in your fork: paste the output of '${TOOL} snippet zsh' at the end of ${where} and commit it there.`,
  };
}

/**
 * bash-it: `~/.bashrc` (from its template) sets `BASH_IT` and sources `$BASH_IT/bash_it.sh`,
 * which sources every `$BASH_IT_CUSTOM/*.bash` (default `$BASH_IT/custom`, git-ignored for
 * user files): the `.bashrc` part is a file of its own there.
 */
export function bashIt(he: HomeEnv, bashrc: string): FrameworkPlace | null {
  const text = readText(bashrc);
  if (text === null) return null;
  const sourced = /^[ \t]*(?:source|\.)[ \t]+["']?(\$\{?BASH_IT\??\}?|[^\s"'$]+)["']?\/bash_it\.sh["']?[ \t]*(?:[;#].*)?$/m.exec(text);
  if (!sourced) return null;
  const before = text.slice(0, sourced.index);
  const rootRaw = sourced[1].startsWith('$') ? lastAssignment(before, 'BASH_IT') : sourced[1];
  const root = rootRaw === null ? null : staticPath(rootRaw, he.home);
  if (root === null) return null;
  const main = readText(join(root, 'bash_it.sh'));
  if (main === null || !main.includes('BASH_IT_CUSTOM')) return null;
  const customRaw = lastAssignment(before, 'BASH_IT_CUSTOM');
  const custom = customRaw === null ? join(root, 'custom') : staticPath(customRaw, he.home, { BASH_IT: root });
  if (custom === null || !isDir(custom)) return null;
  return {
    part: 'bash',
    framework: 'bash-it',
    path: join(custom, `${TOOL}.bash`),
    owned: true,
    instead: [bashrc],
    why: `bash-it sources $BASH_IT_CUSTOM/*.bash (${tilde(custom, he.home)}), its place for user settings; ${tilde(bashrc, he.home)} is left alone`,
  };
}

export function tmuxFramework(he: HomeEnv): FrameworkPlace | null {
  return ohMyTmux(he, tmuxConfFile(he));
}

export function zshFramework(he: HomeEnv): FrameworkPlace | null {
  const zshrc = join(he.zdotdir, '.zshrc');
  return ohMyZsh(he, zshrc) ?? prezto(he, zshrc);
}

export function bashFramework(he: HomeEnv): FrameworkPlace | null {
  return bashIt(he, join(he.home, '.bashrc'));
}

/**
 * The files that decide, in a home installed as the frameworks' READMEs say, where the parts go:
 * for the Ansible probe (src/fleet.ts), which mirrors only the files it names. A framework
 * elsewhere (ZSH_CUSTOM, BASH_IT set to another place) is not seen there: the part then goes
 * where it goes without the framework (see docs/dotfile-managers.md).
 */
export function frameworkProbePaths(he: HomeEnv): string[] {
  const { home } = he;
  return [
    join(home, '.tmux.conf.local'),
    join(he.xdgConfigHome, 'tmux', 'tmux.conf.local'),
    join(home, '.oh-my-zsh', 'oh-my-zsh.sh'),
    join(home, '.oh-my-zsh', 'custom', `${TOOL}.zsh`),
    join(home, '.zprezto', 'init.zsh'),
    join(home, '.bash_it', 'bash_it.sh'),
    join(home, '.bash_it', 'custom', `${TOOL}.bash`),
  ];
}

/** The frameworks found in this home, for the parts chosen. */
export function frameworkPlaces(he: HomeEnv, parts: readonly string[]): FrameworkPlace[] {
  const found: (FrameworkPlace | null)[] = [];
  if (parts.includes('tmux')) found.push(tmuxFramework(he));
  if (parts.includes('zsh')) found.push(zshFramework(he));
  if (parts.includes('bash')) found.push(bashFramework(he));
  return found.filter((p): p is FrameworkPlace => p !== null);
}
