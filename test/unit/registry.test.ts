/** The shell and multiplexer registries: what each entry feeds the planner, templates and doctor. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { hostname } from 'node:os';
import { buildContext } from '../../src/context';
import { MULTIPLEXERS, PANE_VARS } from '../../src/multiplexers';
import { copiesSshAuthSock, tmuxFindingsFrom } from '../../src/multiplexers/tmux';
import { render, TEMPLATES } from '../../src/render';
import { SHELLS, shellNamed } from '../../src/shells';
import { fishVersionFinding } from '../../src/shells/fish';
import { homeEnv } from '../../src/targets';
import { ensureBuilt, makeRoot, removeAllRoots, runCli, TEST_PATH } from './helpers';

beforeAll(ensureBuilt);
afterAll(removeAllRoots);

interface Report {
  findings: { id: string; level: string; message: string; fix?: string }[];
}

test('every registry entry names template files that exist, and every one is rendered', () => {
  for (const entry of [...SHELLS, ...MULTIPLEXERS]) {
    for (const [name, file] of Object.entries(entry.templates)) {
      expect(TEMPLATES[name]).toBe(file);
      expect(render(name, buildContext('/home/u', true)).length).toBeGreaterThan(0);
    }
  }
});

test('the pane test of each shell is fed from the multiplexer registry: true in a tmux pane and in a screen window, false outside', () => {
  expect(PANE_VARS).toEqual(['TMUX', 'STY']);
  const ctx = buildContext('/home/u', true);
  const run: Record<string, (test: string, env: Record<string, string>) => number | null> = {
    sh: (t, env) => spawnSync('sh', ['-c', `if ${t}; then exit 0; else exit 1; fi`], { env }).status,
    bash: (t, env) => spawnSync('bash', ['-c', `if ${t}; then exit 0; else exit 1; fi`], { env }).status,
    zsh: (t, env) => spawnSync('zsh', ['-fc', `if ${t}; then exit 0; else exit 1; fi`], { env }).status,
    fish: (t, env) => spawnSync('fish', ['--no-config', '-c', `if ${t}; exit 0; else; exit 1; end`], { env }).status,
  };
  for (const shell of SHELLS) {
    const t = shell.paneTest(ctx.paneVars);
    expect(render(Object.keys(shell.templates)[0], ctx)).toContain(shell.templates.sh ? t : `if ${t}`);
    expect([shell.name, run[shell.name](t, { PATH: TEST_PATH })]).toEqual([shell.name, 1]);
    expect([shell.name, run[shell.name](t, { PATH: TEST_PATH, TMUX: '/tmp/tmux-0/default,1,0' })]).toEqual([shell.name, 0]);
    expect([shell.name, run[shell.name](t, { PATH: TEST_PATH, STY: '123.work' })]).toEqual([shell.name, 0]);
  }
});

test('a trailing slash in HOME keeps XDG_CONFIG_HOME, and ZDOTDIR set only in ~/.zshenv is asked of zsh', () => {
  const { home } = makeRoot();
  fs.writeFileSync(path.join(home, '.zshenv'), 'echo noise from zshenv\nZDOTDIR="$HOME/zdot"\n');
  const he = homeEnv(home, { HOME: `${home}/`, XDG_CONFIG_HOME: '/elsewhere/config', PATH: TEST_PATH });
  expect(he.xdgConfigHome).toBe('/elsewhere/config');
  expect(he.zdotdir).toBe(path.join(home, 'zdot'));
  // Another user's home: their .zshenv is not run, nor our XDG_CONFIG_HOME used.
  const other = homeEnv(home, { HOME: '/root', XDG_CONFIG_HOME: '/elsewhere/config', PATH: TEST_PATH });
  expect([other.xdgConfigHome, other.zdotdir]).toEqual([path.join(home, '.config'), home]);

  expect(runCli(['install', '--yes', '--shell', 'zsh'], { home, env: { HOME: `${home}/` } }).code).toBe(0);
  expect(fs.readFileSync(path.join(home, 'zdot', '.zshrc'), 'utf8')).toContain('ssh-tmux-fix');
  expect(fs.existsSync(path.join(home, '.zshrc'))).toBe(false);
});

test("doctor's fix lines are in the login shell's syntax and set the link exactly (home named o'neil)", () => {
  const { home } = makeRoot("o'neil");
  const link = path.join(home, '.ssh', 'ssh-tmux-fix', hostname(), 'agent.sock');
  for (const shell of ['bash', 'zsh', 'fish']) {
    const report = JSON.parse(runCli(['doctor', '--json'], { home, env: { SHELL: `/usr/bin/${shell}` } }).stdout) as Report;
    const fix = report.findings.find((f) => f.id === 'shell-sock')?.fix ?? '';
    expect(fix).toBe(shellNamed(shell)!.exportLine('SSH_AUTH_SOCK', link));
    const print = shell === 'fish' ? '; printf %s $SSH_AUTH_SOCK' : '; printf %s "$SSH_AUTH_SOCK"';
    const out = spawnSync(shell, ['-c', fix + print], { env: { PATH: TEST_PATH }, encoding: 'utf8' });
    expect([shell, out.stdout]).toEqual([shell, link]);
  }
});

test('doctor gives no "export the link" advice to a shell that already uses the dangling link', () => {
  const { home } = makeRoot();
  const link = path.join(home, '.ssh', 'ssh-tmux-fix', hostname(), 'agent.sock');
  fs.mkdirSync(path.dirname(link), { recursive: true, mode: 0o700 });
  fs.symlinkSync('/tmp/ssh-gone/agent.1', link);
  // This host's link, and 1.0.0's (a relative link to it) that older panes name.
  const legacy = path.join(home, '.ssh', 'ssh-tmux-fix', 'agent.sock');
  fs.symlinkSync(`${hostname()}/agent.sock`, legacy);
  for (const used of [link, legacy]) {
    const report = JSON.parse(runCli(['doctor', '--json'], { home, env: { SSH_AUTH_SOCK: used, TMUX: '/nonexistent,1,0' } }).stdout) as Report;
    const sock = report.findings.find((f) => f.id === 'shell-sock')!;
    expect(sock).toMatchObject({ level: 'fail', message: expect.stringContaining('uses the agent link') });
    expect(sock.fix).not.toContain('SSH_AUTH_SOCK=');
  }
});

describe('tmux findings read the running server', () => {
  const link = "/home/o'neil/.ssh/ssh-tmux-fix/agent.sock";
  const hooks = ['client-attached', 'session-created', 'client-session-changed']
    .map((h) => `${h}[7311] set-environment SSH_AUTH_SOCK "${link}"`)
    .join('\n');
  const base = { global: `SSH_AUTH_SOCK=${link}`, session: '', hooks, updates: 'DISPLAY\nSSH_AUTH_SOCK' };
  const quote = shellNamed('bash')!.quote;
  const find = (r: typeof base, id: string) => tmuxFindingsFrom(r, link, quote).find((f) => f.id === id);

  test('all three hooks set: ok, whether tmux shows the value quoted or not', () => {
    expect(find(base, 'tmux-hooks')).toMatchObject({ level: 'ok' });
    const plain = '/home/u/.ssh/ssh-tmux-fix/agent.sock';
    const unquoted = base.hooks.split('\n').map((l) => l.replace(/".*"$/, plain)).join('\n');
    expect(tmuxFindingsFrom({ ...base, global: `SSH_AUTH_SOCK=${plain}`, hooks: unquoted }, plain, quote).find((f) => f.id === 'tmux-hooks')).toMatchObject({ level: 'ok' });
    // Our index holding another command is not our hook.
    expect(find({ ...base, hooks: base.hooks.replace(/SSH_AUTH_SOCK "/g, 'DISPLAY "') }, 'tmux-hooks')).toMatchObject({ level: 'fail' });
  });

  test('a server that never read the block (byobu reads ~/.byobu/.tmux.conf) fails, naming the missing hooks', () => {
    expect(find({ ...base, hooks: 'client-attached[7311] set-environment SSH_AUTH_SOCK "/other"' }, 'tmux-hooks')).toMatchObject({
      level: 'fail',
      message: expect.stringContaining('client-attached, session-created, client-session-changed'),
    });
    // Without update-environment copying the socket the missing hooks matter less.
    expect(find({ ...base, hooks: '', updates: 'DISPLAY' }, 'tmux-hooks')).toMatchObject({ level: 'warn' });
  });

  test("a session naming its own session's link (the client hook sets it) is fine; another session's link is not", () => {
    const own = "/home/o'neil/.ssh/ssh-tmux-fix/tmux.100.2.sock";
    const sessionFinding = (session: string) => tmuxFindingsFrom({ ...base, session: `SSH_AUTH_SOCK=${session}` }, link, quote, own).find((f) => f.id === 'tmux-session');
    expect(sessionFinding(own)).toBeUndefined();
    expect(sessionFinding("/home/o'neil/.ssh/ssh-tmux-fix/tmux.100.3.sock")).toMatchObject({ level: 'warn' });
  });

  test('a removed SSH_AUTH_SOCK is read as removed, and the fix line is quoted for the shell', () => {
    const session = find({ ...base, session: '-SSH_AUTH_SOCK' }, 'tmux-session')!;
    expect(session.message).toContain('SSH_AUTH_SOCK removed');
    expect(session.fix).toBe(`tmux set-environment SSH_AUTH_SOCK ${quote(link)}`);
    expect(find({ ...base, global: '-SSH_AUTH_SOCK' }, 'tmux-global')).toMatchObject({ level: 'fail', message: expect.stringContaining('removed') });
  });
});

test("byobu in use: the tmux block also goes into byobu's .tmux.conf, and uninstall takes it out byte for byte", () => {
  const { home } = makeRoot();
  const byobuConf = path.join(home, '.byobu', '.tmux.conf');
  fs.mkdirSync(path.dirname(byobuConf));
  fs.writeFileSync(byobuConf, 'set -g mouse on\n');
  expect(runCli(['install', '--yes', '--shell', 'bash'], { home }).code).toBe(0);
  const installed = fs.readFileSync(byobuConf, 'utf8');
  // One line that sources the install's own tmux file, the same as ~/.tmux.conf's.
  expect(installed).toContain(`source-file -q "${path.join(home, '.ssh', 'ssh-tmux-fix', 'tmux.conf')}"`);
  expect(fs.readFileSync(path.join(home, '.ssh', 'ssh-tmux-fix', 'tmux.conf'), 'utf8')).toContain('set-hook -g client-attached[7311]');
  expect(installed.startsWith('set -g mouse on\n')).toBe(true);
  const body = (text: string) => text.split('\n').filter((l) => !l.startsWith('# >>>')).join('\n');
  expect(body(installed)).toContain(body(fs.readFileSync(path.join(home, '.tmux.conf'), 'utf8')));
  expect(runCli(['uninstall', '--yes'], { home }).code).toBe(0);
  expect(fs.readFileSync(byobuConf, 'utf8')).toBe('set -g mouse on\n');

  // No byobu directory: none is created.
  const bare = makeRoot().home;
  expect(runCli(['install', '--yes', '--shell', 'bash'], { home: bare }).code).toBe(0);
  expect(fs.existsSync(path.join(bare, '.byobu'))).toBe(false);
});

test('fish before 3.5 (no path builtin) is a warning of its own; 3.5 and later are not', () => {
  expect(fishVersionFinding('fish, version 3.4.1\n')).toEqual([expect.objectContaining({ id: 'fish-version', level: 'warn' })]);
  expect(fishVersionFinding('fish, version 3.5.0\n')).toEqual([]);
  expect(fishVersionFinding('fish, version 4.0.2\n')).toEqual([]);
});

test("a screen window on a login's own socket is told that screen hands no window a new login's socket", async () => {
  const { home } = makeRoot();
  const sock = path.join(home, 'raw.sock');
  const server = net.createServer().listen(sock);
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const doctor = (env: Record<string, string>) =>
      (JSON.parse(runCli(['doctor', '--json'], { home, env: { SSH_AUTH_SOCK: sock, ...env } }).stdout) as Report).findings.find((f) => f.id === 'shell-sock')!;
    expect(doctor({ STY: '123.work' })).toMatchObject({ level: 'warn', message: expect.stringContaining("this screen pane uses") });
    expect(doctor({ STY: '123.work' }).message).toContain("screen gives no pane a new login's socket");
    expect(doctor({ TMUX: '/nonexistent,1,0' }).message).not.toContain('gives no pane');
  } finally {
    server.close();
  }
});

describe("update-environment read as tmux reads it (each entry an fnmatch pattern)", () => {
  test.each<[string, boolean]>([
    ['DISPLAY\nSSH_AUTH_SOCK\nXAUTHORITY', true],
    ['DISPLAY\n-SSH_AUTH_SOCK', false],
    ['-SSH_AUTH_SOCK', false],
    ['SSH_*', true],
    ['*', true],
    ['SSH_AUTH_SOC[KX]', true],
    ['SSH_AUTH_SOC[!K]', false],
    ['SSH_AUTH_SOCK?', false],
    ['', false],
    ['DISPLAY\nSSH_AUTH_SOCK_OTHER', false],
  ])('%j copies SSH_AUTH_SOCK: %s', (updates, copies) => {
    expect(copiesSshAuthSock(updates)).toBe(copies);
  });

  test('hooks missing where -SSH_AUTH_SOCK took the socket out of the copy: a warning that says so, not a failure', () => {
    const link = '/home/u/.ssh/ssh-tmux-fix/agent.sock';
    const quote = shellNamed('bash')!.quote;
    const r = { global: `SSH_AUTH_SOCK=${link}`, session: '', hooks: '', updates: 'DISPLAY\n-SSH_AUTH_SOCK' };
    expect(tmuxFindingsFrom(r, link, quote).find((f) => f.id === 'tmux-hooks')).toMatchObject({ level: 'warn', message: expect.not.stringContaining('copies') });
    expect(tmuxFindingsFrom({ ...r, updates: 'SSH_*' }, link, quote).find((f) => f.id === 'tmux-hooks')).toMatchObject({ level: 'fail' });
  });
});

test('doctor gives no "export the link" advice to a shell on the link spelled through a symlinked home', async () => {
  const { root, home } = makeRoot();
  const alias = path.join(root, 'alias');
  fs.symlinkSync(home, alias);
  const link = path.join(home, '.ssh', 'ssh-tmux-fix', 'agent.sock');
  const spelled = path.join(alias, '.ssh', 'ssh-tmux-fix', 'agent.sock');
  fs.mkdirSync(path.dirname(link), { recursive: true, mode: 0o700 });
  const sockPath = path.join(root, 'agent.1');
  // Closes each connection at once: ssh-add -l fails fast instead of waiting.
  const server = net.createServer((c) => c.destroy());
  await new Promise<void>((resolve) => server.listen(sockPath, resolve));
  try {
    fs.symlinkSync(sockPath, link);
    for (const env of <Record<string, string>[]>[{ SSH_AUTH_SOCK: spelled, TMUX: '/nonexistent,1,0' }, { SSH_AUTH_SOCK: link.replace('/.ssh/', '/.ssh//') }]) {
      const report = JSON.parse(runCli(['doctor', '--json'], { home, env }).stdout) as Report;
      const sock = report.findings.find((f) => f.id === 'shell-sock')!;
      expect([env.SSH_AUTH_SOCK, sock.fix ?? '']).toEqual([env.SSH_AUTH_SOCK, '']);
    }
    // Dangling: the fix is a login, not an export.
    fs.rmSync(link);
    fs.symlinkSync(path.join(root, 'gone'), link);
    const report = JSON.parse(runCli(['doctor', '--json'], { home, env: { SSH_AUTH_SOCK: spelled } }).stdout) as Report;
    expect(report.findings.find((f) => f.id === 'shell-sock')).toMatchObject({ level: 'fail', message: expect.stringContaining('uses the agent link') });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
