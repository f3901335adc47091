/*
 * Agents of their own (issue 11, item 4): oh-my-zsh's ssh-agent plugin (default settings) and
 * an `eval "$(ssh-agent -s)"` in a .bashrc start a keyless local ssh-agent in every shell,
 * whose socket has the forwarded sockets' shape (/tmp/ssh-XXXX/agent.<pid>). Logged in with
 * ssh -A and a key: the login shell must not move the link to that agent; tmux panes reach
 * the key, after a drop and a reattach too; doctor says nothing false (no "run ssh-add").
 */
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import {
  Shell,
  TestUser,
  authorize,
  createUser,
  describeE2E,
  diagnose,
  expectOk,
  newWindow,
  paneAgentWorks,
  runCli,
  sessionPane,
  sshLogin,
  SshSession,
  stripAnsi,
  until,
  useSshdAndAgent,
  waitAttached,
  Agent,
  Sshd,
} from './harness';

interface Finding {
  id: string;
  level: string;
  message: string;
  fix?: string;
}

describeE2E('a shell plugin starts a keyless local ssh-agent in every shell', () => {
  let sshd: Sshd;
  let agent: Agent;
  useSshdAndAgent((started) => ({ sshd, agent } = started));

  /** The plugin's line, before the install's block, as a plugin loads before the user's settings. */
  function addPlugin(user: TestUser, shell: Shell): void {
    if (shell === 'fish') {
      // fish reads config.fish after conf.d/, so this line runs after the part.
      const dir = path.join(user.home, '.config', 'fish');
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'config.fish'), 'eval (ssh-agent -c) >/dev/null\n');
      for (const p of [path.join(user.home, '.config'), dir, path.join(dir, 'config.fish')]) fs.chownSync(p, user.uid, user.gid);
      return;
    }
    const rc = path.join(user.home, shell === 'zsh' ? '.zshrc' : '.bashrc');
    const before = fs.existsSync(rc) ? fs.readFileSync(rc, 'utf8') : '';
    fs.writeFileSync(rc, `eval "$(ssh-agent -s)" >/dev/null\n${before}`);
    fs.chownSync(rc, user.uid, user.gid);
  }

  /** The login shell's own SSH_AUTH_SOCK, typed into it. */
  async function shellSock(session: SshSession): Promise<string> {
    session.type("echo PLUG''IN=$SSH_AUTH_SOCK\r");
    const out = await session.waitFor(/PLUGIN=\S+\r?\n/);
    return /PLUGIN=(\S+)\r?\n/.exec(stripAnsi(out))![1];
  }

  test.each<Shell>(['bash', 'zsh', 'fish'])('%s: the link stays on the forwarded socket; panes reach the key after reattach; doctor is right', async (shell) => {
    const user = createUser(shell);
    authorize(user, agent.publicKey);
    const link = path.join(user.home, '.ssh', 'ssh-tmux-fix', hostname(), 'agent.sock');
    const linkTarget = () => fs.readlinkSync(link, { encoding: 'utf8' });
    try {
      addPlugin(user, shell);
      expectOk(await runCli(user, ['install', '--yes']), 'install');

      const first = await sshLogin(user, sshd, agent);
      const forwarded = await first.serverSocket();
      const plugin = await shellSock(first);
      // The plugin did run: this login shell holds a local agent of the same shape.
      expect(plugin).toMatch(/^\/tmp\/ssh-[^/]+\/agent\.\d+$/);
      expect(plugin).not.toBe(forwarded);
      expect(linkTarget()).toBe(forwarded);

      // doctor, from that login shell: the link is right; the shell's own agent is the keyless one.
      const env = { SSH_AUTH_SOCK: plugin, SSH_CONNECTION: '127.0.0.1 1 127.0.0.1 2', SSH_TTY: '/dev/pts/0' };
      const r = await runCli(user, ['doctor', '--json'], env);
      const findings: Finding[] = JSON.parse(r.stdout).findings;
      const byId = (id: string) => findings.find((f) => f.id === id);
      const context = `${shell}: doctor --json:\n${JSON.stringify(findings, null, 2)}`;
      if (byId('link')?.level !== 'ok' || byId('shell-sock')?.level !== 'warn') throw new Error(context);
      expect(byId('shell-sock')!.message).toMatch(/local ssh-agent without keys/);
      expect(byId('shell-sock')!.fix).toContain(link);
      if (findings.some((f) => /ssh-add/.test(`${f.message} ${f.fix ?? ''}`))) throw new Error(`advice to run ssh-add: ${context}`);

      first.type('tmux new-session -s main\r');
      const oldPane = await sessionPane(user, 'main');
      const fail = async (what: string, res: { code: number; output: string }) =>
        new Error(`${shell}: ${what}: ssh-add -l gave ${res.code} (${res.output}); link -> ${linkTarget()}\n${await diagnose(user, sshd, [oldPane])}`);
      let res = await paneAgentWorks(user, oldPane);
      if (res.code !== 0) throw await fail('fresh pane', res);

      // The drop, a new login (its shell starts one more local agent), tmux attach.
      await first.kill();
      const second = await sshLogin(user, sshd, agent);
      const forwarded2 = await second.serverSocket();
      expect(await shellSock(second)).not.toBe(forwarded2);
      expect(linkTarget()).toBe(forwarded2);
      second.type('tmux attach -t main\r');
      await waitAttached(user, 'main');
      res = await paneAgentWorks(user, oldPane);
      if (res.code !== 0) throw await fail('old pane after reattach', res);
      const newPane = await newWindow(user, second);
      res = await paneAgentWorks(user, newPane);
      if (res.code !== 0) throw await fail('new window after reattach', res);
      await until('the link still on the forwarded socket', () => (linkTarget() === forwarded2 ? true : undefined));
    } finally {
      user.cleanup();
    }
  }, 60_000);
});
