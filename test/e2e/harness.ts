/*
 * End-to-end harness: a real sshd on loopback, real throwaway users, a real ssh-agent playing the
 * laptop, the real ssh client with -A -tt, and the user's own tmux server. Everything a test
 * creates is registered here and torn down in afterAll, also when a test fails.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { SYSTEM_PARTS, systemPaths, systemTargets } from '../../src/system';
import { copyAppTo } from '../support/app';

/** Only root can add users and run sshd with its own config, so the e2e suite needs root. */
export const rootOnly = process.getuid?.() === 0;
export const describeE2E = rootOnly ? describe : describe.skip;
if (!rootOnly) {
  console.warn(
    'ssh-tmux-fix e2e tests SKIPPED: they must run as root, because they create throwaway users ' +
      '(useradd) and start a private sshd on loopback with its own config.',
  );
}

export const REPO_DIR = path.resolve(__dirname, '..', '..');
/** The PATH given to the test users and the ssh client: no root-only directories. */
const USER_PATH = '/usr/local/bin:/usr/bin:/bin';
const DEFAULT_WAIT_MS = 10_000;

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Sshd {
  port: number;
  logFile: string;
  /**
   * Set for an sshd on another host (startSshd's `hostname`): its own mount and UTS
   * namespace, its own hostname and /tmp, the same homes.
   */
  host?: OtherHost;
  stop(): Promise<void>;
}

export interface OtherHost {
  hostname: string;
  /** sshd's pid, in the namespace: nsenter's target. */
  pid: number;
  /** Where this process sees that host's root (/proc/<pid>/root): its /tmp is below. */
  root: string;
}

export interface Agent {
  sock: string;
  publicKey: string;
  publicKeyFile: string;
  stop(): Promise<void>;
}

export type Shell = 'bash' | 'zsh' | 'fish';

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
  /** A 0700 directory of the user's, outside $HOME, for the files tests write from panes. */
  workDir: string;
  run(cmd: string, env?: Record<string, string>): Promise<RunResult>;
  cleanup(): void;
}

export interface SshSession {
  pid: number;
  /** Everything the client printed so far (the remote pty's output, escapes included). */
  output(): string;
  type(text: string): void;
  waitFor(test: RegExp | ((output: string) => boolean), timeoutMs?: number): Promise<string>;
  /** The agent socket sshd created on the server for this session. */
  serverSocket(): Promise<string>;
  /** Drops the connection the hard way and waits until the server has torn the session down. */
  kill(): Promise<void>;
}

export interface LoginOptions {
  tty?: boolean;
  forwardAgent?: boolean;
  x11?: 'X' | 'Y';
  command?: string;
}

export interface PaneResult {
  code: number;
  output: string;
}

// ---------------------------------------------------------------------------------------------
// Bookkeeping and small utilities

const ownedChildren = new Set<ChildProcess>();
const ownedUsers = new Set<TestUser>();
let baseDir: string | undefined;
let hostKeyFile: string | undefined;
let appCopy: string | undefined;

if (rootOnly) afterAll(cleanupAll);

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Polls `probe` until it returns something other than undefined. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = DEFAULT_WAIT_MS,
  details?: () => Promise<string> | string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      const extra = details ? `\n${await details()}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${extra}`);
    }
    await sleep(50);
  }
}

export function stripAnsi(s: string): string {
  return s.replace(/\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)/g, '');
}

function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n');
}

function hex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

function mustRun(cmd: string, args: string[], env?: NodeJS.ProcessEnv): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}${r.error ?? ''}`);
  }
  return r.stdout;
}

/**
 * Runs a program to its end. With timeoutMs, a run that hangs is ended (SIGTERM, by its pid) and
 * fails with its command line, rather than the whole test ending on jest's timeout unexplained.
 */
function runAsync(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          child.kill('SIGTERM');
          reject(new Error(`${[cmd, ...args].join(' ')} did not finish in ${opts.timeoutMs} ms (stdout: ${stdout.slice(-500)}; stderr: ${stderr.slice(-500)})`));
        }, opts.timeoutMs)
      : undefined;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128 + os.constants.signals[signal as NodeJS.Signals], stdout, stderr });
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    process.kill(child.pid, signal);
  }
  await exited(child);
  ownedChildren.delete(child);
}

/**
 * One world-traversable base for everything (users' homes live here too). It is under /tmp on
 * purpose: $TMPDIR may point below /root, which the test users cannot enter.
 */
export function base(): string {
  if (!baseDir) {
    baseDir = fs.mkdtempSync(`/tmp/stf-e2e-${process.pid}-`);
    fs.chmodSync(baseDir, 0o755);
  }
  return baseDir;
}

function privateDir(prefix: string): string {
  const dir = path.join(base(), `${prefix}-${hex(4)}`);
  fs.mkdirSync(dir, { mode: 0o700 });
  return dir;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

// ---------------------------------------------------------------------------------------------
// sshd

function hostKey(): string {
  if (!hostKeyFile) {
    const file = path.join(privateDir('hostkey'), 'ssh_host_ed25519_key');
    mustRun('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'stf-e2e-host', '-f', file]);
    hostKeyFile = file;
  }
  return hostKeyFile;
}

/**
 * A private sshd on 127.0.0.1. UsePAM no keeps the host's PAM stack out of the picture;
 * StrictModes no because the homes live under a temp dir whose modes we do not control fully.
 * AcceptEnv is left at its default, which accepts nothing (OpenSSH 9.2 has no "none" keyword).
 */
export async function startSshd(opts: { permitUserRC?: boolean; extraConfig?: string; hideNode?: boolean; hostname?: string } = {}): Promise<Sshd> {
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = privateDir('sshd');
  const port = await freePort();
  const logFile = path.join(dir, 'sshd.log');
  const configFile = path.join(dir, 'sshd_config');
  const config = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${hostKey()}`,
    `PidFile ${path.join(dir, 'sshd.pid')}`,
    'UsePAM no',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'AllowAgentForwarding yes',
    'X11Forwarding yes',
    'X11UseLocalhost yes',
    'XAuthLocation /usr/bin/xauth',
    `PermitUserRC ${opts.permitUserRC === false ? 'no' : 'yes'}`,
    'StrictModes no',
    'AuthorizedKeysFile .ssh/authorized_keys',
    'LogLevel VERBOSE',
    'Subsystem sftp internal-sftp',
    'PrintMotd no',
    opts.extraConfig ?? '',
  ].join('\n');
  fs.writeFileSync(configFile, `${config}\n`);

  const sshd = ['/usr/sbin/sshd', '-D', '-f', configFile, '-E', logFile];
  const child = opts.hostname
    ? // Another host over the same homes (an NFS home): its own UTS namespace and hostname,
      // and its own mount namespace with a private /tmp (a tmpfs), where this file's base
      // directory (homes, sshd's files) is bound back at the same path.
      spawn('unshare', ['--mount', '--uts', '--propagation', 'private', '/bin/sh', '-c', OTHER_HOST_SCRIPT, opts.hostname, base(), ...sshd], { stdio: 'ignore' })
    : opts.hideNode
    ? // Its own mount namespace, where /dev/null covers every node binary: a host without Node.
      spawn('unshare', ['--mount', '--propagation', 'private', '/bin/sh', '-c',
        'for f in $0; do mount --bind /dev/null "$f" || exit 1; done; exec "$@"', nodeBinaries().join(' '), ...sshd], { stdio: 'ignore' })
    : spawn(sshd[0], sshd.slice(1), { stdio: 'ignore' });
  ownedChildren.add(child);
  const log = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '(no log)');
  await until(`sshd to accept connections on port ${port}`, async () => {
    if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}:\n${log()}`);
    return (await portAccepts(port)) || undefined;
  }, DEFAULT_WAIT_MS, log);
  const host = opts.hostname ? { hostname: opts.hostname, pid: child.pid!, root: `/proc/${child.pid}/root` } : undefined;
  return { port, logFile, host, stop: () => stopChild(child, 'SIGTERM') };
}

/**
 * A private Dropbear server on 127.0.0.1 (Alpine's and embedded systems' sshd): it runs no
 * ~/.ssh/rc and puts forwarded agent sockets at /tmp/dropbear-XXXXXXXX/auth-XXXXXXXX-N.
 * -F stays in the foreground (stopped by its pid), -E logs to stderr (into logFile), -s refuses
 * passwords, -m prints no motd; the host key is made with dropbearkey.
 */
export async function startDropbear(): Promise<Sshd> {
  const dir = privateDir('dropbear');
  const port = await freePort();
  const logFile = path.join(dir, 'dropbear.log');
  const key = path.join(dir, 'dropbear_ed25519_host_key');
  mustRun('dropbearkey', ['-t', 'ed25519', '-f', key]);
  const log = fs.openSync(logFile, 'a');
  const child = spawn('/usr/sbin/dropbear', ['-F', '-E', '-s', '-m', '-p', `127.0.0.1:${port}`, '-r', key, '-P', path.join(dir, 'dropbear.pid')], {
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  ownedChildren.add(child);
  const text = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '(no log)');
  await until(`dropbear to accept connections on port ${port}`, async () => {
    if (child.exitCode !== null) throw new Error(`dropbear exited with ${child.exitCode}:\n${text()}`);
    return (await portAccepts(port)) || undefined;
  }, DEFAULT_WAIT_MS, text);
  return { port, logFile, stop: () => stopChild(child, 'SIGTERM') };
}

/** $0 hostname, $1 the base directory, then sshd's argv (unshare execs it: sshd keeps the pid). */
const OTHER_HOST_SCRIPT = [
  'set -e',
  'hostname "$0"',
  'keep=$(mktemp -d /run/stf-e2e-keep.XXXXXX)',
  'mount --bind "$1" "$keep"',
  'mount -t tmpfs -o mode=1777 stf-e2e-tmp /tmp',
  'mkdir -p "$1"',
  'chmod 755 "$1"',
  'mount --move "$keep" "$1"',
  'rmdir "$keep" 2>/dev/null || :',
  'shift',
  'exec "$@"',
].join('\n');

/** Every node a login could run: the test's own and any on the users' PATH, by real path. */
function nodeBinaries(): string[] {
  const found = [process.execPath, ...USER_PATH.split(':').map((d) => path.join(d, 'node'))].filter((f) => fs.existsSync(f));
  return [...new Set(found.map((f) => fs.realpathSync(f)))];
}

export function sshdLogTail(sshd: Sshd, lines = 30): string {
  return tail(fs.readFileSync(sshd.logFile, 'utf8'), lines);
}

// ---------------------------------------------------------------------------------------------
// Users

function userEnv(user: { name: string; home: string; shell: string }, extra: Record<string, string> = {}): string[] {
  const env = {
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    SHELL: user.shell,
    PATH: USER_PATH,
    LANG: 'C.UTF-8',
    ...extra,
  };
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

/** Runs argv as the user with a clean environment (nothing of root's, e.g. $TMUX, leaks in). */
export function runAs(user: TestUser, argv: string[], env?: Record<string, string>): Promise<RunResult> {
  return runAsync('runuser', ['-u', user.name, '--', 'env', '-i', ...userEnv(user, env), ...argv], {
    cwd: user.home,
  });
}

function shellPath(shell: Shell): string {
  return mustRun('sh', ['-c', `command -v ${shell}`]).trim();
}

function chownTree(target: string, uid: number, gid: number): void {
  mustRun('chown', ['-R', `${uid}:${gid}`, target]);
}

/**
 * A throwaway user with the given login shell. The account gets the password '*' so sshd
 * (with UsePAM no) does not consider it locked, as it does for useradd's default '!'.
 */
export function createUser(shell: Shell): TestUser {
  const name = `stf${hex(4)}`;
  const home = path.join(base(), name);
  const loginShell = shellPath(shell);
  mustRun('useradd', ['-m', '-d', home, '-s', loginShell, name]);
  const uid = Number(mustRun('id', ['-u', name]));
  const gid = Number(mustRun('id', ['-g', name]));
  const user: TestUser = {
    name,
    uid,
    gid,
    home,
    shell: loginShell,
    workDir: path.join(base(), `${name}-work`),
    run: (cmd, env) => runAs(user, ['sh', '-c', cmd], env),
    cleanup: () => removeUser(user),
  };
  ownedUsers.add(user);
  mustRun('usermod', ['-p', '*', name]);
  fs.chmodSync(home, 0o700);
  fs.mkdirSync(path.join(home, '.ssh'), { mode: 0o700 });
  fs.mkdirSync(user.workDir, { mode: 0o700 });
  if (shell === 'zsh') {
    // An existing zsh user has a ~/.zshrc; without any startup file zsh-newuser-install would
    // take over the terminal with its menu.
    fs.writeFileSync(path.join(home, '.zshrc'), '');
  }
  if (shell === 'fish') {
    // Likewise an existing fish user has generated man page completions; without them fish's
    // first start runs a python script over all man pages in the background.
    fs.mkdirSync(path.join(home, '.local', 'share', 'fish', 'generated_completions'), { recursive: true });
  }
  chownTree(home, uid, gid);
  chownTree(user.workDir, uid, gid);
  return user;
}

/** The user's live processes; zombies are skipped, reaping them is up to their parent or init. */
function userPids(uid: number): number[] {
  const r = spawnSync('ps', ['-u', String(uid), '-o', 'pid=,stat='], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([pid, stat]) => pid && !stat.startsWith('Z'))
    .map(([pid]) => Number(pid));
}

/** Kills the user's processes (all started by the test: sessions, shells, tmux), then deletes it. */
function removeUser(user: TestUser): void {
  for (let attempt = 0; attempt < 100; attempt++) {
    const pids = userPids(user.uid);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    sleepSync(20);
  }
  // Killed sessions cannot clean up after themselves: /tmp/ssh-*, /tmp/tmux-<uid>, /tmp/fish.<name>.
  // Before userdel: once the uid is free, a suite running in parallel may get it for a new user,
  // whose files these would then be.
  for (const entry of fs.readdirSync('/tmp')) {
    const file = path.join('/tmp', entry);
    if (fs.lstatSync(file, { throwIfNoEntry: false })?.uid === user.uid) {
      fs.rmSync(file, { recursive: true, force: true });
    }
  }
  // -f: unreaped zombies still count as the user's processes for userdel.
  const del = spawnSync('userdel', ['-f', '-r', user.name], { encoding: 'utf8' });
  const problems = del.stderr.split('\n').filter((l) => l && !/mail spool/.test(l));
  fs.rmSync(user.home, { recursive: true, force: true });
  fs.rmSync(user.workDir, { recursive: true, force: true });
  ownedUsers.delete(user);
  if (del.status !== 0 && problems.length > 0) {
    throw new Error(`userdel ${user.name} failed: ${problems.join('; ')}`);
  }
}

/** Lets `publicKey` log in as `user`. */
export function authorize(user: TestUser, publicKey: string): void {
  const sshDir = path.join(user.home, '.ssh');
  const file = path.join(sshDir, 'authorized_keys');
  fs.mkdirSync(sshDir, { recursive: true, mode: 0o700 });
  fs.appendFileSync(file, `${publicKey.trim()}\n`, { mode: 0o600 });
  fs.chmodSync(sshDir, 0o700);
  fs.chmodSync(file, 0o600);
  fs.chownSync(sshDir, user.uid, user.gid);
  fs.chownSync(file, user.uid, user.gid);
}

/**
 * The widely copied hand-made recipe: ~/.ssh/rc points ~/.ssh/ssh_auth_sock at the login's
 * socket, and tmux panes get that link (SSH_AUTH_SOCK dropped from update-environment).
 */
export function installClassicRecipe(user: TestUser): void {
  const rc = path.join(user.home, '.ssh', 'rc');
  const tmuxConf = path.join(user.home, '.tmux.conf');
  fs.writeFileSync(rc, 'if [ -S "$SSH_AUTH_SOCK" ]; then\n  ln -sf "$SSH_AUTH_SOCK" ~/.ssh/ssh_auth_sock\nfi\n');
  fs.writeFileSync(
    tmuxConf,
    'set-environment -g SSH_AUTH_SOCK ~/.ssh/ssh_auth_sock\n' +
      'set -g update-environment "DISPLAY SSH_ASKPASS SSH_AGENT_PID SSH_CONNECTION WINDOWID XAUTHORITY"\n',
  );
  for (const file of [rc, tmuxConf]) fs.chownSync(file, user.uid, user.gid);
}

// ---------------------------------------------------------------------------------------------
// The app under test

/** The built app, copied once per test file under base() (world-traversable). */
export function appDir(): string {
  if (!appCopy) {
    const dest = path.join(base(), 'app');
    copyAppTo(dest);
    appCopy = dest;
  }
  return appCopy;
}

/** The CLI as root, with a throwaway HOME: root's own dotfiles are never in reach. */
export function runCliAsRoot(args: string[]): RunResult {
  const home = path.join(base(), 'root-home');
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  const r = spawnSync(process.execPath, [path.join(appDir(), 'dist', 'cli.js'), ...args], {
    cwd: home,
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: home, LANG: 'C.UTF-8' },
    encoding: 'utf8',
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

// ---------------------------------------------------------------------------------------------
// The machine's own system files (install --system, an admin's /etc/ssh/sshrc)

/** Every system path install --system may create or change, and the directories it may make. */
export const SYSTEM_FILES: string[] = systemTargets(systemPaths({}), SYSTEM_PARTS).map((t) => t.path);
const SYSTEM_DIRS = ((p) => [p.libDir, p.stateDir, path.dirname(p.profileD), path.dirname(p.fishConfD), path.dirname(p.zshrc)])(systemPaths({}));

export interface SavedSystem {
  files: { path: string; bytes: Buffer | null; mode: number }[];
  dirs: string[];
}

/**
 * The bytes and modes of SYSTEM_FILES (/etc/ssh/sshrc among them), to put back with
 * restoreSystemFiles in afterAll. A test that changes them is seen by every sshd and shell of
 * the machine while it runs: on a machine where other suites run at once, run it in a private
 * mount namespace with /etc, /usr/local/lib and /var/lib overlaid (test/e2e/system.test.ts).
 */
export function saveSystemFiles(): SavedSystem {
  const files = SYSTEM_FILES.map((p) => {
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    return { path: p, bytes: st ? fs.readFileSync(p) : null, mode: st ? st.mode & 0o7777 : 0 };
  });
  return { files, dirs: SYSTEM_DIRS.filter((d) => fs.existsSync(d)) };
}

export function restoreSystemFiles(saved: SavedSystem): void {
  for (const f of saved.files) {
    if (f.bytes === null) {
      fs.rmSync(f.path, { force: true });
    } else {
      fs.mkdirSync(path.dirname(f.path), { recursive: true });
      fs.writeFileSync(f.path, f.bytes);
      fs.chmodSync(f.path, f.mode);
    }
  }
  // Innermost first: what did not exist before goes.
  for (const d of [...SYSTEM_DIRS].sort((a, b) => b.length - a.length)) {
    if (!saved.dirs.includes(d)) fs.rmSync(d, { recursive: true, force: true });
  }
}

/** sha256 of each of SYSTEM_FILES ('absent' for none). */
export function systemShas(): Record<string, string> {
  const sha = (p: string): string => (fs.existsSync(p) ? createHash('sha256').update(fs.readFileSync(p)).digest('hex') : 'absent');
  return Object.fromEntries(SYSTEM_FILES.map((p) => [p, sha(p)]));
}

/** Throws with both streams unless the run exited 0. */
export function expectOk(r: RunResult, what: string): void {
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code}\n--- stdout:\n${r.stdout}\n--- stderr:\n${r.stderr}`);
}

/** Runs the CLI as the user (its files must belong to the user), e.g. runCli(a, ['install', '--yes']). */
export function runCli(user: TestUser, args: string[], env?: Record<string, string>): Promise<RunResult> {
  return runAs(user, [process.execPath, path.join(appDir(), 'dist', 'cli.js'), ...args], env);
}

// ---------------------------------------------------------------------------------------------
// The laptop: an agent with a throwaway key

/** A private sshd (PermitUserRC yes) and a laptop agent for the describe block it is called in. */
export function useSshdAndAgent(started: (world: { sshd: Sshd; agent: Agent }) => void): void {
  let sshd: Sshd | undefined;
  let agent: Agent | undefined;
  beforeAll(async () => {
    sshd = await startSshd({ permitUserRC: true });
    agent = await startAgent();
    started({ sshd, agent });
  });
  afterAll(async () => {
    await agent?.stop();
    await sshd?.stop();
  });
}

export async function startAgent(): Promise<Agent> {
  const dir = privateDir('agent');
  const sock = path.join(dir, 'agent.sock');
  const keyFile = path.join(dir, 'id_ed25519');
  mustRun('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'stf-e2e-laptop', '-f', keyFile]);
  const child = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
  ownedChildren.add(child);
  await until('ssh-agent socket', () => (fs.existsSync(sock) ? true : undefined));
  mustRun('ssh-add', ['-q', keyFile], { PATH: USER_PATH, SSH_AUTH_SOCK: sock });
  return {
    sock,
    publicKey: fs.readFileSync(`${keyFile}.pub`, 'utf8').trim(),
    publicKeyFile: `${keyFile}.pub`,
    stop: () => stopChild(child, 'SIGTERM'),
  };
}

// ---------------------------------------------------------------------------------------------
// ssh logins

/**
 * sshd names a forwarded socket agent.<pid of its session process>; a local ssh-agent (a shell
 * plugin's) uses the same layout with the pid of its first process, gone once it has forked.
 */
function sshdPid(pid: string): boolean {
  try {
    return /^sshd(-session)?$/.test(fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
  } catch {
    return false;
  }
}

/** Forwarded agent sockets sshd currently holds for the user (OpenSSH <= 10.0 and >= 10.1 layouts, Dropbear's). */
export function liveAgentSockets(user: TestUser, host?: OtherHost): string[] {
  const found: string[] = [];
  // Another host's /tmp is seen through its sshd's root; the paths returned are as it sees them.
  const tmp = host ? `${host.root}/tmp` : '/tmp';
  const isSocket = (p: string) => fs.lstatSync(p, { throwIfNoEntry: false })?.isSocket() ?? false;
  // sshd removes a closing session's directory at any moment: a vanished one holds nothing.
  const list = (dir: string): string[] => {
    try {
      return fs.readdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  };
  for (const entry of fs.readdirSync(tmp)) {
    const dir = path.join(tmp, entry);
    const prefix = entry.startsWith('ssh-') ? 'agent.' : entry.startsWith('dropbear-') ? 'auth-' : undefined;
    if (!prefix || fs.lstatSync(dir, { throwIfNoEntry: false })?.uid !== user.uid) continue;
    for (const name of list(dir)) {
      if (name.startsWith(prefix) && isSocket(path.join(dir, name)) && (prefix !== 'agent.' || sshdPid(name.slice(prefix.length)))) found.push(path.join('/tmp', entry, name));
    }
  }
  const agentDir = path.join(user.home, '.ssh', 'agent');
  if (fs.existsSync(agentDir)) {
    for (const name of list(agentDir)) {
      if (isSocket(path.join(agentDir, name)) && !/^s\.[^.]+\.agent\./.test(name)) found.push(path.join(agentDir, name));
    }
  }
  return found;
}

/** The ssh client options every test connection uses. */
function clientOptions(sshd: Sshd, agent: Agent): string[] {
  return [
    '-F', '/dev/null', // never read root's ~/.ssh/config
    '-p', String(sshd.port),
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'LogLevel=ERROR',
    '-o', 'BatchMode=yes',
    '-o', 'IdentitiesOnly=no',
    '-o', `IdentityFile=${agent.publicKeyFile}`, // the agent's key; keeps root's ~/.ssh/id_* out
  ];
}

/**
 * Logs in with the real ssh client, as the user would from the laptop. With a tty and no
 * command it resolves once the remote login shell runs what we type.
 * Start sessions of one user one at a time: the session's socket is found by diffing.
 */
export async function sshLogin(
  user: TestUser,
  sshd: Sshd,
  agent: Agent,
  opts: LoginOptions = {},
): Promise<SshSession> {
  const { tty = true, forwardAgent = true, x11, command } = opts;
  const host = sshd.host;
  const before = new Set(liveAgentSockets(user, host));
  // A path as this process sees it (another host's /tmp through its root).
  const seen = (p: string) => (host && p.startsWith('/tmp/') ? `${host.root}${p}` : p);
  const args = [
    ...clientOptions(sshd, agent),
    forwardAgent ? '-A' : '-a',
    tty ? '-tt' : '-T',
    ...(x11 ? [`-${x11}`] : []),
    `${user.name}@127.0.0.1`,
    ...(command !== undefined ? [command] : []),
  ];
  const env: NodeJS.ProcessEnv = {
    PATH: USER_PATH,
    TERM: 'xterm-256color',
    LANG: 'C.UTF-8',
    SSH_AUTH_SOCK: agent.sock,
    // ssh -X/-Y only asks for X11 forwarding when the laptop has a DISPLAY; no X server is
    // needed for the server side (DISPLAY, xauth cookie) to be set up.
    ...(x11 ? { DISPLAY: ':0' } : {}),
  };
  const child = spawn('ssh', args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  ownedChildren.add(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  child.stdin!.on('error', () => undefined); // typing into a killed client is not an error here
  let socket: string | undefined;

  const session: SshSession = {
    pid: child.pid!,
    output: () => out,
    type: (text) => {
      child.stdin!.write(text);
    },
    waitFor: (test, timeoutMs = DEFAULT_WAIT_MS) =>
      until(
        `ssh output to match ${test}`,
        () => {
          const ok = typeof test === 'function' ? test(out) : test.test(out);
          if (ok) return out;
          if (child.exitCode !== null) throw new Error(`ssh exited (${child.exitCode}):\n${tail(stripAnsi(out), 20)}`);
          return undefined;
        },
        timeoutMs,
        () => `ssh output so far:\n${tail(stripAnsi(out), 20)}`,
      ),
    serverSocket: async () => {
      socket ??= await until('the forwarded agent socket of this session', () => {
        const fresh = liveAgentSockets(user, host).filter((s) => !before.has(s));
        if (fresh.length > 1) throw new Error(`several new agent sockets, cannot tell which is ours: ${fresh}`);
        return fresh[0];
      });
      return socket;
    },
    kill: async () => {
      const ours = socket ? [socket] : liveAgentSockets(user, host).filter((s) => !before.has(s));
      await stopChild(child, 'SIGKILL');
      await until('sshd to tear down the dropped session (its agent socket to vanish)', () =>
        ours.some((s) => fs.existsSync(seen(s))) ? undefined : true,
      );
    },
  };

  if (tty && command === undefined) {
    // Quotes split the marker in the echoed input, so only the command's output matches.
    session.type("echo STF''READY\r");
    await session.waitFor(/STFREADY/);
    if (forwardAgent) await session.serverSocket();
  }
  return session;
}

// ---------------------------------------------------------------------------------------------
// tmux, run as the user against the user's own server (/tmp/tmux-<uid>/default)

/** A tmux command never waits longer than this: a server that does not answer fails the test by name. */
const TMUX_COMMAND_MS = 20_000;

export function tmux(user: TestUser, args: string[], host?: OtherHost): Promise<RunResult> {
  if (!host) return runAsync('runuser', ['-u', user.name, '--', 'env', '-i', ...userEnv(user), 'tmux', ...args], { cwd: user.home, timeoutMs: TMUX_COMMAND_MS });
  // The user's server on the other host: its socket is in that host's /tmp.
  return runAsync('nsenter', ['-t', String(host.pid), '--mount', '--uts', '--', 'runuser', '-u', user.name, '--', 'env', '-i', ...userEnv(user), 'tmux', ...args], { cwd: user.home, timeoutMs: TMUX_COMMAND_MS });
}

export async function capturePane(user: TestUser, target: string, host?: OtherHost): Promise<string> {
  const r = await tmux(user, ['capture-pane', '-p', '-t', target], host);
  return r.code === 0 ? r.stdout : `(capture-pane -t ${target} failed: ${r.stderr.trim()})`;
}

/** Pane ids (%N) of all panes of the user's server, oldest first. */
export async function listPanes(user: TestUser): Promise<string[]> {
  const r = await tmux(user, ['list-panes', '-a', '-F', '#{pane_id}']);
  if (r.code !== 0) return [];
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
}

/** The pane shell has started once it has drawn something (greeting or prompt). */
export function waitPaneReady(user: TestUser, target: string, timeoutMs = DEFAULT_WAIT_MS, host?: OtherHost): Promise<true> {
  return until(
    `pane ${target} to show its shell`,
    async () => {
      const r = await tmux(user, ['capture-pane', '-p', '-t', target], host);
      return r.code === 0 && r.stdout.trim() !== '' ? true : undefined;
    },
    timeoutMs,
    () => capturePane(user, target, host),
  );
}

/** The first pane of a session, once it exists and its shell is up. */
export async function sessionPane(user: TestUser, session: string, host?: OtherHost): Promise<string> {
  const pane = await until(`tmux session ${session}`, async () => {
    const r = await tmux(user, ['list-panes', '-s', '-t', session, '-F', '#{pane_id}'], host);
    return r.code === 0 ? r.stdout.split('\n')[0] : undefined;
  });
  await waitPaneReady(user, pane, DEFAULT_WAIT_MS, host);
  return pane;
}

/**
 * The link the shells in a session's panes use with ssh-tmux-fix installed: the session's own,
 * tmux.<server pid>.<session number>.sock in this host's directory.
 */
export async function sessionLinkOf(user: TestUser, session: string): Promise<string> {
  const r = await tmux(user, ['display-message', '-p', '-t', session, '#{pid} #{session_id}']);
  const [serverPid, sessionId] = r.stdout.trim().split(' ');
  return path.join(user.home, '.ssh', 'ssh-tmux-fix', os.hostname(), `tmux.${serverPid}.${sessionId.replace('$', '')}.sock`);
}

export function waitAttached(user: TestUser, session: string): Promise<true> {
  return until(`a client attached to tmux session ${session}`, async () => {
    const r = await tmux(user, ['list-clients', '-t', session]);
    return r.code === 0 && r.stdout.trim() !== '' ? true : undefined;
  });
}

/** Opens a window the way the user does, prefix + c typed into the attached client. */
export async function newWindow(user: TestUser, client: SshSession): Promise<string> {
  const before = new Set(await listPanes(user));
  client.type('\x02c');
  const pane = await until('the new window (prefix + c)', async () => {
    return (await listPanes(user)).find((p) => !before.has(p));
  });
  await waitPaneReady(user, pane);
  return pane;
}

let resultCounter = 0;

/**
 * Types a command into a pane, as the user would, and returns its exit code and output. It
 * runs under `sh -c` started by the pane's shell, so it sees exactly that shell's environment
 * and the line reads the same in bash, zsh and fish. No single quotes in `shellCommand`.
 */
export async function paneRun(user: TestUser, target: string, shellCommand: string, host?: OtherHost): Promise<PaneResult> {
  if (shellCommand.includes("'")) throw new Error(`paneRun: no single quotes allowed: ${shellCommand}`);
  const result = path.join(user.workDir, `result-${++resultCounter}`);
  const line = `sh -c '{ ${shellCommand}; } >${result}.out 2>&1; echo $? >${result}'`;
  await tmux(user, ['send-keys', '-t', target, '-l', line], host);
  await tmux(user, ['send-keys', '-t', target, 'Enter'], host);
  const code = await until(
    `"${shellCommand}" to finish in pane ${target}`,
    () => {
      const text = fs.existsSync(result) ? fs.readFileSync(result, 'utf8') : '';
      return text.endsWith('\n') ? Number(text) : undefined;
    },
    DEFAULT_WAIT_MS,
    () => capturePane(user, target, host),
  );
  return { code, output: fs.readFileSync(`${result}.out`, 'utf8').trim() };
}

/** `ssh-add -l` in the pane: 0 = agent with keys, 1 = agent without keys, 2 = no agent. */
export function paneAgentWorks(user: TestUser, target: string): Promise<PaneResult> {
  return paneRun(user, target, 'ssh-add -l');
}

/** Hops from the pane to `hopUser` on the same sshd, using whatever agent the pane sees. */
export function paneHop(user: TestUser, target: string, hopUser: TestUser, sshd: Sshd): Promise<PaneResult> {
  return paneRun(
    user,
    target,
    `ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR ` +
      `-p ${sshd.port} ${hopUser.name}@127.0.0.1 true </dev/null`,
  );
}

// ---------------------------------------------------------------------------------------------
// Two machines at one tmux server: keys typed at each client

/** The SHA256 fingerprint of an agent's key, as `ssh-add -l` prints it. */
export function keyFingerprint(agent: Agent): string {
  const out = spawnSync('ssh-keygen', ['-lf', agent.publicKeyFile], { encoding: 'utf8' }).stdout;
  const m = /SHA256:\S+/.exec(out);
  if (!m) throw new Error(`no fingerprint for ${agent.publicKeyFile}: ${out}`);
  return m[0];
}

/**
 * Types `ssh-add -l` at one client's keyboard, the way a person does (the line, a moment, then
 * Enter), and returns the fingerprint the pane's command reached. The same line works in bash,
 * zsh and fish.
 */
export async function typedAtClient(user: TestUser, client: SshSession): Promise<string> {
  const out = path.join(user.workDir, `typed-${randomBytes(4).toString('hex')}`);
  client.type(`ssh-add -l >${out} 2>&1; touch ${out}.done`);
  // A person takes longer than this between the first key and Enter; the hook runs at the
  // first key, in the background.
  await sleep(1000);
  client.type('\r');
  return keyReported(out, 'the line typed at a client');
}

/** The fingerprint `ssh-add -l` wrote to `out` once `out.done` appears (else what it said). */
async function keyReported(out: string, what: string): Promise<string> {
  await until(`${what} to run (${out})`, () => (fs.existsSync(`${out}.done`) ? true : undefined));
  const said = fs.readFileSync(out, 'utf8');
  return /SHA256:\S+/.exec(said)?.[0] ?? `(no key: ${said.trim()})`;
}

/**
 * The key that `ssh-add -l` reaches in a window tmux starts in `session` without a shell (as
 * `tmux new-window 'git pull'` does: the command gets the session's environment as it is).
 */
export async function startedByTmux(user: TestUser, session: string): Promise<string> {
  const out = path.join(user.workDir, `started-${randomBytes(4).toString('hex')}`);
  const r = await tmux(user, ['new-window', '-d', '-t', `${session}:`, '/bin/sh', '-c', `ssh-add -l >${out} 2>&1; touch ${out}.done`]);
  if (r.code !== 0) throw new Error(`tmux new-window in ${session}: ${r.stderr}`);
  return keyReported(out, `the window tmux started in ${session}`);
}

/** Waits until the user's tmux server has n clients attached. */
export async function attachedClients(user: TestUser, n: number): Promise<void> {
  await until(`${n} clients attached`, async () => {
    const r = await tmux(user, ['list-clients', '-F', '#{client_tty}']);
    return r.stdout.split('\n').filter(Boolean).length === n ? true : undefined;
  });
}

// ---------------------------------------------------------------------------------------------
// Diagnostics for failure messages

/** The last lines the client showed, blank lines dropped (tmux redraws a whole screen). */
export function clientTail(session: SshSession, lines = 15): string {
  const text = stripAnsi(session.output()).replace(/\r/g, '');
  return tail(text.split('\n').filter((l) => l.trim() !== '').join('\n'), lines);
}

/** The SSH_AUTH_SOCK a pane's shell was started with (a shell's later exports do not show here). */
async function paneStartSock(user: TestUser, pane: string): Promise<string> {
  const r = await tmux(user, ['display-message', '-p', '-t', pane, '#{pane_pid}']);
  const environ = `/proc/${r.stdout.trim()}/environ`;
  if (r.code !== 0 || !fs.existsSync(environ)) return '(pane process not found)';
  const entry = fs.readFileSync(environ, 'utf8').split('\0').find((e) => e.startsWith('SSH_AUTH_SOCK='));
  return entry ?? '(SSH_AUTH_SOCK unset)';
}

/** What one needs to see when a pane's agent is broken: panes, tmux env, link, sockets, sshd log. */
export async function diagnose(user: TestUser, sshd: Sshd, panes: string[]): Promise<string> {
  const parts: string[] = [];
  for (const pane of panes) {
    parts.push(`--- pane ${pane}, started with ${await paneStartSock(user, pane)}:`);
    parts.push((await capturePane(user, pane)).trimEnd());
  }
  const sessionEnv = await tmux(user, ['show-environment', ...(panes[0] ? ['-t', panes[0]] : []), 'SSH_AUTH_SOCK']);
  const globalEnv = await tmux(user, ['show-environment', '-g', 'SSH_AUTH_SOCK']);
  parts.push(`--- tmux session environment: ${(sessionEnv.stdout + sessionEnv.stderr).trim()}`);
  parts.push(`--- tmux global environment: ${(globalEnv.stdout + globalEnv.stderr).trim()}`);
  const ls = await user.run('ls -la ~/.ssh ~/.ssh/ssh-tmux-fix 2>&1');
  parts.push(`--- ls -la ~/.ssh ~/.ssh/ssh-tmux-fix:\n${ls.stdout.trimEnd()}`);
  parts.push(`--- live forwarded sockets: ${liveAgentSockets(user).join(' ') || '(none)'}`);
  parts.push(`--- sshd log (tail):\n${sshdLogTail(sshd)}`);
  return parts.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Teardown

/** Stops everything this file started and deletes its users and temp files. */
export async function cleanupAll(): Promise<void> {
  const errors: string[] = [];
  // Users first: killing their processes ends the server side of every session, so the ssh
  // clients exit by themselves.
  for (const user of [...ownedUsers]) {
    try {
      removeUser(user);
    } catch (e) {
      errors.push(String(e));
    }
  }
  for (const child of [...ownedChildren]) await stopChild(child, 'SIGTERM');
  if (baseDir) fs.rmSync(baseDir, { recursive: true, force: true });
  baseDir = hostKeyFile = appCopy = undefined;
  if (errors.length > 0) throw new Error(errors.join('\n'));
}

// ---------------------------------------------------------------------------------------------
// Added for the matrix tests (test/e2e/matrix.test.ts)

/**
 * An exec session, the way git, scp or an IDE backend connects: `ssh -A -T user@host command`,
 * no tty. Resolves when the client has exited; sshd has then closed the session too.
 */
export function sshExec(user: TestUser, sshd: Sshd, agent: Agent, command: string): Promise<RunResult> {
  const args = [
    ...clientOptions(sshd, agent),
    '-A',
    '-T',
    `${user.name}@127.0.0.1`,
    command,
  ];
  return runAsync('ssh', args, {
    env: { PATH: USER_PATH, LANG: 'C.UTF-8', SSH_AUTH_SOCK: agent.sock },
  });
}

/**
 * Types one line into a pane's shell itself (not under `sh -c` as paneRun does), for commands
 * that must change that shell's own state, e.g. an `export`. Returns once tmux took the keys.
 */
export async function paneTypeLine(user: TestUser, target: string, line: string): Promise<void> {
  const typed = await tmux(user, ['send-keys', '-t', target, '-l', line]);
  if (typed.code !== 0) throw new Error(`send-keys -t ${target} failed: ${typed.stderr}`);
  await tmux(user, ['send-keys', '-t', target, 'Enter']);
}

// ---------------------------------------------------------------------------------------------
// Added for the version matrix (scripts/version-matrix.sh, test/e2e/versions.test.ts)

/** The identification line sshd sends first on every connection, e.g. `SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10`. */
export function sshdBanner(sshd: Sshd): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(sshd.port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no banner from sshd on port ${sshd.port} within ${DEFAULT_WAIT_MS} ms: ${JSON.stringify(data)}`));
    }, DEFAULT_WAIT_MS);
    socket.on('data', (d) => {
      data += d;
      const end = data.indexOf('\r\n');
      if (end >= 0) {
        clearTimeout(timer);
        socket.destroy();
        resolve(data.slice(0, end));
      }
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
