/*
 * Dotfiles kept in a git repository (issue 11, item 2), for real: a user's repository, linked
 * into the home package by package as GNU stow does, gets the install's blocks through the
 * links (install says so) and they are committed. The repository is then cloned and linked
 * the same way for a user of a "second machine" where ssh-tmux-fix is not installed: no
 * ~/.ssh/ssh-tmux-fix, no helper. There a real `ssh -A` login in bash, zsh and fish, and tmux
 * in it, print nothing of ours, keep `$?`, and the pane reaches the forwarded agent (its
 * SSH_AUTH_SOCK is the login's socket, not a link that does not exist).
 * The render-level checks of each part without the install are in test/unit/render.test.ts.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  Agent,
  Shell,
  Sshd,
  TestUser,
  authorize,
  base,
  capturePane,
  createUser,
  describeE2E,
  expectOk,
  paneAgentWorks,
  paneRun,
  paneTypeLine,
  runCli,
  sessionPane,
  sshLogin,
  startAgent,
  startSshd,
  stripAnsi,
  tmux,
  until,
} from './harness';

/** What every shell shows as its prompt, so that anything else it prints stands out. */
const PROMPT = 'P> ';

/** The repository: one stow package per program, files as in the home. */
const PACKAGES: Record<string, string> = {
  'bash/.bashrc': `PS1='${PROMPT}'\n`,
  'bash/.profile': '[ -n "$BASH_VERSION" ] && [ -f ~/.bashrc ] && . ~/.bashrc\n',
  'zsh/.zshrc': `PROMPT='${PROMPT}'\nunsetopt PROMPT_SP\n`,
  'fish/.config/fish/config.fish': `set -g fish_greeting\nfunction fish_prompt; printf '${PROMPT}'; end\n`,
  'tmux/.tmux.conf': 'set -g history-limit 5000\n',
};

/** git as the user, with a global config of the test's: the author, and the clone from another user's home allowed. */
function git(cwd: string, user: TestUser, args: string[]): string {
  const config = path.join(base(), 'gitconfig');
  if (!fs.existsSync(config)) fs.writeFileSync(config, '[user]\n\tname = t\n\temail = t@t\n[safe]\n\tdirectory = *\n', { mode: 0o644 });
  const r = spawnSync('runuser', ['-u', user.name, '--', 'env', `HOME=${user.home}`, `GIT_CONFIG_GLOBAL=${config}`, 'git', ...args], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** As `stow bash zsh fish tmux` run in ~/dotfiles: each top entry of a package linked into the home. */
function stow(user: TestUser): void {
  const repo = path.join(user.home, 'dotfiles');
  for (const pkg of new Set(Object.keys(PACKAGES).map((f) => f.split('/')[0]))) {
    for (const name of fs.readdirSync(path.join(repo, pkg))) {
      const at = path.join(user.home, name);
      fs.rmSync(at, { recursive: true, force: true }); // the files useradd and createUser left
      fs.symlinkSync(path.join('dotfiles', pkg, name), at);
      fs.lchownSync(at, user.uid, user.gid);
    }
  }
}

describeE2E('dotfiles in a git repository reach a machine without ssh-tmux-fix', () => {
  let sshd: Sshd;
  let agent: Agent;
  let origin: string;

  beforeAll(async () => {
    agent = await startAgent();
    sshd = await startSshd({ permitUserRC: true, extraConfig: 'PrintLastLog no' });
    // The first machine: the repository, linked in, the install, the commit.
    const first = createUser('bash');
    origin = path.join(first.home, 'dotfiles');
    for (const [file, text] of Object.entries(PACKAGES)) {
      fs.mkdirSync(path.dirname(path.join(origin, file)), { recursive: true });
      fs.writeFileSync(path.join(origin, file), text);
    }
    spawnSync('chown', ['-R', `${first.uid}:${first.gid}`, origin]);
    git(origin, first, ['init', '-q']);
    stow(first);
    const install = await runCli(first, ['install', '--yes']);
    expectOk(install, 'install');
    // install said where the blocks go (the links lead into the repository) and what to carry instead.
    expect(install.stderr).toContain('lead into the git repository ~/dotfiles (a symlink)');
    expect(install.stderr).toContain("'ssh-tmux-fix snippet zsh'");
    git(origin, first, ['add', '-A']);
    git(origin, first, ['commit', '-q', '-m', 'dotfiles, with the ssh-tmux-fix blocks']);
    const tracked = git(origin, first, ['grep', '-l', '>>> ssh-tmux-fix']).split('\n').filter(Boolean).sort();
    expect(tracked).toEqual(['bash/.bashrc', 'bash/.profile', 'fish/.config/fish/conf.d/ssh-tmux-fix.fish', 'tmux/.tmux.conf', 'zsh/.zshrc']);
    fs.chmodSync(first.home, 0o755); // the second machine clones from it
  });

  afterAll(async () => {
    await sshd?.stop();
    await agent?.stop();
  });

  /** The second machine's user: the repository cloned and linked in, nothing else of ours. */
  function secondMachineUser(shell: Shell): TestUser {
    const user = createUser(shell);
    authorize(user, agent.publicKey);
    git(user.home, user, ['clone', '-q', origin, path.join(user.home, 'dotfiles')]);
    stow(user);
    expect(fs.existsSync(path.join(user.home, '.ssh', 'ssh-tmux-fix'))).toBe(false);
    return user;
  }

  /** What a part of ours would print where the install is missing: a shell's error, a path of ours. */
  const TRACES = /ssh-tmux-fix|refresh\.sh|agent\.sock|No such file|cannot open|not found|[Ee]rror|returned|[Uu]nknown/;
  const STATUS: Record<Shell, string> = { bash: '$?', zsh: '$?', fish: '$status' };

  test.each<Shell>(['bash', 'zsh', 'fish'])('%s: the login and a tmux pane print nothing of ours, keep $?, and reach the agent', async (shell) => {
    const user = secondMachineUser(shell);
    const session = await sshLogin(user, sshd, agent, { tty: true, forwardAgent: true });
    // The login's own output is mixed with the echo of the line the harness typed ahead (and
    // zsh's and fish's redraws of it): nothing in it may be a message, or name a file of ours.
    expect(stripAnsi(session.output())).not.toMatch(TRACES);

    session.type('tmux new-session -s main\r');
    const pane = await sessionPane(user, 'main');
    // Before anything is typed, the pane's shell (a login shell, reading the same files) shows its prompt, and only that.
    expect((await capturePane(user, pane)).trim()).toBe(PROMPT.trim());
    // No view mode with tmux's errors ("returned 2", a config line it could not run).
    expect((await tmux(user, ['display', '-p', '-t', pane, '#{pane_in_mode}'])).stdout.trim()).toBe('0');
    const agentInPane = await paneAgentWorks(user, pane);
    expect(agentInPane.code).toBe(0);
    const sock = await paneRun(user, pane, 'printf %s "$SSH_AUTH_SOCK"');
    expect(sock.output).toBe(await session.serverSocket());
    // $? across the prompt (no hook of ours runs here to change it).
    const rcFile = path.join(user.workDir, 'rc');
    await paneTypeLine(user, pane, 'false');
    await paneTypeLine(user, pane, `echo "rc=${STATUS[shell]}" > ${rcFile}`);
    await until('the pane to write rc', () => (fs.existsSync(rcFile) && fs.readFileSync(rcFile, 'utf8').endsWith('\n') ? true : undefined));
    expect(fs.readFileSync(rcFile, 'utf8')).toBe('rc=1\n');
    expect(await capturePane(user, pane)).not.toMatch(TRACES);
    user.cleanup();
  }, 60_000);
});
