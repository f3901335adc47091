/*
 * Dropbear (Alpine, embedded; Debian's dropbear-bin) runs no ~/.ssh/rc and keeps forwarded
 * sockets at /tmp/dropbear-XXXXXXXX/auth-XXXXXXXX-N. The seed story over it, with the OpenSSH
 * client: the login shell points the link (no rc ran), a second connection that closes leaves
 * the pane to heal to the first one's socket (the scan must know Dropbear's layout), then the
 * drop, a new login, tmux attach: the old pane and a new window reach the agent.
 */
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import {
  Agent,
  Shell,
  Sshd,
  authorize,
  createUser,
  describeE2E,
  diagnose,
  expectOk,
  newWindow,
  paneAgentWorks,
  runCli,
  sessionLinkOf,
  sessionPane,
  sshLogin,
  startAgent,
  startDropbear,
  until,
  waitAttached,
} from './harness';

describeE2E('Dropbear server: no ~/.ssh/rc, its own socket layout', () => {
  let dropbear: Sshd;
  let agent: Agent;
  beforeAll(async () => {
    dropbear = await startDropbear();
    agent = await startAgent();
  });
  afterAll(async () => {
    await agent?.stop();
    await dropbear?.stop();
  });

  test.each<Shell>(['bash', 'zsh', 'fish'])('%s login shell: ssh -A into dropbear, tmux, a second connection closes, the drop, reattach', async (shell) => {
    const user = createUser(shell);
    authorize(user, agent.publicKey);
    const link = path.join(user.home, '.ssh', 'ssh-tmux-fix', hostname(), 'agent.sock');
    const linkTarget = () => fs.readlinkSync(link, { encoding: 'utf8' });
    try {
      expectOk(await runCli(user, ['install', '--yes']), 'install');
      const first = await sshLogin(user, dropbear, agent);
      const firstSock = await first.serverSocket();
      expect(firstSock).toMatch(/^\/tmp\/dropbear-[^/]+\/auth-[^/]+$/);
      expect(fs.existsSync(path.join(user.home, '.ssh', 'rc'))).toBe(true); // installed, and Dropbear ignores it
      // No rc ran: the login shell pointed the link.
      expect(linkTarget()).toBe(firstSock);
      // Dropbear sets SSH_TTY too: the login shell recorded its socket for the tmux client hooks.
      const records = path.join(user.home, '.ssh', 'ssh-tmux-fix', hostname(), 'clients');
      expect(fs.readdirSync(records).map((f) => fs.readFileSync(path.join(records, f), 'utf8'))).toContain(`${firstSock}\n`);
      first.type('tmux new-session -s main\r');
      const oldPane = await sessionPane(user, 'main');
      const fail = async (what: string, r: { code: number; output: string }) =>
        new Error(`${shell}: ${what}: ssh-add -l gave ${r.code} (${r.output})\n${await diagnose(user, dropbear, [oldPane])}`);
      let r = await paneAgentWorks(user, oldPane);
      if (r.code !== 0) throw await fail('fresh pane', r);

      // A second connection takes the link, then closes: the pane heals to the first's socket.
      const second = await sshLogin(user, dropbear, agent);
      expect(linkTarget()).toBe(await second.serverSocket());
      await second.kill();
      r = await paneAgentWorks(user, oldPane);
      if (r.code !== 0) throw await fail('after the newer connection closed', r);
      // The pane's session link reaches the first connection's socket (the client attached).
      expect(fs.realpathSync(await sessionLinkOf(user, 'main'))).toBe(firstSock);

      // The drop, a new login, tmux attach.
      await first.kill();
      const third = await sshLogin(user, dropbear, agent);
      const thirdSock = await third.serverSocket();
      third.type('tmux attach -t main\r');
      await waitAttached(user, 'main');
      await until('the link on the new login', () => (linkTarget() === thirdSock ? true : undefined));
      r = await paneAgentWorks(user, oldPane);
      if (r.code !== 0) throw await fail('old pane after reattach', r);
      const newPane = await newWindow(user, third);
      r = await paneAgentWorks(user, newPane);
      if (r.code !== 0) throw await fail('new window after reattach', r);
    } finally {
      user.cleanup();
    }
  }, 60_000);
});
