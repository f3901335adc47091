/*
 * Homes shared by several servers (NFS homes): two hosts over one home, each keeps its own
 * link (~/.ssh/ssh-tmux-fix/<hostname>/agent.sock). Host B is a second sshd in its own mount
 * and UTS namespace (its own hostname, a private /tmp, the same homes). A command running in
 * host A's tmux pane keeps reaching A's agent while the user logs in to host B with another
 * agent (another key), and B's panes reach B's agent.
 */
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import {
  Agent,
  Shell,
  Sshd,
  TestUser,
  authorize,
  createUser,
  describeE2E,
  keyFingerprint,
  paneRun,
  paneTypeLine,
  runCli,
  sessionPane,
  sleep,
  sshLogin,
  startAgent,
  startSshd,
  tmux,
  until,
} from './harness';

const HOST_B = `stf-b-${process.pid}`;

describeE2E('two hosts over one home (NFS): a link per host', () => {
  let sshdA: Sshd;
  let sshdB: Sshd;
  let agentA: Agent;
  let agentB: Agent;
  beforeAll(async () => {
    [sshdA, sshdB, agentA, agentB] = await Promise.all([startSshd(), startSshd({ hostname: HOST_B }), startAgent(), startAgent()]);
  });
  afterAll(async () => {
    for (const stop of [agentA, agentB, sshdA, sshdB]) await stop?.stop();
  });

  const SHELLS: Shell[] = ['bash', 'zsh', 'fish'];
  test.each(SHELLS)('%s: a command in host A\'s pane keeps A\'s agent while the user logs in to host B; B\'s panes reach B\'s', async (shell) => {
    const user = createUser(shell);
    authorize(user, agentA.publicKey);
    authorize(user, agentB.publicKey);
    try {
      await scenario(user);
    } finally {
      user.cleanup();
    }
  }, 60_000);

  async function scenario(user: TestUser): Promise<void> {
    const install = await runCli(user, ['install', '--yes']);
    expect([install.code, install.stderr]).toEqual([0, '']);
    const top = path.join(user.home, '.ssh', 'ssh-tmux-fix');
    const linkA = path.join(top, hostname(), 'agent.sock');
    const linkB = path.join(top, HOST_B, 'agent.sock');
    const [keyA, keyB] = [keyFingerprint(agentA), keyFingerprint(agentB)];
    expect(keyA).not.toBe(keyB);

    // Host A: log in, start tmux; a command in the pane keeps asking A's agent.
    const onA = await sshLogin(user, sshdA, agentA);
    onA.type('tmux new-session -s a\r');
    const paneA = await sessionPane(user, 'a');
    const loop = path.join(user.workDir, 'loop-a');
    await paneTypeLine(user, paneA, `sh -c "while :; do ssh-add -l >>${loop} 2>&1 || echo FAILED >>${loop}; sleep 0.2; done"`);
    await until('the loop in host A\'s pane to reach A\'s agent', () => (fs.existsSync(loop) && fs.readFileSync(loop, 'utf8').includes(keyA) ? true : undefined));
    const targetA = fs.readlinkSync(linkA);

    // Host B (another hostname, its own /tmp, the same home): log in with another agent.
    const onB = await sshLogin(user, sshdB, agentB);
    const socketB = await onB.serverSocket();
    const host = sshdB.host!;
    onB.type('tmux new-session -s b\r');
    const paneB = await sessionPane(user, 'b', host);
    const inB = await paneRun(user, paneB, 'echo "$SSH_AUTH_SOCK"; ssh-add -l', host);
    expect(inB).toMatchObject({ code: 0 });
    // The pane's shell uses its session's link in B's directory (tmux.<server pid>.<session>.sock).
    const paneSockB = inB.output.split('\n')[0];
    expect([path.dirname(paneSockB), path.basename(paneSockB)]).toEqual([path.join(top, HOST_B), expect.stringMatching(/^tmux\.\d+\.\d+\.sock$/)]);
    expect(inB.output).toContain(keyB);
    expect(fs.readlinkSync(linkB)).toBe(socketB);
    // B's tmux server (on B, its hostname in #{host}) gives new panes B's link.
    expect((await tmux(user, ['show-environment', '-g', 'SSH_AUTH_SOCK'], host)).stdout).toBe(`SSH_AUTH_SOCK=${linkB}\n`);

    // A's link did not move, and the command in A's pane never lost A's agent.
    const mark = fs.readFileSync(loop, 'utf8').length;
    await sleep(1000);
    expect(fs.readlinkSync(linkA)).toBe(targetA);
    const since = fs.readFileSync(loop, 'utf8');
    expect(since).not.toContain('FAILED');
    expect(since).not.toContain(keyB);
    expect(since.slice(mark)).toContain(keyA);
    // And a new command typed in A's pane reaches A's agent too.
    await tmux(user, ['send-keys', '-t', paneA, 'C-c']);
    const againA = await paneRun(user, paneA, 'ssh-add -l');
    expect(againA).toMatchObject({ code: 0 });
    expect(againA.output).toContain(keyA);
    // Each host's records stay in its own directory; 1.0.0's link names the first host's.
    expect(fs.readdirSync(path.join(top, HOST_B)).filter((n) => !n.startsWith('tmux.')).sort()).toEqual(['agent.sock', 'clients']);
    expect(fs.readdirSync(path.join(top, hostname())).filter((n) => n.startsWith('tmux.'))).toHaveLength(1);
    expect(fs.readlinkSync(path.join(top, 'agent.sock'))).toBe(`${hostname()}/agent.sock`);
  }
});
