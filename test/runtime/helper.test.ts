/**
 * The runtime helper and the ~/.ssh/rc block, run by the real /bin/sh against real
 * ssh-agent sockets. Forwarded sockets are simulated by agents listening under a
 * test-owned directory that the rendered scan glob points at.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { buildContext, RenderContext } from '../../src/context';
import { render } from '../../src/render';

const agents: ChildProcess[] = [];
let base: string;

beforeEach(() => {
  base = fs.mkdtempSync(join(os.tmpdir(), 'stf-helper-'));
});

afterEach(() => {
  for (const agent of agents.splice(0)) agent.kill('SIGKILL');
  for (const server of listeners.splice(0)) server.close();
  fs.rmSync(base, { recursive: true, force: true });
});

interface Home {
  home: string;
  ctx: RenderContext;
  rc: string;
}

function makeHome(atomicLn = true): Home {
  const home = join(base, 'home');
  const ctx = { ...buildContext(home, atomicLn), forwardedGlob: `${base}/tmp/ssh-*/agent.*`, dropbearGlob: `${base}/tmp/dropbear-*/auth-*` };
  // This host's directory, as its first login makes it.
  fs.mkdirSync(dirname(ctx.link), { recursive: true, mode: 0o700 });
  fs.writeFileSync(ctx.helper, render('helper', ctx));
  const rc = join(home, '.ssh', 'rc');
  fs.writeFileSync(rc, render('ssh-rc', ctx));
  return { home, ctx, rc };
}

/** A real ssh-agent on `path`, as sshd would forward one; resolves once it listens. */
async function agentAt(path: string): Promise<string> {
  fs.mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
  const agent = spawn('ssh-agent', ['-D', '-a', path], { stdio: 'ignore' });
  agents.push(agent);
  for (let i = 0; i < 200 && !fs.existsSync(path); i += 1) await new Promise((r) => setTimeout(r, 10));
  return path;
}

/** A listener that behaves as `behave` says, e.g. accepts and never answers; in this process. */
const listeners: net.Server[] = [];
async function listenerAt(path: string, behave: (c: net.Socket) => void): Promise<string> {
  fs.mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
  const server = net.createServer(behave);
  listeners.push(server);
  await new Promise<void>((r) => server.listen(path, r));
  return path;
}

/** The helper, without blocking this process (its listeners must keep running). */
function runHelperAsync(h: Home, args: string[], extra: Record<string, string | undefined> = {}): Promise<number | null> {
  return new Promise((resolve) => {
    spawn('/bin/sh', [h.ctx.helper, ...args], { env: env(h, { ...extra, STF_TEST_BASE: base }), stdio: 'ignore' }).on('exit', (code) => resolve(code));
  });
}

/** A forwarded-style socket in its own /tmp/ssh-XXXX directory. */
let counter = 0;
function forwardedPath(): string {
  counter += 1;
  return join(base, 'tmp', `ssh-${counter}`, `agent.${1000 + counter}`);
}

function env(h: Home, extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: h.home };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) e[k] = v;
  return e;
}

/** Runs ~/.ssh/rc the way sshd does: `/bin/sh ~/.ssh/rc` with empty stdin. */
function runRc(h: Home, extra: Record<string, string | undefined>) {
  return spawnSync('/bin/sh', [h.rc], { env: env(h, extra), input: '', encoding: 'utf8' });
}

function runHelper(h: Home, mode: 'login' | 'heal', extra: Record<string, string | undefined>) {
  return spawnSync('/bin/sh', [h.ctx.helper, mode], { env: env(h, extra), encoding: 'utf8' });
}

function readlink(path: string): string | null {
  try {
    return fs.readlinkSync(path);
  } catch {
    return null;
  }
}

const target = (h: Home): string | null => readlink(h.ctx.link);

describe('~/.ssh/rc', () => {
  test('an interactive login (SSH_TTY set) takes the link, prints nothing', async () => {
    const h = makeHome();
    const first = await agentAt(forwardedPath());
    const second = await agentAt(forwardedPath());
    expect(runRc(h, { SSH_AUTH_SOCK: first, SSH_TTY: '/dev/pts/1' }).stdout).toBe('');
    expect(target(h)).toBe(first);
    const out = runRc(h, { SSH_AUTH_SOCK: second, SSH_TTY: '/dev/pts/2' });
    expect(out.stdout).toBe('');
    expect(out.stderr).toBe('');
    expect(target(h)).toBe(second);
  });

  test('an exec session (no tty) leaves a live link alone and fills a dead one', async () => {
    const h = makeHome();
    const interactive = await agentAt(forwardedPath());
    runRc(h, { SSH_AUTH_SOCK: interactive, SSH_TTY: '/dev/pts/1' });
    const exec = await agentAt(forwardedPath());
    runRc(h, { SSH_AUTH_SOCK: exec });
    expect(target(h)).toBe(interactive);

    agents[0].kill('SIGKILL');
    fs.rmSync(interactive);
    runRc(h, { SSH_AUTH_SOCK: exec });
    expect(target(h)).toBe(exec);
  });

  test.each([
    ['a regular file', (p: string) => fs.writeFileSync(p, 'x')],
    ['a path that does not exist', () => undefined],
    ['a path with spaces that does not exist', () => undefined],
    ['a directory', (p: string) => fs.mkdirSync(p)],
  ])('never links to %s', async (_name, make) => {
    const h = makeHome();
    const good = await agentAt(forwardedPath());
    runRc(h, { SSH_AUTH_SOCK: good, SSH_TTY: '/dev/pts/1' });
    const bad = join(base, _name.includes('spaces') ? 'with some spaces' : 'bad');
    make(bad);
    const out = runRc(h, { SSH_AUTH_SOCK: bad, SSH_TTY: '/dev/pts/2' });
    expect(out.stdout + out.stderr).toBe('');
    expect(target(h)).toBe(good);
  });

  test('never links to a symlink, so never to itself, even while the link dangles', async () => {
    const h = makeHome();
    const sock = await agentAt(forwardedPath());
    runRc(h, { SSH_AUTH_SOCK: sock, SSH_TTY: '/dev/pts/1' });
    agents[0].kill('SIGKILL');
    fs.rmSync(sock);
    runRc(h, { SSH_AUTH_SOCK: h.ctx.link, SSH_TTY: '/dev/pts/2' });
    expect(target(h)).toBe(sock);
    const alias = join(base, 'alias');
    fs.symlinkSync(h.ctx.link, alias);
    runRc(h, { SSH_AUTH_SOCK: alias, SSH_TTY: '/dev/pts/2' });
    expect(target(h)).toBe(sock);
  });

  test("never links to another user's socket", async () => {
    const h = makeHome();
    const foreign = await agentAt(forwardedPath());
    fs.chownSync(foreign, 65534, 65534);
    if (fs.statSync(foreign).uid !== 65534) throw new Error('chown to nobody did not take: run as root');
    runRc(h, { SSH_AUTH_SOCK: foreign, SSH_TTY: '/dev/pts/1' });
    expect(target(h)).toBeNull();
  });

  test('a socket path with spaces works', async () => {
    const h = makeHome();
    const spaced = await agentAt(join(base, 'tmp', 'ssh-with space', 'agent.1'));
    runRc(h, { SSH_AUTH_SOCK: spaced, SSH_TTY: '/dev/pts/1' });
    expect(target(h)).toBe(spaced);
  });

  test('with X11 forwarding, feeds the cookie to xauth as sshd(8) SSHRC shows', () => {
    const h = makeHome();
    const xauthority = join(base, 'Xauthority');
    const out = spawnSync('/bin/sh', [h.rc], {
      env: env(h, { DISPLAY: 'localhost:10.0', XAUTHORITY: xauthority }),
      input: 'MIT-MAGIC-COOKIE-1 0123456789abcdef0123456789abcdef\n',
      encoding: 'utf8',
    });
    expect(out.stdout).toBe('');
    const list = spawnSync('xauth', ['-f', xauthority, 'list'], { encoding: 'utf8' }).stdout;
    expect(list).toMatch(/\/unix:10\s+MIT-MAGIC-COOKIE-1\s+0123456789abcdef0123456789abcdef/);
  });
});

describe('heal', () => {
  test('a dangling link is re-pointed to the newest live socket, in both layouts', async () => {
    const h = makeHome();
    const older = await agentAt(forwardedPath());
    await new Promise((r) => setTimeout(r, 20));
    // OpenSSH 10.1+ layout: the test listens in ~/.ssh/agent/ itself (this machine has 9.2).
    // A login there taught the helper this host's hash (s.<H>.*); another host's socket in
    // the shared directory, newer still, is never taken.
    const newer = await agentAt(join(h.home, '.ssh', 'agent', 's.abcdef1234.sshd.12345'));
    runHelper(h, 'login', { SSH_AUTH_SOCK: newer });
    expect(fs.readFileSync(join(dirname(h.ctx.link), 'agent-host-hash'), 'utf8')).toBe('abcdef1234\n');
    await new Promise((r) => setTimeout(r, 20));
    await agentAt(join(h.home, '.ssh', 'agent', 's.OtherHost0.sshd.67890'));
    const gone = join(base, 'gone.sock');
    fs.rmSync(h.ctx.link);
    fs.symlinkSync(gone, h.ctx.link);
    runHelper(h, 'heal', {});
    expect(target(h)).toBe(newer);

    agents[1].kill('SIGKILL'); // its socket file stays behind, with nobody listening
    fs.rmSync(h.ctx.link);
    fs.symlinkSync(gone, h.ctx.link);
    runHelper(h, 'heal', {});
    expect(target(h)).toBe(older);
  });

  test.each([
    ['answers every request with a failure', /agent refused operation/, (c: net.Socket) => c.once('data', () => c.end(Buffer.from([0, 0, 0, 1, 5])))],
    ['closes every connection once it has read the request', /communication with agent failed/, (c: net.Socket) => c.once('data', () => c.end())],
  ])('a socket whose agent %s (ssh-add -l exits 1) is not taken for alive', async (_what, says, behave) => {
    const h = makeHome();
    const live = await agentAt(forwardedPath());
    await new Promise((r) => setTimeout(r, 20));
    const broken = await listenerAt(forwardedPath(), behave);
    // Asynchronously: the listener lives in this process.
    const probe = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn('ssh-add', ['-l'], { env: { PATH: process.env.PATH, SSH_AUTH_SOCK: broken }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      child.on('close', (code) => resolve({ code, stderr }));
    });
    expect(probe.code).toBe(1);
    expect(probe.stderr).toMatch(says);
    fs.symlinkSync(join(base, 'gone.sock'), h.ctx.link);
    await runHelperAsync(h, ['heal']);
    expect(target(h)).toBe(live);
    // A link that points at such a socket is moved too.
    fs.rmSync(h.ctx.link);
    fs.symlinkSync(broken, h.ctx.link);
    await runHelperAsync(h, ['heal']);
    expect(target(h)).toBe(live);
  });

  test('an agent without keys is alive ("The agent has no identities.", exit 1 too)', async () => {
    const h = makeHome();
    const empty = await agentAt(forwardedPath());
    fs.symlinkSync(empty, h.ctx.link);
    await agentAt(forwardedPath());
    await runHelperAsync(h, ['heal']);
    expect(target(h)).toBe(empty);
  });

  test('sockets that accept and never answer: about a second each, two at most, then the live one', async () => {
    const h = makeHome();
    const live = await agentAt(forwardedPath());
    const hung: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      await new Promise((r) => setTimeout(r, 20));
      hung.push(await listenerAt(forwardedPath(), () => undefined));
    }
    fs.symlinkSync(join(base, 'gone.sock'), h.ctx.link);
    let started = Date.now();
    await runHelperAsync(h, ['heal']);
    const twoSilent = Date.now() - started;
    // Newest first: two silent ones end the search, bounded; the link is left dangling.
    expect(twoSilent).toBeLessThan(3500);
    expect(target(h)).toBe(join(base, 'gone.sock'));
    // A link on a silent socket, one other silent one, then the live one: found.
    for (const sock of hung.slice(1)) fs.rmSync(sock);
    fs.rmSync(h.ctx.link);
    fs.symlinkSync(hung[0], h.ctx.link);
    started = Date.now();
    await runHelperAsync(h, ['heal']);
    expect(Date.now() - started).toBeLessThan(3500);
    expect(target(h)).toBe(live);
    // Nothing is left running: the probes and their watchdogs are gone within a second.
    await new Promise((r) => setTimeout(r, 1200));
    const left = spawnSync('pgrep', ['-f', `ssh-add -l|sleep 1`], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
    const ours = left.filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/environ`, 'latin1').includes(base);
      } catch {
        return false;
      }
    });
    expect(ours).toEqual([]);
  });

  test('a healthy link is left exactly as it is', async () => {
    const h = makeHome();
    const a = await agentAt(forwardedPath());
    await agentAt(forwardedPath());
    fs.symlinkSync(a, h.ctx.link);
    const before = fs.lstatSync(h.ctx.link).ino;
    runHelper(h, 'heal', {});
    expect(fs.lstatSync(h.ctx.link).ino).toBe(before);
  });
});

describe('client: the tmux client that types takes the link (tmux hooks)', () => {
  const record = (h: Home, tty: string) => join(h.ctx.clientDir, tty.replace(/^\/dev\//, '').replace(/\//g, '.'));

  test("each interactive login records its socket by tty; 'client <tty>' points the link at that login's socket", async () => {
    const h = makeHome();
    const laptop = await agentAt(forwardedPath());
    const desktop = await agentAt(forwardedPath());
    expect(runRc(h, { SSH_AUTH_SOCK: laptop, SSH_TTY: '/dev/pts/1' }).stdout).toBe('');
    expect(runRc(h, { SSH_AUTH_SOCK: desktop, SSH_TTY: '/dev/pts/2' }).stdout).toBe('');
    expect(fs.readFileSync(record(h, '/dev/pts/1'), 'utf8')).toBe(`${laptop}\n`);
    expect(fs.statSync(h.ctx.clientDir).mode & 0o777).toBe(0o700);
    expect(target(h)).toBe(desktop);
    expect(await runHelperAsync(h, ['client', '/dev/pts/1'])).toBe(0);
    expect(target(h)).toBe(laptop);
    await runHelperAsync(h, ['client', '/dev/pts/2']);
    expect(target(h)).toBe(desktop);
    // A client whose login recorded nothing (a local terminal, an unknown tty): left alone.
    await runHelperAsync(h, ['client', '/dev/pts/9']);
    await runHelperAsync(h, ['client', 'not-a-tty']);
    expect(target(h)).toBe(desktop);
  });

  test('a recorded socket that no longer answers, or a login without an agent on that tty, leaves the link alone', async () => {
    const h = makeHome();
    const laptop = await agentAt(forwardedPath());
    const desktop = await agentAt(forwardedPath());
    runRc(h, { SSH_AUTH_SOCK: laptop, SSH_TTY: '/dev/pts/1' });
    runRc(h, { SSH_AUTH_SOCK: desktop, SSH_TTY: '/dev/pts/2' });
    agents[0].kill('SIGKILL'); // the laptop's session killed: its socket file stays, nobody listens
    await new Promise((r) => setTimeout(r, 50));
    await runHelperAsync(h, ['client', '/dev/pts/1']);
    expect(target(h)).toBe(desktop);
    // pts/1 reused by a login without agent forwarding: its record is emptied.
    runRc(h, { SSH_TTY: '/dev/pts/1' });
    expect(fs.readFileSync(record(h, '/dev/pts/1'), 'utf8')).toBe('');
    // An exec session (no tty) records nothing.
    runRc(h, { SSH_AUTH_SOCK: laptop });
    expect(fs.readdirSync(h.ctx.clientDir).sort()).toEqual(['pts.1', 'pts.2']);
  });
});

describe("a tmux session's own link: two machines, each attached to a session of its own", () => {
  // tmux runs `client <tty> <server pid> <session id>`; this process stands in for the server.
  const serverPid = String(process.pid);
  const slinkOf = (h: Home, session: number) => join(dirname(h.ctx.link), `tmux.${serverPid}.${session}.sock`);

  test("each session's link points at the socket of the client that attached to it; a new login moves only the host's link", async () => {
    const h = makeHome();
    const laptop = await agentAt(forwardedPath());
    const desktop = await agentAt(forwardedPath());
    runRc(h, { SSH_AUTH_SOCK: laptop, SSH_TTY: '/dev/pts/1' });
    expect(await runHelperAsync(h, ['client', '/dev/pts/1', serverPid, '$0'])).toBe(0);
    runRc(h, { SSH_AUTH_SOCK: desktop, SSH_TTY: '/dev/pts/2' });
    // Not through agent.sock: the desktop's login moved that, and session 0 stays the laptop's.
    expect(readlink(slinkOf(h, 0))).toBe(laptop);
    expect(await runHelperAsync(h, ['client', '/dev/pts/2', serverPid, '$1'])).toBe(0);
    expect([readlink(slinkOf(h, 0)), readlink(slinkOf(h, 1)), target(h)]).toEqual([laptop, desktop, desktop]);
    // Typing in session 0 (client-active, tmux 3.3+) moves the host's link, not session 1's.
    await runHelperAsync(h, ['client', '/dev/pts/1', serverPid, '$0']);
    expect([readlink(slinkOf(h, 0)), readlink(slinkOf(h, 1)), target(h)]).toEqual([laptop, desktop, laptop]);
    // Ids that are not numbers name no link.
    await runHelperAsync(h, ['client', '/dev/pts/1', serverPid, '$x']);
    await runHelperAsync(h, ['client', '/dev/pts/1', '', '$2']);
    expect(fs.readdirSync(dirname(h.ctx.link)).filter((n) => n.startsWith('tmux.')).sort()).toEqual([`tmux.${serverPid}.0.sock`, `tmux.${serverPid}.1.sock`]);
  });

  test("heal: a session's link whose client's agent is gone, or missing, follows the host's link again; one that answers is kept", async () => {
    const h = makeHome();
    const laptop = await agentAt(forwardedPath());
    const desktop = await agentAt(forwardedPath());
    runRc(h, { SSH_AUTH_SOCK: laptop, SSH_TTY: '/dev/pts/1' });
    runRc(h, { SSH_AUTH_SOCK: desktop, SSH_TTY: '/dev/pts/2' });
    await runHelperAsync(h, ['client', '/dev/pts/1', serverPid, '$0']);
    await runHelperAsync(h, ['client', '/dev/pts/2', serverPid, '$0']);
    await runHelperAsync(h, ['client', '/dev/pts/1', serverPid, '$0']);
    expect(await runHelperAsync(h, ['heal', slinkOf(h, 0)])).toBe(0);
    expect(readlink(slinkOf(h, 0))).toBe(laptop);
    // A pane's first shell in a session no client pointed yet: made, following the host's link.
    expect(await runHelperAsync(h, ['heal', slinkOf(h, 5)])).toBe(0);
    expect(readlink(slinkOf(h, 5))).toBe('agent.sock');
    // The laptop's agent dies (its connection closed): session 0 follows the host's link.
    agents[0].kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 50));
    expect(await runHelperAsync(h, ['heal', slinkOf(h, 0)])).toBe(0);
    expect(readlink(slinkOf(h, 0))).toBe('agent.sock');
    expect(target(h)).toBe(desktop);
    // Only this host's session links are ever written.
    const elsewhere = join(base, 'elsewhere.sock');
    await runHelperAsync(h, ['heal', elsewhere]);
    expect(fs.existsSync(elsewhere)).toBe(false);
  });

  test('a client without an agent of its own leaves its session to the host link; links of servers that are gone go at the next login', async () => {
    const h = makeHome();
    const desktop = await agentAt(forwardedPath());
    runRc(h, { SSH_AUTH_SOCK: desktop, SSH_TTY: '/dev/pts/2' });
    await runHelperAsync(h, ['client', '/dev/pts/2', serverPid, '$3']);
    expect(readlink(slinkOf(h, 3))).toBe(desktop);
    runRc(h, { SSH_TTY: '/dev/pts/7' }); // ssh without -A
    await runHelperAsync(h, ['client', '/dev/pts/7', serverPid, '$3']);
    expect(readlink(slinkOf(h, 3))).toBe('agent.sock');

    const gone = spawnSync('/bin/sh', ['-c', 'echo $$']).stdout.toString().trim();
    fs.symlinkSync('agent.sock', join(dirname(h.ctx.link), `tmux.${gone}.0.sock`));
    runRc(h, { SSH_AUTH_SOCK: desktop, SSH_TTY: '/dev/pts/2' });
    expect(fs.readdirSync(dirname(h.ctx.link)).filter((n) => n.startsWith('tmux.'))).toEqual([`tmux.${serverPid}.3.sock`]);
  });
});

describe.each([true, false])('atomic replacement (GNU ln -sfn: %s)', (atomicLn) => {
  test('30 concurrent refreshes: the link is never missing and no temporary file is left', async () => {
    const h = makeHome(atomicLn);
    const socks = await Promise.all(Array.from({ length: 3 }, () => agentAt(forwardedPath())));
    runHelper(h, 'login', { SSH_AUTH_SOCK: socks[0] });
    fs.writeFileSync(join(base, 'running'), '');
    const checker = spawn('/bin/sh', ['-c', `n=0; while [ -f "$1" ]; do if [ ! -h "$2" ]; then echo MISSING; fi; n=$((n+1)); done; echo "checks=$n"`, 'sh', join(base, 'running'), h.ctx.link], { stdio: ['ignore', 'pipe', 'ignore'] });
    const checked = new Promise((r) => checker.on('exit', r));
    let output = '';
    checker.stdout!.on('data', (d) => (output += d));
    const runs = Array.from({ length: 30 }, (_, i) =>
      new Promise<void>((resolve) => {
        spawn('/bin/sh', [h.ctx.helper, 'login'], { env: env(h, { SSH_AUTH_SOCK: socks[i % 3] }), stdio: 'ignore' }).on('exit', () => resolve());
      }),
    );
    await Promise.all(runs);
    fs.rmSync(join(base, 'running'));
    await checked;
    expect(output).not.toMatch(/MISSING/);
    expect(Number(/checks=(\d+)/.exec(output)?.[1])).toBeGreaterThan(0);
    expect(fs.readdirSync(h.ctx.linkDir).sort()).toEqual(['agent.sock', 'refresh.sh', hostname()].sort());
    expect(fs.readdirSync(dirname(h.ctx.link))).toEqual(['agent.sock']);
    expect(socks).toContain(target(h));
  });
});

describe('ranking: forwarded with keys, forwarded, local with keys, local (a shell plugin starts a keyless ssh-agent)', () => {
  let keyFile: string;
  let keyDir: string;
  beforeAll(() => {
    keyDir = fs.mkdtempSync(join(os.tmpdir(), 'stf-rank-key-'));
    keyFile = join(keyDir, 'id_ed25519');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
  });
  afterAll(() => fs.rmSync(keyDir, { recursive: true, force: true }));

  /** A process whose comm is sshd, as the session process sshd names its socket after. */
  function fakeSshd(): number {
    const bin = join(base, 'bin', 'sshd');
    if (!fs.existsSync(bin)) {
      fs.mkdirSync(join(base, 'bin'), { recursive: true });
      fs.copyFileSync('/bin/sleep', bin);
      fs.chmodSync(bin, 0o755);
    }
    const child = spawn(bin, ['600'], { stdio: 'ignore' });
    agents.push(child);
    return child.pid!;
  }
  /** sshd's layout (agent.<pid of a live sshd>), or ssh-agent's (agent.<pid of its first process, gone>). */
  function socketPath(kind: 'forwarded' | 'local' | 'dropbear'): string {
    counter += 1;
    if (kind === 'dropbear') return join(base, 'tmp', `dropbear-${counter}`, `auth-${counter}-6`);
    const pid = kind === 'forwarded' ? fakeSshd() : 4_000_000 + counter;
    return join(base, 'tmp', `ssh-${counter}`, `agent.${pid}`);
  }
  async function agent(kind: 'forwarded' | 'local' | 'dropbear', keys: boolean): Promise<string> {
    const sock = await agentAt(socketPath(kind));
    if (keys) spawnSync('ssh-add', ['-q', keyFile], { env: { PATH: process.env.PATH, SSH_AUTH_SOCK: sock } });
    await new Promise((r) => setTimeout(r, 20)); // distinct mtimes: newest first
    return sock;
  }
  const dangle = (h: Home) => {
    fs.rmSync(h.ctx.link, { force: true });
    fs.symlinkSync(join(base, 'gone.sock'), h.ctx.link);
  };

  test('a login shell whose rc started a keyless local ssh-agent leaves the link on the forwarded socket, and its record too', async () => {
    const h = makeHome();
    const forwarded = await agent('forwarded', true);
    runRc(h, { SSH_AUTH_SOCK: forwarded, SSH_TTY: '/dev/pts/4' });
    const plugin = await agent('local', false);
    const out = runHelper(h, 'login', { SSH_AUTH_SOCK: plugin, SSH_TTY: '/dev/pts/4' });
    expect(out.stdout + out.stderr).toBe('');
    expect(target(h)).toBe(forwarded);
    expect(fs.readFileSync(join(h.ctx.clientDir, 'pts.4'), 'utf8')).toBe(`${forwarded}\n`);
    // Not even a local agent with keys replaces a forwarded socket, with keys or without.
    const keyless = await agent('forwarded', false);
    runRc(h, { SSH_AUTH_SOCK: keyless, SSH_TTY: '/dev/pts/5' });
    runHelper(h, 'login', { SSH_AUTH_SOCK: await agent('local', true), SSH_TTY: '/dev/pts/5' });
    expect(target(h)).toBe(keyless);
  });

  test('a login shell with a local agent, the link dead: a forwarded socket that answers (Dropbear, no rc) wins; with none, its own agent', async () => {
    const h = makeHome();
    const dropbear = await agent('dropbear', true);
    const plugin = await agent('local', false);
    dangle(h);
    runHelper(h, 'login', { SSH_AUTH_SOCK: plugin });
    expect(target(h)).toBe(dropbear);
    // A desktop: no forwarded socket at all; the shell's own agent takes the link.
    agents[0].kill('SIGKILL');
    fs.rmSync(dropbear);
    await agent('local', true);
    const own = await agent('local', true);
    const older = await agent('local', false);
    dangle(h);
    runHelper(h, 'login', { SSH_AUTH_SOCK: own });
    expect(target(h)).toBe(own);
    // Offered a keyless one while the link is on a local agent with keys: the keys win.
    runHelper(h, 'login', { SSH_AUTH_SOCK: older });
    expect(target(h)).toBe(own);
  });

  test('heal: forwarded with keys, then forwarded, then local with keys, then local; interactive logins before exec sessions', async () => {
    const h = makeHome();
    const interactive = await agent('forwarded', true);
    runRc(h, { SSH_AUTH_SOCK: interactive, SSH_TTY: '/dev/pts/1' });
    const exec = await agent('forwarded', true);
    const forwardedKeyless = await agent('forwarded', false);
    const localKeys = await agent('local', true);
    const localKeyless = await agent('local', false);
    const steps: [string, string][] = [];
    for (const expected of [interactive, exec, forwardedKeyless, localKeys, localKeyless]) {
      dangle(h);
      runHelper(h, 'heal', {});
      steps.push([expected, target(h) ?? '(none)']);
      fs.rmSync(expected); // that connection closed
    }
    expect(steps.map(([, got]) => got)).toEqual(steps.map(([want]) => want));
  });

  test('heal moves the link off a local agent without keys once a forwarded one answers; a local agent with keys stays', async () => {
    const h = makeHome();
    const plugin = await agent('local', false);
    fs.symlinkSync(plugin, h.ctx.link);
    runHelper(h, 'heal', {});
    expect(target(h)).toBe(plugin);
    const forwarded = await agent('forwarded', false);
    runHelper(h, 'heal', {});
    expect(target(h)).toBe(forwarded);
    const keys = await agent('local', true);
    fs.rmSync(h.ctx.link);
    fs.symlinkSync(keys, h.ctx.link);
    runHelper(h, 'heal', {});
    expect(target(h)).toBe(keys);
  });
});
