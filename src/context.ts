import { spawnSync } from './spawn';
import { readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { TOOL, VERSION } from './identity';
import { PANE_VARS } from './multiplexers';

// Defined in identity.ts so that `--version` loads only that; most modules take them from here.
export { TOOL, VERSION };

/** The one object every template is rendered from. */
export interface RenderContext {
  name: string;
  version: string;
  home: string;
  /**
   * The install's directory: its own files, and one directory per host (a home shared by
   * several servers over NFS keeps a link per host). The templates add the host at runtime
   * (the hostname, read without a process), so that a login to one host never moves what
   * another host's panes reach.
   */
  linkDir: string;
  /** This host's agent link, for the CLI (the templates compute their host's). */
  link: string;
  /** 1.0.0's one link, <linkDir>/agent.sock: a relative link to a host's link (tmux < 3.2, 1.0 panes). */
  legacyLink: string;
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
  /** This host's: points at the record of the newest X11 login; written by ~/.ssh/rc. */
  displayLink: string;
  /** This host's: one record per X11 login, named by its sshd session pid. */
  displayDir: string;
  /** This host's: one file per interactive login's tty, holding its forwarded socket (tmux routes by client tty). */
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

/** This host's directory in the install's: its agent link, DISPLAY link and records, client records. */
export function hostDirOf(home: string, host = hostname()): string {
  return join(linkDirOf(home), host);
}

/** This host's agent link. */
export function linkOf(home: string, host = hostname()): string {
  return join(hostDirOf(home, host), 'agent.sock');
}

/**
 * The link of the tmux session a pane belongs to, named by the end of its $TMUX
 * ("<socket>,<server pid>,<session number>"); null outside tmux. The shells in tmux panes use it.
 */
export function sessionLinkOf(home: string, tmuxVar: string | undefined, host = hostname()): string | null {
  return sessionLinkIn(hostDirOf(home, host), tmuxVar);
}

/** The same, in a host's directory. */
export function sessionLinkIn(hostDir: string, tmuxVar: string | undefined): string | null {
  const m = /,(\d+),(\d+)$/.exec(tmuxVar ?? '');
  return m ? join(hostDir, `tmux.${m[1]}.${m[2]}.sock`) : null;
}

/** Whether `path` is the name of a tmux session's link in a host's directory (`tmux.<pid>.<n>.sock`). */
export function isSessionLinkIn(hostDir: string, path: string): boolean {
  return dirname(path) === hostDir && /^tmux\.\d+\.\d+\.sock$/.test(basename(path));
}

/** 1.0.0's one link per home; now a relative link to a host's link (`<host>/agent.sock`). */
export function legacyLinkOf(home: string): string {
  return join(linkDirOf(home), 'agent.sock');
}

export function displayLinkOf(home: string, host = hostname()): string {
  return join(hostDirOf(home, host), 'display');
}

export function displayDirOf(home: string, host = hostname()): string {
  return join(hostDirOf(home, host), 'displays');
}

/** Where interactive logins record their socket by tty, beside the link (see clientDir). */
export function clientDirOf(home: string, host = hostname()): string {
  return join(hostDirOf(home, host), 'clients');
}

/**
 * What the runtime made in a home, for uninstall: 1.0.0's link (now the relative one), the
 * DISPLAY link, records and client records of the one-link layout, and every host's directory
 * (all hosts of a shared home lose the install together).
 */
export function runtimeTracesOf(home: string): { files: string[]; dirs: string[] } {
  const top = linkDirOf(home);
  let hostDirs: string[] = [];
  try {
    hostDirs = readdirSync(top, { withFileTypes: true })
      .filter((e) => e.isDirectory() && e.name !== 'displays' && e.name !== 'clients')
      .map((e) => join(top, e.name))
      .sort();
  } catch {
    // No directory: the runtime made nothing.
  }
  return { files: [legacyLinkOf(home), join(top, 'display')], dirs: [join(top, 'displays'), join(top, 'clients'), ...hostDirs] };
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
    legacyLink: legacyLinkOf(home),
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
