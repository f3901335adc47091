/**
 * Every way a tmux pane starts a shell reaches the hooks: login or not (a default-command),
 * whichever startup file the shell reads, with the user's own files left as they are. Real
 * bash, zsh and fish, started in an installed throwaway home with TMUX set.
 */
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { makeRoot, removeAllRoots, runCli } from '../unit/helpers';

let home: string;

beforeEach(() => {
  ({ home } = makeRoot());
});
afterEach(removeAllRoots);

function install(files: Record<string, string>): string {
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(join(home, rel, '..'), { recursive: true });
    fs.writeFileSync(join(home, rel), text);
  }
  const out = runCli(['install', '--yes', '--shell', 'bash,zsh,fish,sh'], { home });
  expect(out.code).toBe(0);
  return join(home, '.ssh', 'ssh-tmux-fix', hostname(), 'agent.sock');
}

/** The link of the pane's session: session 0 of the tmux server whose pid is 1 (TMUX below). */
const sessionLinkOf = (link: string) => join(link, '..', 'tmux.1.0.sock');

/** What a pane shell ends up with: its SSH_AUTH_SOCK and whether the heal hook is registered. */
function pane(shell: string, args: string[], probe: string): string {
  const out = spawnSync(shell, [...args, probe], {
    env: { PATH: process.env.PATH, HOME: home, TMUX: '/tmp/tmux-0/default,1,0', TERM: 'dumb', SSH_AUTH_SOCK: '/tmp/ssh-gone/agent.1' },
    encoding: 'utf8',
  });
  return out.stdout.trim();
}

const bashProbe = 'echo "$SSH_AUTH_SOCK@@$PROMPT_COMMAND@@$(trap -p DEBUG)"';

test.each([
  ['a login pane, ~/.profile only (not sourcing ~/.bashrc)', { '.profile': 'export EDITOR=vi\n' }, ['-lic']],
  ['a login pane, ~/.bash_profile not sourcing anything', { '.bash_profile': 'export EDITOR=vi\n', '.profile': 'echo never\n' }, ['-lic']],
  ['a non-login pane (default-command bash)', { '.bashrc': 'alias ll="ls -l"\n' }, ['-ic']],
])('bash, %s: the link and both hooks', (_what, files, args) => {
  const link = install(files);
  const [sock, promptCommand, trap] = pane('bash', args, bashProbe).split('@@');
  expect(sock).toBe(sessionLinkOf(link));
  expect(promptCommand).toContain('__stf_heal');
  expect(trap).toContain('__stf_preexec');
});

test('bash, ~/.bash_profile sourcing ~/.bashrc: hooked once, not twice', () => {
  install({ '.bash_profile': '. ~/.bashrc\n', '.bashrc': '' });
  const promptCommand = pane('bash', ['-lic'], 'echo "$PROMPT_COMMAND"');
  expect(promptCommand.match(/__stf_heal/g)).toHaveLength(1);
});

test.each([['-lic'], ['-ic']])('zsh %s: the link and the precmd/preexec hooks', (flag) => {
  const link = install({ '.zshrc': 'setopt no_beep\n' });
  const out = pane('zsh', [flag], 'echo "$SSH_AUTH_SOCK|${precmd_functions[*]}|${preexec_functions[*]}"');
  expect(out).toBe(`${sessionLinkOf(link)}|__stf_heal|__stf_heal`);
});

test.each([['-lic'], ['-ic']])('fish %s: the link and the prompt/preexec events', (flag) => {
  const link = install({ '.config/fish/config.fish': 'set -g fish_greeting\n' });
  const out = pane('fish', [flag], 'echo "$SSH_AUTH_SOCK|"(functions --handlers-type generic | string match -r "__stf_heal" | count)');
  expect(out).toBe(`${sessionLinkOf(link)}|2`);
});

test('sh (dash) login pane: the host link (sh has no prompt hook to keep a session link)', () => {
  const link = install({ '.profile': 'export EDITOR=vi\n' });
  expect(pane('sh', ['-lic'], 'echo "$SSH_AUTH_SOCK"')).toBe(link);
});
