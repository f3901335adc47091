/*
 * doctor and status ask the agent in-process (src/agent.ts). Proof against real ssh-agents that
 * the answer is the one `ssh-add -l` gives, and that an agent which hangs cannot hang doctor.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { AgentAnswer, askAgent } from '../../src/agent';
import { ensureBuilt, makeRoot, removeAllRoots, runCli } from './helpers';

const started: ChildProcess[] = [];
const servers: net.Server[] = [];
let dir: string;

beforeAll(() => {
  ensureBuilt();
  dir = makeRoot().root;
});

afterAll(() => {
  for (const child of started) child.kill('SIGKILL');
  for (const server of servers) server.close();
  removeAllRoots();
});

/** A real ssh-agent in the foreground (-D), so its pid is ours to stop and end. */
async function startAgent(name: string, withKey: boolean): Promise<{ sock: string; agent: ChildProcess }> {
  const sock = path.join(dir, name);
  const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
  started.push(agent);
  while (!fs.existsSync(sock)) await new Promise((r) => setTimeout(r, 10));
  if (withKey) {
    const key = path.join(dir, `${name}.key`);
    expect(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]).status).toBe(0);
    expect(spawnSync('ssh-add', ['-q', key], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' }).status).toBe(0);
  }
  return { sock, agent };
}

/** A unix socket that answers every request with these bytes (or never, or hangs up). */
async function fakeAgent(name: string, reply: Buffer | 'hang-up' | 'silent'): Promise<string> {
  const sock = path.join(dir, name);
  const server = net.createServer((conn) => {
    conn.on('error', () => undefined);
    conn.once('data', () => (reply === 'hang-up' ? conn.destroy() : reply === 'silent' ? undefined : conn.write(reply)));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(sock, r));
  return sock;
}

/** Run without blocking: the fake agents answer from this very process. */
function sshAddExit(sock: string): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn('ssh-add', ['-l'], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore', timeout: 5000 });
    child.on('exit', (code) => resolve(code));
  });
}

test('the answer is the one ssh-add -l gives: an agent with keys, one without, a missing socket, a file, a failure, a hang-up', async () => {
  const plainFile = path.join(dir, 'file');
  fs.writeFileSync(plainFile, '');
  // The last column: how ssh-add -l exits. It tells "no keys" (1) from "no agent" (2) the same
  // way, except for a listener that hangs up unasked: not an agent, though ssh-add says 1.
  const cases: Array<[string, string, AgentAnswer, number]> = [
    ['an agent with a key', (await startAgent('keyed.sock', true)).sock, 'keys', 0],
    ['an agent without keys', (await startAgent('empty.sock', false)).sock, 'no-keys', 1],
    ['a socket that is gone', path.join(dir, 'gone.sock'), 'none', 2],
    ['a plain file', plainFile, 'none', 2],
    // SSH_AGENT_FAILURE (5): ssh-add prints "error fetching identities" and exits 1.
    ['an agent that refuses', await fakeAgent('refuses.sock', Buffer.from([0, 0, 0, 1, 5])), 'no-keys', 1],
    ['a listener that hangs up', await fakeAgent('hangs-up.sock', 'hang-up'), 'none', 1],
  ];
  for (const [what, sock, expected, sshAdd] of cases) {
    const answer = await askAgent(sock);
    expect({ what, answer }).toEqual({ what, answer: expected });
    expect({ what, sshAdd: await sshAddExit(sock) }).toEqual({ what, sshAdd });
  }
});

test('a reply that arrives a byte at a time is read whole', async () => {
  // Identities answer with a count of 3, then the (here truncated) keys.
  const reply = Buffer.from([0, 0, 0, 9, 12, 0, 0, 0, 3, 0, 0, 0, 0]);
  const sock = path.join(dir, 'trickle.sock');
  const server = net.createServer((conn) => {
    conn.on('error', () => undefined);
    conn.once('data', async () => {
      for (const byte of reply) {
        conn.write(Buffer.from([byte]));
        await new Promise((r) => setTimeout(r, 5));
      }
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(sock, r));
  expect(await askAgent(sock)).toBe('keys');
});

test('an agent that never answers (stopped, or a silent listener) costs the timeout, not more', async () => {
  const { sock, agent } = await startAgent('stopped.sock', true);
  agent.kill('SIGSTOP');
  try {
    for (const target of [sock, await fakeAgent('silent.sock', 'silent')]) {
      const t0 = Date.now();
      expect(await askAgent(target, 300)).toBe('none');
      const elapsed = Date.now() - t0;
      expect(elapsed).toBeGreaterThanOrEqual(290);
      expect(elapsed).toBeLessThan(2000);
    }
  } finally {
    agent.kill('SIGCONT');
  }
});

test('status and doctor report the link by what the agent behind it answers; a stopped agent is a failure, within the bound', async () => {
  const { home } = makeRoot();
  const keyed = await startAgent('status-keyed.sock', true);
  const linkDir = path.join(home, '.ssh', 'ssh-tmux-fix', hostname());
  fs.mkdirSync(linkDir, { recursive: true, mode: 0o700 });
  const link = path.join(linkDir, 'agent.sock');
  fs.symlinkSync(keyed.sock, link);
  const linkFinding = (command: string) => {
    const out = runCli([command, '--json'], { home, env: { SSH_AUTH_SOCK: link } });
    return (JSON.parse(out.stdout) as { findings: Array<{ id: string; level: string; message: string }> }).findings.find((f) => f.id === 'link');
  };
  expect(linkFinding('status')).toMatchObject({ level: 'ok', message: expect.stringContaining('reaches an agent with keys') });
  expect(linkFinding('doctor')).toMatchObject({ level: 'ok', message: expect.stringContaining('reaches an agent with keys') });

  keyed.agent.kill('SIGSTOP');
  try {
    const t0 = Date.now();
    expect(linkFinding('status')).toMatchObject({ level: 'fail', message: expect.stringContaining('no agent answers') });
    expect(Date.now() - t0).toBeLessThan(8000);
  } finally {
    keyed.agent.kill('SIGCONT');
  }
});
