/*
 * `sudo ssh-tmux-fix install --system` on the real machine: the real /etc files and
 * /usr/local/lib/ssh-tmux-fix, read by a real sshd, bash, zsh, fish and tmux. Brand-new users,
 * made after the install with bare homes (no ~/.ssh, no skeleton files), do the seed's story;
 * a user with an own ~/.ssh/rc (sshd then skips /etc/ssh/sshrc) too; `uninstall --system` gives
 * every system file back byte for byte.
 *
 * It changes /etc while it runs: every file it may touch is saved first and put back, byte for
 * byte with its mode, in afterAll (jest runs the e2e files one at a time, --runInBand). On a
 * machine where other suites run at once, run it in a private mount namespace with /etc,
 * /usr/local/lib and /var/lib overlaid, so that nobody else sees the change:
 *   unshare --mount --propagation private sh -c 'for d in /etc /usr/local/lib /var/lib; do
 *     t=$(mktemp -d); mkdir $t/u $t/w; mount -t overlay overlay -o lowerdir=$d,upperdir=$t/u,workdir=$t/w $d; done;
 *     exec npx jest test/e2e/system.test.ts'
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { systemPaths } from '../../src/system';
import {
  Agent,
  SavedSystem,
  Shell,
  Sshd,
  TestUser,
  base,
  createUser,
  describeE2E,
  diagnose,
  expectOk,
  newWindow,
  paneAgentWorks,
  paneRun,
  paneTypeLine,
  restoreSystemFiles,
  runCli,
  runCliAsRoot,
  saveSystemFiles,
  sessionPane,
  sshLogin,
  startAgent,
  startSshd,
  systemShas,
  until,
  waitAttached,
} from './harness';

const PATHS = systemPaths({});


/**
 * A user made now, after the install, with a bare home: nothing in it but what zsh and fish
 * need not to start their first-run helpers (an empty ~/.zshrc, fish's completions directory).
 * The key is read by sshd from outside the home, so not even ~/.ssh exists.
 */
function bareUser(shell: Shell, keysDir: string, publicKey: string): TestUser {
  const user = createUser(shell);
  for (const name of fs.readdirSync(user.home)) {
    if (name === '.zshrc' || (name === '.local' && shell === 'fish')) continue;
    fs.rmSync(path.join(user.home, name), { recursive: true, force: true });
  }
  fs.writeFileSync(path.join(keysDir, user.name), `${publicKey}\n`, { mode: 0o644 });
  return user;
}

/** ssh -A, tmux, the connection drops, ssh back, tmux attach: old pane and new window reach the agent. */
async function seedStory(user: TestUser, sshd: Sshd, agent: Agent): Promise<void> {
  const first = await sshLogin(user, sshd, agent, { tty: true, forwardAgent: true });
  first.type('tmux new-session -s main\r');
  const oldPane = await sessionPane(user, 'main');
  const sanity = await paneAgentWorks(user, oldPane);
  if (sanity.code !== 0) throw new Error(`fresh pane: ssh-add -l gave ${sanity.code} (${sanity.output})\n${await diagnose(user, sshd, [oldPane])}`);
  await first.kill();
  const second = await sshLogin(user, sshd, agent, { tty: true, forwardAgent: true });
  second.type('tmux attach -t main\r');
  await waitAttached(user, 'main');
  const old = await paneAgentWorks(user, oldPane);
  const newPane = await newWindow(user, second);
  const fresh = await paneAgentWorks(user, newPane);
  if (old.code !== 0 || fresh.code !== 0) {
    throw new Error(`old pane: ${old.code} ${old.output}; new window: ${fresh.code} ${fresh.output}\n${await diagnose(user, sshd, [oldPane, newPane])}`);
  }
  // Made by the runtime at the login, the user's own and private.
  for (const dir of ['.ssh', '.ssh/ssh-tmux-fix']) {
    const st = fs.statSync(path.join(user.home, dir));
    expect([dir, st.mode & 0o777, st.uid]).toEqual([dir, 0o700, user.uid]);
  }
  // tmux read /etc/tmux.conf and the shared part it sources.
  const hooks = await paneRun(user, oldPane, 'tmux show-hooks -g | grep -c 7311');
  expect(hooks.output).toBe('3');
}

describeE2E('install --system: every user, at the next login, nothing written into homes by root', () => {
  let sshd: Sshd;
  let agent: Agent;
  let saved: SavedSystem;
  let before: Record<string, string>;
  let keysDir: string;

  beforeAll(async () => {
    saved = saveSystemFiles();
    before = systemShas();
    keysDir = path.join(base(), 'keys');
    fs.mkdirSync(keysDir, { mode: 0o755 });
    fs.chmodSync(base(), 0o755);
    agent = await startAgent();
    // The keys come from outside the homes (the first AuthorizedKeysFile line is the one sshd uses).
    sshd = await startSshd({ permitUserRC: true, extraConfig: `AuthorizedKeysCommand /bin/cat ${keysDir}/%u\nAuthorizedKeysCommandUser root` });
    expectOk(runCliAsRoot(['install', '--system', '--yes']), 'install --system');
  });
  afterAll(async () => {
    try {
      await agent?.stop();
      await sshd?.stop();
    } finally {
      restoreSystemFiles(saved);
    }
  });

  test.each<Shell>(['bash', 'zsh', 'fish'])('a new %s user with a bare home: the seed story works', async (shell) => {
    const user = bareUser(shell, keysDir, agent.publicKey);
    try {
      await seedStory(user, sshd, agent);
      const doctor = await runCli(user, ['doctor']);
      expect(doctor.stdout).toContain(`the system-wide install (${PATHS.libDir}) is in effect for this home`);
    } finally {
      user.cleanup();
    }
  }, 60_000);

  /** The hooks a pane's shell has, written by that shell itself: each of ours must appear once. */
  const HOOKS: Record<Shell, [string, string]> = {
    bash: ['echo "$PROMPT_COMMAND|$(trap -p DEBUG)" >', "__stf_heal && :|trap -- '__stf_preexec' DEBUG"],
    zsh: ['echo "${precmd_functions[*]}|${preexec_functions[*]}" >', '__stf_heal|__stf_heal'],
    fish: ['functions --handlers | string match -e __stf_heal | count >', '2'],
  };

  test.each<Shell>(['bash', 'zsh', 'fish'])('a %s user who also ran the per-user install: the story works, the hooks once', async (shell) => {
    const user = bareUser(shell, keysDir, agent.publicKey);
    try {
      expectOk(await runCli(user, ['install', '--yes']), 'per-user install');
      await seedStory(user, sshd, agent);
      const out = path.join(user.workDir, 'hooks');
      // The session's first pane: the one that lived through the drop.
      await paneTypeLine(user, 'main:0.0', `${HOOKS[shell][0]} ${out}`);
      await until(`the hooks written by the ${shell} pane`, () => (fs.existsSync(out) && fs.readFileSync(out, 'utf8').endsWith('\n') ? true : undefined));
      expect(fs.readFileSync(out, 'utf8').trim()).toBe(HOOKS[shell][1]);
      const doctor = await runCli(user, ['doctor']);
      expect(doctor.stdout).toContain('both installs are here');
    } finally {
      user.cleanup();
    }
  }, 60_000);

  test('a user with an own ~/.ssh/rc (sshd skips /etc/ssh/sshrc): the login shell keeps the link; doctor says so', async () => {
    const user = bareUser('bash', keysDir, agent.publicKey);
    try {
      fs.mkdirSync(path.join(user.home, '.ssh'), { mode: 0o700 });
      fs.writeFileSync(path.join(user.home, '.ssh', 'rc'), 'true\n');
      spawnSync('chown', ['-R', `${user.uid}:${user.gid}`, path.join(user.home, '.ssh')]);
      await seedStory(user, sshd, agent);
      const doctor = await runCli(user, ['doctor']);
      expect(doctor.stdout).toContain('sshd runs your own ~/.ssh/rc instead of /etc/ssh/sshrc');
    } finally {
      user.cleanup();
    }
  }, 60_000);

  test('uninstall --system gives every system file back byte for byte (sha256)', () => {
    const status = runCliAsRoot(['status', '--system']);
    expect(status.stdout).toContain(PATHS.sshrc);
    expectOk(runCliAsRoot(['uninstall', '--system', '--yes']), 'uninstall --system');
    expect(systemShas()).toEqual(before);
    expect(fs.existsSync(PATHS.libDir)).toBe(saved.dirs.includes(PATHS.libDir));
  });
});
