/*
 * The versions under test: proves which tmux and OpenSSH a run really exercised. Under
 * scripts/version-matrix.sh, STF_EXPECT_TMUX and STF_EXPECT_OPENSSH name the built releases
 * put in place of the system's; without them (npm test) the system's own are expected. Checked
 * where it matters: inside an ssh -A login and its tmux pane, the sshd's banner, and the layout
 * of the forwarded agent socket that sshd made (OpenSSH 10.1 moved it to ~/.ssh/agent).
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import {
  Agent,
  Sshd,
  authorize,
  createUser,
  describeE2E,
  paneRun,
  sessionPane,
  sshLogin,
  sshdBanner,
  tmux,
  useSshdAndAgent,
} from './harness';

function systemVersion(cmd: string, pattern: RegExp): string {
  const r = spawnSync(cmd, ['-V'], { encoding: 'utf8' });
  const m = pattern.exec(`${r.stdout}${r.stderr}`);
  if (!m) throw new Error(`cannot read the version of ${cmd}: ${r.stdout}${r.stderr}${r.error ?? ''}`);
  return m[1];
}

const TMUX_VERSION = process.env.STF_EXPECT_TMUX || systemVersion('tmux', /^tmux (\S+)/);
const OPENSSH_VERSION = process.env.STF_EXPECT_OPENSSH || systemVersion('ssh', /^OpenSSH_(\S+?)[, ]/);

/** OpenSSH 10.1 and later put forwarded sockets under ~/.ssh/agent (FIELD-NOTES). */
function homeLayout(version: string): boolean {
  const [major, minor] = version.split(/[.p]/).map(Number);
  return major > 10 || (major === 10 && minor >= 1);
}

describeE2E(`the versions under test: tmux ${TMUX_VERSION}, OpenSSH ${OPENSSH_VERSION}`, () => {
  let sshd: Sshd;
  let agent: Agent;
  useSshdAndAgent((started) => ({ sshd, agent } = started));

  test('sshd, ssh and tmux of a login and its pane are the expected releases', async () => {
    // The banner carries the release without the portable suffix (`OpenSSH_10.3`), or with it
    // where Debian patched it in (`OpenSSH_9.2p1 Debian-2+deb12u10`).
    const release = OPENSSH_VERSION.replace(/p\d+$/, '').replace(/\./g, '\\.');
    expect(await sshdBanner(sshd)).toMatch(new RegExp(`^SSH-2\\.0-OpenSSH_${release}(p\\d+)?( |$)`));

    const user = createUser('bash');
    authorize(user, agent.publicKey);
    try {
      expect((await tmux(user, ['-V'])).stdout.trim()).toBe(`tmux ${TMUX_VERSION}`);
      const login = await sshLogin(user, sshd, agent, { tty: true, forwardAgent: true });
      const sock = await login.serverSocket();
      if (homeLayout(OPENSSH_VERSION)) {
        expect(sock).toMatch(new RegExp(`^${path.join(user.home, '.ssh', 'agent')}/s\\.[^./]{10}\\.sshd\\.[^/]+$`));
      } else {
        expect(sock).toMatch(/^\/tmp\/ssh-[^/]+\/agent\.\d+$/);
      }
      login.type('tmux new-session -s main\r');
      const pane = await sessionPane(user, 'main');
      const seen = await paneRun(user, pane, 'tmux -V; ssh -V 2>&1; ssh-add -l');
      const lines = seen.output.split('\n');
      expect({ code: seen.code, tmux: lines[0], ssh: lines[1]?.replace(/[, ].*/, '') }).toEqual({
        code: 0,
        tmux: `tmux ${TMUX_VERSION}`,
        ssh: `OpenSSH_${OPENSSH_VERSION}`,
      });
      expect(lines[2]).toContain('stf-e2e-laptop');
    } finally {
      user.cleanup();
    }
  }, 60_000);
});
