import { spawnSync } from './spawn';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PANE_VARS } from './multiplexers';

export const TOOL = 'ssh-tmux-fix';
export const VERSION: string = JSON.parse(
  readFileSync(join(__dirname, '..', 'package.json'), 'utf8'),
).version;

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
  /** Where Dropbear puts forwarded sockets (it runs no ~/.ssh/rc). */
  dropbearGlob: string;
  atomicLn: boolean;
  /** DISPLAY follows ssh -X/-Y logins into the panes (off with install --no-display). */
  display: boolean;
  /** Points at the record of the newest X11 login; written by ~/.ssh/rc. */
  displayLink: string;
  /** One record per X11 login, named by its sshd session pid. */
  displayDir: string;
  /** One file per interactive login's tty, holding its forwarded socket (tmux routes by client tty). */
  clientDir: string;
  /** Set in every multiplexer pane (TMUX, ...): a shell there uses the stable link. */
  paneVars: readonly string[];
  /** A system-wide install (install --system): every path under the home is computed at runtime from $HOME. */
  system: boolean;
  /** The zsh part a system-wide install sources from the site-wide zshrc ('' per user). */
  zshInit: string;
  /** The install's own tmux file, sourced (source-file -q) by the line in the tmux config. */
  tmuxInit: string;
  /**
   * The ~/.ssh/rc block is in a file the install created: it runs /etc/ssh/sshrc, which sshd
   * ran instead before the file existed (sshd(8), SSHRC). Set per file by the planner.
   */
  ownsRc: boolean;
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

/** Where interactive logins record their socket by tty, beside the link (see clientDir). */
export function clientDirOf(home: string): string {
  return join(dirname(linkOf(home)), 'clients');
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
    dropbearGlob: '/tmp/dropbear-*/auth-*',
    atomicLn,
    display,
    displayLink: displayLinkOf(home),
    displayDir: displayDirOf(home),
    clientDir: clientDirOf(home),
    paneVars: PANE_VARS,
    system: false,
    zshInit: '',
    tmuxInit: join(linkDir, 'tmux.conf'),
    ownsRc: false,
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
