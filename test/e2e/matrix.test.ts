/*
 * The comparison matrix: six scenarios, each in bash, zsh and fish, each with ssh-tmux-fix
 * installed ('ours') and with the widely copied `ln -sf` recipe instead ('classic'), end to end
 * against a real sshd, a real ssh-agent (the laptop), the real ssh client and the user's tmux.
 *
 * 'ours' must pass every case. For 'classic' each case asserts the outcome the recipe is known to
 * have (it fails where its bug reports say it fails) or the outcome observed where it is
 * deterministic. A few mutants of the installed runtime show that the checks can fail.
 * The file prints a table case x shell x {ours, classic} at the end and, after a full run,
 * writes it to docs/comparison.md.
 */
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import {
  Agent,
  PaneResult,
  REPO_DIR,
  Shell,
  SshSession,
  Sshd,
  TestUser,
  appDir,
  authorize,
  attachedClients,
  clientTail,
  createUser,
  describeE2E,
  diagnose,
  installClassicRecipe,
  keyFingerprint,
  liveAgentSockets,
  newWindow,
  paneAgentWorks,
  paneHop,
  paneRun,
  paneTypeLine,
  runCli,
  sessionLinkOf,
  sessionPane,
  sshExec,
  sshLogin,
  startAgent,
  startDropbear,
  startSshd,
  typedAtClient,
  tmux,
  until,
  waitAttached,
} from './harness';
import { Tree, snapshot, treeDiff } from '../support/tree';

type Mode = 'ours' | 'classic';
const SHELLS: Shell[] = ['bash', 'zsh', 'fish'];
const MODES: Mode[] = ['ours', 'classic'];
const GRID = SHELLS.flatMap((shell) => MODES.map((mode) => [shell, mode] as const));
const CASE_TIMEOUT = 60_000;

const ROW = {
  twoConnections: '1. two connections, the newer closes',
  noUserRc: '2. PermitUserRC no',
  execSessions: '3. five exec sessions (git, scp)',
  dotfiles: '4. long-lived dotfiles + uninstall',
  insideTmux: '5. installed from inside tmux',
  tmux36: '6. update-environment of tmux 3.6',
  tmux37: '6. update-environment of tmux 3.7',
  twoMachines: '7. two machines on one session, typing at each',
  dropbear: '8. Dropbear server (no ~/.ssh/rc)',
  twoHosts: '9. two hosts over one home, a login to the other',
  sessionEach: '10. two machines, a session each, typing at each',
} as const;
type Row = (typeof ROW)[keyof typeof ROW];

/** What the classic recipe is expected to do per case (true = the scenario works for the user). */
const CLASSIC_EXPECTED: Record<Row, boolean> = {
  // Its bug reports: the newer connection's close leaves the link dangling.
  [ROW.twoConnections]: false,
  // Its only refresh path is ~/.ssh/rc, which sshd skips under PermitUserRC no.
  [ROW.noUserRc]: false,
  // Every exec session re-points the link at a socket that dies with its command.
  [ROW.execSessions]: false,
  // Observed: with the recipe appended to the user's own files this drop-and-reattach works.
  [ROW.dotfiles]: true,
  // Observed: the running server keeps tmux's default update-environment, new windows get the
  // raw socket of the attaching client, and the old pane works once it uses the link.
  [ROW.insideTmux]: true,
  // The recipe replaces update-environment with its own list: KRB5CCNAME, MSYSTEM (and 3.7's
  // WAYLAND_DISPLAY, XDG_SESSION_TYPE) are no longer updated at attach.
  [ROW.tmux36]: false,
  [ROW.tmux37]: false,
  // Its only rule is "the newest login takes the link": whatever is typed at the machine that
  // attached first reaches the other machine's agent.
  [ROW.twoMachines]: false,
  // Dropbear never runs ~/.ssh/rc, the recipe's only refresh path: the link is never made.
  [ROW.dropbear]: false,
  // One link per home: a login to host B points it at a socket in B's /tmp, which host A's
  // panes cannot reach.
  [ROW.twoHosts]: false,
  // The same rule: the machine that logged in last owns the one link, for both sessions.
  [ROW.sessionEach]: false,
};

const results = new Map<string, 'pass' | 'FAIL' | 'error'>();
const mutantLog: string[] = [];
/** Why each failing cell failed (the classic recipe's failures), printed with the table. */
const failureNotes: string[] = [];
/** Failing ssh-tmux-fix cells, explained under the table in docs/comparison.md. */
const oursNotes: string[] = [];
const cellKey = (row: Row, shell: Shell, mode: Mode) => `${row}|${shell}|${mode}`;

interface Verdict {
  ok: boolean;
  /** Exit codes and facts, one line each, for the failure message. */
  detail: string[];
  diag?: () => Promise<string>;
  /** One line for docs/comparison.md when an ssh-tmux-fix cell fails. */
  note?: string;
}

const linkOf = (user: TestUser, mode: Mode) =>
  mode === 'ours'
    ? path.join(user.home, '.ssh', 'ssh-tmux-fix', hostname(), 'agent.sock')
    : path.join(user.home, '.ssh', 'ssh_auth_sock');
const helperOf = (user: TestUser) => path.join(user.home, '.ssh', 'ssh-tmux-fix', 'refresh.sh');

function readlinkOrNull(p: string): string | null {
  try {
    return fs.readlinkSync(p);
  } catch {
    return null;
  }
}

const show = (name: string, r: PaneResult) => `${name}: exit ${r.code}${r.output ? ` (${r.output.replace(/\n/g, ' | ')})` : ''}`;
const allZero = (...rs: PaneResult[]) => rs.every((r) => r.code === 0);

/**
 * Puts the classic recipe in place while keeping what the user's ~/.ssh/rc and tmux.conf
 * already hold (the recipe is appended, as people paste it); writes go through symlinks.
 */
function installClassicKeepingFiles(user: TestUser): void {
  const files = [path.join(user.home, '.ssh', 'rc'), path.join(user.home, '.tmux.conf')];
  const before = files.map((f) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : ''));
  installClassicRecipe(user);
  files.forEach((f, i) => {
    if (before[i]) fs.writeFileSync(f, before[i] + fs.readFileSync(f, 'utf8'));
  });
}

async function installMode(user: TestUser, mode: Mode): Promise<void> {
  if (mode === 'classic') return installClassicKeepingFiles(user);
  const r = await runCli(user, ['install', '--yes']);
  if (r.code !== 0) throw new Error(`install failed (${r.code}):\n${r.stdout}${r.stderr}`);
}

/** Rewrites the installed helper in the user's home; fails loudly if the text to change moved. */
function mutateHelper(user: TestUser, edit: (text: string) => string): void {
  const file = helperOf(user);
  const before = fs.readFileSync(file, 'utf8');
  const after = edit(before);
  if (after === before) throw new Error(`mutant: the edit did not change ${file}; update the mutant`);
  fs.writeFileSync(file, after);
}
/**
 * M1: nothing heals a dangling link: neither the prompt/preexec heal nor the tmux client hooks
 * (when the newer client detaches, client-active fires for the one left and re-points too).
 */
const noHeal = (text: string) => `case \${1-} in heal | client) exit 0 ;; esac\n${text}`;
/** M3: every session takes the link, exec sessions included (the classic recipe's rule). */
const alwaysRepoint = (text: string) =>
  text.replace('{ [ -n "${SSH_TTY-}" ] || [ ! -S "$__stf_link" ]; }', 'true');

function clientsAttached(user: TestUser, session: string, n: number): Promise<true> {
  return until(`${n} clients attached to ${session}`, async () => {
    const r = await tmux(user, ['list-clients', '-t', session]);
    return r.code === 0 && r.stdout.split('\n').filter(Boolean).length >= n ? true : undefined;
  });
}

function rcRanCount(user: TestUser): number {
  const f = path.join(user.home, 'rc-ran');
  return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').filter((l) => l === 'ran').length : 0;
}

// ---------------------------------------------------------------------------------------------
/**
 * What the uninstall check leaves out, and why:
 * - `.local/state` and everything below: the tool's own state and backup sets, kept on purpose
 *   (and `.local` itself when the install created it as their parent);
 * - files the scenario itself makes: `rc-ran` (the user's own rc), shell history
 *   (`.bash_history`, `.zsh_history`, `.local/share/fish/fish_history`) and fish's universal
 *   variable store `.config/fish/fish_variables`, which fish writes at its first start.
 * Nothing outside $HOME is compared (/tmp: sockets, tmux's and fish's runtime files).
 * Compared for everything else: presence, type, mode, owner, bytes, symlink target.
 */
const STATE_DIR = '.local/state';
const SCENARIO_FILES = ['rc-ran', '.bash_history', '.zsh_history', '.local/share/fish/fish_history', '.config/fish/fish_variables'];

/** Differences of the home since `before`, as treeDiff lines ("<path>: ..."), exclusions left out. */
function homeDiff(before: Tree, after: Tree): string[] {
  const excluded = (rel: string) => SCENARIO_FILES.includes(rel) || (rel === '.local' && !before.has(rel));
  const keep = (tree: Tree) => new Map([...tree].filter(([rel]) => !excluded(rel)));
  return treeDiff(keep(after), keep(before));
}

function homeSnapshot(home: string): Tree {
  return snapshot(home, [STATE_DIR], { owners: true });
}

// ---------------------------------------------------------------------------------------------

describeE2E('matrix: ssh-tmux-fix beside the classic recipe, bash/zsh/fish', () => {
  let agent: Agent;
  /** A second machine's agent, with a key of its own (case 7). */
  let desktop: Agent;
  let hop: TestUser;

  beforeAll(async () => {
    agent = await startAgent();
    desktop = await startAgent();
    hop = createUser('bash');
    authorize(hop, agent.publicKey);
  });

  afterAll(async () => {
    hop?.cleanup();
    await agent?.stop();
    await desktop?.stop();
    report();
  });

  /**
   * Runs one cell with a fresh user; records pass/FAIL, then asserts the expected outcome
   * (ours: pass; classic: CLASSIC_EXPECTED). Diagnostics are taken before the user goes away.
   */
  async function cell(row: Row, shell: Shell, mode: Mode, body: (user: TestUser) => Promise<Verdict>): Promise<void> {
    const expected = mode === 'ours' ? true : CLASSIC_EXPECTED[row];
    const user = createUser(shell);
    authorize(user, agent.publicKey);
    let message: string | undefined;
    try {
      const verdict = await body(user);
      results.set(cellKey(row, shell, mode), verdict.ok ? 'pass' : 'FAIL');
      if (process.env.STF_MATRIX_VERBOSE) console.log(`${row}, ${shell}, ${mode}: ${verdict.ok ? 'pass' : 'FAIL'}\n${verdict.detail.join('\n')}`);
      if (!verdict.ok && mode === 'ours') oursNotes.push(`- ${row}, ${shell}: ${verdict.note ?? 'see the test output'}`);
      if (!verdict.ok) failureNotes.push(`${row}, ${shell}, ${mode}:\n    ${verdict.detail.join('\n    ')}`);
      if (verdict.ok !== expected) {
        message =
          `${row}, ${shell}, ${mode}: expected ${expected ? 'pass' : 'FAIL'}, got ${verdict.ok ? 'pass' : 'FAIL'}\n` +
          `${verdict.detail.join('\n')}\n${verdict.diag ? await verdict.diag() : ''}`;
      }
    } catch (e) {
      results.set(cellKey(row, shell, mode), 'error');
      throw e;
    } finally {
      user.cleanup();
    }
    if (message) throw new Error(message);
  }

  /** Login with a tty and the agent forwarded, then `tmux new-session -s main`. */
  async function loginWithTmux(user: TestUser, sshd: Sshd): Promise<{ client: SshSession; pane: string; sanity: PaneResult }> {
    const client = await sshLogin(user, sshd, agent, { tty: true, forwardAgent: true });
    client.type('tmux new-session -s main\r');
    const pane = await sessionPane(user, 'main');
    const sanity = await paneAgentWorks(user, pane);
    return { client, pane, sanity };
  }

  interface SeedOutcome {
    ok: boolean;
    detail: string[];
    oldPane: string;
    newPane: string;
    second: SshSession;
    rcRanAfterLogins: number[];
    /** readlink of `link` once each login's shell was up, and each login's forwarded socket. */
    linkAfterLogins: (string | null)[];
    sockets: string[];
  }

  /** The seed scenario: login, tmux, the connection drops, login again, attach, use the agent. */
  async function seedScenario(user: TestUser, sshd: Sshd, link?: string): Promise<SeedOutcome> {
    const first = await sshLogin(user, sshd, agent, { tty: true, forwardAgent: true });
    const linkAfterLogins = [link ? readlinkOrNull(link) : null];
    first.type('tmux new-session -s main\r');
    const oldPane = await sessionPane(user, 'main');
    const sanity = await paneAgentWorks(user, oldPane);
    const rcRanAfterLogins = [rcRanCount(user)];
    const sockets = [await first.serverSocket()];
    await first.kill();
    const second = await sshLogin(user, sshd, agent, { tty: true, forwardAgent: true });
    linkAfterLogins.push(link ? readlinkOrNull(link) : null);
    sockets.push(await second.serverSocket());
    rcRanAfterLogins.push(rcRanCount(user));
    second.type('tmux attach -t main\r');
    await waitAttached(user, 'main');
    const oldAgent = await paneAgentWorks(user, oldPane);
    const oldHop = await paneHop(user, oldPane, hop, sshd);
    const newPane = await newWindow(user, second);
    const newAgent = await paneAgentWorks(user, newPane);
    const newHop = await paneHop(user, newPane, hop, sshd);
    return {
      ok: allZero(sanity, oldAgent, oldHop, newAgent, newHop),
      detail: [
        show('fresh pane ssh-add -l', sanity),
        show('old pane ssh-add -l', oldAgent),
        show('old pane hop', oldHop),
        show('new window ssh-add -l', newAgent),
        show('new window hop', newHop),
      ],
      oldPane,
      newPane,
      second,
      rcRanAfterLogins,
      linkAfterLogins,
      sockets,
    };
  }

  // -------------------------------------------------------------------------------------------
  describe('sshd with PermitUserRC yes', () => {
    let sshd: Sshd;
    beforeAll(async () => {
      sshd = await startSshd({ permitUserRC: true });
    });
    afterAll(async () => {
      await sshd?.stop();
    });

    // ---- Case 1. Breaks if nothing heals a dangling link before the first command in an old
    // pane (bash DEBUG trap / zsh preexec / fish fish_preexec -> helper `heal` -> newest live socket).
    async function twoConnections(user: TestUser, mode: Mode, mutant?: (t: string) => string): Promise<Verdict & { first: PaneResult }> {
      await installMode(user, mode);
      if (mutant) mutateHelper(user, mutant);
      const link = linkOf(user, mode);
      const { client: a, pane, sanity } = await loginWithTmux(user, sshd);
      const sockA = await a.serverSocket();
      const b = await sshLogin(user, sshd, agent, { tty: true, forwardAgent: true });
      const sockB = await b.serverSocket();
      b.type('tmux attach -t main\r');
      await clientsAttached(user, 'main', 2);
      const linkWhileBoth = readlinkOrNull(link);
      await b.kill(); // waits for B's socket to vanish
      const first = await paneAgentWorks(user, pane);
      const hopped = await paneHop(user, pane, hop, sshd);
      return {
        ok: allZero(sanity, first, hopped),
        first,
        detail: [
          show('fresh pane ssh-add -l', sanity),
          show('FIRST command in the old pane after B closed, ssh-add -l', first),
          show('old pane hop', hopped),
          `A's socket ${sockA}, B's socket ${sockB}; link while both were up -> ${linkWhileBoth}; now -> ${readlinkOrNull(link)}`,
        ],
        diag: () => diagnose(user, sshd, [pane]),
      };
    }

    test.each(GRID)(`${ROW.twoConnections}: %s, %s`, async (shell, mode) => {
      await cell(ROW.twoConnections, shell, mode, (user) => twoConnections(user, mode));
    }, CASE_TIMEOUT);

    // ---- Case 3. Breaks if an exec session (no tty) takes a live link: its socket dies with its
    // command (the helper's rc rule: only a session with SSH_TTY, or a dead link, re-points).
    async function execSessions(user: TestUser, mode: Mode, mutants: ((t: string) => string)[] = []): Promise<Verdict & { linkKept: boolean; first: PaneResult }> {
      await installMode(user, mode);
      for (const m of mutants) mutateHelper(user, m);
      const link = linkOf(user, mode);
      const { client: a, pane, sanity } = await loginWithTmux(user, sshd);
      const sockA = await a.serverSocket();
      const linkBefore = readlinkOrNull(link);
      const execs: string[] = [];
      let execsOk = true;
      for (let i = 1; i <= 5; i++) {
        const r = await sshExec(user, sshd, agent, 'true');
        // Exit 0 and NOTHING on stdout: scp, rsync and git read that stream.
        if (r.code !== 0 || r.stdout !== '') execsOk = false;
        execs.push(`exec session ${i}: exit ${r.code}, stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr.trim())}`);
        await until(`exec session ${i}'s socket to vanish`, () => {
          const live = liveAgentSockets(user);
          return live.length === 1 && live[0] === sockA ? true : undefined;
        });
      }
      const linkAfter = readlinkOrNull(link);
      const linkKept = linkAfter === sockA;
      const first = await paneAgentWorks(user, pane);
      const hopped = await paneHop(user, pane, hop, sshd);
      return {
        ok: execsOk && linkKept && allZero(sanity, first, hopped),
        linkKept,
        first,
        detail: [
          show('fresh pane ssh-add -l', sanity),
          ...execs,
          `link before the exec sessions -> ${linkBefore}; after -> ${linkAfter}; login A's socket ${sockA} (kept: ${linkKept})`,
          show('VERY FIRST command in the pane, ssh-add -l', first),
          show('pane hop', hopped),
        ],
        diag: () => diagnose(user, sshd, [pane]),
      };
    }

    test.each(GRID)(`${ROW.execSessions}: %s, %s`, async (shell, mode) => {
      await cell(ROW.execSessions, shell, mode, (user) => execSessions(user, mode));
    }, CASE_TIMEOUT);

    // ---- Mutants: the same scenarios against a deliberately broken runtime must fail.
    test.each(SHELLS)('mutant M1 (heal disabled) makes case 1 fail: %s', async (shell) => {
      const user = createUser(shell);
      authorize(user, agent.publicKey);
      try {
        const v = await twoConnections(user, 'ours', noHeal);
        mutantLog.push(`M1 heal disabled, case 1, ${shell}: case ${v.ok ? 'PASSED (mutant survived!)' : 'fails'} (first command exit ${v.first.code})`);
        expect({ ok: v.ok, firstCode: v.first.code }).toEqual({ ok: false, firstCode: 2 });
      } finally {
        user.cleanup();
      }
    }, CASE_TIMEOUT);

    test.each(SHELLS)('mutant M3 (exec sessions re-point the link) makes case 3 fail: %s', async (shell) => {
      const user = createUser(shell);
      authorize(user, agent.publicKey);
      try {
        const v = await execSessions(user, 'ours', [alwaysRepoint]);
        mutantLog.push(
          `M3 always re-point, case 3, ${shell}: case ${v.ok ? 'PASSED (mutant survived!)' : 'fails'} ` +
            `(link kept: ${v.linkKept}; first command exit ${v.first.code}, healed by the preexec path)`,
        );
        expect(v.ok).toBe(false);
        expect(v.linkKept).toBe(false);
      } finally {
        user.cleanup();
      }
    }, CASE_TIMEOUT);

    test('mutant M3+M1 (re-point, and no heal) makes the first command of case 3 fail: bash', async () => {
      const user = createUser('bash');
      authorize(user, agent.publicKey);
      try {
        const v = await execSessions(user, 'ours', [alwaysRepoint, noHeal]);
        mutantLog.push(`M3+M1, case 3, bash: case ${v.ok ? 'PASSED (mutant survived!)' : 'fails'} (first command exit ${v.first.code})`);
        expect({ ok: v.ok, firstCode: v.first.code }).toEqual({ ok: false, firstCode: 2 });
      } finally {
        user.cleanup();
      }
    }, CASE_TIMEOUT);

    // ---- Case 4. Breaks if the install puts its block where this bash never reads it
    // (.bash_profile without .profile/.bashrc; non-login panes via default-command read only
    // .bashrc), writes over the tmux.conf symlink, drops the user's own rc lines, or if
    // uninstall does not give back every byte, mode and symlink.
    function writeLongLivedDotfiles(user: TestUser, shell: Shell): void {
      const h = user.home;
      const created: string[] = [];
      const write = (rel: string, text: string, mode: number) => {
        const f = path.join(h, rel);
        fs.mkdirSync(path.dirname(f), { recursive: true });
        fs.writeFileSync(f, text, { mode });
        fs.chmodSync(f, mode);
        created.push(f);
      };
      write('.bash_profile', '# My login file since 2009: reads neither ~/.profile nor ~/.bashrc.\nexport EDITOR=vi\nPS1=\'\\u@\\h:\\w\\$ \'\n', 0o640);
      write(
        'dotfiles/tmux.conf',
        '# managed in my dotfiles repo\nset -g update-environment "DISPLAY SSH_AUTH_SOCK XAUTHORITY"\nset -g default-command "$SHELL"\nset -g history-limit 5000\n',
        0o600,
      );
      fs.symlinkSync('dotfiles/tmux.conf', path.join(h, '.tmux.conf'));
      created.push(path.join(h, '.tmux.conf'), path.join(h, 'dotfiles'));
      write('.ssh/rc', '# my own rc: count the sessions\necho ran >> ~/rc-ran\n', 0o700);
      if (shell === 'zsh') write('.zshrc', '# my zshrc\nbindkey -e\nHISTSIZE=5000\n', 0o644);
      if (shell === 'fish') {
        write('.config/fish/config.fish', '# my fish config\nset -gx EDITOR vi\n', 0o644);
        // A fish user of long standing has the directories fish's first interactive start makes.
        for (const d of ['completions', 'conf.d', 'functions']) fs.mkdirSync(path.join(h, '.config/fish', d), { mode: 0o755 });
      }
      for (const f of created) fs.lchownSync(f, user.uid, user.gid);
      for (const d of ['.config', '.config/fish', '.config/fish/completions', '.config/fish/conf.d', '.config/fish/functions']) {
        if (fs.existsSync(path.join(h, d))) fs.lchownSync(path.join(h, d), user.uid, user.gid);
      }
    }

    test.each(GRID)(`${ROW.dotfiles}: %s, %s`, async (shell, mode) => {
      await cell(ROW.dotfiles, shell, mode, async (user) => {
        writeLongLivedDotfiles(user, shell);
        const before = homeSnapshot(user.home);
        await installMode(user, mode);
        // The comparator must see the install's own writes, through the symlink, and no others
        // than expected: the user's rc, the tmux.conf behind the link, the bash login file.
        const installDiff = homeDiff(before, homeSnapshot(user.home));
        const changed = (rel: string) => installDiff.some((d) => d.startsWith(`${rel}: `));
        const installSeen = changed('.ssh/rc') && changed('dotfiles/tmux.conf') && (mode === 'classic' || changed('.bash_profile'));
        const conf = path.join(user.home, '.tmux.conf');
        const symlinkKept = fs.lstatSync(conf).isSymbolicLink() && fs.readlinkSync(conf) === 'dotfiles/tmux.conf';
        const seed = await seedScenario(user, sshd);
        const rcRan = seed.rcRanAfterLogins;
        const rcKeptRunning = rcRan[0] >= 1 && rcRan[1] > rcRan[0];
        // default-command "$SHELL": the panes must be non-login shells (argv[0] without '-').
        const paneArgv0 = await Promise.all([seed.oldPane, seed.newPane].map(async (p) => {
          const pid = (await tmux(user, ['display-message', '-p', '-t', p, '#{pane_pid}'])).stdout.trim();
          return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
        }));
        const nonLoginPanes = paneArgv0.every((a) => !a.startsWith('-'));
        const detail = [
          ...seed.detail,
          `install changed (seen by the comparator): ${installDiff.map((d) => d.split('\n')[0]).join('; ')}`,
          `pane shells' argv[0]: ${paneArgv0.join(', ')} (non-login: ${nonLoginPanes})`,
          `~/.tmux.conf still a symlink to dotfiles/tmux.conf: ${symlinkKept}`,
          `~/rc-ran lines after login 1, 2: ${rcRan}`,
        ];
        let uninstallOk = true;
        if (mode === 'ours') {
          const un = await runCli(user, ['uninstall', '--yes']);
          const diffs = homeDiff(before, homeSnapshot(user.home));
          const countBefore = rcRanCount(user);
          const exec = await sshExec(user, sshd, agent, 'true');
          const rcAfterUninstall = exec.code === 0 && rcRanCount(user) === countBefore + 1;
          uninstallOk = un.code === 0 && diffs.length === 0 && rcAfterUninstall;
          detail.push(
            `uninstall --yes: exit ${un.code}${un.code !== 0 ? `\n${un.stdout}${un.stderr}` : ''}`,
            `home after uninstall vs before install: ${diffs.length === 0 ? 'identical' : `\n  ${diffs.join('\n  ')}`}`,
            `user's rc still runs after uninstall: ${rcAfterUninstall}`,
          );
        }
        return {
          ok: seed.ok && installSeen && nonLoginPanes && symlinkKept && rcKeptRunning && uninstallOk,
          detail,
          diag: async () => `--- second login (tail):\n${clientTail(seed.second)}\n${await diagnose(user, sshd, [seed.oldPane, seed.newPane])}`,
        };
      });
    }, CASE_TIMEOUT);

    // ---- Case 5. Breaks if the install does not reach the running tmux server (set-environment
    // -g + hooks given live) or prints a line that does not put the old pane on the link.
    test.each(GRID)(`${ROW.insideTmux}: %s, %s`, async (shell, mode) => {
      await cell(ROW.insideTmux, shell, mode, async (user) => {
        const { client: first, pane: oldPane, sanity } = await loginWithTmux(user, sshd);
        const detail = [show('fresh pane (nothing installed yet) ssh-add -l', sanity)];
        let line: string;
        if (mode === 'ours') {
          const inst = await paneRun(user, oldPane, `${process.execPath} ${path.join(appDir(), 'dist', 'cli.js')} install --yes`);
          // The whole line as printed, trailing comment included: that is what people paste.
          const m = (shell === 'fish' ? /^\s*(set -gx SSH_AUTH_SOCK .*?)\s*$/m : /^\s*(export SSH_AUTH_SOCK=.*?)\s*$/m).exec(inst.output);
          if (inst.code !== 0 || !m) throw new Error(`install in the pane: exit ${inst.code}, no line to run found:\n${inst.output}`);
          line = m[1];
        } else {
          installClassicKeepingFiles(user);
          const link = linkOf(user, mode);
          line = shell === 'fish' ? `set -gx SSH_AUTH_SOCK ${link}` : `export SSH_AUTH_SOCK=${link}`;
        }
        detail.push(`line run in the old pane: ${line}`);
        await first.kill();
        const second = await sshLogin(user, sshd, agent, { tty: true, forwardAgent: true });
        second.type('tmux attach -t main\r');
        await waitAttached(user, 'main');
        const newPane = await newWindow(user, second);
        const newAgent = await paneAgentWorks(user, newPane);
        const newHop = await paneHop(user, newPane, hop, sshd);
        const oldBefore = await paneAgentWorks(user, oldPane);
        await paneTypeLine(user, oldPane, line);
        // The line itself must run cleanly in that shell: exit status 0.
        const statusFile = path.join(user.workDir, 'line-status');
        await paneTypeLine(user, oldPane, `echo ${shell === 'fish' ? '$status' : '$?'} >${statusFile}`);
        const lineStatus = await until('the status of the pasted line', () => {
          const t = fs.existsSync(statusFile) ? fs.readFileSync(statusFile, 'utf8') : '';
          return t.endsWith('\n') ? Number(t) : undefined;
        });
        const oldAfter = await paneAgentWorks(user, oldPane);
        const oldHop = await paneHop(user, oldPane, hop, sshd);
        detail.push(
          show('new window ssh-add -l', newAgent),
          show('new window hop', newHop),
          show('old pane ssh-add -l before the line (still the dead socket; expected 2)', oldBefore),
          `exit status of the pasted line in the ${shell} pane: ${lineStatus}`,
          show('old pane ssh-add -l after the line', oldAfter),
          show('old pane hop', oldHop),
        );
        return {
          ok: allZero(sanity, newAgent, newHop, oldAfter, oldHop) && lineStatus === 0,
          detail,
          note:
            lineStatus !== 0 && allZero(sanity, newAgent, newHop, oldAfter, oldHop)
              ? `the agent works, but the line the install prints, \`${line.replace(/'[^']*'/, "'…'")}\`, exits ${lineStatus} when pasted ` +
                `into the ${shell} pane${shell === 'zsh' ? ' ("export: not valid in this context: bash,": zsh takes `#` as a comment at the prompt only with `setopt interactivecomments`)' : ''}`
              : undefined,
          diag: () => diagnose(user, sshd, [oldPane]),
        };
      });
    }, CASE_TIMEOUT);

    // ---- Case 6. Breaks if the install edits update-environment (drops the user's entries) or
    // if the client-attached hook does not win over the copy update-environment makes at attach.
    const UPDATE_ENV: Record<'3.6' | '3.7', string[]> = {
      '3.6': 'DISPLAY KRB5CCNAME MSYSTEM SSH_ASKPASS SSH_AUTH_SOCK SSH_AGENT_PID SSH_CONNECTION WINDOWID XAUTHORITY'.split(' '),
      '3.7': 'DISPLAY KRB5CCNAME MSYSTEM SSH_ASKPASS SSH_AUTH_SOCK SSH_AGENT_PID SSH_CONNECTION WINDOWID XAUTHORITY WAYLAND_DISPLAY XDG_SESSION_TYPE'.split(' '),
    };
    const TMUX_GRID = (['3.6', '3.7'] as const).flatMap((release) => GRID.map(([shell, mode]) => [release, shell, mode] as const));

    test.each(TMUX_GRID)('6. update-environment of tmux %s: %s, %s', async (release, shell, mode) => {
      const row = release === '3.6' ? ROW.tmux36 : ROW.tmux37;
      await cell(row, shell, mode, async (user) => {
        const conf = path.join(user.home, '.tmux.conf');
        fs.writeFileSync(conf, `# as shipped by tmux ${release}\nset -g update-environment "${UPDATE_ENV[release].join(' ')}"\n`);
        fs.chownSync(conf, user.uid, user.gid);
        await installMode(user, mode);
        const link = linkOf(user, mode);
        const seed = await seedScenario(user, sshd);
        const sessionEnv = (await tmux(user, ['show-environment', '-t', 'main', 'SSH_AUTH_SOCK'])).stdout.trim();
        const newWindowSock = await paneRun(user, seed.newPane, 'printenv SSH_AUTH_SOCK');
        // Ours: a pane's shell uses the link of its session.
        const paneLink = mode === 'ours' ? await sessionLinkOf(user, 'main') : link;
        const ue = await tmux(user, ['show', '-g', 'update-environment']);
        const values = ue.stdout.split('\n').filter(Boolean).map((l) => l.replace(/^\S+\s+/, '').replace(/^"(.*)"$/, '$1'));
        // The classic recipe drops SSH_AUTH_SOCK on purpose; count only its collateral losses.
        const missing = UPDATE_ENV[release].filter((e) => !values.includes(e) && !(mode === 'classic' && e === 'SSH_AUTH_SOCK'));
        // Ours puts the host's link into the session environment (the hook that wins over the
        // copy), then the session's own link (the client hook, in the background, once it made
        // it); the classic recipe takes SSH_AUTH_SOCK out of update-environment, so the link
        // reaches panes from the global one.
        const sessionOk = mode === 'classic' || [link, paneLink].some((l) => sessionEnv === `SSH_AUTH_SOCK=${l}`);
        return {
          ok: seed.ok && sessionOk && newWindowSock.output === paneLink && missing.length === 0,
          detail: [
            ...seed.detail,
            `tmux show-environment -t main SSH_AUTH_SOCK: ${sessionEnv || '(nothing)'} (link ${link})`,
            `new window's SSH_AUTH_SOCK: ${newWindowSock.output} (its session's link ${paneLink})`,
            `update-environment now: ${values.join(' ')}; user's entries missing: ${missing.join(' ') || 'none'}`,
          ],
          diag: () => diagnose(user, sshd, [seed.oldPane, seed.newPane]),
        };
      });
    }, CASE_TIMEOUT);
    /** `ssh-add -l` typed at the laptop, the desktop, the laptop: did each reach its own key? */
    async function typedInTurn(user: TestUser, laptop: SshSession, desk: SshSession) {
      const keys = { laptop: keyFingerprint(agent), desktop: keyFingerprint(desktop) };
      const typed: string[] = [];
      let ok = true;
      for (const [client, name] of [[laptop, 'laptop'], [desk, 'desktop'], [laptop, 'laptop']] as const) {
        const reached = await typedAtClient(user, client);
        ok &&= reached === keys[name];
        typed.push(`typed at the ${name}: reached ${reached === keys.laptop ? 'the laptop' : reached === keys.desktop ? 'the desktop' : reached}`);
      }
      return { ok, typed, keys };
    }

    // ---- Case 7. Breaks if the link stays with the newest login instead of following the
    // keyboard (the client-active hook -> helper `client` -> that client's recorded socket).
    test.each(GRID)(`${ROW.twoMachines}: %s, %s`, async (shell, mode) => {
      await cell(ROW.twoMachines, shell, mode, async (user) => {
        authorize(user, desktop.publicKey);
        await installMode(user, mode);
        const { client: laptop, pane } = await loginWithTmux(user, sshd);
        const desk = await sshLogin(user, sshd, desktop, { tty: true, forwardAgent: true });
        desk.type('tmux attach -t main\r');
        await attachedClients(user, 2);
        const { ok, typed, keys } = await typedInTurn(user, laptop, desk);
        return {
          ok,
          detail: [`ssh-add -l typed in the shared pane, in turn (laptop ${keys.laptop}, desktop ${keys.desktop}):`, ...typed],
          diag: () => diagnose(user, sshd, [pane]),
          note: 'a command typed at one machine reached the other machine\'s agent',
        };
      });
    }, CASE_TIMEOUT);
    // ---- Case 10. Breaks if the panes of a session use the host's one link (the machine that
    // logged in last) instead of their session's, pointed at the client attached to it.
    test.each(GRID)(`${ROW.sessionEach}: %s, %s`, async (shell, mode) => {
      await cell(ROW.sessionEach, shell, mode, async (user) => {
        authorize(user, desktop.publicKey);
        await installMode(user, mode);
        const { client: laptop, pane } = await loginWithTmux(user, sshd);
        const desk = await sshLogin(user, sshd, desktop, { tty: true, forwardAgent: true });
        desk.type('tmux new-session -s desk\r');
        const deskPane = await sessionPane(user, 'desk');
        await attachedClients(user, 2);
        const { ok, typed, keys } = await typedInTurn(user, laptop, desk);
        return {
          ok,
          detail: [`ssh-add -l typed in each machine's own session, in turn (laptop ${keys.laptop}, desktop ${keys.desktop}):`, ...typed],
          diag: () => diagnose(user, sshd, [pane, deskPane]),
          note: 'a command typed in the laptop\'s session reached the desktop\'s agent',
        };
      });
    }, CASE_TIMEOUT);
  });

  // -------------------------------------------------------------------------------------------
  describe('sshd with PermitUserRC no', () => {
    let sshd: Sshd;
    beforeAll(async () => {
      sshd = await startSshd({ permitUserRC: false });
    });
    afterAll(async () => {
      await sshd?.stop();
    });

    // ---- Case 2. Breaks if the login shell outside tmux does not re-point the link (the
    // profile/bashrc/zshrc/fish blocks) or the tmux shells do not use the link: ~/.ssh/rc never runs.
    test.each(GRID)(`${ROW.noUserRc}: %s, %s`, async (shell, mode) => {
      await cell(ROW.noUserRc, shell, mode, async (user) => {
        await installMode(user, mode);
        const link = linkOf(user, mode);
        const seed = await seedScenario(user, sshd, link);
        // ~/.ssh/rc cannot have done it: each login shell itself must have taken the link.
        const loginPath = seed.linkAfterLogins.every((l, i) => l === seed.sockets[i]);
        return {
          ok: seed.ok && loginPath,
          detail: [
            ...seed.detail,
            `link once each login shell was up -> ${seed.linkAfterLogins.map((l) => l ?? '(no link)').join(', ')}; the logins' sockets ${seed.sockets.join(', ')}`,
          ],
          diag: async () => `--- second login (tail):\n${clientTail(seed.second)}\n${await diagnose(user, sshd, [seed.oldPane, seed.newPane])}`,
        };
      });
    }, CASE_TIMEOUT);
  });

  // -------------------------------------------------------------------------------------------
  describe('Dropbear server', () => {
    let dropbear: Sshd;
    beforeAll(async () => {
      dropbear = await startDropbear();
    });
    afterAll(async () => {
      await dropbear?.stop();
    });

    // ---- Case 8. Breaks if only ~/.ssh/rc points the link (Dropbear runs none) or the scan does
    // not know Dropbear's sockets (/tmp/dropbear-*/auth-*).
    test.each(GRID)(`${ROW.dropbear}: %s, %s`, async (shell, mode) => {
      await cell(ROW.dropbear, shell, mode, async (user) => {
        await installMode(user, mode);
        const seed = await seedScenario(user, dropbear, linkOf(user, mode));
        return {
          ok: seed.ok,
          detail: [...seed.detail, `link once each login was up -> ${seed.linkAfterLogins.map((l) => l ?? '(no link)').join(', ')}`],
          diag: () => diagnose(user, dropbear, [seed.oldPane, seed.newPane]),
        };
      });
    }, CASE_TIMEOUT);
  });

  // -------------------------------------------------------------------------------------------
  describe('two hosts over one home (NFS)', () => {
    let sshdA: Sshd;
    let sshdB: Sshd;
    beforeAll(async () => {
      [sshdA, sshdB] = await Promise.all([startSshd({ permitUserRC: true }), startSshd({ permitUserRC: true, hostname: `stf-b-${process.pid}` })]);
    });
    afterAll(async () => {
      await sshdA?.stop();
      await sshdB?.stop();
    });

    // ---- Case 9. Breaks if a login to host B moves what host A's panes reach (one link per
    // home instead of one per host). Host B: its own hostname and /tmp, the same home.
    test.each(GRID)(`${ROW.twoHosts}: %s, %s`, async (shell, mode) => {
      await cell(ROW.twoHosts, shell, mode, async (user) => {
        authorize(user, desktop.publicKey);
        await installMode(user, mode);
        const { pane, sanity } = await loginWithTmux(user, sshdA);
        const onB = await sshLogin(user, sshdB, desktop, { tty: true, forwardAgent: true });
        const socketB = await onB.serverSocket();
        const afterB = await paneAgentWorks(user, pane);
        const keyA = keyFingerprint(agent);
        return {
          ok: allZero(sanity, afterB) && afterB.output.includes(keyA),
          detail: [
            show("host A's pane ssh-add -l before", sanity),
            show("host A's pane ssh-add -l once the user logged in to host B", afterB),
            `host A's key ${keyA}; host B's login socket ${socketB} (in B's /tmp); link -> ${readlinkOrNull(linkOf(user, mode))}`,
          ],
          diag: () => diagnose(user, sshdA, [pane]),
          note: "a login to the other host moved what this host's panes reach",
        };
      });
    }, CASE_TIMEOUT);
  });

  // A normal run never writes under docs/: it checks the committed table against this run's
  // results; STF_WRITE_DOCS=1 writes it instead (after a change that moves a cell).
  test('docs/comparison.md holds this run\'s table', () => {
    const doc = comparisonDoc();
    if (doc === null) return; // a partial run (-t filter) has no table to compare
    const committed = path.join(REPO_DIR, 'docs', 'comparison.md');
    if (process.env.STF_WRITE_DOCS === '1') fs.writeFileSync(committed, doc);
    expect(fs.readFileSync(committed, 'utf8')).toBe(doc);
  });
});

// ---------------------------------------------------------------------------------------------
// The table

function matrixTable(): string {
  const rows = Object.values(ROW);
  const header = '| case | shell | ssh-tmux-fix | classic `ln -sf` recipe |\n|---|---|---|---|';
  const lines = rows.flatMap((row) =>
    SHELLS.map((shell) => `| ${row} | ${shell} | ${results.get(cellKey(row, shell, 'ours')) ?? 'not run'} | ${results.get(cellKey(row, shell, 'classic')) ?? 'not run'} |`),
  );
  return `${header}\n${lines.join('\n')}`;
}

function report(): void {
  console.log(`ssh-tmux-fix e2e matrix (pass = the scenario works for the user):\n${matrixTable()}\n\nMutants:\n${mutantLog.join('\n')}\n\nWhy the failing cells fail:\n${failureNotes.join('\n')}`);
}

/** docs/comparison.md as this run's results write it; null after a partial run (-t filter). */
function comparisonDoc(): string | null {
  const rows = Object.values(ROW);
  const complete = rows.every((row) => SHELLS.every((shell) => MODES.every((mode) => results.has(cellKey(row, shell, mode)))));
  if (!complete) return null;
  const table = matrixTable();
  return (
    '# ssh-tmux-fix beside the classic `ln -sf` recipe\n\n' +
    'Each row is one end-to-end scenario of `test/e2e/matrix.test.ts` (real sshd, ssh-agent, ssh client and ' +
    'tmux 3.3a), run by that test once with ssh-tmux-fix installed and once with the widely copied `~/.ssh/rc` + ' +
    '`ln -sf` recipe instead, for a user whose login shell is bash, zsh or fish (`STF_WRITE_DOCS=1 npm test` writes this ' +
    'file; a normal run checks it is current). "pass" means ' +
    'the agent works where the scenario needs it (and, for case 4, that uninstall restores the home byte for byte; ' +
    'for case 5, that the line the install prints runs cleanly; for case 6, that the user\'s update-environment ' +
    'entries survive; for case 7, that `ssh-add -l` typed in turn at two ssh -A clients, each with its own agent and ' +
    'key, attached to one session, reaches the agent of the machine it was typed at; for case 9, that a pane on host A still reaches A\'s agent ' +
    'after the user logs in to host B, a second sshd with its own hostname and /tmp over the same home; for case 10, ' +
    'the same as 7 with the laptop and the desktop each attached to a session of its own).\n\n' +
    `${table}\n` +
    (oursNotes.length ? `\nWhere ssh-tmux-fix fails:\n\n${oursNotes.join('\n')}\n` : '') +
    '\nAlso end to end, in `test/e2e/x11-burst.test.ts`: with `ssh -X`/`-Y`, the classic recipe\'s ' +
    '`~/.ssh/rc` leaves `xauth list "$DISPLAY"` empty (sshd no longer runs xauth once `~/.ssh/rc` exists), ' +
    'ssh-tmux-fix\'s rc block feeds the cookie to xauth; bad `SSH_AUTH_SOCK` values at login shells and a burst ' +
    'of 30 concurrent logins are tested for ssh-tmux-fix only.\n'
  );
}
