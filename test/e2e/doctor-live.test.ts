/*
 * doctor checks what it claims, on a real tmux server started by real byobu: the hooks it
 * reports are those `tmux show-hooks -g` shows on the pane's own server (found from $TMUX), not
 * those the files hold. byobu's tmux reads ~/.byobu/.tmux.conf and never ~/.tmux.conf, so a
 * byobu set up after the install runs a server without the hooks: doctor says so, although
 * every file holds its block. Installing again puts them there, and doctor says that too.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { linkOf } from '../../src/context';
import { TestUser, createUser, describeE2E, expectOk, runAs, runCli, tmux, until } from './harness';

interface Finding {
  id: string;
  level: string;
  message: string;
  fix?: string;
}

describeE2E('doctor reads the running tmux server (byobu, set up after the install)', () => {
  const hasByobu = fs.existsSync('/usr/bin/byobu');

  (hasByobu ? test : test.skip)('hooks missing on the live server read as missing; present read as present; -SSH_AUTH_SOCK read as not copied', async () => {
    const user: TestUser = createUser('bash');
    const link = linkOf(user.home);
    expectOk(await runCli(user, ['install', '--yes']), 'install');
    expect(fs.existsSync(path.join(user.home, '.byobu'))).toBe(false);
    // Then byobu: its tmux backend, and a session it starts (tmux -f byobu's profile).
    expectOk(await runAs(user, ['byobu-select-backend', 'tmux']), 'byobu-select-backend tmux');
    expectOk(await runAs(user, ['byobu', 'new-session', '-d', '-s', 'b']), 'byobu new-session');
    const pane = (await tmux(user, ['list-panes', '-t', 'b', '-F', '#{pane_id}'])).stdout.trim();
    await until('byobu\'s pane to show its shell', async () => ((await tmux(user, ['capture-pane', '-p', '-t', pane])).stdout.trim() ? true : undefined));
    const where = (await tmux(user, ['display-message', '-p', '-t', pane, '#{socket_path},#{pid},#{session_id}'])).stdout.trim();

    /** doctor as it runs in that pane: its TMUX, byobu's variable, the link as SSH_AUTH_SOCK. */
    const doctor = async (): Promise<Record<string, Finding>> => {
      const r = await runCli(user, ['doctor', '--json'], { TMUX: where, BYOBU_BACKEND: 'tmux', SSH_AUTH_SOCK: link });
      return Object.fromEntries((JSON.parse(r.stdout) as { findings: Finding[] }).findings.map((f) => [f.id, f]));
    };

    const before = await doctor();
    expect(before.installed.level).toBe('ok');
    expect(before['tmux-hooks']).toMatchObject({ level: 'fail', message: expect.stringContaining('lacks the hooks client-attached, session-created, client-session-changed') });
    // The shell is on the link: it is told nothing about exporting it.
    expect(before['shell-sock'].fix ?? '').not.toContain('SSH_AUTH_SOCK');

    // Installing again writes ~/.byobu/.tmux.conf and sets the hooks on the running server.
    expectOk(await runCli(user, ['install', '--yes']), 'install with byobu set up');
    expect(fs.readFileSync(path.join(user.home, '.byobu', '.tmux.conf'), 'utf8')).toContain('source-file -q');
    expect((await doctor())['tmux-hooks']).toMatchObject({ level: 'ok' });

    // Taken off the server (the files keep them): missing again, by name.
    expectOk(await tmux(user, ['set-hook', '-gu', 'client-attached[7311]']), 'set-hook -gu');
    expect((await doctor())['tmux-hooks']).toMatchObject({ level: 'fail', message: expect.stringMatching(/lacks the hooks client-attached:/) });

    // update-environment without SSH_AUTH_SOCK (a "-SSH_AUTH_SOCK" entry matches no name):
    // nothing copies the socket at attach, so the missing hook is a warning, not a failure.
    expectOk(await tmux(user, ['set-option', '-g', 'update-environment', 'DISPLAY']), 'update-environment');
    expectOk(await tmux(user, ['set-option', '-ga', 'update-environment', '-SSH_AUTH_SOCK']), 'update-environment');
    expect((await doctor())['tmux-hooks']).toMatchObject({ level: 'warn', message: 'this tmux server lacks the hooks client-attached' });
    await tmux(user, ['kill-server']);
  }, 60_000);
});
