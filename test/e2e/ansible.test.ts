/*
 * The Ansible playbook of docs/dotfile-managers.md, docs/ansible/ssh-tmux-fix.yml, run for real:
 * ansible-playbook (the controller, with Node) manages a host without Node, reached as root over
 * the private sshd, which runs in its own mount namespace where every node binary is covered by
 * /dev/null. Root becomes each throwaway user (become_method su) to read and write their homes.
 * The bytes it places must be the very bytes `ssh-tmux-fix install` writes. The system-wide form,
 * docs/ansible/ssh-tmux-fix-system.yml, the very bytes and modes of `install --system`; it changes the
 * real /etc while it runs and puts every file back (see system.test.ts for a private namespace).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { systemPaths } from '../../src/system';
import { snapshot, Tree, treeDiff } from '../unit/helpers';
import {
  Agent,
  REPO_DIR,
  RunResult,
  Sshd,
  TestUser,
  appDir,
  base,
  createUser,
  authorize,
  describeE2E,
  expectOk,
  restoreSystemFiles,
  runCli,
  runCliAsRoot,
  saveSystemFiles,
  sshExec,
  startAgent,
  startSshd,
  systemShas,
} from './harness';

const PLAYBOOK = path.join(REPO_DIR, 'docs', 'ansible', 'ssh-tmux-fix.yml');
const SYSTEM_PLAYBOOK = path.join(REPO_DIR, 'docs', 'ansible', 'ssh-tmux-fix-system.yml');
const PATHS = systemPaths({});
const WRITE_TASK = 'Write the files as each user';
const DIRS_TASK = 'Create the missing directories as each user';
const STATE = '.local/state/ssh-tmux-fix';
const HOST = 'managed';

interface Recap {
  ok: number;
  changed: number;
  failed: number;
  unreachable: number;
}

/**
 * A throwaway HOME and cwd for the controller: no ~/.ansible.cfg or ./ansible.cfg of the machine
 * is read, and Ansible's ~/.ansible stays out of /root. ssh reads no config and keeps no
 * known_hosts; its master connections (one per host, as Ansible's default) live in CONTROL_DIR
 * and are told to exit in afterAll.
 */
function ansibleEnv(agent: Agent): { cwd: string; env: NodeJS.ProcessEnv } {
  const home = path.join(base(), 'ansible-root-home');
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    LANG: 'C.UTF-8',
    HOME: home,
    SSH_AUTH_SOCK: agent.sock,
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_STDOUT_CALLBACK: 'default',
    ANSIBLE_RETRY_FILES_ENABLED: '0',
    ANSIBLE_PYTHON_INTERPRETER: '/usr/bin/python3',
    ANSIBLE_PIPELINING: '1',
    ANSIBLE_HOST_KEY_CHECKING: '0',
    ANSIBLE_SSH_ARGS:
      '-F /dev/null -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR',
    ANSIBLE_SSH_CONTROL_PATH_DIR: controlDir(),
  };
  return { cwd: home, env };
}

function controlDir(): string {
  const dir = path.join(base(), 'ansible-cp');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** Asks each ssh master connection Ansible left to exit (ControlPersist keeps them a while). */
function closeMasters(): void {
  if (!fs.existsSync(controlDir())) return;
  for (const sock of fs.readdirSync(controlDir())) {
    spawnSync('ssh', ['-F', '/dev/null', '-o', `ControlPath=${path.join(controlDir(), sock)}`, '-O', 'exit', 'unused'], { stdio: 'ignore', timeout: 10_000 });
  }
}

function run(cmd: string, args: string[], agent: Agent): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...ansibleEnv(agent), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

interface Admin {
  name: string;
  home: string;
}

/**
 * The account Ansible logs in as: uid 0 like root, but with its own throwaway home and /bin/sh,
 * so no dotfile of the machine's real root runs at each login.
 */
function createAdmin(publicKey: string): Admin {
  const name = `stfadm${Date.now().toString(36).slice(-6)}`;
  const home = path.join(base(), name);
  const add = spawnSync('useradd', ['-o', '-u', '0', '-g', '0', '-N', '-M', '-d', home, '-s', '/bin/sh', name], { encoding: 'utf8' });
  if (add.status !== 0) throw new Error(`useradd ${name}: ${add.stderr}`);
  spawnSync('usermod', ['-p', '*', name]);
  fs.mkdirSync(path.join(home, '.ssh'), { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(home, '.ssh', 'authorized_keys'), `${publicKey.trim()}\n`, { mode: 0o600 });
  return { name, home };
}

/** Not the harness's removeUser: that ends every process of the uid, here 0. */
function removeAdmin(admin: Admin): void {
  spawnSync('userdel', ['-f', admin.name]);
  fs.rmSync(admin.home, { recursive: true, force: true });
}

let admin: Admin;

/** The managed host: the private sshd, logged into as the admin (uid 0) with the agent's key. */
function inventory(sshd: Sshd): string {
  const file = path.join(base(), 'inventory.ini');
  fs.writeFileSync(file, `${HOST} ansible_host=127.0.0.1 ansible_port=${sshd.port} ansible_user=${admin.name}\n`);
  return file;
}

/** The managed host as the rendering would see it: a shell as one user, through su like become. */
function adHoc(sshd: Sshd, agent: Agent, shellCommand: string, user?: TestUser): Promise<RunResult> {
  const become = user ? ['--become', '--become-method', 'su', '--become-user', user.name] : [];
  return run('ansible', [HOST, '-i', inventory(sshd), ...become, '-m', 'ansible.builtin.shell', '-a', shellCommand], agent);
}

/** No fish part (fewer files, a shorter test); the CLI is run with the same shells to compare. */
const SHELLS = '--shell bash,zsh,sh';

async function runPlaybook(sshd: Sshd, agent: Agent, users: TestUser[] | 'system', stf: string, extra: string[] = []): Promise<RunResult> {
  const system = users === 'system';
  // The system form with its defaults: the shells in the host's /etc/shells, as install --system.
  // The admin is uid 0 already: for the system form, su to root would add nothing but the
  // machine's /root/.bashrc (bash reads it when SSH_CLIENT is set) and a tty that turns
  // pipelining off, several seconds a task here. Every task runs as written, as root.
  const extraVars = JSON.stringify(system ? { stf, ansible_become: false } : { users: users.map((u) => u.name), stf, stf_options: SHELLS });
  const started = Date.now();
  const r = await run('ansible-playbook', ['-i', inventory(sshd), '--become-method', 'su', ...extra, system ? SYSTEM_PLAYBOOK : PLAYBOOK, '-e', extraVars], agent);
  // For the figures in the docs: how long a run takes here.
  console.log(`ansible-playbook ${extra.join(' ')} for ${system ? 'the system' : `${users.length} user(s)`}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return r;
}

function recap(r: RunResult): Recap {
  const line = r.stdout.split('\n').find((l) => new RegExp(`^${HOST}\\s+:\\s+ok=`).test(l));
  if (!line) throw new Error(`no PLAY RECAP line for ${HOST} in:\n${show(r)}`);
  const count = (key: string) => Number(new RegExp(`\\b${key}=(\\d+)`).exec(line)![1]);
  return { ok: count('ok'), changed: count('changed'), failed: count('failed'), unreachable: count('unreachable') };
}

/** Per loop item label, what the task reported: 'changed', 'ok' or 'failed'. */
function itemResults(r: RunResult, task: string): Record<string, string> {
  const section = r.stdout.split(/^TASK \[/m).find((s) => s.startsWith(`${task}]`));
  if (!section) throw new Error(`task "${task}" did not run:\n${show(r)}`);
  const results: Record<string, string> = {};
  for (const m of section.matchAll(new RegExp(`^(changed|ok|failed|skipping): \\[${HOST}\\] (?:=> )?\\(item=([^)]+)\\)`, 'gm'))) {
    results[m[2]] = m[1];
  }
  return results;
}

function expectExit(r: RunResult, code: number, what = 'ansible-playbook'): void {
  if (r.code !== code) throw new Error(`${what}: expected exit ${code}, got ${show(r)}`);
}

function show(r: RunResult): string {
  return `exit ${r.code}\n--- stdout:\n${r.stdout}\n--- stderr:\n${r.stderr}`;
}

/** Every path under dir whose owner is not uid:gid. */
function foreignOwned(dir: string, uid: number, gid: number): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const st = fs.lstatSync(path.join(dir, entry));
    if (st.uid !== uid || st.gid !== gid) found.push(`${entry} (${st.uid}:${st.gid})`);
  }
  return found;
}

/**
 * The home without the tool's state directory and the .local parents made for it, and without
 * ~/.ansible, where Ansible's modules keep their own temporary files when they run as the user.
 */
function homeTree(user: TestUser): Tree {
  const tree = snapshot(user.home, [STATE, '.ansible']);
  for (const parent of ['.local/state', '.local']) {
    if (![...tree.keys()].some((k) => k.startsWith(`${parent}/`))) tree.delete(parent);
  }
  return tree;
}

function writeAs(user: TestUser, rel: string, data: string | Buffer): void {
  const file = path.join(user.home, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, data);
  fs.chownSync(file, user.uid, user.gid);
}

describe('Ansible: docs/dotfile-managers.md', () => {
  test('shows docs/ansible/ssh-tmux-fix.yml as it is', () => {
    const doc = fs.readFileSync(path.join(REPO_DIR, 'docs', 'dotfile-managers.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## Ansible'));
    expect(/```yaml\n([\s\S]*?)```/.exec(section)?.[1]).toBe(fs.readFileSync(PLAYBOOK, 'utf8'));
  });

  test('links docs/ansible/ssh-tmux-fix-system.yml', () => {
    const doc = fs.readFileSync(path.join(REPO_DIR, 'docs', 'dotfile-managers.md'), 'utf8');
    expect(doc).toContain('(ansible/ssh-tmux-fix-system.yml)');
    expect(fs.existsSync(SYSTEM_PLAYBOOK)).toBe(true);
  });
});

describeE2E('Ansible: docs/ansible/ssh-tmux-fix.yml on a host without Node', () => {
  let stf: string;
  let sshd: Sshd;
  let agent: Agent;

  beforeAll(async () => {
    agent = await startAgent();
    // CI installs ansible-core (.ci/run); a missing one is a broken setup, not a reason to skip.
    const version = await run('ansible-playbook', ['--version'], agent);
    if (version.code !== 0) {
      throw new Error(
        `ansible-playbook is not available (${version.stderr}): ` +
          'install ansible-core (apt-get install --no-install-recommends ansible-core), as .ci/run does',
      );
    }
    admin = createAdmin(agent.publicKey);
    sshd = await startSshd({ hideNode: true, extraConfig: 'PermitRootLogin prohibit-password' });
    // The controller renders with the local build; the host never runs it.
    stf = `${process.execPath} ${path.join(appDir(), 'dist', 'cli.js')}`;
  });

  afterAll(async () => {
    closeMasters();
    await sshd?.stop();
    await agent?.stop();
    if (admin) removeAdmin(admin);
  });

  test('the managed host has no Node, for the admin nor for the users', async () => {
    const user = createUser('bash');
    for (const who of [undefined, user]) {
      const r = await adHoc(sshd, agent, 'command -v node; echo "node: $?"', who);
      expectExit(r, 0, 'ansible (ad hoc)');
      expect(r.stdout).toContain('node: 127');
    }
  });

  test('places exactly what install writes, as each user; a second run changes nothing; --check --diff shows it all first', async () => {
    const alice = createUser('bash');
    const zoe = createUser('zsh');
    // Homes that make the bytes depend on the file: a last line without newline (+newline),
    // an ~/.ssh/rc with a #! line (the block goes right after it), a .bash_profile (bash's
    // login file), and no ~/.local, ~/.config or ~/.ssh/ssh-tmux-fix yet.
    writeAs(alice, '.bashrc', 'alias ll="ls -l"  # no newline at the end');
    writeAs(alice, '.bash_profile', '[ -f ~/.bashrc ] && . ~/.bashrc\n');
    writeAs(alice, '.ssh/rc', '#!/bin/sh\necho "mine" >/dev/null\n');
    // zoe's .zshrc lives in her dotfiles repository (stow, yadm): it must stay a symlink.
    writeAs(zoe, 'dotfiles/zshrc', 'PROMPT="%~ %# "\n');
    fs.rmSync(path.join(zoe.home, '.zshrc')); // the empty one createUser gives zsh users
    fs.symlinkSync('dotfiles/zshrc', path.join(zoe.home, '.zshrc'));
    fs.lchownSync(path.join(zoe.home, '.zshrc'), zoe.uid, zoe.gid);
    fs.chownSync(path.join(zoe.home, 'dotfiles'), zoe.uid, zoe.gid);
    // So does her ~/.ssh/rc, one level down (the second find sees through links there).
    writeAs(zoe, 'dotfiles/ssh-rc', '#!/bin/sh\n');
    fs.symlinkSync('../dotfiles/ssh-rc', path.join(zoe.home, '.ssh', 'rc'));
    fs.lchownSync(path.join(zoe.home, '.ssh', 'rc'), zoe.uid, zoe.gid);
    const users = [alice, zoe];
    const before = new Map(users.map((u) => [u.name, homeTree(u)]));

    // One user is enough to see the diff and that check mode writes nothing.
    const check = await runPlaybook(sshd, agent, [alice], stf, ['--check', '--diff']);
    expectExit(check, 0);
    expect(recap(check)).toMatchObject({ failed: 0, unreachable: 0 });
    expect(recap(check).changed).toBeGreaterThanOrEqual(1);
    expect(check.stdout).toContain(`--- before: ${path.join(alice.home, '.bashrc')}`);
    expect(check.stdout).toMatch(/^\+# >>> ssh-tmux-fix \S+ sum=[0-9a-f]{12} \+newline >>>$/m);
    for (const u of users) expect(treeDiff(homeTree(u), before.get(u.name)!)).toEqual([]);

    const first = await runPlaybook(sshd, agent, users, stf);
    expectExit(first, 0);
    expect(recap(first)).toMatchObject({ failed: 0, unreachable: 0 });
    const written = itemResults(first, WRITE_TASK);
    expect(written[`${alice.name}: ${path.join(alice.home, '.ssh', 'rc')}`]).toBe('changed');
    expect(written[`${zoe.name}: ${path.join(zoe.home, 'dotfiles', 'zshrc')}`]).toBe('changed');
    expect(fs.readlinkSync(path.join(zoe.home, '.zshrc'))).toBe('dotfiles/zshrc');
    expect(fs.readlinkSync(path.join(zoe.home, '.ssh', 'rc'))).toBe('../dotfiles/ssh-rc');
    expect(fs.readFileSync(path.join(zoe.home, 'dotfiles', 'ssh-rc'), 'utf8')).toMatch(/^#!\/bin\/sh\n# >>> ssh-tmux-fix /);
    expect(Object.values(itemResults(first, DIRS_TASK))).toContain('changed');

    const placed = new Map(users.map((u) => [u.name, homeTree(u)]));
    for (const u of users) {
      // Nothing the play wrote belongs to root (or anyone else).
      expect(foreignOwned(u.home, u.uid, u.gid)).toEqual([]);
      // The CLI (where Node exists) agrees: installed, nothing left to change.
      const status = await runCli(u, ['status', '--json']);
      expect([0, 1]).toContain(status.code);
      const installed = JSON.parse(status.stdout).findings.find((f: { id: string }) => f.id === 'installed');
      expect(installed.level).toBe('ok');
      const dry = await runCli(u, ['install', '--dry-run', ...SHELLS.split(' ')]);
      expectExit(dry, 0, 'install --dry-run');
      expect(dry.stdout).toBe('');
    }
    expect(fs.readFileSync(path.join(alice.home, '.ssh', 'rc'), 'utf8')).toMatch(/^#!\/bin\/sh\n# >>> ssh-tmux-fix /);

    const second = await runPlaybook(sshd, agent, users, stf);
    expectExit(second, 0);
    expect(recap(second)).toMatchObject({ changed: 0, failed: 0, unreachable: 0 });
    for (const u of users) expect(treeDiff(homeTree(u), placed.get(u.name)!)).toEqual([]);

    for (const u of users) {
      // uninstall removes exactly the blocks and files, and the directories the play made...
      expectExit(await runCli(u, ['uninstall', '--yes']), 0, 'uninstall');
      expect(treeDiff(homeTree(u), before.get(u.name)!)).toEqual([]);
      // ...and install itself writes the same bytes the play placed.
      expectExit(await runCli(u, ['install', '--yes', ...SHELLS.split(' ')]), 0, 'install');
      expect(treeDiff(homeTree(u), placed.get(u.name)!)).toEqual([]);
    }
  }, 600_000);

  test('a hand-edited block stops the play for that host with the CLI message; nothing written', async () => {
    const user = createUser('bash');
    expectExit(await runCli(user, ['install', '--yes', ...SHELLS.split(' ')]), 0, 'install');
    const bashrc = path.join(user.home, '.bashrc');
    const text = fs.readFileSync(bashrc, 'utf8');
    writeAs(user, '.bashrc', text.replace(/(# >>> ssh-tmux-fix [^\n]*\n)/, '$1echo edited by hand\n'));
    const before = homeTree(user);

    const r = await runPlaybook(sshd, agent, [user], stf);
    expectExit(r, 2);
    expect(recap(r)).toMatchObject({ changed: 0, failed: 1 });
    expect(r.stdout).toContain(`${bashrc}: the ssh-tmux-fix block (lines`);
    expect(r.stdout).toContain('was edited by hand');
    expect(treeDiff(homeTree(user), before)).toEqual([]);
  }, 300_000);

  test('the system-wide form: --check --diff shows it, the play places what install --system writes, a second run changes nothing; a new user gets the link; uninstall --system gives the files back', async () => {
    // It changes the real /etc: every file is put back byte for byte after (see system.test.ts).
    const saved = saveSystemFiles();
    const before = systemShas();
    const modes = () => Object.fromEntries(Object.keys(before).map((p) => [p, fs.statSync(p, { throwIfNoEntry: false })?.mode]));
    try {
      const check = await runPlaybook(sshd, agent, 'system', stf, ['--check', '--diff']);
      expectExit(check, 0);
      expect(recap(check)).toMatchObject({ failed: 0, unreachable: 0 });
      expect(recap(check).changed).toBeGreaterThanOrEqual(1);
      expect(check.stdout).toContain(`--- before: ${PATHS.bashrc}`);
      expect(check.stdout).toMatch(/^\+# >>> ssh-tmux-fix \S+ sum=[0-9a-f]{12}( \+[a-z]+)* >>>$/m);
      expect(systemShas()).toEqual(before);

      const first = await runPlaybook(sshd, agent, 'system', stf);
      expectExit(first, 0);
      expect(recap(first)).toMatchObject({ failed: 0, unreachable: 0 });
      const placed = systemShas();
      const placedModes = modes();
      expect(placed).not.toEqual(before);
      // The CLI (where Node exists) agrees: installed, nothing left to change.
      const status = runCliAsRoot(['status', '--system', '--json']);
      expect(JSON.parse(status.stdout).findings[0]).toMatchObject({ id: 'installed', level: 'ok' });
      const dry = runCliAsRoot(['install', '--system', '--dry-run']);
      expectExit(dry, 0, 'install --system --dry-run');
      expect(dry.stdout).toBe('');

      const second = await runPlaybook(sshd, agent, 'system', stf);
      expectExit(second, 0);
      expect(recap(second)).toMatchObject({ changed: 0, failed: 0, unreachable: 0 });
      expect(systemShas()).toEqual(placed);

      // A user made now logs in (ssh -A, Node hidden): /etc/ssh/sshrc made the link, it reaches the agent.
      const user = createUser('bash');
      authorize(user, agent.publicKey);
      const login = await sshExec(user, sshd, agent, 'SSH_AUTH_SOCK=$HOME/.ssh/ssh-tmux-fix/agent.sock ssh-add -l >/dev/null; echo "agent: $?"');
      expect(login.stdout).toContain('agent: 0');
      expect((await runCli(user, ['doctor'])).stdout).toContain(`the system-wide install (${PATHS.libDir}) is in effect for this home`);

      // uninstall --system takes it all back; install --system writes the very bytes and modes the play placed.
      expectOk(runCliAsRoot(['uninstall', '--system', '--yes']), 'uninstall --system');
      expect(systemShas()).toEqual(before);
      expectOk(runCliAsRoot(['install', '--system', '--yes']), 'install --system');
      expect([systemShas(), modes()]).toEqual([placed, placedModes]);
      expectOk(runCliAsRoot(['uninstall', '--system', '--yes']), 'uninstall --system');
    } finally {
      restoreSystemFiles(saved);
    }
  }, 600_000);
});
