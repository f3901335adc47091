/** The one snapshot helper every suite compares homes with: it must see every kind of change. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isRoot, makeRoot, removeAllRoots, sameEntry, snapshot, treeDiff } from './helpers';

afterAll(removeAllRoots);

test('treeDiff reports bytes, modes, symlink targets, presence; sameEntry agrees', () => {
  const { home } = makeRoot();
  fs.writeFileSync(path.join(home, 'f'), 'one\n', { mode: 0o644 });
  fs.symlinkSync('f', path.join(home, 'l'));
  const before = snapshot(home);
  expect(treeDiff(snapshot(home), before)).toEqual([]);

  fs.writeFileSync(path.join(home, 'f'), 'two\n');
  fs.chmodSync(path.join(home, 'f'), 0o600);
  fs.unlinkSync(path.join(home, 'l'));
  fs.symlinkSync('g', path.join(home, 'l'));
  fs.mkdirSync(path.join(home, 'd'));
  const after = snapshot(home);
  const diffs = treeDiff(after, before);
  expect(diffs).toEqual([
    'd: actual dir mode 755, expected absent',
    'f: mode 600, expected 644',
    expect.stringMatching(/^f: 4 bytes, expected 4; first difference at byte 0/),
    'l: symlink -> g, expected symlink -> f',
  ]);
  for (const rel of ['d', 'f', 'l']) expect(sameEntry(after.get(rel), before.get(rel))).toBe(false);
  expect(sameEntry(undefined, undefined)).toBe(true);
});

(isRoot ? test : test.skip)('owners are compared when the snapshot records them', () => {
  const { home } = makeRoot();
  fs.writeFileSync(path.join(home, 'f'), 'x');
  const before = snapshot(home, [], { owners: true });
  fs.chownSync(path.join(home, 'f'), 65534, 65534);
  expect(treeDiff(snapshot(home, [], { owners: true }), before)).toEqual(['f: owner 65534:65534, expected 0:0']);
  expect(treeDiff(snapshot(home), snapshot(home))).toEqual([]);
});
