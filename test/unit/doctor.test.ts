/** doctor's file-based findings, against real files in a throwaway home. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureBuilt, makeRoot, removeAllRoots, runCli } from './helpers';

beforeAll(ensureBuilt);
afterAll(removeAllRoots);

interface Report {
  ok: boolean;
  findings: { id: string; level: string; message: string; fix?: string }[];
}

const x11 = (home: string) => (JSON.parse(runCli(['doctor', '--json'], { home }).stdout) as Report).findings.find((f) => f.id === 'x11');

test('an ~/.ssh/rc without xauth is a warning with its fix; the installed rc is ok', () => {
  const { home } = makeRoot();
  expect(x11(home)).toMatchObject({ level: 'ok', message: expect.stringContaining('no ~/.ssh/rc') });
  fs.mkdirSync(path.join(home, '.ssh'), { mode: 0o700 });
  fs.writeFileSync(path.join(home, '.ssh', 'rc'), 'ln -sf "$SSH_AUTH_SOCK" ~/.ssh/ssh_auth_sock\n');
  expect(x11(home)).toMatchObject({ level: 'warn', fix: expect.stringContaining('ssh-tmux-fix install') });
  expect(runCli(['install', '--yes', '--only', 'ssh-rc'], { home }).code).toBe(0);
  expect(x11(home)).toMatchObject({ level: 'ok', message: expect.stringContaining('feeds the X11 cookie') });
});
