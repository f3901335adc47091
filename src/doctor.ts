import { spawnSync } from './spawn';
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { findBlocks, isEdited } from './blocks';
import { dotfileRepoNotes } from './dotrepo';
import { TOOL, VERSION, displayLinkOf, legacyLinkOf, linkDirOf, linkOf, sessionLinkOf } from './context';
import { StfError } from './errors';
import { sameEntry } from './files';
import { askAgent } from './agent';
import { panesOf } from './multiplexers';
import { Shell, shellNamed } from './shells';
import { PARTS, HomeEnv, Target, targetsFor } from './targets';
import { SYSTEM_PARTS, SystemPaths, systemInstalled, systemPaths, systemTargets } from './system';

export type Level = 'ok' | 'warn' | 'fail';

/** One line of `doctor`: stable `id`s are the documented JSON schema. */
export interface Finding {
  id: string;
  level: Level;
  message: string;
  fix?: string;
}

/**
 * Forwarded by an SSH server, or a local ssh-agent's? The helper's rule (docs/how-it-works.md,
 * "Ranking the candidates"): sshd names /tmp/ssh-XXXX/agent.<pid> after its session process,
 * ssh-agent after its own first process, gone once it forked; 10.1's s.<H>.sshd.<R> against
 * s.<H>.agent.<R>; Dropbear's /tmp/dropbear-XXXX/auth-XXXX are all forwarded.
 */
export function isForwarded(sock: string, home: string): boolean {
  const openssh = /^\/tmp\/ssh-[^/]+\/agent\.(\d+)$/.exec(sock);
  if (openssh) {
    try {
      return /^sshd(-session)?$/.test(fs.readFileSync(`/proc/${openssh[1]}/comm`, 'utf8').trim());
    } catch {
      return false;
    }
  }
  if (/^\/tmp\/dropbear-[^/]+\/auth-[^/]+$/.test(sock)) return true;
  return dirname(sock) === join(home, '.ssh', 'agent') && /^s\.[^.]+\.sshd\./.test(basename(sock));
}

function isSocket(path: string): boolean {
  try {
    return fs.statSync(path).isSocket();
  } catch {
    return false;
  }
}

/** `blocks`: the home's block findings, when the caller has read them already (diagnose). */
export function installFindings(he: HomeEnv, paths: SystemPaths = systemPaths(), blocks = homeBlockFindings(he)): Finding[] {
  const [found, ...findings] = blocks;
  const system = systemInstalled(paths);
  if (found.level === 'ok') return [found, ...findings];
  if (system) return [{ id: 'installed', level: 'ok', message: `installed system-wide (${paths.libDir}), not in ${he.home}` }, ...findings];
  return [{ id: 'installed', level: 'fail', message: `${TOOL} is not installed in ${he.home}`, fix: `run '${TOOL} install'` }, ...findings];
}

/** `status --system`, `doctor --system`: the site-wide files. */
export function systemFindings(paths: SystemPaths = systemPaths()): Finding[] {
  const findings = blockFindings(systemTargets(paths, SYSTEM_PARTS));
  if (findings[0].level === 'fail') findings[0] = { id: 'installed', level: 'fail', message: `${TOOL} is not installed system-wide`, fix: `run 'sudo ${TOOL} install --system'` };
  return findings;
}

/**
 * Which install a login of this home gets: per user, system-wide, or both. Both: the site-wide
 * files run first (/etc/bash.bashrc before ~/.bashrc, /etc/zsh/zshrc before ~/.zshrc) and their
 * part sets __stf_hooked, so the user's own part hooks nothing; fish reads only the user's
 * conf.d file of the same name; tmux's hooks share one index, so the second replaces the first;
 * sshd runs ~/.ssh/rc instead of /etc/ssh/sshrc. Both compute the same link.
 */
export function modeFinding(he: HomeEnv, paths: SystemPaths = systemPaths(), blocks = homeBlockFindings(he)): Finding | null {
  const perUser = blocks[0].level === 'ok';
  const system = systemInstalled(paths);
  if (!system) return perUser ? { id: 'install-mode', level: 'ok', message: `the per-user install in ${he.home} is in effect` } : null;
  const rc = join(he.home, '.ssh', 'rc');
  let ownRc = false;
  try {
    ownRc = !fs.readFileSync(rc, 'latin1').includes(`# >>> ${TOOL} `);
  } catch {
    // no ~/.ssh/rc: sshd runs /etc/ssh/sshrc
  }
  const findings: Finding[] = [];
  if (perUser) {
    findings.push({
      id: 'install-mode',
      level: 'ok',
      message: `both installs are here, per user (${he.home}) and system-wide (${paths.libDir}): the shells hook once (bash and zsh run the system-wide part, fish your conf.d file, sshd your ~/.ssh/rc); both keep the same link`,
    });
  } else {
    findings.push({ id: 'install-mode', level: 'ok', message: `the system-wide install (${paths.libDir}) is in effect for this home` });
  }
  if (ownRc) {
    return {
      id: 'install-mode',
      level: 'warn',
      message: `${findings[0].message}; but sshd runs your own ~/.ssh/rc instead of ${paths.sshrc}: your login shell refreshes the link instead (a login without a shell, such as scp or git, does not; DISPLAY is not recorded for tmux panes)`,
      fix: `add the line '. ${join(paths.libDir, 'refresh.sh')}' to ~/.ssh/rc, or run '${TOOL} install --only ssh-rc'`,
    };
  }
  return findings[0];
}

function homeBlockFindings(he: HomeEnv): Finding[] {
  return blockFindings(targetsFor(he, PARTS));
}

/**
 * The first finding says whether any block was found ('installed'); then one per problem.
 * `withBlock` collects the targets that hold one; `checkEdits` false leaves out hashing each
 * block for hand edits (status: node:crypto alone costs it ~8% of node's start).
 */
function blockFindings<T extends { path: string }>(targets: T[], withBlock: T[] = [], checkEdits = true): Finding[] {
  const found: string[] = [];
  const findings: Finding[] = [];
  for (const target of targets) {
    let content: string;
    try {
      content = fs.readFileSync(target.path).toString('latin1');
    } catch {
      continue;
    }
    try {
      const blocks = findBlocks(content, target.path);
      if (blocks.length > 0) withBlock.push(target);
      for (const block of blocks) {
        found.push(`${target.path} (${block.version})`);
        if (checkEdits && isEdited(content, block)) {
          findings.push({
            id: 'block-edited',
            level: 'warn',
            message: `${target.path}: the ${TOOL} block (lines ${block.beginLine}-${block.endLine}) was edited by hand`,
            fix: `move your edits outside the block, then run '${TOOL} install --force'`,
          });
        }
        if (block.version !== VERSION) {
          findings.push({ id: 'block-version', level: 'warn', message: `${target.path} holds the block of version ${block.version}, this is ${VERSION}`, fix: `run '${TOOL} install'` });
        }
      }
    } catch (err) {
      findings.push({ id: 'block-broken', level: 'fail', message: (err as StfError).message.split('\n')[0], fix: 'repair the marker lines by hand' });
    }
  }
  findings.unshift(
    found.length ? { id: 'installed', level: 'ok', message: `installed in ${found.join(', ')}` } : { id: 'installed', level: 'fail', message: `${TOOL} is not installed` },
  );
  return findings;
}

export async function linkFindings(home: string): Promise<Finding[]> {
  const link = linkOf(home);
  let target: string;
  try {
    target = fs.readlinkSync(link);
  } catch {
    return [{ id: 'link', level: 'warn', message: `no agent link at ${link} yet`, fix: 'log in with agent forwarding (ssh -A); the login creates it' }];
  }
  if (!isSocket(link)) {
    return [{ id: 'link', level: 'fail', message: `the agent link points to ${target}, which is gone (its connection closed)`, fix: 'log in again with ssh -A, or run any command in a tmux pane: the prompt hook heals it' }];
  }
  const answer = await askAgent(link);
  if (answer === 'keys') return [{ id: 'link', level: 'ok', message: `the agent link reaches an agent with keys (${target})` }];
  if (answer === 'no-keys' && !isForwarded(target, home)) {
    // A local ssh-agent (a shell plugin's): ssh-add on the laptop would change nothing here.
    return [{
      id: 'link',
      level: 'warn',
      message: `the agent link reaches a local ssh-agent on this host that holds no keys (${target}), not a forwarded one`,
      fix: 'log in with ssh -A from the machine that holds your keys (the link moves to that login), or add a key to this agent with ssh-add here',
    }];
  }
  if (answer === 'no-keys') return [{ id: 'link', level: 'warn', message: `the agent link reaches an agent that holds no keys (${target})`, fix: 'run ssh-add on your own machine' }];
  return [{ id: 'link', level: 'fail', message: `no agent answers on the agent link (${target})`, fix: 'log in again with ssh -A' }];
}

/** The login shell's registry entry (sh's syntax when it is none of them). */
function loginShell(env: NodeJS.ProcessEnv): Shell {
  return shellNamed(basename(env.SHELL ?? '')) ?? shellNamed('sh')!;
}

export async function shellFindings(he: HomeEnv, env: NodeJS.ProcessEnv = process.env): Promise<Finding[]> {
  const hostLink = linkOf(he.home);
  // A shell in a tmux pane names its session's link (which reaches the host's link unless a
  // client of its own points it elsewhere).
  const sessionLink = sessionLinkOf(he.home, env.TMUX);
  const sock = env.SSH_AUTH_SOCK;
  const shell = loginShell(env);
  const panes = panesOf(env);
  const pane = panes[0];
  const where = `${pane ? `inside ${panes.map((m) => m.name).join(' under ')}` : 'outside any multiplexer'}, ${env.SSH_CONNECTION ? 'over SSH' : 'not over SSH'}`;
  const findings: Finding[] = [{ id: 'session', level: 'ok', message: `this shell runs ${where}` }];
  // The fix names the host's link: a session's link exists only once a hooked shell or a
  // client hook made it, and a shell from before the install has no hook.
  const useLink = shell.exportLine('SSH_AUTH_SOCK', hostLink);
  // The link however it is spelled ($HOME through a symlinked directory): never told to export
  // it. A pane started under 1.0.0 (or by tmux older than 3.2) names 1.0.0's link, a relative
  // link to a host's link.
  const onLink = sock !== undefined && sock !== '' && [sessionLink, hostLink, legacyLinkOf(he.home)].some((l) => l !== null && sameEntry(sock, l));
  if (!sock) {
    findings.push({ id: 'shell-sock', level: 'warn', message: 'this shell has no SSH_AUTH_SOCK', fix: useLink });
  } else if (onLink && !isSocket(sock)) {
    // Exporting the link again would change nothing: the link itself needs a live socket.
    findings.push({ id: 'shell-sock', level: 'fail', message: 'this shell uses the agent link, which reaches no socket now', fix: 'log in again with ssh -A (or press Enter at a prompt in a pane: the hook heals the link from a live login)' });
  } else if (!isSocket(sock)) {
    findings.push({ id: 'shell-sock', level: 'fail', message: `this shell's SSH_AUTH_SOCK (${sock}) is stale: the socket is gone`, fix: useLink });
  } else if (pane && !onLink) {
    findings.push({ id: 'shell-sock', level: 'warn', message: `this ${pane.name} pane uses ${sock}, not the agent link; it breaks when that connection closes${pane.copiesEnvironmentAtAttach ? '' : ` (${pane.name} gives no pane a new login's socket)`}`, fix: useLink });
  } else if (!onLink && !isForwarded(sock, he.home) && (await askAgent(sock)) === 'no-keys' && isSocket(hostLink) && (await askAgent(hostLink)) === 'keys') {
    // oh-my-zsh's ssh-agent plugin, or eval $(ssh-agent) in an rc file: a keyless local agent
    // in this shell while the link reaches the forwarded keys (the link stays there).
    findings.push({
      id: 'shell-sock',
      level: 'warn',
      message: `this shell uses a local ssh-agent without keys (${sock}, started by a shell plugin or an rc file's ssh-agent), while the agent link reaches an agent with keys`,
      fix: useLink,
    });
  } else {
    findings.push({ id: 'shell-sock', level: 'ok', message: `this shell's SSH_AUTH_SOCK is live (${sock})` });
  }
  findings.push(...shell.findings(he));
  for (const mux of panes) findings.push(...mux.findings(hostLink, env, shell.quote));
  return findings;
}

export function permitUserRcFinding(): Finding {
  const out = spawnSync('sshd', ['-T'], { encoding: 'utf8', timeout: 5000, env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
  const match = /^permituserrc (\S+)/m.exec(out.stdout ?? '');
  if (!match) return { id: 'permituserrc', level: 'ok', message: 'unknown whether sshd runs ~/.ssh/rc (sshd -T needs root); login shells refresh the link either way' };
  return match[1] === 'no'
    ? { id: 'permituserrc', level: 'warn', message: 'sshd has PermitUserRC no: ~/.ssh/rc never runs; login shells refresh the link instead' }
    : { id: 'permituserrc', level: 'ok', message: 'sshd runs ~/.ssh/rc at every login' };
}

/** Once ~/.ssh/rc exists sshd stops calling xauth itself (sshd(8), SSHRC): the rc must. */
export function x11Finding(home: string): Finding {
  const rc = join(home, '.ssh', 'rc');
  let text: string;
  try {
    text = fs.readFileSync(rc, 'latin1');
  } catch {
    return { id: 'x11', level: 'ok', message: 'no ~/.ssh/rc: sshd runs xauth itself, ssh -X/-Y keep working' };
  }
  if (/\bxauth\b/.test(text)) return { id: 'x11', level: 'ok', message: '~/.ssh/rc feeds the X11 cookie to xauth: ssh -X/-Y keep working' };
  return {
    id: 'x11',
    level: 'warn',
    message: '~/.ssh/rc does not call xauth, so ssh -X/-Y get a DISPLAY without a cookie',
    fix: `run '${TOOL} install' (its rc block calls xauth as sshd(8) SSHRC shows)`,
  };
}

/** The line the helper carries when installed with --no-display. */
export const NO_DISPLAY_MARK = '# -- DISPLAY: not followed (installed with --no-display) --';

/** Whether the installed helper follows DISPLAY: true, false (--no-display), null (no helper, or one older than the feature). */
export function installedDisplay(home: string): boolean | null {
  return installedDisplayIn(join(linkDirOf(home), 'refresh.sh'));
}

/** The same for the helper at this path (the system-wide one). */
export function installedDisplayIn(path: string): boolean | null {
  let helper: string;
  try {
    helper = fs.readFileSync(path, 'latin1');
  } catch {
    return null;
  }
  if (helper.includes(NO_DISPLAY_MARK)) return false;
  return helper.includes('__stf_record_display') ? true : null;
}

/** The X11 login the display link names: its DISPLAY and whether its sshd session lives. */
function recordedDisplay(home: string): { display: string; pid: string; alive: boolean } | null {
  try {
    const [pid, display] = fs.readFileSync(displayLinkOf(home), 'utf8').split('\n');
    if (!/^\d+$/.test(pid) || !display) return null;
    return { display, pid, alive: fs.existsSync(`/proc/${pid}`) };
  } catch {
    return null;
  }
}

export function displayFinding(home: string, env: NodeJS.ProcessEnv = process.env): Finding | null {
  const installed = installedDisplay(home) ?? (systemInstalled() ? installedDisplayIn(join(systemPaths().libDir, 'refresh.sh')) : null);
  if (installed === false) {
    return { id: 'display', level: 'ok', message: 'DISPLAY following is off (installed with --no-display): tmux panes keep the DISPLAY they started with', fix: `run '${TOOL} install --display' to turn it on` };
  }
  if (installed === null) return null;
  const recorded = recordedDisplay(home);
  const latest = recorded ? `; the newest ssh -X login has ${recorded.display} (sshd ${recorded.pid}, ${recorded.alive ? 'alive' : 'gone'})` : '; no ssh -X login recorded yet';
  const shown = env.DISPLAY ?? '';
  if (env.TMUX && recorded?.alive && /^(localhost|unix):[1-9]\d+(\.\d+)?$/.test(shown) && shown !== recorded.display) {
    return { id: 'display', level: 'warn', message: `this pane's DISPLAY is ${shown}${latest}`, fix: 'press Enter at the prompt: the hook picks it up (or open the pane again)' };
  }
  return { id: 'display', level: 'ok', message: `DISPLAY follows ssh -X/-Y logins into tmux panes whose DISPLAY came from one${latest}` };
}

/**
 * `short` (status) leaves out what costs more than it tells at a glance: `sshd -T` (more than
 * the rest together), hashing the blocks for hand edits, and the notes on dotfile repositories.
 */
export async function diagnose(he: HomeEnv, env: NodeJS.ProcessEnv = process.env, short = false): Promise<Finding[]> {
  const display = displayFinding(he.home, env);
  // Each dotfile is found and read once: three findings need them.
  const paths = systemPaths();
  const withBlock: Target[] = [];
  const blocks = blockFindings(targetsFor(he, PARTS), withBlock, !short);
  const mode = modeFinding(he, paths, blocks);
  // Blocks in a git repository the home links into (stow, rcm) travel with it.
  const repoNotes = short ? [] : dotfileRepoNotes(he.home, withBlock).map((message): Finding => ({ id: 'dotfiles-repo', level: 'ok', message }));
  return [
    ...installFindings(he, paths, blocks),
    ...(mode ? [mode] : []),
    ...repoNotes,
    ...(await linkFindings(he.home)),
    ...(await shellFindings(he, env)),
    x11Finding(he.home),
    ...(display ? [display] : []),
    ...(short ? [] : [permitUserRcFinding()]),
  ];
}
