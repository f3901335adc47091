import { spawnSync } from '../spawn';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { RenderContext, isSessionLinkIn, linkDirOf, sessionLinkIn } from '../context';
import { sameEntry } from '../files';
import { Finding } from '../doctor';
import { tmuxFramework } from '../frameworks';
import { HomeEnv } from '../targets';
import { shQuote } from '../shells/sh';
import { Multiplexer } from './multiplexer';

/** The tmux hooks that run after update-environment has copied the client's socket. */
const HOOKS = ['client-attached', 'session-created', 'client-session-changed'];
/** A fixed array index, so uninstall can remove exactly our hook and leave the user's. */
const HOOK_INDEX = 7311;

/**
 * The hooks that tell the helper which client is typing (docs/how-it-works.md, "Two machines
 * attached at once"): it points the link, and the link of the client's session, at that client's
 * login's socket. client-active exists
 * from tmux 3.3 on; the block sets it only there (older tmux would show a config error).
 */
const CLIENT_HOOKS = ['client-attached', 'client-session-changed'];
const CLIENT_HOOKS_33 = ['client-active'];
const CLIENT_HOOK_INDEX = 7312;

/** tmux double quotes: escape what tmux would otherwise expand or end the string with. */
export function tmuxQuote(s: string): string {
  return `"${s.replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}

const setSessionEnv = (link: string): string => `set-environment SSH_AUTH_SOCK ${tmuxQuote(link)}`;

/** This host's link as a tmux format, expanded under -F (tmux 3.2+): a '#' in the path doubled. */
export function tmuxLinkFormat(linkDir: string): string {
  return `${linkDir.replace(/#/g, '##')}/#{host}/agent.sock`;
}

const setSessionEnvF = (format: string): string => `set-environment -F SSH_AUTH_SOCK ${tmuxQuote(format)}`;

/**
 * In the background, silent, and always exit 0 (run-shell reports a failure in the status line).
 * The client's tty names its login's socket; the server pid and session id name the session's link.
 */
const followClient = (helper: string): string =>
  `run-shell -b ${tmuxQuote(`/bin/sh ${shQuote(helper)} client '#{client_tty}' '#{pid}' '#{session_id}' >/dev/null 2>&1 || :`)}`;

/**
 * The install's own tmux file: the link and the hooks. The user's tmux config gets one line
 * that sources it with -q, so the config stays silent and inert where the install is missing.
 */
export function tmuxOwnFile(home: string): string {
  return join(linkDirOf(home), 'tmux.conf');
}

/** tmux reads ~/.tmux.conf, else $XDG_CONFIG_HOME/tmux/tmux.conf; we create ~/.tmux.conf. */
export function tmuxConfFile(he: HomeEnv): string {
  const classic = join(he.home, '.tmux.conf');
  const xdg = join(he.xdgConfigHome, 'tmux', 'tmux.conf');
  if (fs.existsSync(classic) || !fs.existsSync(xdg)) return classic;
  return xdg;
}

/** The user's running tmux servers: live sockets in tmux's socket directory. */
export function runningTmuxServers(env: NodeJS.ProcessEnv = process.env): string[] {
  const dir = join(env.TMUX_TMPDIR || '/tmp', `tmux-${process.getuid?.() ?? 0}`);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map((name) => join(dir, name))
    .filter((sock) => {
      try {
        return fs.lstatSync(sock).isSocket() && tmux(sock, ['list-sessions']).ok;
      } catch {
        return false;
      }
    });
}

function tmux(sock: string, args: string[]): { ok: boolean; stdout: string } {
  const out = spawnSync('tmux', ['-S', sock, ...args], { encoding: 'utf8', timeout: 5000 });
  return { ok: out.status === 0, stdout: out.stdout ?? '' };
}

/** The sessions whose SSH_AUTH_SOCK is a value `ours` accepts. */
function sessionsWith(sock: string, ours: (value: string) => boolean): string[] {
  return tmux(sock, ['list-sessions', '-F', '#{session_id}']).stdout.split('\n').filter((id) => {
    if (!id) return false;
    const line = tmux(sock, ['show-environment', '-t', id, 'SSH_AUTH_SOCK']).stdout.trim();
    return line.startsWith('SSH_AUTH_SOCK=') && ours(line.slice('SSH_AUTH_SOCK='.length));
  });
}

/** Gives running servers what the tmux block gives new ones, without a restart. */
function installIntoTmux(ctx: RenderContext): string[] {
  const servers = runningTmuxServers();
  for (const sock of servers) {
    // A server on this host: #{host} is this host, so the value is this host's link. tmux
    // older than 3.2 refuses -F: it gets 1.0.0's link, as the block gives it.
    const formats = tmux(sock, ['set-hook', '-g', `${HOOKS[0]}[${HOOK_INDEX}]`, setSessionEnvF(tmuxLinkFormat(ctx.linkDir))]).ok;
    const link = formats ? ctx.link : ctx.legacyLink;
    tmux(sock, ['set-environment', '-g', 'SSH_AUTH_SOCK', link]);
    for (const hook of HOOKS) {
      tmux(sock, ['set-hook', '-g', `${hook}[${HOOK_INDEX}]`, formats ? setSessionEnvF(tmuxLinkFormat(ctx.linkDir)) : setSessionEnv(link)]);
    }
    // client-active fails on a server older than 3.3: nothing to set there.
    for (const hook of [...CLIENT_HOOKS, ...CLIENT_HOOKS_33]) tmux(sock, ['set-hook', '-g', `${hook}[${CLIENT_HOOK_INDEX}]`, followClient(ctx.helper)]);
    for (const id of tmux(sock, ['list-sessions', '-F', '#{session_id}']).stdout.split('\n').filter(Boolean)) {
      tmux(sock, ['set-environment', '-t', id, 'SSH_AUTH_SOCK', link]);
    }
  }
  return servers.map((sock) => `Set the link and hooks in the running tmux server ${sock}`);
}

/** Takes back what installIntoTmux set, and only that. */
function uninstallFromTmux(ctx: RenderContext): string[] {
  const servers = runningTmuxServers();
  for (const sock of servers) {
    for (const hook of HOOKS) tmux(sock, ['set-hook', '-gu', `${hook}[${HOOK_INDEX}]`]);
    for (const hook of [...CLIENT_HOOKS, ...CLIENT_HOOKS_33]) tmux(sock, ['set-hook', '-gu', `${hook}[${CLIENT_HOOK_INDEX}]`]);
    for (const link of [ctx.link, ctx.legacyLink]) {
      if (tmux(sock, ['show-environment', '-g', 'SSH_AUTH_SOCK']).stdout.trim() === `SSH_AUTH_SOCK=${link}`) {
        tmux(sock, ['set-environment', '-gu', 'SSH_AUTH_SOCK']);
      }
    }
    // A session's environment holds this host's link, 1.0.0's, or (set by the client hook) the session's own.
    const ours = (value: string) => value === ctx.link || value === ctx.legacyLink || isSessionLinkIn(dirname(ctx.link), value);
    for (const id of sessionsWith(sock, ours)) tmux(sock, ['set-environment', '-t', id, '-u', 'SSH_AUTH_SOCK']);
  }
  return servers.map((sock) => `Took the link and hooks back from the running tmux server ${sock}`);
}

/** What doctor reads from the pane's tmux server. */
export interface TmuxReadout {
  /** `show-environment -g SSH_AUTH_SOCK`: NAME=value, -NAME (removed) or '' (unset). */
  global: string;
  /** The same for this session. */
  session: string;
  /** `show-hooks -g`, one hook a line. */
  hooks: string;
  /** `update-environment` of this session (`show-options -v`), else the global one (`-gv`): one fnmatch pattern a line. */
  updates: string;
}

/** The pane's own server: tmux finds it from $TMUX (or TMUX_TMPDIR) in the environment doctor was given. */
function readTmux(env: NodeJS.ProcessEnv): TmuxReadout {
  const show = (args: string[]) => spawnSync('tmux', args, { encoding: 'utf8', timeout: 5000, env }).stdout?.trim() ?? '';
  return {
    global: show(['show-environment', '-g', 'SSH_AUTH_SOCK']),
    session: show(['show-environment', 'SSH_AUTH_SOCK']),
    hooks: show(['show-hooks', '-g']),
    // A session option: a value set on the session wins over the global one.
    updates: show(['show-options', '-v', 'update-environment']) || show(['show-options', '-gv', 'update-environment']),
  };
}

/** fnmatch(3) without flags, as tmux's environ_update uses it: `*`, `?`, `[...]` (with `!`), `\x`. */
export function fnmatch(pattern: string, name: string): boolean {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') re += '[\\s\\S]*';
    else if (c === '?') re += '[\\s\\S]';
    else if (c === '\\' && i + 1 < pattern.length) re += escapeRe(pattern[++i]);
    else if (c === '[' && pattern.indexOf(']', i + 2) !== -1) {
      const end = pattern.indexOf(']', i + 2);
      let set = pattern.slice(i + 1, end);
      const negate = set.startsWith('!');
      if (negate) set = set.slice(1);
      re += `[${negate ? '^' : ''}${set.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`).test(name);
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/**
 * Whether attaching copies SSH_AUTH_SOCK: an entry of update-environment matches it (tmux
 * matches each entry with fnmatch). `-SSH_AUTH_SOCK` removes nothing in tmux: it is a pattern
 * that matches no name, so a list holding only that does not copy the socket.
 */
export function copiesSshAuthSock(updates: string): boolean {
  return updates.split('\n').some((pattern) => pattern !== '' && fnmatch(pattern, 'SSH_AUTH_SOCK'));
}

/** An environment line of tmux in words. */
function described(line: string): string {
  if (line === '') return 'no SSH_AUTH_SOCK';
  if (line === '-SSH_AUTH_SOCK') return 'SSH_AUTH_SOCK removed (the attaching client had none)';
  return line;
}

/**
 * Whether a `show-hooks -g` line is our hook setting the link: the per-host format under -F
 * (tmux 3.2+), or a plain path (1.0.0's link on older tmux); tmux quotes the value only when
 * it must.
 */
function hookSetsLink(line: string, hook: string, links: string[], format: string): boolean {
  for (const [flag, values] of [['-F ', [format]], ['', links]] as const) {
    const prefix = `${hook}[${HOOK_INDEX}] set-environment ${flag}SSH_AUTH_SOCK `;
    if (!line.startsWith(prefix)) continue;
    const value = line.slice(prefix.length);
    if (values.some((v) => value === v || value === tmuxQuote(v))) return true;
  }
  return false;
}

/** Doctor's tmux checks, from what the running server says (not from the config files). */
export function tmuxFindingsFrom(r: TmuxReadout, link: string, quote: (s: string) => string, sessionLink: string | null = null): Finding[] {
  const findings: Finding[] = [];
  // <dir>/<host>/agent.sock; tmux older than 3.2 holds 1.0.0's <dir>/agent.sock instead.
  const linkDir = dirname(dirname(link));
  const legacy = join(linkDir, 'agent.sock');
  const reload = 'run \'ssh-tmux-fix install\' (it sets them in running servers), or reload the config file that holds the block';
  // One of these links however it is spelled (a home reached through a symlinked directory).
  const holds = (line: string, links: string[]) => line.startsWith('SSH_AUTH_SOCK=') && links.some((l) => sameEntry(line.slice('SSH_AUTH_SOCK='.length), l));
  findings.push(
    holds(r.global, [link, legacy])
      ? { id: 'tmux-global', level: 'ok', message: 'tmux global environment holds the agent link' }
      : { id: 'tmux-global', level: 'fail', message: `tmux global environment holds ${described(r.global)}`, fix: `tmux set-environment -g SSH_AUTH_SOCK ${quote(link)}` },
  );
  // A session may also hold its own link: the client hook names it there, for what tmux starts without a shell.
  if (!holds(r.session, [link, legacy, ...(sessionLink ? [sessionLink] : [])]) && r.session !== '') {
    findings.push({ id: 'tmux-session', level: 'warn', message: `this tmux session's environment holds ${described(r.session)}; new windows get that`, fix: `tmux set-environment SSH_AUTH_SOCK ${quote(link)}` });
  }
  const hookLines = r.hooks.split('\n');
  const missing = HOOKS.filter((hook) => !hookLines.some((line) => hookSetsLink(line, hook, [link, legacy], tmuxLinkFormat(linkDir))));
  const copies = copiesSshAuthSock(r.updates);
  if (missing.length) {
    findings.push({
      id: 'tmux-hooks',
      level: copies ? 'fail' : 'warn',
      message: `this tmux server lacks the hooks ${missing.join(', ')}${copies ? ': update-environment copies each attaching login\'s own socket into the session, so new windows get a socket that dies with that login' : ''}`,
      fix: reload,
    });
  } else {
    findings.push({
      id: 'tmux-hooks',
      level: 'ok',
      message: copies
        ? 'update-environment copies SSH_AUTH_SOCK at attach; the hooks on this server put the link back after it'
        : 'the hooks are set on this server (update-environment does not copy SSH_AUTH_SOCK here)',
    });
  }
  return findings;
}

export const tmuxMultiplexer: Multiplexer = {
  name: 'tmux',
  paneVar: 'TMUX',
  copiesEnvironmentAtAttach: true,
  quote: { helper: 'tmuxq', quote: tmuxQuote },
  // tmux: the install's own file; tmux-rc: the one line in the user's config that sources it.
  templates: { tmux: 'tmux.conf.hbs', 'tmux-rc': 'tmux-rc.conf.hbs' },
  inUse: () => true,
  // Oh my tmux!'s ~/.tmux.conf is its own file (and a script): the line goes to its .local file.
  files: (he) => {
    const own = { path: tmuxOwnFile(he.home), template: 'tmux', owned: true };
    const framework = tmuxFramework(he);
    if (!framework) return [own, { path: tmuxConfFile(he), template: 'tmux-rc' }];
    return framework.path ? [own, { path: framework.path, template: 'tmux-rc', why: framework.why }] : [];
  },
  // Files tmux may have read when an earlier install ran, besides the one it reads now.
  formerFiles: (he) => [join(he.home, '.tmux.conf'), join(he.xdgConfigHome, 'tmux', 'tmux.conf')],
  templateContext: (ctx) => ({
    tmuxHooks: HOOKS,
    tmuxHookIndex: HOOK_INDEX,
    tmuxLinkFormat: tmuxLinkFormat(ctx.linkDir),
    tmuxSetSessionEnv: setSessionEnvF(tmuxLinkFormat(ctx.linkDir)),
    tmuxSetSessionEnvLegacy: setSessionEnv(ctx.legacyLink),
    tmuxClientHooks: CLIENT_HOOKS,
    tmuxClientHooks33: CLIENT_HOOKS_33,
    tmuxClientHookIndex: CLIENT_HOOK_INDEX,
    tmuxFollowClient: followClient(ctx.helper),
  }),
  applyLive: installIntoTmux,
  unapplyLive: uninstallFromTmux,
  findings: (link, env, quote) => tmuxFindingsFrom(readTmux(env), link, quote, sessionLinkIn(dirname(link), env.TMUX)),
};
