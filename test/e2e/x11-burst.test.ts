/*
 * X11 forwarding next to the ~/.ssh/rc block, bad SSH_AUTH_SOCK values at the login-shell path,
 * and a burst of concurrent forwarded logins against a tight link checker. One sshd for the file.
 */
import { hostname } from 'node:os';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  Agent,
  RunResult,
  Shell,
  SshSession,
  Sshd,
  TestUser,
  authorize,
  base,
  createUser,
  describeE2E,
  diagnose,
  installClassicRecipe,
  liveAgentSockets,
  paneAgentWorks,
  runAs,
  runCli,
  sessionLinkOf,
  sessionPane,
  sshLogin,
  startAgent,
  startSshd,
  stripAnsi,
  until,
} from './harness';

const SHELLS: Shell[] = ['bash', 'zsh', 'fish'];
const BURST = 30;

function linkDir(user: TestUser): string {
  return path.join(user.home, '.ssh', 'ssh-tmux-fix');
}

/** This host's directory: the link, the client records. */
function hostDir(user: TestUser): string {
  return path.join(linkDir(user), hostname());
}

function linkOf(user: TestUser): string {
  return path.join(hostDir(user), 'agent.sock');
}

/** The install's directory holds its files, 1.0.0's link (relative) and this host's directory; that one the links and the records. */
function expectOnlyOurFiles(user: TestUser): void {
  expect(fs.readdirSync(linkDir(user)).sort()).toEqual(['agent.sock', 'init.bash', 'refresh.sh', 'tmux.conf', hostname()].sort());
  // Besides the links of tmux sessions (tmux.<server pid>.<session number>.sock).
  expect(fs.readdirSync(hostDir(user)).filter((n) => !/^tmux\.\d+\.\d+\.sock$/.test(n)).sort()).toEqual(['agent.sock', 'clients']);
}

function readLink(user: TestUser): string | undefined {
  try {
    return fs.readlinkSync(linkOf(user));
  } catch {
    return undefined;
  }
}

async function install(user: TestUser, env?: Record<string, string>): Promise<void> {
  const r = await runCli(user, ['install', '--yes'], env);
  if (r.code !== 0) throw new Error(`install failed (${r.code}):\n${r.stdout}${r.stderr}`);
}

let typedCounter = 0;

/**
 * Types `command` at the prompt of an interactive ssh session (bash, zsh and fish read the line
 * alike) and returns what it wrote on stdout and stderr, plus the session's $DISPLAY.
 */
async function typeInSession(
  user: TestUser,
  session: SshSession,
  command: string,
): Promise<{ display: string; stdout: string; stderr: string }> {
  const f = path.join(user.workDir, `typed-${++typedCounter}`);
  session.type(`echo "$DISPLAY" >${f}.display; ${command} >${f}.out 2>${f}.err; echo done >${f}.done\r`);
  await until(`"${command}" typed into the ssh session to finish`, () => (fs.existsSync(`${f}.done`) ? true : undefined), 10_000, () =>
    stripAnsi(session.output()).slice(-2000),
  );
  const read = (ext: string) => fs.readFileSync(`${f}.${ext}`, 'utf8');
  return { display: read('display').trim(), stdout: read('out'), stderr: read('err') };
}

/** `xauth list "$DISPLAY"` on the server shows the cookie for exactly the forwarded display. */
function expectCookie(display: string, xauthList: string, context: string): void {
  const m = /^localhost:(\d+)\.0$/.exec(display);
  if (!m) throw new Error(`${context}: DISPLAY on the server is ${JSON.stringify(display)}, expected localhost:N.0 (X11 forwarding not set up?)`);
  const lines = xauthList.split('\n').filter((l) => l.trim() !== '');
  const cookie = new RegExp(`/unix:${m[1]}\\s+MIT-MAGIC-COOKIE-1\\s+[0-9a-f]{32}$`);
  if (!lines.some((l) => cookie.test(l))) {
    throw new Error(`${context}: xauth list "${display}" should print the forwarded cookie for display ${m[1]}, printed:\n${xauthList || '(nothing)'}`);
  }
}

/** Starts a real ssh-agent as `user` listening on `sock`; the caller stops it. */
async function userAgent(user: TestUser, sock: string): Promise<ChildProcess> {
  const child = spawn('runuser', ['-u', user.name, '--', 'ssh-agent', '-D', '-a', sock], { stdio: 'ignore' });
  await until(`ssh-agent of ${user.name} on ${sock}`, () => {
    if (child.exitCode !== null) throw new Error(`ssh-agent as ${user.name} exited with ${child.exitCode}`);
    return fs.existsSync(sock) ? true : undefined;
  });
  return child;
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    process.kill(child.pid!, 'SIGTERM');
  });
}

/**
 * An interactive login shell as the user, outside tmux, with a real terminal (script(1)) as a
 * login has, and with the given SSH_AUTH_SOCK: the login-shell refresh path (path 2).
 * Everything the shell prints, stdout and stderr alike, lands in `stdout`.
 */
function loginShell(user: TestUser, sock: string): Promise<RunResult> {
  return runAs(user, ['script', '-qec', `exec ${user.shell} -li -c true`, '/dev/null'], {
    SSH_AUTH_SOCK: sock,
    TERM: 'xterm-256color',
  });
}

describeE2E('X11 forwarding, bad SSH_AUTH_SOCK at login, burst of logins', () => {
  let sshd: Sshd;
  let agent: Agent;

  beforeAll(async () => {
    // The burst opens 30 connections at once; sshd's default MaxStartups (10:30:100) would
    // drop some of them before they authenticate.
    sshd = await startSshd({ permitUserRC: true, extraConfig: 'MaxStartups 100:30:200' });
    agent = await startAgent();
  });

  afterAll(async () => {
    await agent?.stop();
    await sshd?.stop();
  });

  function newUser(shell: Shell): TestUser {
    const user = createUser(shell);
    authorize(user, agent.publicKey);
    return user;
  }

  // -----------------------------------------------------------------------------------------
  // 1. X11

  describe('X11: the ~/.ssh/rc block feeds sshd\'s cookie to xauth', () => {
    test.each(SHELLS)('%s user with the fix: ssh -X and ssh -Y logins and exec sessions have their cookie', async (shell) => {
      const user = newUser(shell);
      try {
        await install(user);
        for (const x11 of ['X', 'Y'] as const) {
          // No leftover entry from an earlier login can stand in for this login's cookie.
          fs.rmSync(path.join(user.home, '.Xauthority'), { force: true });
          const session = await sshLogin(user, sshd, agent, { x11 });
          const r = await typeInSession(user, session, 'xauth list "$DISPLAY"');
          expectCookie(r.display, r.stdout, `${shell}, ssh -${x11}`);
          expect(r.stderr).toBe('');
          await session.kill();

          // An exec session without a terminal (ssh -X host xterm) gets its cookie too.
          fs.rmSync(path.join(user.home, '.Xauthority'), { force: true });
          const f = path.join(user.workDir, `exec-${x11}`);
          const exec = await sshLogin(user, sshd, agent, {
            x11,
            tty: false,
            command: `echo "$DISPLAY" >${f}.display; xauth list "$DISPLAY" >${f}.out 2>${f}.err; touch ${f}.done`,
          });
          await exec.waitFor(() => fs.existsSync(`${f}.done`), 10_000);
          expectCookie(fs.readFileSync(`${f}.display`, 'utf8').trim(), fs.readFileSync(`${f}.out`, 'utf8'), `${shell}, ssh -${x11} exec session`);
        }
      } finally {
        user.cleanup();
      }
    }, 60_000);

    test('classic recipe (a ~/.ssh/rc without xauth) loses the cookie: the known bug', async () => {
      const user = newUser('bash');
      try {
        installClassicRecipe(user);
        const session = await sshLogin(user, sshd, agent, { x11: 'X' });
        const r = await typeInSession(user, session, 'xauth list "$DISPLAY"');
        expect(r.display).toMatch(/^localhost:\d+\.0$/);
        expect(r.stdout).toBe('');
        await session.kill();
      } finally {
        user.cleanup();
      }
    }, 60_000);

    test('a pre-existing ~/.ssh/rc line of the user still runs, and the cookie is there', async () => {
      const user = newUser('bash');
      try {
        const rc = path.join(user.home, '.ssh', 'rc');
        fs.writeFileSync(rc, 'echo mine >> ~/rc-ran\n');
        fs.chownSync(rc, user.uid, user.gid);
        await install(user);
        expect(fs.readFileSync(rc, 'utf8')).toContain('echo mine >> ~/rc-ran\n');
        for (const x11 of ['X', 'Y'] as const) {
          fs.rmSync(path.join(user.home, '.Xauthority'), { force: true });
          fs.rmSync(path.join(user.home, 'rc-ran'), { force: true });
          const session = await sshLogin(user, sshd, agent, { x11 });
          const r = await typeInSession(user, session, 'xauth list "$DISPLAY"');
          expect(fs.readFileSync(path.join(user.home, 'rc-ran'), 'utf8')).toBe('mine\n');
          expectCookie(r.display, r.stdout, `own rc line, ssh -${x11}`);
          await session.kill();
        }
      } finally {
        user.cleanup();
      }
    }, 60_000);
  });

  // -----------------------------------------------------------------------------------------
  // 2. Bad SSH_AUTH_SOCK values at the login-shell path

  describe('login shells outside tmux never link to a bad SSH_AUTH_SOCK', () => {
    test.each(SHELLS)('%s', async (shell) => {
      const user = newUser(shell);
      const other = createUser('bash');
      const started: ChildProcess[] = [];
      try {
        await install(user);
        const link = linkOf(user);

        // Bad values: another user's live socket (a real ssh-agent of theirs), a regular file,
        // a missing path, a missing path with spaces, and (later) the dangling link itself.
        const foreignDir = path.join(base(), `foreign-${other.name}`);
        fs.mkdirSync(foreignDir, { mode: 0o755 });
        fs.chownSync(foreignDir, other.uid, other.gid);
        const foreign = path.join(foreignDir, 'agent.sock');
        started.push(await userAgent(other, foreign));
        const plain = path.join(user.workDir, 'plain-file');
        fs.writeFileSync(plain, '');
        fs.chownSync(plain, user.uid, user.gid);
        const spacedDir = path.join(user.workDir, 'dir with spaces');
        fs.mkdirSync(spacedDir, { mode: 0o700 });
        fs.chownSync(spacedDir, user.uid, user.gid);
        const bad: Record<string, string> = {
          "another user's socket": foreign,
          'a regular file': plain,
          'a missing path': path.join(user.workDir, 'no-such-socket'),
          'a path with spaces': path.join(spacedDir, 'agent sock; $(touch pwned)'),
        };

        const tryBad = async (what: string, sock: string, expected: string) => {
          const r = await loginShell(user, sock);
          const printed = stripAnsi(r.stdout + r.stderr).replace(/\r/g, '').trim();
          const target = readLink(user);
          const context = `${shell} login shell with SSH_AUTH_SOCK = ${what} (${sock})`;
          if (r.code !== 0 || printed !== '' || target !== expected) {
            throw new Error(
              `${context}: exit ${r.code}, printed ${JSON.stringify(printed)}, link -> ${target}; ` +
                `expected exit 0, nothing printed, link -> ${expected}`,
            );
          }
          expect(Object.values(bad)).not.toContain(target);
          expect(target).not.toBe(link);
          expect(fs.existsSync(path.join(spacedDir, 'pwned')) || fs.existsSync(path.join(user.home, 'pwned'))).toBe(false);
        };

        // Control: this way of starting a login shell does run the login path. With no link
        // yet, a live socket of the user's own (a local agent) is taken.
        const own = path.join(user.workDir, 'own-agent.sock');
        const ownAgent = await userAgent(user, own);
        started.push(ownAgent);
        await tryBad('(control) a live socket of the user, no link yet', own, own);

        // A good link, from a real forwarded login that stays open; the local agent no longer
        // takes it (a forwarded socket outranks a local one).
        const first = await sshLogin(user, sshd, agent);
        const s1 = await first.serverSocket();
        await until('the link to point at the first login', () => (readLink(user) === s1 ? true : undefined));
        await tryBad('(control) the live local agent while a forwarded login is open', own, s1);
        await stopProcess(ownAgent);

        for (const [what, sock] of Object.entries(bad)) await tryBad(what, sock, s1);

        // The login closes: the link dangles. Nothing bad may be taken now either, and a shell
        // whose SSH_AUTH_SOCK is the dangling link itself must not make it point at itself.
        await first.kill();
        expect(fs.existsSync(link)).toBe(false);
        for (const [what, sock] of Object.entries(bad)) await tryBad(`${what}, link dangling`, sock, s1);
        await tryBad('the dangling link itself', link, s1);

        expectOnlyOurFiles(user);

        // The next good forwarded login heals everything.
        const second = await sshLogin(user, sshd, agent);
        const s2 = await second.serverSocket();
        await until('the link to point at the new login', () => (readLink(user) === s2 ? true : undefined), 10_000, async () =>
          `link -> ${readLink(user)}\n${await diagnose(user, sshd, [])}`,
        );
        const agentViaLink = await runAs(user, ['ssh-add', '-l'], { SSH_AUTH_SOCK: link });
        expect(agentViaLink.code).toBe(0);
        await second.kill();
      } finally {
        for (const child of started) await stopProcess(child);
        user.cleanup();
        other.cleanup();
      }
    }, 60_000);
  });

  // -----------------------------------------------------------------------------------------
  // 3. Burst

  /**
   * An `ln` whose --version looks like coreutils 8.32 (no atomic -sfn), for the install's
   * detection only: the helper it writes then replaces the link with ln -s and mv -f, as it does
   * on BusyBox and BSD systems. At run time the real ln is used either way.
   */
  function oldLnPath(): string {
    const dir = path.join(base(), 'old-ln');
    if (!fs.existsSync(dir)) {
      fs.mkdirSync(dir, { mode: 0o755 });
      const ln = path.join(dir, 'ln');
      fs.writeFileSync(ln, '#!/bin/sh\n[ "$1" = --version ] && { echo "ln (GNU coreutils) 8.32"; exit 0; }\nexec /bin/ln "$@"\n');
      fs.chmodSync(ln, 0o755);
    }
    return `${dir}:/usr/local/bin:/usr/bin:/bin`;
  }

  test.each([
    ['GNU ln -sfn', false],
    ['ln -s and mv -f (no atomic ln -sfn)', true],
  ])(`burst: ${BURST} concurrent forwarded logins, the link is never missing; helper with %s`, async (_what, oldLn) => {
    const user = newUser('bash');
    try {
      await install(user, oldLn ? { PATH: oldLnPath() } : undefined);
      const link = linkOf(user);
      const helper = fs.readFileSync(path.join(linkDir(user), 'refresh.sh'), 'utf8');
      if (oldLn) {
        expect(helper).toMatch(/mv -f/);
        expect(helper).not.toMatch(/ln -sfn/);
      } else {
        expect(helper).toMatch(/ln -sfn/);
      }

      // The interactive login that stays open, with a tmux session started before the burst.
      const main = await sshLogin(user, sshd, agent);
      const mainSock = await main.serverSocket();
      main.type('tmux new-session -s main\r');
      const pane = await sessionPane(user, 'main');
      const sanity = await paneAgentWorks(user, pane);
      if (sanity.code !== 0) throw new Error(`sanity: ssh-add -l in the pane gave ${sanity.code} (${sanity.output})\n${await diagnose(user, sshd, [pane])}`);
      expect(readLink(user)).toBe(mainSock);

      // The checker: as the user, [ -h link ] in a tight loop until told to stop.
      const startedFile = path.join(user.workDir, 'checker-started');
      const stopFile = path.join(user.workDir, 'checker-stop');
      const checker = runAs(user, [
        'sh',
        '-c',
        'i=0; m=0; : >"$3"; while [ ! -e "$2" ]; do i=$((i+1)); [ -h "$1" ] || m=$((m+1)); done; echo "$i $m"',
        'checker',
        link,
        stopFile,
        startedFile,
      ]);
      await until('the link checker to start', () => (fs.existsSync(startedFile) ? true : undefined));

      // 30 logins at once, each with a terminal (so each takes the link) and a forwarded agent.
      const t0 = Date.now();
      // Each remote command leaves a marker file: the client's last output can be lost when a
      // pty session closes, the marker cannot.
      const marker = (i: number) => path.join(user.workDir, `burst-${i}`);
      const burst = await Promise.all(
        Array.from({ length: BURST }, (_, i) => sshLogin(user, sshd, agent, { command: `sleep 1; touch ${marker(i)}` })),
      );
      const done = await Promise.allSettled(burst.map((s, i) => s.waitFor(() => fs.existsSync(marker(i)), 60_000)));
      const failed = done.map((d, i) => [d, i] as const).filter(([d]) => d.status === 'rejected');
      const burstMs = Date.now() - t0;
      fs.writeFileSync(stopFile, '');
      const result = await checker;
      const [iterations, missing] = result.stdout.trim().split(' ').map(Number);

      if (failed.length > 0) {
        const why = failed.map(([d, i]) => `#${i}: ${(d as PromiseRejectedResult).reason}`).slice(0, 3);
        throw new Error(`${failed.length} of ${BURST} burst logins did not finish:\n${why.join('\n')}`);
      }
      if (result.code !== 0 || !(iterations > 1000) || missing !== 0) {
        throw new Error(
          `link checker: exit ${result.code}, ${iterations} checks over ${burstMs} ms, link missing in ${missing} of them ` +
            `(stderr: ${result.stderr.trim()})`,
        );
      }

      // The burst sessions have closed: only the open login's socket is left.
      await until('the burst sessions to be torn down', () => {
        const live = liveAgentSockets(user);
        return live.length === 1 && live[0] === mainSock ? true : undefined;
      }, 20_000, () => `live sockets: ${liveAgentSockets(user).join(' ')}`);
      expectOnlyOurFiles(user);

      // The pane from before the burst reaches the agent through its session's link, which the
      // open login's client pointed at its socket (the burst moved only the host's link).
      const after = await paneAgentWorks(user, pane);
      if (after.code !== 0) {
        throw new Error(`after the burst: ssh-add -l in the pane gave ${after.code} (${after.output})\n${await diagnose(user, sshd, [pane])}`);
      }
      expect(fs.realpathSync(await sessionLinkOf(user, 'main'))).toBe(mainSock);
      expectOnlyOurFiles(user);
      await main.kill();
    } finally {
      user.cleanup();
    }
  }, 120_000);
});
