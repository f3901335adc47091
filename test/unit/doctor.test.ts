/** doctor's file-based findings, against real files in a throwaway home. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isForwarded } from '../../src/doctor';
import { hostname } from 'node:os';
import { ensureBuilt, makeRoot, removeAllRoots, runCli } from './helpers';

beforeAll(ensureBuilt);
afterAll(removeAllRoots);

interface Report {
  ok: boolean;
  findings: { id: string; level: string; message: string; fix?: string }[];
}

const x11 = (home: string) => (JSON.parse(runCli(['doctor', '--json'], { home }).stdout) as Report).findings.find((f) => f.id === 'x11');

test('an ~/.ssh/rc without xauth is a warning with its fix; the installed rc is ok', () => {
  const { home } = makeRoot();
  expect(x11(home)).toMatchObject({ level: 'ok', message: expect.stringContaining('no ~/.ssh/rc') });
  fs.mkdirSync(path.join(home, '.ssh'), { mode: 0o700 });
  fs.writeFileSync(path.join(home, '.ssh', 'rc'), 'ln -sf "$SSH_AUTH_SOCK" ~/.ssh/ssh_auth_sock\n');
  expect(x11(home)).toMatchObject({ level: 'warn', fix: expect.stringContaining('ssh-tmux-fix install') });
  expect(runCli(['install', '--yes', '--only', 'ssh-rc'], { home }).code).toBe(0);
  expect(x11(home)).toMatchObject({ level: 'ok', message: expect.stringContaining('feeds the X11 cookie') });
});

const display = (home: string) => (JSON.parse(runCli(['doctor', '--json'], { home }).stdout) as Report).findings.find((f) => f.id === 'display');
const initBash = (home: string) => fs.readFileSync(path.join(home, '.ssh', 'ssh-tmux-fix', 'init.bash'), 'utf8');

test('--no-display: no DISPLAY logic in the parts, doctor says so, an upgrade keeps the choice, --display turns it on', () => {
  const { home } = makeRoot();
  expect(runCli(['install', '--yes', '--shell', 'bash', '--no-display'], { home }).code).toBe(0);
  expect(initBash(home)).not.toContain('__stf_display_check');
  expect(initBash(home)).toContain('# -- DISPLAY: not followed (installed with --no-display) --');
  expect(display(home)).toMatchObject({ level: 'ok', message: expect.stringContaining('off (installed with --no-display)') });

  // Installing again without the option (an upgrade) keeps it off: nothing to change.
  const again = runCli(['install', '--yes', '--shell', 'bash'], { home });
  expect(again.code).toBe(0);
  expect(again.stdout).toContain('nothing to change');

  expect(runCli(['install', '--yes', '--shell', 'bash', '--display'], { home }).code).toBe(0);
  expect(initBash(home)).toContain('__stf_display_check');
  expect(display(home)).toMatchObject({ level: 'ok', message: expect.stringContaining('no ssh -X login recorded yet') });
});

test('doctor names the recorded X11 login; uninstall removes the DISPLAY link and the records', () => {
  const { home } = makeRoot();
  expect(runCli(['install', '--yes', '--shell', 'bash'], { home }).code).toBe(0);
  // This host's directory holds the DISPLAY link and records (sshd pids are per host).
  const linkDir = path.join(home, '.ssh', 'ssh-tmux-fix', hostname());
  fs.mkdirSync(path.join(linkDir, 'displays'), { recursive: true, mode: 0o700 });
  const record = path.join(linkDir, 'displays', String(process.pid));
  fs.writeFileSync(record, `${process.pid}\nlocalhost:11.0\n\n`);
  fs.symlinkSync(record, path.join(linkDir, 'display'));
  expect(display(home)).toMatchObject({ level: 'ok', message: expect.stringContaining(`localhost:11.0 (sshd ${process.pid}, alive)`) });
  // A pane of that home still on an older login's DISPLAY is told how it heals.
  const pane = JSON.parse(runCli(['doctor', '--json'], { home, env: { TMUX: '/tmp/tmux-0/default,1,0', DISPLAY: 'localhost:10.0' } }).stdout) as Report;
  expect(pane.findings.find((f) => f.id === 'display')).toMatchObject({ level: 'warn', message: expect.stringContaining("this pane's DISPLAY is localhost:10.0") });

  expect(runCli(['uninstall', '--yes'], { home }).code).toBe(0);
  expect(fs.existsSync(path.join(linkDir, 'display'))).toBe(false);
  expect(fs.existsSync(path.join(linkDir, 'displays'))).toBe(false);
  expect(fs.existsSync(path.dirname(linkDir))).toBe(false);
});

test('the agent link on a local ssh-agent without keys: doctor says so, and does not send the user to ssh-add on the laptop', () => {
  const { home } = makeRoot();
  const dir = fs.mkdtempSync('/tmp/ssh-stfunit');
  // ssh-agent's own layout: agent.<pid of its first process>, gone once it forked.
  const sock = path.join(dir, 'agent.4999999');
  const agent = spawnSync('ssh-agent', ['-a', sock], { encoding: 'utf8' });
  const pid = /SSH_AGENT_PID=(\d+)/.exec(agent.stdout)?.[1];
  try {
    fs.mkdirSync(path.join(home, '.ssh', 'ssh-tmux-fix', hostname()), { recursive: true, mode: 0o700 });
    fs.symlinkSync(sock, path.join(home, '.ssh', 'ssh-tmux-fix', hostname(), 'agent.sock'));
    const link = (JSON.parse(runCli(['doctor', '--json'], { home }).stdout) as Report).findings.find((f) => f.id === 'link');
    expect(link).toMatchObject({ level: 'warn', message: expect.stringContaining('a local ssh-agent on this host that holds no keys') });
    expect(link!.fix).not.toMatch(/your own machine/);
    expect(isForwarded(sock, home)).toBe(false);
    expect(isForwarded('/tmp/dropbear-620c2811/auth-7dcc087b-6', home)).toBe(true);
    expect(isForwarded(path.join(home, '.ssh', 'agent', 's.abcdefghij.sshd.xyz'), home)).toBe(true);
    expect(isForwarded(path.join(home, '.ssh', 'agent', 's.abcdefghij.agent.xyz'), home)).toBe(false);
  } finally {
    if (pid) process.kill(Number(pid));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('status is the short doctor: a hand edit and a version mismatch, doctor names both; status names the mismatch and still finds the install', () => {
  const { home } = makeRoot();
  expect(runCli(['install', '--yes', '--shell', 'bash'], { home }).code).toBe(0);
  const bashrc = path.join(home, '.bashrc');
  const text = fs.readFileSync(bashrc, 'utf8');
  fs.writeFileSync(bashrc, text.replace(/(# >>> ssh-tmux-fix )\S+( [^\n]*\n)/, '$10.9.0$2echo edited by hand\n'));
  const ids = (command: string) => (JSON.parse(runCli([command, '--json'], { home }).stdout) as Report).findings.map((f) => `${f.id}:${f.level}`);
  expect(ids('doctor')).toEqual(expect.arrayContaining(['installed:ok', 'block-edited:warn', 'block-version:warn']));
  // status hashes nothing (node:crypto would cost it ~8% of node's start): the edit is doctor's to find.
  expect(ids('status')).toEqual(expect.arrayContaining(['installed:ok', 'block-version:warn']));
  expect(ids('status')).not.toContain('block-edited:warn');
});
