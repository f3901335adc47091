/*
 * The seed's story in the other multiplexers: ssh -A, start GNU screen (or byobu on either of
 * its backends), the connection drops, ssh back, reattach, then use the agent from the old
 * window and from a new one. Real sshd, ssh-agent, screen, tmux and byobu.
 */
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import {
  Agent,
  PaneResult,
  appDir,
  Shell,
  SshSession,
  Sshd,
  TestUser,
  authorize,
  clientTail,
  createUser,
  describeE2E,
  paneAgentWorks,
  runAs,
  runCli,
  sessionPane,
  sshLogin,
  tmux,
  until,
  useSshdAndAgent,
} from './harness';

/** One window of a screen session, driven from outside as tmux's send-keys would. */
interface ScreenWindow {
  session: string;
  window: string;
}

async function screen(user: TestUser, session: string, args: string[]): Promise<string> {
  const r = await runAs(user, ['screen', '-S', session, ...args]);
  return r.stdout + r.stderr;
}

/** The window's text, as `hardcopy` writes it. */
async function screenText(user: TestUser, w: ScreenWindow): Promise<string> {
  const file = path.join(user.workDir, 'hardcopy');
  fs.rmSync(file, { force: true });
  await screen(user, w.session, ['-p', w.window, '-X', 'hardcopy', file]);
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
}

function waitScreenReady(user: TestUser, w: ScreenWindow): Promise<true> {
  return until(`screen window ${w.session}:${w.window} to show its shell`, async () => ((await screenText(user, w)).trim() ? true : undefined));
}

let resultCounter = 0;

/** Types a command into a screen window (like the harness's paneRun for tmux) and returns its exit code and output. */
async function screenRun(user: TestUser, w: ScreenWindow, shellCommand: string): Promise<PaneResult> {
  const result = path.join(user.workDir, `screen-result-${++resultCounter}`);
  await screen(user, w.session, ['-p', w.window, '-X', 'stuff', `sh -c '{ ${shellCommand}; } >${result}.out 2>&1; echo $? >${result}'\n`]);
  const code = await until(
    `"${shellCommand}" to finish in screen window ${w.window}`,
    () => {
      const text = fs.existsSync(result) ? fs.readFileSync(result, 'utf8') : '';
      return text.endsWith('\n') ? Number(text) : undefined;
    },
    undefined,
    () => screenText(user, w),
  );
  return { code, output: fs.readFileSync(`${result}.out`, 'utf8').trim() };
}

/**
 * A new window the way the server makes one (prefix+c and `-X screen` alike): screen gives it
 * the environment the server started with, plus its setenv changes.
 */
async function newScreenWindow(user: TestUser, session: string): Promise<ScreenWindow> {
  const before = await screen(user, session, ['-Q', 'windows']);
  await screen(user, session, ['-X', 'screen']);
  const window = await until('the new screen window', async () => {
    const numbers = (await screen(user, session, ['-Q', 'windows'])).match(/\d+(?=\S*\s)/g) ?? [];
    const fresh = numbers.filter((n) => !new RegExp(`(^|\\s)${n}\\S*\\s`).test(before));
    return fresh[0];
  });
  const w = { session, window };
  await waitScreenReady(user, w);
  return w;
}

function waitScreenSession(user: TestUser, session: string, state: RegExp, client: SshSession): Promise<true> {
  let listed = '';
  return until(
    `screen session ${session} to be ${state.source}`,
    async () => {
      const r = await runAs(user, ['screen', '-ls']);
      listed = r.stdout + r.stderr;
      return new RegExp(`\\.${session}\\s.*\\(${state.source}\\)`).test(r.stdout) ? true : undefined;
    },
    undefined,
    () => `screen -ls: ${listed}\n--- client (tail):\n${clientTail(client)}`,
  );
}

const RESULTS_OK = { oldWindow: 0, newWindow: 0 };
type Outcome = typeof RESULTS_OK;

describeE2E('the seed story in GNU screen and byobu', () => {
  let sshd: Sshd;
  let agent: Agent;
  useSshdAndAgent((started) => ({ sshd, agent } = started));

  async function withUser(shell: Shell, body: (user: TestUser) => Promise<void>): Promise<void> {
    const user = createUser(shell);
    authorize(user, agent.publicKey);
    try {
      await body(user);
    } finally {
      user.cleanup();
      // screen keeps its sockets in /run/screen/S-<user>, outside what the harness cleans.
      fs.rmSync(`/run/screen/S-${user.name}`, { recursive: true, force: true });
    }
  }

  async function install(user: TestUser): Promise<void> {
    const r = await runCli(user, ['install', '--yes']);
    if (r.code !== 0) throw new Error(`install failed (${r.code}):\n${r.stdout}${r.stderr}`);
  }

  function expectOutcome(what: string, results: Record<keyof Outcome, PaneResult>, expected: Outcome, client: { output(): string }): void {
    const actual = { oldWindow: results.oldWindow.code, newWindow: results.newWindow.code };
    if (JSON.stringify(actual) !== JSON.stringify(expected)) {
      const outputs = Object.entries(results).map(([k, r]) => `${k}: exit ${r.code} ${r.output}`);
      throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}\n${outputs.join('\n')}\n--- client (tail):\n${clientTail(client as never)}`);
    }
  }

  /** screen -S work; drop; screen -r from a new login. */
  async function screenStory(user: TestUser, start: string, reattach: string, session: string): Promise<Record<keyof Outcome, PaneResult>> {
    const first = await sshLogin(user, sshd, agent, { tty: true, forwardAgent: true });
    first.type(`${start}\r`);
    await waitScreenSession(user, session, /Attached/, first);
    const old: ScreenWindow = { session, window: '0' };
    await waitScreenReady(user, old);
    const sanity = await screenRun(user, old, 'ssh-add -l');
    if (sanity.code !== 0) throw new Error(`sanity: ssh-add -l in the fresh window gave ${sanity.code} (${sanity.output})`);

    await first.kill();
    await waitScreenSession(user, session, /Detached/, first);
    const second = await sshLogin(user, sshd, agent, { tty: true, forwardAgent: true });
    second.type(`${reattach}\r`);
    await waitScreenSession(user, session, /Attached/, second);
    const oldWindow = await screenRun(user, old, 'ssh-add -l');
    const newWindow = await screenRun(user, await newScreenWindow(user, session), 'ssh-add -l');
    return { oldWindow, newWindow };
  }

  describe('GNU screen', () => {
    test.each<Shell>(['bash', 'zsh', 'fish'])('%s: installed, the old and a new window reach the agent after screen -r', (shell) =>
      withUser(shell, async (user) => {
        await install(user);
        const second = await screenStory(user, 'screen -S work', 'screen -r work', 'work');
        expectOutcome(`${shell} in screen`, second, RESULTS_OK, { output: () => '' });
        // doctor, run in the old window, knows where it is and finds that shell on the link.
        const doctor = await screenRun(user, { session: 'work', window: '0' }, `${process.execPath} ${path.join(appDir(), 'dist', 'cli.js')} doctor --json`);
        const findings = (JSON.parse(doctor.output) as { findings: { id: string; level: string; message: string }[] }).findings;
        expect(findings.filter((f) => ['session', 'shell-sock'].includes(f.id)).map((f) => `${f.level} ${f.message}`)).toEqual([
          'ok this shell runs inside screen, over SSH',
          `ok this shell's SSH_AUTH_SOCK is live (${path.join(user.home, '.ssh', 'ssh-tmux-fix', hostname(), 'agent.sock')})`,
        ]);
      }), 90_000);

    // The control: screen copies nothing at reattach, so both windows keep the dead socket.
    test('bash: nothing installed, both windows have lost the agent', () =>
      withUser('bash', async (user) => {
        const second = await screenStory(user, 'screen -S work', 'screen -r work', 'work');
        expectOutcome('bash in screen, nothing installed', second, { oldWindow: 2, newWindow: 2 }, { output: () => '' });
      }), 90_000);
  });

  describe('byobu, screen backend', () => {
    test.each<Shell>(['bash', 'zsh', 'fish'])('%s: installed alongside byobu, the old and a new window reach the agent after byobu reattaches', (shell) =>
      withUser(shell, async (user) => {
        const chosen = await runAs(user, ['byobu-select-backend', 'screen']);
        if (chosen.code !== 0) throw new Error(`byobu-select-backend screen: ${chosen.stdout}${chosen.stderr}`);
        await install(user);
        const second = await screenStory(user, 'byobu', 'byobu', 'byobu');
        expectOutcome(`${shell} in byobu-screen`, second, RESULTS_OK, { output: () => '' });
      }), 90_000);
  });

  describe('byobu, tmux backend', () => {
    test.each<Shell>(['bash', 'zsh', 'fish'])('%s: installed alongside byobu, the old pane and a new window reach the agent after byobu reattaches', (shell) =>
      withUser(shell, async (user) => {
        const chosen = await runAs(user, ['byobu-select-backend', 'tmux']);
        if (chosen.code !== 0) throw new Error(`byobu-select-backend tmux: ${chosen.stdout}${chosen.stderr}`);
        await install(user);
        const byobuConf = fs.readFileSync(path.join(user.home, '.byobu', '.tmux.conf'), 'utf8');
        expect(byobuConf).toContain(`source-file -q "${path.join(user.home, '.ssh', 'ssh-tmux-fix', 'tmux.conf')}"`);
        expect(fs.readFileSync(path.join(user.home, '.ssh', 'ssh-tmux-fix', 'tmux.conf'), 'utf8')).toContain('set-hook -g client-attached[7311]');

        const first = await sshLogin(user, sshd, agent, { tty: true, forwardAgent: true });
        first.type('byobu\r');
        // The session byobu attached this login to: byobu may make and drop a session on the way.
        const session = await until('a client attached to a byobu tmux session', async () => {
          const r = await tmux(user, ['list-clients', '-F', '#{session_name}']);
          return r.code === 0 ? r.stdout.split('\n')[0] || undefined : undefined;
        });
        const oldPane = await sessionPane(user, session);
        // byobu's tmux read the block from ~/.byobu/.tmux.conf: the hooks are on the server.
        const hooks = await tmux(user, ['show-hooks', '-g']);
        expect(hooks.stdout).toContain('client-attached[7311]');
        const sanity = await paneAgentWorks(user, oldPane);
        if (sanity.code !== 0) throw new Error(`sanity: ssh-add -l in the fresh pane gave ${sanity.code} (${sanity.output})`);

        await first.kill();
        // Once tmux has noticed the drop: byobu's chooser opens a grouped session instead of
        // attaching when the session still shows a client.
        await until('tmux to drop the dead client', async () => ((await tmux(user, ['list-clients'])).stdout.trim() ? undefined : true));
        const second = await sshLogin(user, sshd, agent, { tty: true, forwardAgent: true });
        second.type('byobu\r');
        // byobu's launcher (janitor, python session chooser) takes seconds on a busy machine.
        await until(
          `a client attached to byobu's tmux session ${session}`,
          async () => ((await tmux(user, ['list-clients', '-t', session])).stdout.trim() ? true : undefined),
          30_000,
          async () =>
            `--- tmux list-sessions:\n${(await tmux(user, ['list-sessions'])).stdout}--- list-clients:\n${(await tmux(user, ['list-clients', '-F', '#{client_tty} #{session_name}'])).stdout}` +
            `--- client (tail):\n${clientTail(second)}`,
        );
        const oldWindow = await paneAgentWorks(user, oldPane);
        const created = await tmux(user, ['new-window', '-P', '-F', '#{pane_id}', '-t', session]);
        const newPane = created.stdout.trim();
        await until(`pane ${newPane} to show its shell`, async () => ((await tmux(user, ['capture-pane', '-p', '-t', newPane])).stdout.trim() ? true : undefined));
        const newWindow = await paneAgentWorks(user, newPane);
        expectOutcome(`${shell} in byobu-tmux`, { oldWindow, newWindow }, RESULTS_OK, second);

        // doctor in the pane checks the server itself: the hooks are there.
        const where = await tmux(user, ['display-message', '-p', '-t', newPane, '#{socket_path},#{pid},#{session_id}']);
        // $TMUX ends in the session's number, without tmux's '$' (session_id is "$1").
        const doctor = await runCli(user, ['doctor', '--json'], { TMUX: where.stdout.trim().replace(/\$(\d+)$/, '$1'), BYOBU_BACKEND: 'tmux' });
        const findings = (JSON.parse(doctor.stdout) as { findings: { id: string; level: string; message: string }[] }).findings;
        expect(findings.filter((f) => f.id.startsWith('tmux-')).map((f) => `${f.level} ${f.id}: ${f.message}`)).toEqual([
          'ok tmux-global: tmux global environment holds the agent link',
          'ok tmux-hooks: update-environment copies SSH_AUTH_SOCK at attach; the hooks on this server put the link back after it',
        ]);
      }), 90_000);
  });
});
