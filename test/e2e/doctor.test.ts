/*
 * `ssh-tmux-fix doctor`: each finding checked against a real situation on a real sshd (not
 * installed, a live forwarded login, the login gone, a hand-edited block, a stale pane in tmux).
 */
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import {
  Agent,
  REPO_DIR,
  RunResult,
  Sshd,
  TestUser,
  appDir,
  authorize,
  createUser,
  describeE2E,
  diagnose,
  paneRun,
  runCli,
  sessionPane,
  sshLogin,
  stripAnsi,
  tmux,
  useSshdAndAgent,
} from './harness';

interface Finding {
  id: string;
  level: 'ok' | 'warn' | 'fail';
  message: string;
  fix?: string;
}

interface Report {
  version: string;
  ok: boolean;
  findings: Finding[];
}

const VERSION: string = JSON.parse(fs.readFileSync(path.join(REPO_DIR, 'package.json'), 'utf8')).version;

/** Parses `doctor --json` output and checks the documented shape and its agreement with the exit code. */
function parseReport(r: { code: number; stdout: string }, context: string): Report {
  let report: Report;
  try {
    report = JSON.parse(r.stdout);
  } catch (e) {
    throw new Error(`${context}: doctor --json did not print JSON (${e}):\n${r.stdout}`);
  }
  expect(Object.keys(report).sort()).toEqual(['findings', 'ok', 'version']);
  expect(report.version).toBe(VERSION);
  expect(typeof report.ok).toBe('boolean');
  expect(Array.isArray(report.findings)).toBe(true);
  expect(report.findings.length).toBeGreaterThan(0);
  for (const f of report.findings) {
    expect(typeof f.id).toBe('string');
    expect(f.id).toMatch(/^[a-z][a-z0-9-]*$/);
    expect(['ok', 'warn', 'fail']).toContain(f.level);
    expect(typeof f.message).toBe('string');
    expect(f.message.trim()).not.toBe('');
    for (const key of Object.keys(f)) expect(['id', 'level', 'message', 'fix']).toContain(key);
    if ('fix' in f) expect(typeof f.fix).toBe('string');
  }
  const anyFail = report.findings.some((f) => f.level === 'fail');
  expect(report.ok).toBe(!anyFail);
  if (r.code !== (anyFail ? 1 : 0)) {
    throw new Error(`${context}: exit code ${r.code} with ok=${report.ok}; expected ${anyFail ? 1 : 0}\n${r.stdout}`);
  }
  return report;
}

async function doctorJson(user: TestUser, context: string, args: string[] = ['doctor', '--json']): Promise<Report> {
  const r = await runCli(user, args);
  return parseReport(r, context);
}

/** The one finding with this id, with its level checked; the whole report in the failure message. */
function finding(report: Report, id: string, level: Finding['level'], context: string): Finding {
  const found = report.findings.filter((f) => f.id === id);
  if (found.length !== 1 || found[0].level !== level) {
    throw new Error(`${context}: expected one '${id}' finding at level ${level}, got:\n${JSON.stringify(report.findings, null, 2)}`);
  }
  return found[0];
}

async function install(user: TestUser): Promise<void> {
  const r: RunResult = await runCli(user, ['install', '--yes']);
  if (r.code !== 0) throw new Error(`install failed (${r.code}):\n${r.stdout}${r.stderr}`);
}

describeE2E('doctor against real situations', () => {
  let sshd: Sshd;
  let agent: Agent;
  useSshdAndAgent((started) => ({ sshd, agent } = started));

  function newUser(shell: 'bash' | 'zsh' | 'fish' = 'bash'): TestUser {
    const user = createUser(shell);
    authorize(user, agent.publicKey);
    return user;
  }

  test('(a) not installed: installed fail, exit 1', async () => {
    const user = newUser();
    try {
      const report = await doctorJson(user, 'not installed');
      const f = finding(report, 'installed', 'fail', 'not installed');
      expect(f.message).toContain(user.home);
      expect(f.fix).toMatch(/install/);
      expect(report.ok).toBe(false);
    } finally {
      user.cleanup();
    }
  }, 60_000);

  test('(b) a live forwarded login: link ok; (c) that login killed: link fail, exit 1; human output', async () => {
    const user = newUser();
    try {
      await install(user);
      const login = await sshLogin(user, sshd, agent);
      const sock = await login.serverSocket();

      const live = await doctorJson(user, 'live login');
      finding(live, 'installed', 'ok', 'live login');
      const link = finding(live, 'link', 'ok', 'live login');
      expect(link.message).toContain(sock);
      expect(live.findings.some((f) => f.level === 'fail')).toBe(false);
      // status gives the same report, less what needs sshd -T (left to doctor: it costs more than the rest).
      const status = await doctorJson(user, 'status alias', ['status', '--json']);
      expect(status.findings.map((f) => [f.id, f.level])).toEqual(live.findings.filter((f) => f.id !== 'permituserrc').map((f) => [f.id, f.level]));
      expect(live.findings.some((f) => f.id === 'permituserrc')).toBe(true);

      await login.kill();
      const gone = await doctorJson(user, 'login killed');
      const dead = finding(gone, 'link', 'fail', 'login killed');
      expect(dead.message).toContain(sock);
      expect(dead.fix).toBeDefined();
      expect(gone.ok).toBe(false);

      // The human form: one line per finding, marked ok / warn / fail, and the fix under a failure.
      const human = await runCli(user, ['doctor']);
      const text = stripAnsi(human.stdout);
      expect(human.code).toBe(1);
      expect(text).toMatch(/^ok\s+installed in /m);
      expect(text).toMatch(/^fail\s+the agent link points to .*gone/m);
      expect(text).toMatch(/^warn\s+this shell has no SSH_AUTH_SOCK/m);
      expect(text).toMatch(/^\s+fix: /m);
      expect(text).not.toMatch(/^\{/);
    } finally {
      user.cleanup();
    }
  }, 60_000);

  test('(d) a hand-edited block in ~/.bashrc: block-edited warn', async () => {
    const user = newUser();
    try {
      await install(user);
      const before = await doctorJson(user, 'fresh install');
      expect(before.findings.filter((f) => f.id === 'block-edited')).toEqual([]);

      const bashrc = path.join(user.home, '.bashrc');
      const lines = fs.readFileSync(bashrc, 'utf8').split('\n');
      const end = lines.findIndex((l) => l === '# <<< ssh-tmux-fix <<<');
      expect(end).toBeGreaterThan(0);
      lines.splice(end, 0, 'alias ll="ls -l"  # added by hand inside the block');
      fs.writeFileSync(bashrc, lines.join('\n'));

      const report = await doctorJson(user, 'edited block');
      const f = finding(report, 'block-edited', 'warn', 'edited block');
      expect(f.message).toContain(bashrc);
      expect(f.fix).toBeDefined();
      finding(report, 'installed', 'ok', 'edited block');
    } finally {
      user.cleanup();
    }
  }, 60_000);

  test('(e) inside a tmux pane from before the install, whose socket is gone: shell-sock fail', async () => {
    const user = newUser();
    try {
      // The pane is started before the install, so its shell keeps the first login's socket.
      const first = await sshLogin(user, sshd, agent);
      const stale = await first.serverSocket();
      first.type('tmux new-session -s main\r');
      const pane = await sessionPane(user, 'main');
      const inPane = await paneRun(user, pane, 'echo "$SSH_AUTH_SOCK"');
      expect(inPane.output).toBe(stale);

      await install(user);
      await first.kill();
      // A new login keeps the link itself fine, so only the pane's own socket is stale.
      const second = await sshLogin(user, sshd, agent);
      await second.serverSocket();

      const cli = path.join(appDir(), 'dist', 'cli.js');
      const err = path.join(user.workDir, 'doctor-in-pane.err');
      const r = await paneRun(user, pane, `${process.execPath} ${cli} doctor --json 2>${err}`);
      const context = 'doctor in the stale pane';
      if (!r.output.startsWith('{')) {
        throw new Error(`${context}: exit ${r.code}, output:\n${r.output}\nstderr: ${fs.readFileSync(err, 'utf8')}\n${await diagnose(user, sshd, [pane])}`);
      }
      const report = parseReport({ code: r.code, stdout: r.output }, context);
      const f = finding(report, 'shell-sock', 'fail', context);
      expect(f.message).toContain(stale);
      expect(f.fix).toContain(path.join(user.home, '.ssh', 'ssh-tmux-fix', hostname(), 'agent.sock'));
      expect(finding(report, 'session', 'ok', context).message).toMatch(/inside tmux/);
      // The install reached the running tmux server too.
      finding(report, 'tmux-global', 'ok', context);
      finding(report, 'link', 'ok', context);
      expect(report.ok).toBe(false);
      expect(r.code).toBe(1);
      expect(fs.readFileSync(err, 'utf8')).toBe('');
      await second.kill();
    } finally {
      user.cleanup();
    }
  }, 60_000);

  test('(e) inside a fish pane after the install, with a dead SSH_AUTH_SOCK exported by hand: shell-sock fail', async () => {
    const user = newUser('fish');
    try {
      await install(user);
      const login = await sshLogin(user, sshd, agent);
      await login.serverSocket();
      login.type('tmux new-session -s main\r');
      const pane = await sessionPane(user, 'main');
      const context = 'doctor in a fish pane with a dead export';

      // First the pane as installed: it uses the link, and doctor finds nothing to fail.
      const cli = path.join(appDir(), 'dist', 'cli.js');
      const good = await paneRun(user, pane, `${process.execPath} ${cli} doctor --json 2>/dev/null`);
      const goodReport = parseReport({ code: good.code, stdout: good.output }, `${context} (before the export)`);
      finding(goodReport, 'shell-sock', 'ok', `${context} (before the export)`);
      expect(goodReport.ok).toBe(true);

      const dead = path.join(user.workDir, 'gone', 'agent.sock');
      await tmux(user, ['send-keys', '-t', pane, '-l', `set -gx SSH_AUTH_SOCK ${dead}`]);
      await tmux(user, ['send-keys', '-t', pane, 'Enter']);
      const r = await paneRun(user, pane, `${process.execPath} ${cli} doctor --json 2>/dev/null`);
      const report = parseReport({ code: r.code, stdout: r.output }, context);
      const f = finding(report, 'shell-sock', 'fail', context);
      expect(f.message).toContain(dead);
      finding(report, 'link', 'ok', context);
      expect(r.code).toBe(1);
      await login.kill();
    } finally {
      user.cleanup();
    }
  }, 60_000);
});
