/*
 * DISPLAY follows ssh -X logins into old tmux panes, with a real sshd, real ssh -X, xauth and
 * tmux (no X server: the DISPLAY variable and `xauth list "$DISPLAY"` are what is checked).
 * Login 1 starts tmux; login 2 arrives while login 1's sshd still holds its display (a
 * connection that dropped without sshd noticing yet), so it gets the next number, and
 * attaches: the old pane takes login 2's DISPLAY and cookie at its next command. Login 3 comes
 * and goes: the pane falls back to login 2, which is still alive. A pane started with the
 * local DISPLAY=:0 keeps it throughout.
 */
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import {
  Agent,
  Shell,
  SshSession,
  Sshd,
  TestUser,
  authorize,
  clientTail,
  createUser,
  describeE2E,
  listPanes,
  paneRun,
  runCli,
  sessionPane,
  sshLogin,
  stripAnsi,
  tmux,
  until,
  waitAttached,
  waitPaneReady,
  useSshdAndAgent,
} from './harness';

const SHELLS: Shell[] = ['bash', 'zsh', 'fish'];
// ssh -X on the system's OpenSSH. The version matrix (STF_EXPECT_OPENSSH set) uses -Y: there the
// 10.3p1 client, without a real X server to make an untrusted cookie with, set up no forwarding
// for -X at all (the session had no DISPLAY); sshd's side, the one under test, is the same.
const X11 = process.env.STF_EXPECT_OPENSSH ? 'Y' : 'X';

let typed = 0;

/** What `echo "$DISPLAY"; xauth list "$DISPLAY"` prints in an ssh session's own shell. */
async function loginDisplay(user: TestUser, session: SshSession): Promise<{ display: string; cookie: string }> {
  const f = path.join(user.workDir, `login-${++typed}`);
  session.type(`echo "$DISPLAY" >${f}.display; xauth list "$DISPLAY" >${f}.cookie 2>&1; echo done >${f}.done\r`);
  await until('the ssh session to print its DISPLAY', () => (fs.existsSync(`${f}.done`) ? true : undefined), 10_000, () =>
    stripAnsi(session.output()).slice(-2000),
  );
  const display = fs.readFileSync(`${f}.display`, 'utf8').trim();
  const cookie = fs.readFileSync(`${f}.cookie`, 'utf8').trim();
  expect(display).toMatch(/^localhost:\d+\.0$/);
  expect(cookie).toMatch(/MIT-MAGIC-COOKIE-1\s+[0-9a-f]{32}$/);
  return { display, cookie };
}

/** The same, in a pane, typed at its prompt (so its hooks run first). */
async function paneDisplay(user: TestUser, pane: string): Promise<{ display: string; cookie: string }> {
  const r = await paneRun(user, pane, 'echo "$DISPLAY"; xauth list "$DISPLAY" 2>&1');
  const [display, ...cookie] = r.output.split('\n');
  return { display: display.trim(), cookie: cookie.join('\n').trim() };
}

/** The pids holding the listening TCP socket of an X11 display (port 6000 + N), via /proc. */
function x11Listener(display: string): number[] {
  const port = (6000 + Number(/:(\d+)/.exec(display)![1])).toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local address, state 0A (LISTEN), inode
      if (f[1]?.endsWith(`:${port}`) && f[3] === '0A') inodes.add(f[9]);
    }
  }
  const pids: number[] = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1])) {
          pids.push(Number(pid));
          break;
        }
      } catch {
        // the fd closed meanwhile
      }
    }
  }
  return pids;
}

describeE2E('DISPLAY follows ssh -X logins into old tmux panes', () => {
  let sshd: Sshd;
  let agent: Agent;
  useSshdAndAgent((started) => ({ sshd, agent } = started));

  test.each(SHELLS)('%s: reconnect, the old pane takes the new DISPLAY and cookie; fallback; a local :0 is left alone', async (shell) => {
    const user = createUser(shell);
    authorize(user, agent.publicKey);
    const sessions: SshSession[] = [];
    try {
      const installed = await runCli(user, ['install', '--yes']);
      expect(installed.code).toBe(0);

      const first = await sshLogin(user, sshd, agent, { x11: X11 });
      sessions.push(first);
      const one = await loginDisplay(user, first);
      first.type('tmux new-session -s main\r');
      const oldPane = await sessionPane(user, 'main');
      const before = new Set(await listPanes(user));
      expect((await tmux(user, ['new-window', '-d', '-t', 'main', '-e', 'DISPLAY=:0'])).code).toBe(0);
      const localPane = await until('the pane with DISPLAY=:0', async () => (await listPanes(user)).find((p) => !before.has(p)));
      await waitPaneReady(user, localPane);
      expect(await paneDisplay(user, oldPane)).toEqual(one);

      // ~/.ssh/rc recorded the login: the link names a record of its sshd session, the
      // process that listens on the login's X11 port.
      const record = fs.readFileSync(path.join(user.home, '.ssh', 'ssh-tmux-fix', hostname(), 'display'), 'utf8').split('\n');
      expect(record[1]).toBe(one.display);
      expect(x11Listener(one.display)).toContain(Number(record[0]));

      // Reconnect while login 1's sshd still holds display 10: login 2 gets another number.
      const second = await sshLogin(user, sshd, agent, { x11: X11 });
      sessions.push(second);
      const two = await loginDisplay(user, second);
      expect(two.display).not.toBe(one.display);
      second.type('tmux attach -t main\r');
      await waitAttached(user, 'main');
      const afterReconnect = await paneDisplay(user, oldPane);
      if (afterReconnect.display !== two.display) {
        throw new Error(`old pane: DISPLAY ${afterReconnect.display}, expected the new login's ${two.display}\n${clientTail(second)}`);
      }
      expect(afterReconnect).toEqual(two);

      // Login 1's connection finally goes: nothing changes for the pane.
      await first.kill();
      expect(await paneDisplay(user, oldPane)).toEqual(two);

      // Login 3 comes (the pane follows it) and goes while login 2 lives: back to login 2.
      const third = await sshLogin(user, sshd, agent, { x11: X11 });
      sessions.push(third);
      const three = await loginDisplay(user, third);
      expect((await paneDisplay(user, oldPane)).display).toBe(three.display);
      await third.kill();
      expect(await paneDisplay(user, oldPane)).toEqual(two);

      // The pane started with a local display keeps it.
      expect((await paneDisplay(user, localPane)).display).toBe(':0');
    } finally {
      for (const s of sessions) await s.kill().catch(() => undefined);
      user.cleanup();
    }
  }, 90_000);
});
