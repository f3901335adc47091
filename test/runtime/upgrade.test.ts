/*
 * Upgrading over 1.0.0 (commit 3aa71fe, built from this repository's history): the install
 * leaves one copy of each part (the tmux lines move from ~/.tmux.conf into the install's own
 * file, which the config's one line sources), a tmux server started from the upgraded config
 * holds the hooks once, and uninstall gives the home back byte for byte.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hostname } from 'node:os';
import { findBlocks } from '../../src/blocks';
import { tmuxOwnFile } from '../../src/multiplexers/tmux';
import {
  dropStateParents,
  TEST_PATH,
  buildRelease100,
  ensureBuilt,
  makeRoot,
  removeAllRoots,
  run,
  runCli,
  snapshot,
  stateExcludes,
  treeDiff,
} from '../unit/helpers';

let oldCli: string;

beforeAll(() => {
  ensureBuilt();
  oldCli = buildRelease100();
}, 120_000);
afterAll(removeAllRoots);

const runOld = (args: string[], home: string) => runCli(args, { home, cli: oldCli });

test('install over 1.0.0: one copy of each part, the tmux lines in the install\'s own file; uninstall gives the home back', () => {
  const { root, home } = makeRoot();
  const files: Record<string, string> = {
    '.bashrc': 'alias ll="ls -l"\n',
    '.profile': 'export EDITOR=vi\n',
    '.zshrc': 'setopt autocd\n',
    '.tmux.conf': 'set -g mouse on\n',
    '.config/fish/config.fish': 'set -g fish_greeting\n',
  };
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(home, rel)), { recursive: true });
    fs.writeFileSync(path.join(home, rel), text);
  }
  const before = snapshot(root, ['.tmux-tmpdir']);
  const shells = ['--shell', 'bash,zsh,fish,sh', '--yes'];

  const old = runOld(['install', ...shells], home);
  expect([old.code, old.stderr]).toEqual([0, '']);
  const oldTmux = fs.readFileSync(path.join(home, '.tmux.conf'), 'utf8');
  expect(oldTmux).toContain('set-hook -g client-attached[7311]');

  // 1.0.0's runtime made its one link at a login; its panes name it.
  const legacy = path.join(home, '.ssh', 'ssh-tmux-fix', 'agent.sock');
  fs.symlinkSync('/tmp/ssh-old/agent.4242', legacy);

  const now = runCli(['install', ...shells], { home });
  expect([now.code, now.stderr]).toEqual([0, '']);
  // This host's link took its target; the old link now follows this host's link.
  expect(fs.readlinkSync(legacy)).toBe(`${hostname()}/agent.sock`);
  expect(fs.readlinkSync(path.join(home, '.ssh', 'ssh-tmux-fix', hostname(), 'agent.sock'))).toBe('/tmp/ssh-old/agent.4242');
  const dotfiles = ['.bashrc', '.profile', '.zshrc', '.tmux.conf', '.ssh/rc', '.config/fish/conf.d/ssh-tmux-fix.fish'];
  for (const rel of dotfiles) {
    const text = fs.readFileSync(path.join(home, rel), 'latin1');
    expect([rel, findBlocks(text, rel).length]).toEqual([rel, 1]);
  }
  const tmuxConf = fs.readFileSync(path.join(home, '.tmux.conf'), 'utf8');
  expect(tmuxConf).not.toContain('set-hook');
  expect(tmuxConf).toContain(`source-file -q "${tmuxOwnFile(home)}"`);
  // Once per branch: tmux 3.2+ (this host's link, #{host}) and older tmux (1.0.0's link).
  expect(fs.readFileSync(tmuxOwnFile(home), 'utf8').match(/set-hook -g client-attached\[7311\] "set-environment -F/g)).toHaveLength(1);
  expect(fs.readFileSync(tmuxOwnFile(home), 'utf8').match(/set-hook -g client-attached\[7311\] "set-environment SSH/g)).toHaveLength(1);

  // A server started from the upgraded config: each hook once, the link in the environment.
  const sock = path.join(root, 'tmux.sock');
  const tmux = (...args: string[]) => run('tmux', ['-S', sock, ...args], { env: { PATH: TEST_PATH, HOME: home, TERM: 'xterm' } });
  try {
    expect(tmux('-f', path.join(home, '.tmux.conf'), 'new-session', '-d', 'sleep 30').code).toBe(0);
    const hooks = tmux('show-hooks', '-g').stdout.split('\n').filter((l) => l.includes('[7311]'));
    expect(hooks.map((l) => l.replace(/\[.*/, '')).sort()).toEqual(['client-attached', 'client-session-changed', 'session-created']);
    expect(tmux('show-environment', '-g', 'SSH_AUTH_SOCK').stdout).toBe(`SSH_AUTH_SOCK=${path.join(home, '.ssh', 'ssh-tmux-fix', hostname(), 'agent.sock')}\n`);
  } finally {
    tmux('kill-server');
  }

  const un = runCli(['uninstall', '--yes'], { home });
  expect([un.code, un.stderr]).toEqual([0, '']);
  const homeRel = path.relative(root, home);
  expect(treeDiff(dropStateParents(snapshot(root, ['.tmux-tmpdir', 'tmux.sock', ...stateExcludes(homeRel)]), before, homeRel), before)).toEqual([]);
}, 120_000);
