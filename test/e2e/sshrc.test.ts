/*
 * sshd(8), SSHRC: sshd runs ~/.ssh/rc when it exists and then NOT /etc/ssh/sshrc; with neither
 * it runs xauth itself. An install that creates ~/.ssh/rc must keep the admin's /etc/ssh/sshrc
 * running at every login, fed the X11 "proto cookie" line as sshd fed it, and uninstall must
 * give the home back byte for byte. With the system-wide block in /etc/ssh/sshrc too, the link
 * is set once per login, by the per-user helper.
 *
 * It writes /etc/ssh/sshrc while it runs (put back in afterAll): on a machine where other suites
 * run at once, run it in a private mount namespace as test/e2e/system.test.ts says.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { linkOf } from '../../src/context';
import { dropStateParents, snapshot, treeDiff } from '../unit/helpers';
import {
  Agent,
  SavedSystem,
  Sshd,
  TestUser,
  authorize,
  base,
  createUser,
  describeE2E,
  expectOk,
  restoreSystemFiles,
  runCli,
  runCliAsRoot,
  saveSystemFiles,
  sshLogin,
  startAgent,
  startSshd,
  until,
} from './harness';

const SSHRC = '/etc/ssh/sshrc';
const STATE = '.local/state/ssh-tmux-fix';

/** sshd(8)'s SSHRC example, plus one line per run: who ran it, its DISPLAY and what stdin held. */
function adminSshrc(marks: string): string {
  return [
    '# the admin\'s own: sshd(8), SSHRC',
    'if read proto cookie && [ -n "$DISPLAY" ]; then',
    '  if [ `echo $DISPLAY | cut -c1-10` = \'localhost:\' ]; then',
    '    echo add unix:`echo $DISPLAY | cut -c11-` $proto $cookie',
    '  else',
    '    echo add $DISPLAY $proto $cookie',
    '  fi | xauth -q -',
    'fi',
    `echo "ran display=\${DISPLAY-} proto=\${proto-} cookie=\${cookie-}" >>${marks}/"$USER"`,
    '',
  ].join('\n');
}

describeE2E('/etc/ssh/sshrc keeps running at login once the install creates ~/.ssh/rc', () => {
  let sshd: Sshd;
  let agent: Agent;
  let saved: SavedSystem;
  let marks: string;

  beforeAll(async () => {
    saved = saveSystemFiles();
    marks = path.join(base(), 'sshrc-marks');
    fs.mkdirSync(marks, { mode: 0o1777 });
    fs.chmodSync(marks, 0o1777);
    fs.chmodSync(base(), 0o755);
    fs.writeFileSync(SSHRC, adminSshrc(marks), { mode: 0o644 });
    agent = await startAgent();
    sshd = await startSshd({ permitUserRC: true });
  });
  afterAll(async () => {
    try {
      await agent?.stop();
      await sshd?.stop();
    } finally {
      restoreSystemFiles(saved);
    }
  });

  const markLines = (user: TestUser): string[] => {
    const f = path.join(marks, user.name);
    return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim().split('\n') : [];
  };

  /** An ssh -X login: the admin's sshrc wrote its line with the cookie sshd gave this login; xauth has it. */
  async function x11Login(user: TestUser, what: string): Promise<string> {
    const count = markLines(user).length;
    const session = await sshLogin(user, sshd, agent, { x11: 'X' });
    const out = path.join(user.workDir, `xauth-${count}`);
    session.type(`xauth list "$DISPLAY" >${out}.tmp; mv ${out}.tmp ${out}\r`);
    const xauth = await until(`${what}: xauth list`, () => (fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : undefined));
    const lines = markLines(user);
    expect([what, lines.length]).toEqual([what, count + 1]);
    const m = /^ran display=localhost:(\d+)\.0 proto=MIT-MAGIC-COOKIE-1 cookie=([0-9a-f]{32})$/.exec(lines[count]);
    if (!m) throw new Error(`${what}: /etc/ssh/sshrc's line should hold the DISPLAY and the cookie, it is: ${lines[count]}`);
    expect(xauth).toMatch(new RegExp(`/unix:${m[1]}\\s+MIT-MAGIC-COOKIE-1\\s+${m[2]}\\n`));
    const socket = await session.serverSocket();
    await session.kill();
    return socket;
  }

  test('per-user install: ssh -X logins still run it with the cookie on stdin; the link is set; uninstall gives the home back', async () => {
    const user: TestUser = createUser('bash');
    authorize(user, agent.publicKey);
    await x11Login(user, 'before the install (sshd runs /etc/ssh/sshrc)');
    // Besides the install's files, logins write .Xauthority (the admin's xauth) and .bash_history.
    const homeTree = () => snapshot(user.home, [STATE, '.Xauthority', '.bash_history']);
    const before = homeTree();
    const sshrcBefore = fs.readFileSync(SSHRC);
    expectOk(await runCli(user, ['install', '--yes']), 'install');
    const socket = await x11Login(user, 'after the install (sshd runs ~/.ssh/rc)');
    // The rc's own part ran too: this login took the link.
    expect(fs.readlinkSync(linkOf(user.home))).toBe(socket);
    expectOk(await runCli(user, ['uninstall', '--yes']), 'uninstall');
    expect(treeDiff(dropStateParents(homeTree(), before, ''), before)).toEqual([]);
    expect(fs.readFileSync(SSHRC).equals(sshrcBefore)).toBe(true);
    await x11Login(user, 'after the uninstall (sshd runs /etc/ssh/sshrc again)');
  }, 60_000);

  test('with the system-wide block in /etc/ssh/sshrc too: it runs, and the link is set once, by the per-user helper', async () => {
    expectOk(runCliAsRoot(['install', '--system', '--only', 'ssh-rc', '--yes']), 'install --system --only ssh-rc');
    const user: TestUser = createUser('bash');
    authorize(user, agent.publicKey);
    try {
      expectOk(await runCli(user, ['install', '--yes']), 'install');
      // Each helper notes that it was sourced, on a line before its block (put back below).
      const helpers = { user: path.join(user.home, '.ssh', 'ssh-tmux-fix', 'refresh.sh'), system: '/usr/local/lib/ssh-tmux-fix/refresh.sh' };
      const hooks = path.join(marks, `${user.name}.hooks`);
      const originals = Object.entries(helpers).map(([who, file]) => {
        const bytes = fs.readFileSync(file);
        fs.writeFileSync(file, Buffer.concat([Buffer.from(`echo ${who} >>${hooks}\n`), bytes]));
        return { file, bytes };
      });
      try {
        const socket = await x11Login(user, 'both installs');
        expect(fs.readFileSync(hooks, 'utf8')).toBe('user\n');
        expect(fs.readlinkSync(linkOf(user.home))).toBe(socket);
      } finally {
        for (const o of originals) fs.writeFileSync(o.file, o.bytes);
      }
      expectOk(await runCli(user, ['uninstall', '--yes']), 'uninstall');
      // Without ~/.ssh/rc, sshd runs /etc/ssh/sshrc, and its system block sets the link.
      fs.rmSync(hooks);
      const socket = await x11Login(user, 'system-wide install only');
      expect(fs.readlinkSync(linkOf(user.home))).toBe(socket);
    } finally {
      expectOk(runCliAsRoot(['uninstall', '--system', '--yes']), 'uninstall --system');
      expect(fs.readFileSync(SSHRC, 'utf8')).toBe(adminSshrc(marks));
    }
  }, 60_000);
});
