/**
 * Running tmux servers: install gives them the link and the hooks at once (no restart), and
 * uninstall takes back exactly that, leaving the user's own hooks and environment alone.
 * A private tmux server in a private TMUX_TMPDIR stands in for the user's.
 */
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { cliEnv, makeRoot, removeRoot, runCli } from '../unit/helpers';

let base: string;
let home: string;
let env: Record<string, string>;

beforeEach(() => {
  ({ root: base, home } = makeRoot('home'));
  env = cliEnv(home, { SSH_AUTH_SOCK: '/nonexistent/agent.1' });
});

afterEach(() => {
  tmux('kill-server');
  removeRoot(base);
});

function tmux(...args: string[]): string {
  return spawnSync('tmux', ['-f', '/dev/null', ...args], { env, encoding: 'utf8' }).stdout.trim();
}

function cli(...args: string[]): string {
  const out = runCli([...args, '--yes'], { home, env, homeArg: null });
  expect(out.stderr).toBe('');
  expect(out.code).toBe(0);
  return out.stdout;
}

test('install reaches a running server; uninstall takes back only what it set', () => {
  tmux('new-session', '-d', '-s', 'work', 'sleep 600');
  tmux('set-hook', '-g', 'client-attached[3]', 'display-message mine');
  const link = join(home, '.ssh', 'ssh-tmux-fix', hostname(), 'agent.sock');

  const server = join(env.TMUX_TMPDIR, `tmux-${process.getuid?.()}`, 'default');
  expect(cli('install', '--only', 'tmux')).not.toContain(server);
  cli('uninstall');
  // --verbose names each server it changed; quiet by default.
  expect(cli('install', '--only', 'tmux', '--verbose')).toContain(`Set the link and hooks in the running tmux server ${server}`);
  expect(tmux('show-environment', '-g', 'SSH_AUTH_SOCK')).toBe(`SSH_AUTH_SOCK=${link}`);
  expect(tmux('show-environment', '-t', 'work', 'SSH_AUTH_SOCK')).toBe(`SSH_AUTH_SOCK=${link}`);
  const hooks = tmux('show-hooks', '-g');
  for (const hook of ['client-attached', 'session-created', 'client-session-changed']) {
    // tmux 3.2+: #{host} expands to the hostname when the hook runs (each host its own link).
    expect(hooks).toContain(`${hook}[7311] set-environment -F SSH_AUTH_SOCK "${join(base, 'home', '.ssh', 'ssh-tmux-fix')}/#{host}/agent.sock"`);
  }
  tmux('new-window', '-t', 'work', `sh -c 'echo "$SSH_AUTH_SOCK" > ${base}/window-env; sleep 600'`);
  for (let i = 0; i < 100 && !fs.existsSync(join(base, 'window-env')); i += 1) spawnSync('sleep', ['0.05']);
  expect(fs.readFileSync(join(base, 'window-env'), 'utf8').trim()).toBe(link);

  // A session whose environment the client hook pointed at its own link, and one the user set.
  const sessionLink = join(home, '.ssh', 'ssh-tmux-fix', hostname(), 'tmux.4242.1.sock');
  tmux('new-session', '-d', '-s', 'hooked', 'sleep 600');
  tmux('set-environment', '-t', 'hooked', 'SSH_AUTH_SOCK', sessionLink);
  tmux('new-session', '-d', '-s', 'own', 'sleep 600');
  tmux('set-environment', '-t', 'own', 'SSH_AUTH_SOCK', '/home/elsewhere/agent.sock');

  expect(cli('uninstall', '--verbose')).toContain(`Took the link and hooks back from the running tmux server ${server}`);
  expect(tmux('show-hooks', '-g')).not.toContain('7311');
  expect(tmux('show-hooks', '-g')).toContain('client-attached[3] display-message mine');
  expect(tmux('show-environment', '-g', 'SSH_AUTH_SOCK')).not.toContain(link);
  expect(tmux('show-environment', '-t', 'work', 'SSH_AUTH_SOCK')).not.toContain(link);
  expect(tmux('show-environment', '-t', 'hooked', 'SSH_AUTH_SOCK')).not.toContain(sessionLink);
  expect(tmux('show-environment', '-t', 'own', 'SSH_AUTH_SOCK')).toBe('SSH_AUTH_SOCK=/home/elsewhere/agent.sock');
});
