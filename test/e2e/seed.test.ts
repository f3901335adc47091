/*
 * The seed scenario (shared/seed/ssh-and-tmux.txt): ssh -A to a host, start tmux, lose the
 * connection, ssh back, tmux attach, then use the agent from the old pane and from a new window.
 */
import {
  Agent,
  PaneResult,
  Shell,
  Sshd,
  TestUser,
  authorize,
  clientTail,
  createUser,
  describeE2E,
  diagnose,
  installClassicRecipe,
  newWindow,
  paneAgentWorks,
  paneHop,
  runCli,
  sessionPane,
  sshLogin,
  waitAttached,
  useSshdAndAgent,
} from './harness';

type Setup = 'ssh-tmux-fix installed' | 'nothing installed' | 'classic ~/.ssh/rc recipe';

interface Outcome {
  oldPaneAgent: number;
  oldPaneHop: number;
  newWindowAgent: number;
  newWindowHop: number;
}

const ALL_WORK: Outcome = { oldPaneAgent: 0, oldPaneHop: 0, newWindowAgent: 0, newWindowHop: 0 };

/**
 * Without a fix the old pane keeps the dead socket: ssh-add says "no agent" (2) and the hop
 * fails in ssh itself (255). A new window works anyway, because tmux's default
 * update-environment copies the new SSH_AUTH_SOCK into the session at attach.
 * The classic recipe does survive this one drop and reconnect; its known failures (two
 * connections, the newer one closing; X11 once ~/.ssh/rc exists) need other scenarios.
 */
const EXPECTED: Record<Setup, Outcome> = {
  'ssh-tmux-fix installed': ALL_WORK,
  'nothing installed': { oldPaneAgent: 2, oldPaneHop: 255, newWindowAgent: 0, newWindowHop: 0 },
  'classic ~/.ssh/rc recipe': ALL_WORK,
};

const SETUP: Record<Setup, (user: TestUser) => Promise<void>> = {
  'ssh-tmux-fix installed': async (user) => {
    const r = await runCli(user, ['install', '--yes']);
    if (r.code !== 0) throw new Error(`install failed (${r.code}):\n${r.stdout}${r.stderr}`);
  },
  'nothing installed': async () => undefined,
  'classic ~/.ssh/rc recipe': async (user) => installClassicRecipe(user),
};

const SHELLS: Shell[] = ['bash', 'zsh', 'fish'];
const CASES = SHELLS.flatMap((shell) => (Object.keys(SETUP) as Setup[]).map((setup) => [shell, setup] as const));

describeE2E('seed scenario: ssh -A, tmux, connection drops, ssh back, tmux attach', () => {
  let sshd: Sshd;
  let agent: Agent;
  useSshdAndAgent((started) => ({ sshd, agent } = started));

  test.each(CASES)('%s login shell, %s', async (shell, setup) => {
    const user = createUser(shell);
    const hop = createUser('bash');
    authorize(user, agent.publicKey);
    authorize(hop, agent.publicKey);
    try {
      await seedScenario(shell, setup, user, hop);
    } finally {
      user.cleanup();
      hop.cleanup();
    }
  }, 60_000);

  async function seedScenario(shell: Shell, setup: Setup, user: TestUser, hop: TestUser): Promise<void> {
    await SETUP[setup](user);

    // The coffee shop: log in with the agent forwarded, start tmux, the agent works in it.
    const first = await sshLogin(user, sshd, agent, { tty: true, forwardAgent: true });
    first.type('tmux new-session -s main\r');
    const oldPane = await sessionPane(user, 'main');
    const sanity = await paneAgentWorks(user, oldPane);
    if (sanity.code !== 0) {
      throw new Error(
        `sanity: ssh-add -l in the fresh pane gave ${sanity.code} (${sanity.output})\n` +
          (await diagnose(user, sshd, [oldPane])),
      );
    }

    // The connection drops; later the sofa: log in again and reattach.
    await first.kill();
    const second = await sshLogin(user, sshd, agent, { tty: true, forwardAgent: true });
    second.type('tmux attach -t main\r');
    await waitAttached(user, 'main');

    const oldPaneAgent = await paneAgentWorks(user, oldPane);
    const oldPaneHop = await paneHop(user, oldPane, hop, sshd);
    const newPane = await newWindow(user, second);
    const newWindowAgent = await paneAgentWorks(user, newPane);
    const newWindowHop = await paneHop(user, newPane, hop, sshd);
    const results: Record<keyof Outcome, PaneResult> = { oldPaneAgent, oldPaneHop, newWindowAgent, newWindowHop };

    const actual: Outcome = {
      oldPaneAgent: results.oldPaneAgent.code,
      oldPaneHop: results.oldPaneHop.code,
      newWindowAgent: results.newWindowAgent.code,
      newWindowHop: results.newWindowHop.code,
    };
    if (JSON.stringify(actual) !== JSON.stringify(EXPECTED[setup])) {
      const outputs = Object.entries(results).map(([k, r]) => `${k}: exit ${r.code} ${r.output}`);
      throw new Error(
        `${shell}, ${setup}: expected exit codes ${JSON.stringify(EXPECTED[setup])}, got ${JSON.stringify(actual)}\n` +
          `${outputs.join('\n')}\n--- second login's client output (tail):\n${clientTail(second)}\n` +
          (await diagnose(user, sshd, [oldPane, newPane])),
      );
    }
  }
});
