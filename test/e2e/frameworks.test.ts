/*
 * Frameworks as their READMEs install them (test/support/frameworks.ts: git checkouts with
 * faithful stand-ins of their files): a zsh user with Oh my tmux! (~/.tmux.conf a symlink into
 * ~/.tmux, a tmux config that is also a `cut -c3- | sh` script; ~/.tmux.conf.local copied from
 * its example) and oh-my-zsh (~/.zshrc from its template). Install, then the seed story: both
 * checkouts stay clean, the framework's script still runs, its tmux server holds the hooks, the
 * zsh part is loaded from $ZSH_CUSTOM, and after the drop and reattach the old pane reaches the
 * agent. Uninstall gives the user's files back and leaves the checkouts clean.
 */
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { installOhMyTmux, installOhMyZsh } from '../support/frameworks';
import {
  Agent,
  Sshd,
  authorize,
  createUser,
  describeE2E,
  diagnose,
  newWindow,
  paneAgentWorks,
  paneHop,
  paneRun,
  runCli,
  sessionPane,
  sshLogin,
  tmux,
  useSshdAndAgent,
  waitAttached,
} from './harness';

describeE2E('frameworks: Oh my tmux! and oh-my-zsh', () => {
  let sshd: Sshd;
  let agent: Agent;
  useSshdAndAgent((started) => ({ sshd, agent } = started));

  test('install keeps both checkouts clean; the seed story passes in a zsh pane; uninstall gives the files back', async () => {
    const user = createUser('zsh');
    const hop = createUser('bash');
    authorize(user, agent.publicKey);
    authorize(hop, agent.publicKey);
    try {
      const tmuxCheckout = installOhMyTmux(user.home);
      const zshCheckout = installOhMyZsh(user.home);
      const userFiles = ['.tmux.conf.local', '.zshrc'].map((f) => path.join(user.home, f));
      const before = userFiles.map((f) => fs.readFileSync(f));
      if (spawnSync('chown', ['-R', `${user.uid}:${user.gid}`, user.home]).status !== 0) throw new Error('chown failed');
      const status = async (): Promise<string> =>
        (await user.run(`git -C ${tmuxCheckout} status --porcelain && git -C ${zshCheckout} status --porcelain && echo clean`)).stdout;

      const install = await runCli(user, ['install', '--yes']);
      expect(install.code).toBe(0);
      expect(await status()).toBe('clean\n');
      expect(install.stdout).toMatch(/~\/\.tmux\.conf\.local: add block; Oh my tmux!: ~\/\.tmux\.conf \(~\/\.tmux\/\.tmux\.conf\) is its own file and a script/);
      expect(install.stdout).toMatch(/~\/\.oh-my-zsh\/custom\/ssh-tmux-fix\.zsh: new file; oh-my-zsh sources/);

      // The coffee shop: ssh -A, tmux (Oh my tmux!'s config runs its script at start-up).
      const first = await sshLogin(user, sshd, agent, { tty: true, forwardAgent: true });
      first.type('tmux new-session -s main\r');
      const oldPane = await sessionPane(user, 'main');
      const shown = async (args: string[]) => (await tmux(user, args)).stdout.trim();
      expect(await shown(['show', '-gv', '@oh_my_tmux_applied'])).toBe('yes');
      expect(await shown(['show', '-gv', '@oh_my_tmux_custom_variables'])).toBe('yes');
      expect(await shown(['show-hooks', '-g'])).toMatch(/client-attached\[7311\] set-environment (-F )?SSH_AUTH_SOCK/);
      // A binding's way of running the framework's script, from a pane.
      const script = await paneRun(user, oldPane, 'cut -c3- ~/.tmux.conf | sh -s _apply_configuration');
      expect(script).toEqual({ code: 0, output: '' });
      // The zsh part came from $ZSH_CUSTOM: the pane's shell uses its session's link.
      const sock = await paneRun(user, oldPane, 'echo $SSH_AUTH_SOCK');
      expect([path.dirname(sock.output), path.basename(sock.output)]).toEqual([path.join(user.home, '.ssh', 'ssh-tmux-fix', hostname()), expect.stringMatching(/^tmux\.\d+\.\d+\.sock$/)]);
      expect((await paneAgentWorks(user, oldPane)).code).toBe(0);

      // The connection drops; the sofa: log in again, reattach.
      await first.kill();
      const second = await sshLogin(user, sshd, agent, { tty: true, forwardAgent: true });
      second.type('tmux attach -t main\r');
      await waitAttached(user, 'main');
      const oldHop = await paneHop(user, oldPane, hop, sshd);
      const newPane = await newWindow(user, second);
      const newHop = await paneHop(user, newPane, hop, sshd);
      if (oldHop.code !== 0 || newHop.code !== 0) {
        throw new Error(`hops: old pane ${oldHop.code} ${oldHop.output}, new window ${newHop.code} ${newHop.output}\n${await diagnose(user, sshd, [oldPane, newPane])}`);
      }
      expect(await status()).toBe('clean\n');
      await second.kill();

      const uninstall = await runCli(user, ['uninstall', '--yes']);
      expect(uninstall.code).toBe(0);
      expect(userFiles.map((f) => fs.readFileSync(f))).toEqual(before);
      expect(fs.existsSync(path.join(zshCheckout, 'custom', 'ssh-tmux-fix.zsh'))).toBe(false);
      expect(await status()).toBe('clean\n');
    } finally {
      user.cleanup();
      hop.cleanup();
    }
  }, 60_000);
});

