/**
 * The runtime is a guest in the user's shell. Every rendered shell part is sourced by a real
 * bash, zsh or fish in a private tmux (its own TMUX_TMPDIR) under the settings users really
 * have (set -euo pipefail, extdebug, posix mode, aliases named like builtins, zsh's err_exit,
 * ksh_arrays..., a custom fish prompt), then commands are typed into the pane while the link
 * is healthy, after its login closes, and after the login it then reaches is killed with
 * SIGKILL (its socket file stays). Each case asserts: the pane is alive, no typed command was
 * skipped, $? after a failing command is the user's (in the next command and in the prompt),
 * the heal happened, and the hooks printed nothing.
 *
 * Forwarded sockets are real ssh-agents on <base>/tmp/ssh-N/agent.<pid>, the pid being a
 * process that stands in for the sshd session; the rendered glob points there. A socket that
 * accepts and never answers (a laptop asleep with its connection up) is always around, newer
 * than the live one the heal must find.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { buildContext, RenderContext } from '../../src/context';
import { render } from '../../src/render';

type Shell = 'bash' | 'zsh' | 'fish';
const SSH_ADD = spawnSync('sh', ['-c', 'command -v ssh-add'], { encoding: 'utf8' }).stdout.trim();
const owned: ChildProcess[] = [];
let base: string;
let counter = 0;
let keyFile: string;
let keyDir: string;

beforeAll(() => {
  keyDir = fs.mkdtempSync(join(os.tmpdir(), 'stf-guest-key-'));
  keyFile = join(keyDir, 'id_ed25519');
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'stf-guest', '-f', keyFile]);
  if (r.status !== 0) throw new Error(`ssh-keygen: ${r.stderr}`);
});
afterAll(() => fs.rmSync(keyDir, { recursive: true, force: true }));

beforeEach(() => {
  base = fs.mkdtempSync(join(os.tmpdir(), 'stf-guest-'));
});

afterEach(() => {
  spawnSync('tmux', ['kill-server'], { env: { PATH: process.env.PATH, TMUX_TMPDIR: join(base, 'tmux') } });
  for (const child of owned.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  fs.rmSync(base, { recursive: true, force: true, maxRetries: 20, retryDelay: 50 });
});

// Asynchronous waits: the event loop must run, so that killed children are reaped (a zombie
// still has its /proc entry, and sshd reaps its session at once).
function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 10_000, details?: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${details ? `\n${details()}` : ''}`);
    await sleepMs(25);
  }
}

function start(argv: string[]): ChildProcess {
  const child = spawn(argv[0], argv.slice(1), { stdio: 'ignore' });
  owned.push(child);
  return child;
}

/** A forwarded socket: an ssh-agent on .../ssh-N/agent.<pid of its stand-in sshd session>. */
interface Login {
  sock: string;
  session: ChildProcess;
  agent: ChildProcess;
}

async function login(): Promise<Login> {
  const session = start(['sleep', '3600']);
  counter += 1;
  const dir = join(base, 'tmp', `ssh-${counter}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const sock = join(dir, `agent.${session.pid}`);
  const agent = start(['ssh-agent', '-D', '-a', sock]);
  await waitFor(`ssh-agent on ${sock}`, () => (fs.existsSync(sock) ? true : undefined));
  // An agent with a key, as a laptop's: ssh-add -l then exits 0.
  const added = spawnSync('ssh-add', ['-q', keyFile], { env: { PATH: process.env.PATH, SSH_AUTH_SOCK: sock }, encoding: 'utf8' });
  if (added.status !== 0) throw new Error(`ssh-add: ${added.stderr}`);
  await sleepMs(15); // distinct modification times: "newest" must be well defined
  return { sock, session, agent };
}

/** The connection closes cleanly: sshd removes the socket and the session ends. */
async function closeLogin(l: Login): Promise<void> {
  l.agent.kill('SIGTERM');
  l.session.kill('SIGKILL');
  await waitFor(`${l.sock} to go`, () => (fs.existsSync(l.sock) ? undefined : true));
}

/** The session is killed with SIGKILL (OOM killer): nobody listens, the socket file stays. */
async function killLogin(l: Login): Promise<void> {
  l.agent.kill('SIGKILL');
  l.session.kill('SIGKILL');
  await waitFor('the killed session to be reaped', () => (l.session.signalCode !== null ? true : undefined));
  await waitFor('the killed agent to be reaped', () => (l.agent.signalCode !== null ? true : undefined));
  expect(fs.lstatSync(l.sock).isSocket()).toBe(true);
}

/** Accepts connections and never answers, like a socket whose laptop sleeps with TCP up. */
async function hungSocket(): Promise<string> {
  counter += 1;
  const dir = join(base, 'tmp', `ssh-${counter}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const sock = join(dir, `agent.${process.pid}`);
  start([process.execPath, '-e', `const s=[];require('net').createServer((c)=>s.push(c)).listen(process.argv[1])`, sock]);
  await waitFor(`the hung listener on ${sock}`, () => (fs.existsSync(sock) ? true : undefined));
  await sleepMs(15);
  return sock;
}

interface World {
  home: string;
  ctx: RenderContext;
  out: string;
  env: NodeJS.ProcessEnv;
}

/** The installed parts, rendered for a home whose scan glob covers <base>/tmp/ssh-*. */
function world(mutate: Partial<Record<'helper' | 'bash' | 'zsh' | 'fish', (t: string) => string>> = {}): World {
  const home = join(base, 'home');
  const ctx = { ...buildContext(home), forwardedGlob: `${base}/tmp/ssh-*/agent.*` };
  fs.mkdirSync(ctx.linkDir, { recursive: true, mode: 0o700 });
  const part = (name: 'helper' | 'bash' | 'zsh' | 'fish') => {
    const text = render(name, ctx);
    const edited = mutate[name] ? mutate[name]!(text) : text;
    if (mutate[name] && edited === text) throw new Error(`mutant of ${name} changed nothing: update the mutant`);
    return edited;
  };
  fs.writeFileSync(ctx.helper, part('helper'));
  fs.writeFileSync(ctx.bashInit, part('bash'));
  fs.mkdirSync(join(home, '.zsh'), { recursive: true });
  fs.writeFileSync(join(home, '.zsh', 'stf.zsh'), part('zsh'));
  // With them there fish needs no mkdir of its own at its first prompt (PATH may lack it).
  for (const dir of ['conf.d', 'functions', 'completions']) fs.mkdirSync(join(home, '.config', 'fish', dir), { recursive: true });
  fs.writeFileSync(join(home, '.config', 'fish', 'conf.d', 'ssh-tmux-fix.fish'), part('fish'));
  // fish would otherwise index man pages in the background at its first start.
  fs.mkdirSync(join(home, '.local', 'share', 'fish', 'generated_completions'), { recursive: true });
  fs.mkdirSync(join(base, 'tmux'), { mode: 0o700 });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    TERM: 'xterm-256color',
    LANG: 'C.UTF-8',
    TMUX_TMPDIR: join(base, 'tmux'),
    ZDOTDIR: join(home, '.zsh'),
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_DATA_HOME: join(home, '.local', 'share'),
    SSH_AUTH_SOCK: '/nonexistent/agent.1',
    HISTFILE: '/dev/null',
  };
  return { home, ctx, out: join(base, 'out'), env };
}

const target = (w: World): string | null => {
  try {
    return fs.readlinkSync(w.ctx.link);
  } catch {
    return null;
  }
};

function pointLink(w: World, sock: string): void {
  const r = spawnSync('/bin/sh', [w.ctx.helper, 'login'], { env: { ...w.env, SSH_AUTH_SOCK: sock }, encoding: 'utf8' });
  expect(r.stdout + r.stderr).toBe('');
  expect(target(w)).toBe(sock);
}

// ---------------------------------------------------------------------------------------------
// The user's settings, written before the snippet in the user's own rc file.

/**
 * Prompts show $?; the marker lets the test count prompts and read their statuses. bash itself
 * restores $? after PROMPT_COMMAND, so the user's own PROMPT_COMMAND (as starship's or
 * liquidprompt's) is what reads it, after ours.
 */
const BASH_PROMPT = "PROMPT_COMMAND='__user_status=$?'\nPS1='P[${__user_status-}]> '";
const ZSH_PROMPT = "PS1='P[%?]> '";
const BASH_HOSTILE: Record<string, string> = {
  'no special settings': '',
  'set -euo pipefail': 'set -euo pipefail',
  'shopt -s extdebug (bash-preexec setups)': 'shopt -s extdebug',
  'set -o posix': 'set -o posix',
  'set -o noclobber': 'set -o noclobber',
  'shopt -s failglob': 'shopt -s failglob',
  'aliases and functions named like builtins':
    'local() { echo HIJACKED; }; export() { echo HIJACKED; }; trap() { echo HIJACKED; }; shopt() { echo HIJACKED; }\n' +
    "alias local='echo HIJACKED' export='echo HIJACKED' trap='echo HIJACKED' declare='echo HIJACKED' " +
    "typeset='echo HIJACKED' return='echo HIJACKED' shopt='echo HIJACKED' break='echo HIJACKED'",
  'PATH without /bin and /usr/bin': 'PATH=/opt/tools:/usr/local/bin',
  'all of them at once':
    'set -euo pipefail -o noclobber; shopt -s extdebug failglob; PATH=/opt/tools:/usr/local/bin\n' +
    "alias local='echo HIJACKED' export='echo HIJACKED' trap='echo HIJACKED' return='echo HIJACKED'",
};
const ZSH_HOSTILE: Record<string, string> = {
  'no special settings': '',
  'setopt err_exit': 'setopt err_exit',
  'setopt nounset': 'setopt nounset',
  'setopt ksh_arrays': 'setopt ksh_arrays',
  'setopt sh_word_split': 'setopt sh_word_split',
  'aliases and functions named like builtins':
    "alias local='echo HIJACKED' typeset='echo HIJACKED' export='echo HIJACKED' return='echo HIJACKED'\n" +
    'function trap { echo HIJACKED; }',
  'PATH without /bin and /usr/bin': 'PATH=/opt/tools:/usr/local/bin',
  'all of them at once': 'setopt err_exit nounset ksh_arrays sh_word_split\nPATH=/opt/tools:/usr/local/bin',
};
const FISH_HOSTILE: Record<string, string> = {
  'a custom prompt': '',
  'a custom prompt, PATH without /bin and /usr/bin': 'set -gx PATH /opt/tools /usr/local/bin',
};

/** Writes the user's rc with `settings` before our part; returns the pane's command. */
function paneCommand(w: World, shell: Shell, settings: string): string {
  if (shell === 'bash') {
    const rc = join(w.home, '.bashrc');
    fs.writeFileSync(rc, `${BASH_PROMPT}\n${settings}\n. '${w.ctx.bashInit}'\n`);
    return `bash --rcfile ${rc} -i`;
  }
  if (shell === 'zsh') {
    fs.writeFileSync(join(w.home, '.zsh', '.zshrc'), `${ZSH_PROMPT}\n${settings}\n. '${join(w.home, '.zsh', 'stf.zsh')}'\n`);
    return 'zsh -i';
  }
  fs.writeFileSync(
    join(w.home, '.config', 'fish', 'config.fish'),
    `set -g fish_greeting ''\nfunction fish_prompt; echo -n "P[$status]> "; end\nfunction fish_right_prompt; end\n${settings}\n`,
  );
  return 'fish -i';
}

/** What the user types; bash and zsh share the syntax, fish has its own. */
function lines(shell: Shell, out: string) {
  const posix = shell !== 'fish';
  return {
    mark: (word: string) => `echo ${word} >> ${out}`,
    fail: posix ? '[ -f /nonexistent ] && echo yes' : 'test -f /nonexistent; and echo yes',
    status: posix ? `echo "status:$?" >> ${out}` : `echo "status:$status" >> ${out}`,
    // Under set -e a failing command ends the shell; in a && || list it does not.
    agent: posix
      ? `${SSH_ADD} -l >/dev/null 2>&1 && echo agent:0 >> ${out} || echo "agent:$?" >> ${out}`
      : `${SSH_ADD} -l >/dev/null 2>&1; echo "agent:$status" >> ${out}`,
  };
}

class Pane {
  private typed = 0;
  constructor(private readonly w: World) {}

  tmux(...args: string[]) {
    return spawnSync('tmux', ['-f', '/dev/null', ...args], { env: this.w.env, encoding: 'utf8' });
  }

  async open(command: string): Promise<void> {
    const r = this.tmux('new-session', '-d', '-s', 'guest', '-x', '200', '-y', '50', command);
    if (r.status !== 0) throw new Error(`tmux new-session: ${r.stderr}`);
    this.tmux('set-option', '-g', 'remain-on-exit', 'off');
    await this.waitPrompts(1);
  }

  screen(): string {
    const r = this.tmux('capture-pane', '-p', '-J', '-S', '-', '-t', 'guest');
    return r.status === 0 ? r.stdout : `(no pane: ${r.stderr.trim()})`;
  }

  /** The $? each prompt showed, oldest first. */
  prompts(): number[] {
    return [...this.screen().matchAll(/P\[(\d+)\]> /g)].map((m) => Number(m[1]));
  }

  waitPrompts(n: number, timeoutMs = 10_000): Promise<true> {
    return waitFor(`prompt number ${n}`, () => (this.prompts().length >= n ? true : undefined), timeoutMs, () => this.screen());
  }

  /** Types a line and waits until the shell shows its next prompt. */
  async type(line: string, timeoutMs?: number): Promise<number> {
    this.tmux('send-keys', '-t', 'guest', '-l', line);
    this.tmux('send-keys', '-t', 'guest', 'Enter');
    this.typed += 1;
    const started = Date.now();
    await this.waitPrompts(this.typed + 1, timeoutMs);
    return Date.now() - started;
  }

  alive(): boolean {
    const r = this.tmux('list-panes', '-t', 'guest', '-F', '#{pane_dead}');
    return r.status === 0 && r.stdout.trim() === '0';
  }
}

const read = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

interface Observed {
  out: string[];
  prompts: number[];
  alive: boolean;
  /** Lines on screen that are not a prompt with what was typed: anything a hook printed. */
  noise: string[];
  links: (string | null)[];
  expectedLinks: string[];
  /** How long the first command after the login closed took (a hung socket was probed). */
  healMs: number;
}

/**
 * The scenario: a healthy link (login B), a failing command, the agent; B closes cleanly at
 * the prompt, the next command must reach the older live login A past the newer hung socket;
 * a failing command again; then A's session is killed with SIGKILL and the next command must
 * reach login C.
 */
async function scenario(shell: Shell, settings: string, w: World = world()): Promise<Observed> {
  const a = await login();
  const hung = await hungSocket();
  const b = await login();
  pointLink(w, b.sock);
  const pane = new Pane(w);
  await pane.open(paneCommand(w, shell, settings));
  const say = lines(shell, w.out);
  const links: (string | null)[] = [];
  await pane.type(say.mark('one'));
  await pane.type(say.fail);
  await pane.type(say.status);
  await pane.type(say.agent);
  links.push(target(w));
  await sleepMs(100); // at the prompt, hooks done
  await closeLogin(b);
  const healMs = await pane.type(say.agent);
  links.push(target(w));
  await pane.type(say.fail);
  await pane.type(say.status);
  const c = await login();
  await killLogin(a);
  await pane.type(say.agent);
  links.push(target(w));
  await pane.type(say.mark('end'));
  const screen = pane.screen();
  const noise = screen
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '' && !/^P\[\d+\]>( |$)/.test(l));
  void hung;
  return { out: read(w.out), prompts: pane.prompts(), alive: pane.alive(), noise, links, expectedLinks: [b.sock, a.sock, c.sock], healMs };
}

const EXPECTED_OUT = ['one', 'status:1', 'agent:0', 'agent:0', 'status:1', 'agent:0', 'end'];
// One prompt per line typed, plus the first: the failing commands show 1.
const EXPECTED_PROMPTS = [0, 0, 1, 0, 0, 0, 1, 0, 0, 0];

function expectGuest(o: Observed): void {
  expect({ alive: o.alive, out: o.out, prompts: o.prompts, noise: o.noise, links: o.links }).toEqual({
    alive: true,
    out: EXPECTED_OUT,
    prompts: EXPECTED_PROMPTS,
    noise: [],
    links: o.expectedLinks,
  });
  if (process.env.STF_VERBOSE) console.log(`heal past the hung socket: ${o.healMs} ms`);
  // Past a socket that never answers: about a second for it, then the live one.
  expect(o.healMs).toBeLessThan(4000);
}

const CASES: [Shell, string, string][] = [
  ...Object.entries(BASH_HOSTILE).map(([k, v]): [Shell, string, string] => ['bash', k, v]),
  ...Object.entries(ZSH_HOSTILE).map(([k, v]): [Shell, string, string] => ['zsh', k, v]),
  ...Object.entries(FISH_HOSTILE).map(([k, v]): [Shell, string, string] => ['fish', k, v]),
];

describe('a guest in the pane: healthy link, its login closes, the next one is killed', () => {
  test.each(CASES)('%s, %s', async (shell, _name, settings) => {
    expectGuest(await scenario(shell, settings));
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------
// DISPLAY follows ssh -X logins: the same hostile settings, a pane whose DISPLAY came from a
// login. ~/.ssh/rc's records are written here as the rc writes them (record, then the link);
// the e2e test checks that the rc really writes them at a real ssh -X login.

/** An X11 login: its record ({displayDir}/<pid of a stand-in sshd session>) and the link to it. */
async function x11Login(w: World, display: string, xauthority = ''): Promise<ChildProcess> {
  const session = start(['sleep', '3600']);
  fs.mkdirSync(w.ctx.displayDir, { recursive: true, mode: 0o700 });
  const record = join(w.ctx.displayDir, String(session.pid));
  fs.writeFileSync(`${record}.tmp`, `${session.pid}\n${display}\n${xauthority}\n`);
  fs.renameSync(`${record}.tmp`, record);
  fs.symlinkSync(record, `${w.ctx.displayLink}.tmp`);
  fs.renameSync(`${w.ctx.displayLink}.tmp`, w.ctx.displayLink);
  await sleepMs(15); // distinct modification times: "newest" must be well defined
  return session;
}

async function endX11Login(session: ChildProcess): Promise<void> {
  session.kill('SIGKILL');
  await waitFor('the X11 login to end', () => (session.signalCode !== null ? true : undefined));
}

/** A world whose tmux server, and so the pane, starts with `display` as DISPLAY. */
function displayWorld(display: string | undefined, mutate: Mutation = {}): World {
  const w = world(mutate);
  if (display !== undefined) w.env = { ...w.env, DISPLAY: display };
  return w;
}

interface DisplayObserved {
  out: string[];
  prompts: number[];
  alive: boolean;
  noise: string[];
}

function showDisplay(shell: Shell, out: string): string {
  return shell === 'fish' ? `echo "display:$DISPLAY|$XAUTHORITY" >> ${out}` : `echo "display:\${DISPLAY-}|\${XAUTHORITY-}" >> ${out}`;
}

/**
 * A pane started in login 1 (localhost:10.0); login 2 (localhost:11.0, with an XAUTHORITY)
 * arrives: the pane follows it. Login 2 closes while 1 lives: back to 1. Login 1 closes too:
 * the value stays. The user sets DISPLAY=:0 by hand and login 3 arrives: :0 stays.
 */
async function displayScenario(shell: Shell, settings: string, w: World = displayWorld('localhost:10.0')): Promise<DisplayObserved> {
  const say = lines(shell, w.out);
  const show = showDisplay(shell, w.out);
  const one = await x11Login(w, 'localhost:10.0');
  const pane = new Pane(w);
  await pane.open(paneCommand(w, shell, settings));
  await pane.type(show);
  const two = await x11Login(w, 'localhost:11.0', '/run/user/x11 auth');
  await pane.type(say.fail);
  await pane.type(say.status);
  await pane.type(show);
  await endX11Login(two);
  await pane.type(show);
  await endX11Login(one);
  await pane.type(show);
  await pane.type(shell === 'fish' ? 'set DISPLAY :0' : 'DISPLAY=:0');
  await x11Login(w, 'localhost:12.0');
  await pane.type(show);
  await pane.type(say.mark('end'));
  const noise = pane
    .screen()
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '' && !/^P\[\d+\]>( |$)/.test(l));
  return { out: read(w.out), prompts: pane.prompts(), alive: pane.alive(), noise };
}

const EXPECTED_DISPLAY_OUT = [
  'display:localhost:10.0|',
  'status:1',
  'display:localhost:11.0|/run/user/x11 auth',
  'display:localhost:10.0|',
  'display:localhost:10.0|',
  'display::0|',
  'end',
];

function expectDisplayGuest(o: DisplayObserved): void {
  expect({ alive: o.alive, out: o.out, prompts: o.prompts, noise: o.noise }).toEqual({
    alive: true,
    out: EXPECTED_DISPLAY_OUT,
    prompts: [0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
    noise: [],
  });
}

describe('DISPLAY follows ssh -X logins, a guest too', () => {
  test.each(CASES)('%s, %s', async (shell, _name, settings) => {
    expectDisplayGuest(await displayScenario(shell, settings));
  }, 60_000);

  test.each<[Shell, string | undefined]>([
    ['bash', ':0'],
    ['zsh', ':0'],
    ['fish', ':0'],
    ['bash', undefined],
    ['fish', 'localhost:9.0'],
  ])('%s: a pane started with DISPLAY=%s keeps it when an X11 login arrives', async (shell, display) => {
    const w = displayWorld(display);
    await x11Login(w, 'localhost:10.0');
    const pane = new Pane(w);
    await pane.open(paneCommand(w, shell, ''));
    await pane.type(showDisplay(shell, w.out));
    await x11Login(w, 'localhost:11.0', '/elsewhere');
    await pane.type(showDisplay(shell, w.out));
    expect(read(w.out)).toEqual([`display:${display ?? ''}|`, `display:${display ?? ''}|`]);
  }, 60_000);

  test.each<Shell>(['bash', 'zsh', 'fish'])('%s: no process while nothing changed, in a pane with a forwarded DISPLAY', async (shell) => {
    const w = displayWorld('localhost:10.0');
    const l = await login();
    pointLink(w, l.sock);
    await x11Login(w, 'localhost:10.0');
    const trace = join(base, 'trace');
    const pane = new Pane(w);
    await pane.open(`strace -f -qq -e trace=execve,clone,clone3,fork,vfork -o ${trace} ${paneCommand(w, shell, '')}`);
    await pane.type(showDisplay(shell, w.out));
    const before = fs.readFileSync(trace, 'utf8').split('\n').filter(Boolean).length;
    expect(before).toBeGreaterThan(0); // strace saw the pane's own start
    for (let i = 0; i < 10; i += 1) await pane.type(`echo ${i} >> ${w.out}`);
    await x11Login(w, 'localhost:11.0');
    await pane.type(showDisplay(shell, w.out));
    // A new thread (fish runs some in the background) is no process.
    const after = fs.readFileSync(trace, 'utf8').split('\n').filter(Boolean).slice(before).filter((l) => !l.includes('CLONE_THREAD'));
    expect(read(w.out).filter((l) => l.startsWith('display:'))).toEqual(['display:localhost:10.0|', 'display:localhost:11.0|']);
    expect(after).toEqual([]);
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------
// Outside tmux: a login shell with a live socket takes the link (sshd with PermitUserRC no).

const OUTSIDE_ARGS: Record<Shell, string[]> = { bash: ['--rcfile', 'RC', '-ic', 'true'], zsh: ['-ic', 'true'], fish: ['-ic', 'true'] };

/** An interactive shell outside tmux whose SSH_AUTH_SOCK is a live socket: where does the link go? */
async function outside(shell: Shell, w: World = world()): Promise<{ said: string[]; link: string | null; fresh: string }> {
  const old = await login();
  const fresh = await login();
  pointLink(w, old.sock);
  paneCommand(w, shell, '');
  const argv = OUTSIDE_ARGS[shell].map((x) => (x === 'RC' ? join(w.home, '.bashrc') : x));
  const r = spawnSync(shell, argv, { env: { ...w.env, SSH_AUTH_SOCK: fresh.sock }, encoding: 'utf8' });
  // An interactive bash without a terminal says so itself.
  const said = (r.stdout + r.stderr).split('\n').filter((l) => l && !/cannot set terminal process group|no job control in this shell/.test(l));
  return { said, link: target(w), fresh: fresh.sock };
}

describe('outside tmux', () => {
  test.each<Shell>(['bash', 'zsh', 'fish'])('%s: an interactive shell with a live SSH_AUTH_SOCK points the link at it, silently', async (shell) => {
    const o = await outside(shell);
    expect(o.said).toEqual([]);
    expect(o.link).toBe(o.fresh);
  });
});

// ---------------------------------------------------------------------------------------------
// While no agent answers anywhere, the heal is rate limited: typing fast starts few helpers.

async function helperRuns(shell: Shell, w: World, commands: number): Promise<{ runs: number; seconds: number }> {
  const trace = join(base, 'trace');
  const pane = new Pane(w);
  await pane.open(`strace -f -qq -s 512 -e trace=execve -o ${trace} ${paneCommand(w, shell, '')}`);
  const start = Date.now();
  for (let i = 0; i < commands; i += 1) await pane.type(`echo ${i} >> ${w.out}`);
  const elapsed = Date.now() - start;
  expect(read(w.out)).toHaveLength(commands);
  const runs = fs.readFileSync(trace, 'utf8').split('\n').filter((l) => l.includes(w.ctx.helper) && /execve\(/.test(l) && !/ENOENT/.test(l));
  if (process.env.STF_VERBOSE) console.log(`${shell}: ${runs.length} helper runs for ${commands} commands in ${elapsed} ms`);
  return { runs: runs.length, seconds: Math.ceil(elapsed / 1000) };
}

/** 20 commands typed while no agent answers anywhere: how many helpers ran, and the bound. */
async function rateLimited(shell: Shell, w: World = world()): Promise<{ runs: number; most: number }> {
  const gone = await login();
  pointLink(w, gone.sock);
  await closeLogin(gone);
  const { runs, seconds } = await helperRuns(shell, w, 20);
  return { runs, most: shell === 'fish' ? 5 : Math.min(seconds + 1, 10) };
}

describe('rate limit while no agent answers', () => {
  // Two hook calls a command: without a limit, 20 commands would start 40 helpers.
  test.each<[Shell, string]>([
    ['bash', 'at most one a second'],
    ['zsh', 'at most one a second'],
    ['fish', 'at most one in 10 hook calls (fish has no clock builtin)'],
  ])('%s: 20 commands in a row start %s', async (shell) => {
    const { runs, most } = await rateLimited(shell);
    expect(runs).toBeGreaterThanOrEqual(1);
    expect(runs).toBeLessThanOrEqual(most);
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------
// Mutants: the installed parts, each broken on purpose the way a careless edit would, must fail
// the checks above. Each test records which check caught it.

const mutantLog: string[] = [];
afterAll(() => {
  if (mutantLog.length) console.log(`mutants and the check that caught each:\n${mutantLog.join('\n')}`);
});

async function caught(name: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (e) {
    const first = String((e as Error).message ?? e).split('\n').filter((l) => l.trim())[0];
    const diff = String((e as Error).message ?? '').split('\n').filter((l) => /^\s*[-+] /.test(l)).slice(0, 4).map((l) => l.trim());
    mutantLog.push(`- ${name}: caught (${first}${diff.length ? `; ${diff.join(' ')}` : ''})`);
    return;
  }
  mutantLog.push(`- ${name}: SURVIVED`);
  throw new Error(`mutant survived: ${name}`);
}

type Mutation = Partial<Record<'helper' | 'bash' | 'zsh' | 'fish', (t: string) => string>>;
const swap = (from: string, to: string) => (t: string) => t.split(from).join(to);

const SCENARIO_MUTANTS: [string, Shell, string, Mutation][] = [
  ['status not preserved: the bash prompt hook returns 0', 'bash', '', { bash: swap('\\builtin return "$__stf_status"', '\\builtin return 0') }],
  ['heal disabled in the helper', 'bash', '', { helper: swap('    heal)\n', '    heal) exit 0 ;;\n    never)\n') }],
  ['heal disabled in the helper', 'fish', '', { helper: swap('    heal)\n', '    heal) exit 0 ;;\n    never)\n') }],
  ["modes swapped: bash's tmux hook runs the helper in login mode", 'bash', '', { bash: swap("refresh.sh' heal", "refresh.sh' login") }],
  ["modes swapped: zsh's tmux hook runs the helper in login mode", 'zsh', '', { zsh: swap("refresh.sh' heal", "refresh.sh' login") }],
  ['unbounded probe: no watchdog on ssh-add', 'bash', '', { helper: swap('{ sleep 1; kill "$__stf_probe"; }', '{ :; }') }],
  ['the DEBUG trap of 1.0.0, which fails when the link is dead', 'bash', 'shopt -s extdebug', { bash: swap("'__stf_preexec' DEBUG", "'[[ -S $__stf_link ]] || __stf_heal' DEBUG") }],
  ['the trap -p test of 1.0.0, fooled by posix mode', 'bash', 'set -o posix', { bash: swap("'' | 'trap -- - DEBUG')", "'')") }],
  ['no sshd pid check: the pid is never trusted (bash)', 'bash', '', { bash: swap('-d /proc/$$', '-d /nonexistent/$$') }],
  ['no sshd pid check: the pid is never trusted (fish)', 'fish', '', { fish: swap('-d /proc/$fish_pid', '-d /nonexistent/$fish_pid') }],
];

const DISPLAY_MUTANTS: [string, Shell, Mutation][] = [
  ['pickup disabled', 'bash', { bash: swap('\\builtin export DISPLAY="$__stf_dvalue"', ':') }],
  ['pickup disabled', 'zsh', { zsh: swap('\\builtin export DISPLAY="$__stf_dvalue"', ':') }],
  ['pickup disabled', 'fish', { fish: swap('set -gx DISPLAY $__stf_dvalue', 'true') }],
  ['local display overridden: a DISPLAY set by hand is followed anyway', 'bash', { bash: swap('__stf_display_forwarded "$__stf_dkey" || \\builtin return 0', ':') }],
  ['local display overridden: a DISPLAY set by hand is followed anyway', 'zsh', { zsh: swap('__stf_display_forwarded "$__stf_dkey" || \\builtin return 0', ':') }],
  ['local display overridden: a DISPLAY set by hand is followed anyway', 'fish', { fish: swap('__stf_display_forwarded "$DISPLAY"; or return', 'true') }],
  ['fallback removed: a closed login is kept', 'bash', { bash: swap('if [[ ! -e /proc/$__stf_dpid ]]; then', 'if false; then') }],
  ['fallback removed: a closed login is kept', 'zsh', { zsh: swap('if [[ ! -e /proc/$__stf_dpid ]]; then', 'if false; then') }],
  ['fallback removed: a closed login is kept', 'fish', { fish: swap('if not test -e /proc/$__stf_dpid', 'if false') }],
  ["the followed login's sshd is not watched", 'bash', { bash: swap('__stf_dwatch=/proc/$__stf_dpid', '__stf_dwatch=/') }],
];

describe('mutants', () => {
  test.each(SCENARIO_MUTANTS)('%s (%s): the guest scenario fails', async (name, shell, settings, mutation) => {
    await caught(`${name} [${shell}${settings ? `, ${settings}` : ''}]: guest scenario`, async () => expectGuest(await scenario(shell, settings, world(mutation))));
  }, 60_000);

  test.each(DISPLAY_MUTANTS)('%s (%s): the DISPLAY scenario fails', async (name, shell, mutation) => {
    await caught(`${name} [${shell}]: DISPLAY scenario`, async () => expectDisplayGuest(await displayScenario(shell, '', displayWorld('localhost:10.0', mutation))));
  }, 60_000);

  test("modes swapped: zsh's hook outside tmux runs the helper in heal mode: the outside-tmux check fails", async () => {
    await caught("modes swapped: zsh's hook outside tmux runs the helper in heal mode [zsh]: outside tmux", async () => {
      const o = await outside('zsh', world({ zsh: swap("refresh.sh' login", "refresh.sh' heal") }));
      expect(o.link).toBe(o.fresh);
    });
  }, 60_000);

  test.each<[Shell, Mutation]>([
    ['bash', { bash: swap('if [[ $__stf_tried == "$SECONDS" ]]; then \\builtin return 0; fi', '') }],
    ['zsh', { zsh: swap('if [[ $__stf_tried == "$SECONDS" ]]; then \\builtin return 0; fi', '') }],
    ['fish', { fish: swap('set -q __stf_since_helper[10]; or return', '') }],
  ])('rate limit removed (%s): the rate limit check fails', async (shell, mutation) => {
    await caught(`rate limit removed [${shell}]: rate limit`, async () => {
      const { runs, most } = await rateLimited(shell, world(mutation));
      expect(runs).toBeLessThanOrEqual(most);
    });
  }, 60_000);
});
