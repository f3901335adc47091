/*
 * unifiedDiff must print a unified diff that the real `patch` applies, without fuzz, to the
 * before bytes to give exactly the after bytes. The diff is written to the file the way the CLI
 * prints it (process.stdout.write of the string: UTF-8).
 */
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findBlocks, insertBlock, removeBlock } from '../../src/blocks';
import { unifiedDiff } from '../../src/diff';
import { makeRoot, removeAllRoots, run } from './helpers';

let work: string;
beforeAll(() => {
  work = makeRoot().root;
  const v = run('patch', ['--version']);
  if (v.code !== 0) throw new Error('the patch program is needed by these tests (apt-get install patch)');
});
afterAll(removeAllRoots);

const BODY = '# a managed body\nexport SSH_AUTH_SOCK="$HOME/.ssh/link"\n';
const latin1 = (s: string) => Buffer.from(s, 'latin1');
const P = '/home/u/.bashrc';

/** Applies the diff with patch (no fuzz, no guessing) to `before`; returns the result. */
function applyDiff(before: Buffer | null, diff: string): Buffer {
  const orig = path.join(work, 'orig');
  const out = path.join(work, 'out');
  const diffFile = path.join(work, 'the.diff');
  fs.writeFileSync(orig, before ?? Buffer.alloc(0));
  fs.writeFileSync(diffFile, Buffer.from(diff, 'latin1')); // as the CLI prints it: byte for byte
  fs.rmSync(out, { force: true });
  const res = run('patch', ['-s', '-f', '--fuzz=0', '--no-backup-if-mismatch', '--reject-file=-', '-o', out, orig, diffFile]);
  if (res.code !== 0) throw new Error(`patch refused the diff (exit ${res.code}): ${res.stdout}${res.stderr}\n--- diff ---\n${diff}`);
  return fs.existsSync(out) ? fs.readFileSync(out) : Buffer.alloc(0);
}

function expectRoundTrip(before: Buffer | null, after: Buffer | null, context?: number): string {
  const diff = unifiedDiff(P, before, after, context);
  expect(diff).not.toBe('');
  expect(diff.split('\n')[0]).toBe(before === null ? '--- /dev/null' : `--- a${P}`);
  expect(diff.split('\n')[1]).toBe(after === null ? '+++ /dev/null' : `+++ b${P}`);
  expect(diff.split('\n')[2]).toMatch(/^@@ -\d+,\d+ \+\d+,\d+ @@$/);
  expect(applyDiff(before, diff).toString('latin1')).toBe((after ?? Buffer.alloc(0)).toString('latin1'));
  return diff;
}

const appended = (s: string) => latin1(insertBlock(s, BODY, '1.0.0', 'append', true));
const topped = (s: string) => latin1(insertBlock(s, BODY, '1.0.0', 'top', true));
const without = (s: string) => {
  const [b] = findBlocks(s, P);
  return latin1(removeBlock(s, b).content);
};

describe('unifiedDiff applies with patch', () => {
  test('identical content gives no diff', () => {
    expect(unifiedDiff(P, latin1('a\n'), latin1('a\n'))).toBe('');
    expect(unifiedDiff(P, null, null)).toBe('');
  });

  test.each([
    ['short file', 'a\nb\n'],
    ['long file (context is cut to 3 lines)', Array.from({ length: 20 }, (_, i) => `line ${i}\n`).join('')],
    ['no trailing newline', 'a\nb'],
    ['single line, no trailing newline', 'only'],
    ['CRLF lines', 'a\r\nb\r\n'],
    ['CRLF without final newline', 'a\r\nb'],
    ['empty existing file', ''],
    ['tabs, trailing spaces, UTF-8', Buffer.from('\tx  \nnaïve ☃ \t\n', 'utf8').toString('latin1')],
  ])('insertion at the end: %s', (_what, before) => {
    expectRoundTrip(latin1(before), appended(before));
  });

  test('insertion at the end of a file without trailing newline marks "\\ No newline at end of file"', () => {
    const diff = expectRoundTrip(latin1('a\nb'), appended('a\nb'));
    expect(diff).toContain('-b\n\\ No newline at end of file\n+b\n');
  });

  test.each([
    ['plain', 'echo a\necho b\n'],
    ['with a #! line', '#!/bin/sh\necho a\n'],
    ['long', `#!/bin/sh\n${Array.from({ length: 12 }, (_, i) => `echo ${i}\n`).join('')}`],
    ['no trailing newline', 'echo a'],
  ])('insertion at the top: %s', (_what, before) => {
    expectRoundTrip(latin1(before), topped(before));
  });

  test.each([
    ['appended block', appended('a\nb\n').toString('latin1')],
    ['appended block that added a newline', appended('a\nb').toString('latin1')],
    ['top block', topped('#!/bin/sh\nx\n').toString('latin1')],
    ['block in the middle of a long file', `${'x\n'.repeat(10)}${appended('').toString('latin1')}${'y\n'.repeat(10)}`],
  ])('removal: %s', (_what, before) => {
    expectRoundTrip(latin1(before), without(before));
  });

  test('a new file (before is null) and a deleted file (after is null)', () => {
    const created = latin1(insertBlock('', BODY, '1.0.0', 'append', false));
    const diff = expectRoundTrip(null, created);
    expect(diff.split('\n')[2]).toBe(`@@ -0,0 +1,${BODY.split('\n').length + 1} @@`);
    expectRoundTrip(created, null);
  });

  test('context 0 still gives a diff patch applies', () => {
    expectRoundTrip(latin1('a\nb\nc\n'), appended('a\nb\nc\n'), 0);
    expectRoundTrip(latin1('#!/bin/sh\nb\n'), topped('#!/bin/sh\nb\n'), 0);
  });

  test('context lines holding bytes that are not UTF-8 (files are handled byte for byte)', () => {
    // blocks.ts keeps any bytes; the diff printed for --dry-run must describe those same bytes.
    const before = Buffer.from([0x61, 0xff, 0x0a, 0x63, 0x61, 0x66, 0xe9, 0x0a]); // "a\xff\n", latin1 "café\n"
    const after = appended(before.toString('latin1'));
    expectRoundTrip(before, after);
  });

  test('property: any insertion or removal of a block in any ASCII/UTF-8 text', () => {
    const lineArb = fc.oneof(fc.string({ maxLength: 20 }), fc.fullUnicodeString({ maxLength: 8 })).map((s) => s.replace(/[\r\n]/g, ''));
    const textArb = fc
      .record({ lines: fc.array(lineArb, { maxLength: 12 }), final: fc.boolean(), crlf: fc.boolean() })
      .map(({ lines, final, crlf }) => {
        const nl = crlf ? '\r\n' : '\n';
        return lines.map((l, i) => (i < lines.length - 1 || final ? `${l}${nl}` : l)).join('');
      })
      .filter((t) => !/^# (>>>|<<<) ssh-tmux-fix/m.test(t));
    fc.assert(
      fc.property(textArb, fc.constantFrom<'append' | 'top'>('append', 'top'), fc.boolean(), (text, placement, removing) => {
        const bytes = Buffer.from(text, 'utf8').toString('latin1');
        const installed = insertBlock(bytes, BODY, '1.0.0', placement, true);
        if (removing) expectRoundTrip(latin1(installed), without(installed));
        else expectRoundTrip(latin1(bytes), latin1(installed));
      }),
      { numRuns: 60 },
    );
  });
});
