/*
 * The runtime against what really goes wrong with forwarded sockets, end to end: a real sshd,
 * the real ssh client with -A, the user's tmux and login shell.
 * - A socket of the user that accepts and never answers (a laptop asleep with its connection
 *   still up) is around, newest of all, when the link's login drops: the next command in the
 *   old pane must reach the agent through the other live login within a few seconds.
 * - An sshd session killed with SIGKILL leaves its socket file behind (nobody listens): the
 *   next command in the pane must reach the agent of the other live login.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { hostname } from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  Agent,
  Shell,
  Sshd,
  TestUser,
  attachedClients,
  authorize,
  createUser,
  describeE2E,
  diagnose,
  paneAgentWorks,
  runCli,
  sessionPane,
  sshLogin,
  until,
  waitAttached,
  useSshdAndAgent,
} from './harness';

const SHELLS: Shell[] = ['bash', 'zsh', 'fish'];

function readlinkOrNull(p: string): string | null {
  try {
    return fs.readlinkSync(p);
  } catch {
    return null;
  }
}

/** A listener of the user's, in the forwarded layout, that accepts and never answers. */
async function hungSocketOf(user: TestUser): Promise<{ sock: string; child: ChildProcess }> {
  const dir = fs.mkdtempSync('/tmp/ssh-stfhung');
  fs.chmodSync(dir, 0o700);
  fs.chownSync(dir, user.uid, user.gid);
  const code = `const s=[];require('net').createServer((c)=>s.push(c)).listen(process.argv[1])`;
  // The pid in the name is a live process of the user's, as sshd's would be.
  const child = spawn('runuser', ['-u', user.name, '--', process.execPath, '-e', code, path.join(dir, 'agent.PID')], { stdio: 'ignore' });
  const placeholder = path.join(dir, 'agent.PID');
  await until('the hung listener', () => (fs.existsSync(placeholder) ? true : undefined));
  const sock = path.join(dir, `agent.${child.pid}`);
  fs.renameSync(placeholder, sock);
  return { sock, child };
}

describeE2E('the runtime against hung and killed forwarded sockets', () => {
  let sshd: Sshd;
  let agent: Agent;
  useSshdAndAgent((started) => ({ sshd, agent } = started));

  async function setUp(shell: Shell): Promise<TestUser> {
    const user = createUser(shell);
    authorize(user, agent.publicKey);
    const r = await runCli(user, ['install', '--yes']);
    if (r.code !== 0) throw new Error(`install failed (${r.code}):\n${r.stdout}${r.stderr}`);
    return user;
  }

  test.each(SHELLS)('%s: a hung socket of the user is newest when the link\'s login drops: the next command answers within seconds', async (shell) => {
    const user = await setUp(shell);
    const link = path.join(user.home, '.ssh', 'ssh-tmux-fix', hostname(), 'agent.sock');
    try {
      const a = await sshLogin(user, sshd, agent);
      a.type('tmux new-session -s main\r');
      const pane = await sessionPane(user, 'main');
      const sanity = await paneAgentWorks(user, pane);
      const hung = await hungSocketOf(user);
      const b = await sshLogin(user, sshd, agent);
      const sockB = await b.serverSocket();
      b.type('tmux attach -t main\r');
      await waitAttached(user, 'main');
      expect(readlinkOrNull(link)).toBe(sockB);
      await b.kill();
      const started = Date.now();
      const first = await paneAgentWorks(user, pane);
      const elapsed = Date.now() - started;
      const detail = `sanity ${sanity.code}; first command after B dropped: exit ${first.code} (${first.output}) in ${elapsed} ms; ` +
        `link -> ${readlinkOrNull(link)}; A's socket ${await a.serverSocket()}; hung ${hung.sock}`;
      if (sanity.code !== 0 || first.code !== 0 || elapsed > 5000) throw new Error(`${detail}\n${await diagnose(user, sshd, [pane])}`);
      expect(readlinkOrNull(link)).toBe(await a.serverSocket());
    } finally {
      user.cleanup();
    }
  }, 60_000);

  test.each(SHELLS)('%s: the sshd session of the link\'s login is killed with SIGKILL: the next command reaches the other login', async (shell) => {
    const user = await setUp(shell);
    const link = path.join(user.home, '.ssh', 'ssh-tmux-fix', hostname(), 'agent.sock');
    try {
      const a = await sshLogin(user, sshd, agent);
      a.type('tmux new-session -s main\r');
      const pane = await sessionPane(user, 'main');
      const sanity = await paneAgentWorks(user, pane);
      // B attaches too: the session's link follows B's socket, as the host's link does.
      const b = await sshLogin(user, sshd, agent);
      b.type('tmux attach -t main\r');
      await attachedClients(user, 2);
      const sockB = await b.serverSocket();
      expect(readlinkOrNull(link)).toBe(sockB);
      // The OOM killer's way: the session process named in the socket dies without cleanup.
      const pid = Number(/agent\.(\d+)$/.exec(sockB)?.[1]);
      expect(pid).toBeGreaterThan(1);
      process.kill(pid, 'SIGKILL');
      await until(`sshd session ${pid} to be gone`, () => (fs.existsSync(`/proc/${pid}`) ? undefined : true));
      expect(fs.lstatSync(sockB).isSocket()).toBe(true); // the file stays: -S still true
      const first = await paneAgentWorks(user, pane);
      const detail = `sanity ${sanity.code}; first command after B's session was killed: exit ${first.code} (${first.output}); ` +
        `link -> ${readlinkOrNull(link)}; A's socket ${await a.serverSocket()}; B's ${sockB}`;
      if (sanity.code !== 0 || first.code !== 0) throw new Error(`${detail}\n${await diagnose(user, sshd, [pane])}`);
      expect(readlinkOrNull(link)).toBe(await a.serverSocket());
    } finally {
      user.cleanup();
    }
  }, 60_000);
});
