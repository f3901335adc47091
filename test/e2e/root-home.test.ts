/*
 * Root installing into a user's home (`sudo ssh-tmux-fix install --home /home/alice`): everything
 * it creates belongs to alice, with the modes she would have got herself, and afterwards she runs
 * status, uninstall, install and rollback herself and can still make ~/.local/share.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestUser, createUser, describeE2E, expectOk, runAs, runCli, runCliAsRoot } from './harness';

const STATE = '.local/state/ssh-tmux-fix';

/**
 * Every entry of the home as "relative path: type mode owner", backup set ids replaced by
 * their order, so two homes can be compared entry by entry.
 */
function layout(user: TestUser): string[] {
  const setIds = (() => {
    try {
      return fs.readdirSync(path.join(user.home, STATE, 'backups')).sort();
    } catch {
      return [];
    }
  })();
  const rows: string[] = [];
  for (const entry of (fs.readdirSync(user.home, { recursive: true }) as string[]).sort()) {
    const st = fs.lstatSync(path.join(user.home, entry));
    const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : 'file';
    const owner = st.uid === user.uid && st.gid === user.gid ? 'user' : `${st.uid}:${st.gid}`;
    const name = setIds.reduce((n, id, i) => n.replace(id, `set${i}`), entry);
    rows.push(`${name}: ${type} ${(st.mode & 0o7777).toString(8)} ${owner}`);
  }
  return rows.sort();
}

describeE2E('root installs into a user home (--home)', () => {
  test('every file it makes is hers, with her own modes; she then runs every command herself', async () => {
    const alice = createUser('bash');
    const bob = createUser('bash');
    expect(fs.existsSync(path.join(alice.home, '.local'))).toBe(false);

    expectOk(runCliAsRoot(['install', '--yes', '--shell', 'bash,sh', '--home', alice.home]), 'root: install --home');
    // The same install done by a user himself: the layout root must reproduce in alice's home.
    expectOk(await runCli(bob, ['install', '--yes', '--shell', 'bash,sh']), 'bob: install');
    const aliceLayout = layout(alice);
    expect(aliceLayout).toContain(`${STATE}/installed.json: file 600 user`);
    expect(aliceLayout).toContain('.local: dir 755 user');
    expect(aliceLayout).toEqual(layout(bob));

    expectOk(await alice.run('mkdir ~/.local/share && touch ~/.local/share/mine'), 'alice: mkdir ~/.local/share');

    const status = await runCli(alice, ['status', '--json']);
    expect([0, 1]).toContain(status.code);
    const installed = JSON.parse(status.stdout).findings.find((f: { id: string }) => f.id === 'installed');
    expect(installed.level).toBe('ok');

    expectOk(await runCli(alice, ['uninstall', '--yes']), 'alice: uninstall');
    expectOk(await runCli(alice, ['install', '--yes', '--shell', 'bash,sh']), 'alice: install');
    expectOk(await runCli(alice, ['rollback', '--yes']), 'alice: rollback');
    expect(fs.existsSync(path.join(alice.home, '.ssh', 'rc'))).toBe(false);

    // Root again (say, a second playbook run): still nothing of root's in her home.
    expectOk(runCliAsRoot(['install', '--yes', '--shell', 'bash,sh', '--home', alice.home]), 'root: install --home again');
    expectOk(runCliAsRoot(['uninstall', '--yes', '--home', alice.home]), 'root: uninstall --home');
    expectOk(runCliAsRoot(['rollback', '--yes', '--home', alice.home]), 'root: rollback --home');
    expect(layout(alice).filter((row) => !row.endsWith(' user'))).toEqual([]);
    expectOk(await runAs(alice, ['sh', '-c', 'rm -rf ~/.local/state/ssh-tmux-fix']), 'alice: remove the state directory');
  });
});
