/*
 * Two machines attached at once (issue 12, part 2): a laptop and a desktop, each with its own
 * ssh-agent holding its own key, log in with ssh -A and attach to the same tmux session. What is
 * typed at one client's keyboard (bytes written to that ssh client, which reach the tmux client
 * through its pty, as keys do) must reach that client's agent: `ssh-add -l` in the pane prints
 * the fingerprint of the key of the machine that typed it, switching back and forth.
 * One session: tmux 3.3 and later run the client-active hook; older tmux (3.1c in the version
 * matrix): the client that attached last keeps the link, whoever types (docs/how-it-works.md).
 * A session each: the panes of each session use its own link, pointed at the socket of the client
 * that attached to it, on every tmux; what tmux starts in a session without a shell
 * (`new-window 'git pull'`) gets it from the session's environment.
 */
import { spawnSync } from 'node:child_process';
import {
  Agent,
  Shell,
  SshSession,
  Sshd,
  TestUser,
  attachedClients,
  authorize,
  clientTail,
  createUser,
  describeE2E,
  diagnose,
  keyFingerprint,
  runCli,
  sessionPane,
  sshLogin,
  startAgent,
  startSshd,
  startedByTmux,
  typedAtClient,
} from './harness';

const TMUX_VERSION = (spawnSync('tmux', ['-V'], { encoding: 'utf8' }).stdout ?? '').trim().replace(/^tmux /, '');
/** client-active exists from tmux 3.3 on (a "next-3.x" build counts as new). */
const HAS_CLIENT_ACTIVE = /^next-/.test(TMUX_VERSION) || Number.parseFloat(TMUX_VERSION) >= 3.3;

describeE2E(`two machines attached at once (tmux ${TMUX_VERSION})`, () => {
  let sshd: Sshd;
  let laptop: Agent;
  let desktop: Agent;
  beforeAll(async () => {
    sshd = await startSshd({ permitUserRC: true });
    laptop = await startAgent();
    desktop = await startAgent();
  });
  afterAll(async () => {
    await laptop?.stop();
    await desktop?.stop();
    await sshd?.stop();
  });

  /** A user both machines' keys log in as, with the fix installed, and each key's fingerprint. */
  async function installedForBothKeys(shell: Shell): Promise<{ user: TestUser; fromLaptop: string; fromDesktop: string }> {
    const user = createUser(shell);
    authorize(user, laptop.publicKey);
    authorize(user, desktop.publicKey);
    const r = await runCli(user, ['install', '--yes']);
    if (r.code !== 0) {
      user.cleanup();
      throw new Error(`install failed (${r.code}):\n${r.stdout}${r.stderr}`);
    }
    return { user, fromLaptop: keyFingerprint(laptop), fromDesktop: keyFingerprint(desktop) };
  }

  const SHELLS: Shell[] = ['bash', 'zsh', 'fish'];
  test.each(SHELLS)('%s: one session, typing at each client reaches its own agent', async (shell) => {
    const { user, fromLaptop, fromDesktop } = await installedForBothKeys(shell);
    try {
      const a = await sshLogin(user, sshd, laptop);
      a.type('tmux new-session -s work\r');
      const pane = await sessionPane(user, 'work');
      const b = await sshLogin(user, sshd, desktop);
      b.type('tmux attach -t work\r');
      await attachedClients(user, 2);

      const seen: string[] = [];
      const want: string[] = [];
      for (const [client, name] of [[a, 'laptop'], [b, 'desktop'], [a, 'laptop'], [a, 'laptop'], [b, 'desktop']] as const) {
        seen.push(`${name}: ${await typedAtClient(user, client)}`);
        // Older tmux has no client-active hook: the client that attached last (the desktop)
        // keeps the link, whoever types.
        const reaches = HAS_CLIENT_ACTIVE ? name : 'desktop';
        want.push(`${name}: ${reaches === 'laptop' ? fromLaptop : fromDesktop}`);
      }
      if (JSON.stringify(seen) !== JSON.stringify(want)) {
        throw new Error(
          `typed at -> reached (laptop ${fromLaptop}, desktop ${fromDesktop}):\n${seen.join('\n')}\nexpected:\n${want.join('\n')}\n` +
            `--- laptop client:\n${clientTail(a)}\n--- desktop client:\n${clientTail(b)}\n` +
            (await diagnose(user, sshd, [pane])),
        );
      }
    } finally {
      user.cleanup();
    }
  }, 60_000);

  test.each(SHELLS)('%s: a session each: typing at each client reaches its own agent, also after a detach and attach; so does what tmux starts in each session', async (shell) => {
    const { user, fromLaptop, fromDesktop } = await installedForBothKeys(shell);
    try {
      const a = await sshLogin(user, sshd, laptop);
      a.type('tmux new-session -s one\r');
      const paneOne = await sessionPane(user, 'one');
      const b = await sshLogin(user, sshd, desktop);
      b.type('tmux new-session -s two\r');
      const paneTwo = await sessionPane(user, 'two');
      await attachedClients(user, 2);

      // Each session's panes use that session's link, which the client that attached to it
      // pointed at its own socket: the desktop's login and attach leave session one alone.
      const seen: string[] = [];
      for (const [client, name] of [[a, 'laptop'], [b, 'desktop'], [a, 'laptop']] as const) seen.push(`${name}: ${await typedAtClient(user, client)}`);
      // The laptop detaches and attaches again; the desktop, typing meanwhile, keeps its own.
      a.type('\x02d');
      await attachedClients(user, 1);
      seen.push(`desktop: ${await typedAtClient(user, b)}`);
      a.type('tmux attach -t one\r');
      await attachedClients(user, 2);
      for (const [client, name] of [[a, 'laptop'], [b, 'desktop']] as const) seen.push(`${name}: ${await typedAtClient(user, client)}`);
      // What tmux starts without a shell in each session: the session's own link there too.
      for (const [session, name] of [['one', 'laptop'], ['two', 'desktop']] as const) seen.push(`${name}: ${await startedByTmux(user, session)}`);
      const own = (name: string) => `${name}: ${name === 'laptop' ? fromLaptop : fromDesktop}`;
      const want = ['laptop', 'desktop', 'laptop', 'desktop', 'laptop', 'desktop', 'laptop', 'desktop'].map(own);
      if (JSON.stringify(seen) !== JSON.stringify(want)) {
        throw new Error(
          `typed at -> reached (laptop ${fromLaptop}, desktop ${fromDesktop}):\n${seen.join('\n')}\nexpected:\n${want.join('\n')}\n` +
            `--- laptop client:\n${clientTail(a)}\n--- desktop client:\n${clientTail(b)}\n` +
            (await diagnose(user, sshd, [paneOne, paneTwo])),
        );
      }
    } finally {
      user.cleanup();
    }
  }, 60_000);
});
