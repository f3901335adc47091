/*
 * --version, snippet, status and doctor write to fd 1 themselves (src/output.ts), not through
 * node's stream: the output must arrive whole whatever stdout is, and a reader that stops early
 * must not get a stack trace.
 */
import { spawnSync } from 'node:child_process';
import { CLI, cliEnv, ensureBuilt, makeRoot, removeAllRoots, runCli } from './helpers';

beforeAll(ensureBuilt);
afterAll(removeAllRoots);

/**
 * Runs the CLI with stdout on a pipe made non-blocking and already full (64 KiB written ahead),
 * read only after a pause (long enough for node to start and try, even on a busy machine):
 * every write the CLI tries first fails with EAGAIN. Prints what was read after the filler, and
 * the exit status, as JSON.
 */
const FULL_PIPE = String.raw`
import fcntl, json, os, subprocess, sys, time
r, w = os.pipe()
fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
filler = 0
try:
    while True:
        filler += os.write(w, b"x" * 4096)
except BlockingIOError:
    pass
child = subprocess.Popen(sys.argv[1:], stdout=w)
os.close(w)
time.sleep(1.5)
out = b""
while True:
    chunk = os.read(r, 65536)
    if not chunk:
        break
    out += chunk
print(json.dumps({"code": child.wait(), "filler": out[:filler].count(b"x"), "rest": out[filler:].decode()}))
`;

test('a full, non-blocking stdout still gets every byte, in order', () => {
  const { home } = makeRoot();
  for (const args of [['--version'], ['snippet', 'helper', '--home', home], ['status', '--json', '--home', home]]) {
    const expected = runCli(args, { home, homeArg: null }).stdout;
    expect(expected.length).toBeGreaterThan(5);
    const res = spawnSync('python3', ['-c', FULL_PIPE, process.execPath, CLI, ...args], { env: cliEnv(home), encoding: 'utf8', timeout: 20_000 });
    expect(res.stderr).toBe('');
    const got = JSON.parse(res.stdout) as { code: number; filler: number; rest: string };
    expect(got.filler).toBeGreaterThan(4096);
    expect({ args, rest: got.rest }).toEqual({ args, rest: expected });
  }
});

/** Runs the CLI with stdout on a pipe whose reader is gone: every write fails with EPIPE. */
const CLOSED_PIPE = String.raw`
import json, os, subprocess, sys
r, w = os.pipe()
os.close(r)
child = subprocess.run(sys.argv[1:], stdout=w, stderr=subprocess.PIPE)
print(json.dumps({"code": child.returncode, "stderr": child.stderr.decode()}))
`;

test('a reader that is gone: no stack trace, and the exit status of the findings', () => {
  const { home } = makeRoot();
  for (const [args, code] of [
    [['--version'], 0],
    [['snippet', 'helper'], 0],
    // Not installed: status fails, and says so by its exit status even unread.
    [['status'], 1],
    [['doctor', '--json'], 1],
  ] as Array<[string[], number]>) {
    const res = spawnSync('python3', ['-c', CLOSED_PIPE, process.execPath, CLI, ...args, '--home', home], { env: cliEnv(home), encoding: 'utf8', timeout: 20_000 });
    expect({ args, ...JSON.parse(res.stdout) }).toEqual({ args, code, stderr: '' });
  }
});
