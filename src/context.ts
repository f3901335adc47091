import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const TOOL = 'ssh-tmux-fix';
export const VERSION: string = JSON.parse(
  readFileSync(join(__dirname, '..', 'package.json'), 'utf8'),
).version;

/** The tmux hooks that run after update-environment has copied the client's socket. */
const TMUX_HOOKS = ['client-attached', 'session-created', 'client-session-changed'];
/** A fixed array index, so uninstall can remove exactly our hook and leave the user's. */
const TMUX_HOOK_INDEX = 7311;

/** The one object every template is rendered from. */
export interface RenderContext {
  name: string;
  version: string;
  home: string;
  linkDir: string;
  link: string;
  helper: string;
  /** The bash part, in one file sourced from each file bash reads. */
  bashInit: string;
  agentDir: string;
  /** Where sshd up to OpenSSH 10.0 puts forwarded sockets. */
  forwardedGlob: string;
  atomicLn: boolean;
  /** DISPLAY follows ssh -X/-Y logins into the panes (off with install --no-display). */
  display: boolean;
  /** Points at the record of the newest X11 login; written by ~/.ssh/rc. */
  displayLink: string;
  /** One record per X11 login, named by its sshd session pid. */
  displayDir: string;
  tmuxHooks: string[];
  tmuxHookIndex: number;
  tmuxSetSessionEnv: string;
}

export function linkDirOf(home: string): string {
  return join(home, '.ssh', TOOL);
}

export function linkOf(home: string): string {
  return join(linkDirOf(home), 'agent.sock');
}

export function displayLinkOf(home: string): string {
  return join(linkDirOf(home), 'display');
}

export function displayDirOf(home: string): string {
  return join(linkDirOf(home), 'displays');
}

export function buildContext(home: string, atomicLn = detectAtomicLn(), display = true): RenderContext {
  const linkDir = linkDirOf(home);
  const link = linkOf(home);
  return {
    name: TOOL,
    version: VERSION,
    home,
    linkDir,
    link,
    helper: join(linkDir, 'refresh.sh'),
    bashInit: join(linkDir, 'init.bash'),
    agentDir: join(home, '.ssh', 'agent'),
    forwardedGlob: '/tmp/ssh-*/agent.*',
    atomicLn,
    display,
    displayLink: displayLinkOf(home),
    displayDir: displayDirOf(home),
    tmuxHooks: TMUX_HOOKS,
    tmuxHookIndex: TMUX_HOOK_INDEX,
    tmuxSetSessionEnv: `set-environment SSH_AUTH_SOCK ${tmuxQuote(link)}`,
  };
}

/**
 * GNU ln from coreutils 9.1 on replaces a link with -sfn through a temporary name and a
 * rename (checked with strace); older or other ln implementations unlink first.
 */
export function detectAtomicLn(): boolean {
  return atomicLnOf(spawnSync('ln', ['--version'], { encoding: 'utf8' }).stdout ?? '');
}

/** Whether the ln that printed this `ln --version` replaces a link atomically. */
export function atomicLnOf(version: string): boolean {
  const match = /GNU coreutils\)\s+(\d+)\.(\d+)/.exec(version);
  if (!match) return false;
  const [major, minor] = [Number(match[1]), Number(match[2])];
  return major > 9 || (major === 9 && minor >= 1);
}

export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function fishQuote(s: string): string {
  return `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

/** tmux double quotes: escape what tmux would otherwise expand or end the string with. */
export function tmuxQuote(s: string): string {
  return `"${s.replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}
