/*
 * Property-based round trips through the real planner and applier, on generated homes: dotfiles
 * that are missing, empty, CRLF, BOM-prefixed, not UTF-8, without a final newline, with very long
 * lines, tabs, trailing spaces and marker-like (but not marker) lines; in any mode; reached through
 * relative, absolute, chained and out-of-home symlinks (dangling ones too); some holding a block
 * left by version 0.9.0.
 */
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checksum, findBlocks, replaceBlock } from '../../src/blocks';
import { VERSION } from '../../src/context';
import { applyPlan } from '../../src/apply';
import { StfError } from '../../src/errors';
import { planInstall, planRollback, planUninstall } from '../../src/plan';
import { PARTS } from '../../src/targets';
import { api, dropStateParents, makeRoot, removeAllRoots, removeRoot, snapshot, Tree, treeDiff } from './helpers';

/** STF_NUM_RUNS raises the number of runs for a longer hunt; the default keeps the file under 30 s. */
const NUM_RUNS = Number(process.env.STF_NUM_RUNS ?? 100);
const HOME_NAME = "ho me'q";
const STATE_REL = path.join(HOME_NAME, '.local/state/ssh-tmux-fix');

/*
 * fsync is made a no-op for this file: these properties are about bytes, modes and links, not
 * about durability after a power cut, and the hundreds of fsyncs (two per file per run) made
 * the file several times slower on a busy disk. Everything else is the real filesystem.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeFs = require('node:fs') as typeof fs;
let fsyncSpy: jest.SpyInstance;
beforeAll(() => {
  fsyncSpy = jest.spyOn(nodeFs, 'fsyncSync').mockImplementation(() => undefined);
});
afterAll(() => {
  // The writes did go through atomicWrite's fsync call (now a no-op).
  expect(fsyncSpy).toHaveBeenCalled();
  fsyncSpy.mockRestore();
  removeAllRoots();
});

// ---------------------------------------------------------------------------------------------
// What a generated home is made of

type LinkKind = 'none' | 'relative' | 'absolute' | 'chain' | 'otherdir';

interface Content {
  lines: Buffer[];
  crlf: boolean;
  finalNewline: boolean;
  bom: boolean;
}

interface FileSpec {
  rel: string;
  /** null: the file does not exist (with a link: the link dangles). */
  content: Content | null;
  mode: number;
  link: LinkKind;
  /** Where a block of version 0.9.0 sits, as a line index (clamped), when the file may hold one. */
  oldPos: number | null;
}

interface HomeSpec {
  files: FileSpec[];
  sshDir: boolean;
  sshMode: number;
}

/** Lines that look like our markers at a glance but do not start with exactly `# >>> ssh-tmux-fix` / `# <<< ssh-tmux-fix`. */
const MARKER_LIKE = [
  '# >>> conda initialize >>>',
  '# <<< conda initialize <<<',
  '#>>> ssh-tmux-fix rocks',
  ' # >>> ssh-tmux-fix 1.0.0 sum=0123456789ab >>>',
  '\t# <<< ssh-tmux-fix <<<',
  '# >> ssh-tmux-fix 1.0.0 >>',
  '## <<< ssh-tmux-fix <<<',
  '# <<<ssh-tmux-fix <<<',
  '# >>>  ssh-tmux-fix 1.0.0 sum=0123456789ab >>>',
  '# >>> SSH-TMUX-FIX 1.0.0 sum=0123456789ab >>>',
  'echo "# >>> ssh-tmux-fix 1.0.0 sum=0123456789ab >>>"',
  '# ssh-tmux-fix >>>',
  '\uFEFF# >>> ssh-tmux-fix 1.0.0 sum=0123456789ab >>>',
];

const utf8 = (s: string) => Buffer.from(s, 'utf8');
const noNl = (b: Buffer) => Buffer.from(b.filter((c) => c !== 0x0a));

const lineArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 60 }).map(utf8) },
  { weight: 2, arbitrary: fc.fullUnicodeString({ maxLength: 20 }).map((s) => noNl(utf8(s))) },
  // Not UTF-8: bytes with the high bit set in no valid sequence, and lone continuation bytes.
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 16 }).map((a) => Buffer.from([0xff, ...a.map((c) => (c === 0x0a ? 0x80 : c))])) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 12000 }).map((n) => Buffer.from(`export LONG=${'abcdefgh'.repeat(n / 8)}`)) },
  { weight: 2, arbitrary: fc.constantFrom('\tindented', 'trailing spaces   ', ' \t mixed \t ', '\t', '', '   ').map(utf8) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom('export PATH="$HOME/bin:$PATH"', "alias ll='ls -l'", '[ -f ~/.bashrc ] && . ~/.bashrc', 'set -g mouse on', '#!/bin/sh', 'fi', 'export SSH_AUTH_SOCK=/tmp/x')
      .map(utf8),
  },
  { weight: 2, arbitrary: fc.constantFrom(...MARKER_LIKE).map(utf8) },
);

const contentArb: fc.Arbitrary<Content | null> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.record({ lines: fc.constant([] as Buffer[]), crlf: fc.boolean(), finalNewline: fc.constant(true), bom: fc.constant(false) }) },
  { weight: 6, arbitrary: fc.record({ lines: fc.array(lineArb, { minLength: 1, maxLength: 8 }), crlf: fc.boolean(), finalNewline: fc.boolean(), bom: fc.boolean() }) },
);

// Writable by the owner: a read-only dotfile is refused before anything is written (engine.test.ts).
const modeArb = fc.constantFrom(0o600, 0o640, 0o644, 0o755, 0o700, 0o620);
const linkArb = fc.constantFrom<LinkKind>('none', 'none', 'relative', 'absolute', 'chain', 'otherdir');

const fileArb = (rel: string): fc.Arbitrary<FileSpec> =>
  fc.record({ rel: fc.constant(rel), content: contentArb, mode: modeArb, link: linkArb, oldPos: fc.option(fc.nat(10), { freq: 3 }) });

/**
 * An existing file the install writes its block into: every generated dotfile, except
 * $XDG_CONFIG_HOME/tmux/tmux.conf when ~/.tmux.conf exists (tmux reads only the latter).
 */
function isExistingTarget(files: FileSpec[], f: FileSpec): boolean {
  if (f.content === null) return false;
  return f.rel !== '.config/tmux/tmux.conf' || !files.some((g) => g.rel === '.tmux.conf' && g.content !== null);
}

const homeArb: fc.Arbitrary<HomeSpec> = fc
  .record({
    profile: fileArb('.profile'),
    bashrc: fileArb('.bashrc'),
    bashProfile: fc.option(fileArb('.bash_profile'), { freq: 2 }),
    zshrc: fileArb('.zshrc'),
    tmux: fileArb('.tmux.conf'),
    xdgTmux: fc.option(fileArb('.config/tmux/tmux.conf'), { freq: 2 }),
    rc: fileArb('.ssh/rc'),
    sshDir: fc.boolean(),
    sshMode: fc.constantFrom(0o700, 0o755),
  })
  .map((r) => {
    const files = [r.profile, r.bashrc, r.bashProfile, r.zshrc, r.tmux, r.xdgTmux, r.rc].filter((f): f is FileSpec => f !== null);
    // An old block only where the install writes: an existing target file.
    return { files: files.map((f) => ({ ...f, oldPos: isExistingTarget(files, f) ? f.oldPos : null })), sshDir: r.sshDir, sshMode: r.sshMode };
  });

const OLD_BODY = '# ssh-tmux-fix 0.9.0 did this\nexport SSH_AUTH_SOCK="$HOME/.ssh/old-agent.sock"\n';
const OLD_BLOCK = Buffer.from(`# >>> ssh-tmux-fix 0.9.0 sum=${checksum(OLD_BODY)} >>>\n${OLD_BODY}# <<< ssh-tmux-fix <<<\n`, 'latin1');

/** The file's bytes, and where the old block was put (when asked for one). */
function bytesOf(c: Content, oldPos: number | null): { data: Buffer; block: { start: number; end: number } | null } {
  const nl = Buffer.from(c.crlf ? '\r\n' : '\n');
  const lines = c.lines.map((l, i) => {
    const withBom = i === 0 && c.bom ? Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), l]) : l;
    return i < c.lines.length - 1 || c.finalNewline ? Buffer.concat([withBom, nl]) : withBom;
  });
  if (oldPos === null) return { data: Buffer.concat(lines), block: null };
  // A block starts a line: after the last line only when that line ends with a newline.
  const maxPos = c.finalNewline || lines.length === 0 ? lines.length : lines.length - 1;
  const at = Math.min(oldPos, maxPos);
  const start = Buffer.concat(lines.slice(0, at)).length;
  const data = Buffer.concat([...lines.slice(0, at), OLD_BLOCK, ...lines.slice(at)]);
  return { data, block: { start, end: start + OLD_BLOCK.length } };
}

const flat = (rel: string) => rel.replace(/^\./, '').replace(/\//g, '_');

interface Built {
  root: string;
  home: string;
  /** Real file (end of the link chain) of each spec, absolute. */
  real: Map<string, string>;
  /** Where the old block sits in each file that has one (byte offsets in the original). */
  oldBlocks: Map<string, { start: number; end: number; data: Buffer }>;
}

function materialize(spec: HomeSpec, withOldBlocks: boolean): Built {
  const { root, home } = makeRoot(HOME_NAME);
  const real = new Map<string, string>();
  const oldBlocks = new Map<string, { start: number; end: number; data: Buffer }>();
  const needSsh = spec.sshDir || spec.files.some((f) => f.rel.startsWith('.ssh/') && (f.content !== null || f.link !== 'none'));
  if (needSsh) {
    fs.mkdirSync(path.join(home, '.ssh'), { mode: spec.sshMode });
    fs.chmodSync(path.join(home, '.ssh'), spec.sshMode);
  }
  for (const f of spec.files) {
    const abs = path.join(home, f.rel);
    if (f.content === null && f.link === 'none') continue;
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    let target: string;
    switch (f.link) {
      case 'none':
        target = abs;
        break;
      case 'relative':
        target = path.join(root, 'dotfiles', flat(f.rel));
        fs.symlinkSync(path.relative(path.dirname(abs), target), abs);
        break;
      case 'absolute':
        target = path.join(root, 'dotfiles', flat(f.rel));
        fs.symlinkSync(target, abs);
        break;
      case 'chain': {
        target = path.join(root, 'dotfiles', flat(f.rel));
        const middle = path.join(home, '.dotlinks', flat(f.rel));
        fs.mkdirSync(path.dirname(middle), { recursive: true });
        fs.symlinkSync(target, middle);
        fs.symlinkSync(path.relative(path.dirname(abs), middle), abs);
        break;
      }
      case 'otherdir':
        target = path.join(root, 'elsewhere', 'sub', flat(f.rel));
        fs.symlinkSync(path.relative(path.dirname(abs), target), abs);
        break;
    }
    real.set(f.rel, target);
    if (f.content !== null) {
      const { data, block } = bytesOf(f.content, withOldBlocks ? f.oldPos : null);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, data);
      fs.chmodSync(target, f.mode);
      if (block) oldBlocks.set(f.rel, { ...block, data });
    }
  }
  return { root, home, real, oldBlocks };
}

/** The tree without the tool's state directory (and the .local parents lock() created). */
function userTree(b: Built, before?: Tree): Tree {
  const tree = snapshot(b.root, [STATE_REL]);
  return before ? dropStateParents(tree, before, HOME_NAME) : tree;
}

function expectSameTree(actual: Tree, expected: Tree, what: string): void {
  const diffs = treeDiff(actual, expected);
  if (diffs.length) throw new Error(`${what}:\n  ${diffs.join('\n  ')}`);
}

function install(b: Built) {
  const a = api(b.home);
  const plan = planInstall(a.he, a.ctx, PARTS, false);
  return { plan, result: applyPlan(plan, a.state) };
}

function withBuilt<T>(builts: Built[], fn: () => T): T {
  try {
    return fn();
  } finally {
    for (const b of builts) removeRoot(b.root);
  }
}

/** Every old block was replaced where it stood, by one block of this version. */
function expectReplacedInPlace(b: Built): void {
  for (const [rel, old] of b.oldBlocks) {
    const now = fs.readFileSync(b.real.get(rel) as string);
    const head = old.data.subarray(0, old.start);
    const tail = old.data.subarray(old.end);
    const where = `${rel} (old block at byte ${old.start})`;
    if (!now.subarray(0, head.length).equals(head)) throw new Error(`${where}: bytes before the block changed`);
    if (!now.subarray(now.length - tail.length).equals(tail)) throw new Error(`${where}: bytes after the block changed`);
    const blocks = findBlocks(now.toString('latin1'), rel);
    expect(blocks).toHaveLength(1);
    expect(blocks[0].version).toBe(VERSION);
    expect(blocks[0].start).toBe(old.start);
  }
}

// ---------------------------------------------------------------------------------------------

describe('generated homes (fast-check)', () => {
  test('install then uninstall gives back every byte, mode and symlink (old 0.9.0 blocks are removed)', () => {
    fc.assert(
      fc.property(homeArb, (spec) => {
        const a = materialize(spec, true);
        withBuilt([a], () => {
          const before = userTree(a);
          // Expected: the same tree with each old block cut out of its file.
          const expected = new Map(before);
          for (const [rel, old] of a.oldBlocks) {
            const realRel = path.relative(a.root, a.real.get(rel) as string);
            const e = before.get(realRel);
            if (e?.kind !== 'file') throw new Error(`${realRel} is not a file`);
            expected.set(realRel, { ...e, data: Buffer.concat([old.data.subarray(0, old.start), old.data.subarray(old.end)]) });
          }
          const { plan } = install(a);
          expect(plan.changes.length).toBeGreaterThan(0);
          expectReplacedInPlace(a);
          // The install itself leaves modes and links alone.
          const installed = userTree(a, before);
          for (const [rel, e] of before) {
            const now = installed.get(rel);
            if (e.kind === 'link') expect(now).toEqual(e);
            if (e.kind === 'file') expect(now && now.kind === 'file' && now.mode).toBe(e.mode);
          }
          const x = api(a.home);
          applyPlan(planUninstall(x.he, x.state, false), x.state);
          expectSameTree(userTree(a, before), expected, 'after install + uninstall');
        });
      }),
      { numRuns: NUM_RUNS },
    );
  });

  test('install twice gives a byte-identical tree to install once (state directory included)', () => {
    fc.assert(
      fc.property(homeArb, (spec) => {
        const a = materialize(spec, true);
        withBuilt([a], () => {
          install(a);
          const once = snapshot(a.root);
          const { plan } = install(a);
          expect(plan.changes.map((c) => c.path)).toEqual([]);
          expect(plan.createDirs).toEqual([]);
          expectSameTree(snapshot(a.root), once, 'after the second install');
        });
      }),
      { numRuns: NUM_RUNS },
    );
  });

  test('install then rollback gives back the original bytes, modes and symlinks (old blocks included)', () => {
    fc.assert(
      fc.property(homeArb, (spec) => {
        const a = materialize(spec, true);
        withBuilt([a], () => {
          const before = userTree(a);
          const { result } = install(a);
          const x = api(a.home);
          const plan = planRollback(x.he, x.state);
          expect(plan.rollbackFrom?.id).toBe(result.backupSet?.id);
          applyPlan(plan, x.state);
          expectSameTree(userTree(a, before), before, 'after install + rollback');
        });
      }),
      { numRuns: NUM_RUNS },
    );
  });

  const editArb = fc.record({
    pick: fc.nat(),
    where: fc.constantFrom<'append' | 'prepend'>('append', 'prepend'),
    text: fc.string({ maxLength: 30 }).map((s) => `# mine: ${s.replace(/[\r\n]/g, ' ')}\n`),
    upgrade: fc.boolean(),
  });

  test("a user's line added after install (append or prepend) survives an upgrade and the uninstall", () => {
    fc.assert(
      fc.property(homeArb, editArb, (spec, edit) => {
        const userFiles = spec.files.filter((f) => isExistingTarget(spec.files, f));
        fc.pre(userFiles.length > 0);
        const chosen = userFiles[edit.pick % userFiles.length];
        const a = materialize(spec, false);
        withBuilt([a], () => {
          const original = userTree(a);
          install(a);
          const installed = userTree(a, original);
          const realRel = path.relative(a.root, a.real.get(chosen.rel) as string);
          const line = Buffer.from(edit.text);

          if (edit.upgrade) {
            // Make it look like version 0.9.0 wrote every block (valid checksums, same flags).
            for (const [rel, e] of installed) {
              if (e.kind !== 'file') continue;
              const text = e.data.toString('latin1');
              const blocks = findBlocks(text, rel);
              if (blocks.length === 0) continue;
              fs.writeFileSync(path.join(a.root, rel), Buffer.from(replaceBlock(text, blocks[0], OLD_BODY, '0.9.0'), 'latin1'));
            }
          }
          // The user's edit, made through the dotfile's own path (and so through its symlinks).
          const p = path.join(a.home, chosen.rel);
          const now = fs.readFileSync(p);
          fs.writeFileSync(p, edit.where === 'append' ? Buffer.concat([now, line]) : Buffer.concat([line, now]));

          const withEdit = (tree: Tree, data: (old: Buffer) => Buffer): Tree => {
            const out = new Map(tree);
            const e = tree.get(realRel);
            if (!e || e.kind !== 'file') throw new Error(`${realRel} is not a file in the tree`);
            out.set(realRel, { ...e, data: data(e.data) });
            return out;
          };
          if (edit.upgrade) {
            const x = api(a.home);
            const plan = planInstall(x.he, x.ctx, PARTS, false);
            expect(plan.changes.length).toBeGreaterThan(0);
            for (const c of plan.changes) expect(c.summary).toBe('upgrade block from 0.9.0');
            applyPlan(plan, x.state);
            const expected = withEdit(installed, (old) => (edit.where === 'append' ? Buffer.concat([old, line]) : Buffer.concat([line, old])));
            expectSameTree(userTree(a, original), expected, 'after the edit and the upgrade');
          }
          const x = api(a.home);
          applyPlan(planUninstall(x.he, x.state, false), x.state);
          const expected = withEdit(original, (old) => {
            if (edit.where === 'prepend') return Buffer.concat([line, old]);
            // An appended block (+newline) ended the user's last line; the user's own line
            // after it keeps that newline. ~/.ssh/rc's block is on top: nothing was added there.
            const ended = chosen.rel !== '.ssh/rc' && old.length > 0 && old[old.length - 1] !== 0x0a;
            const sep = ended ? Buffer.from('\n') : Buffer.alloc(0);
            return Buffer.concat([old, sep, line]);
          });
          expectSameTree(userTree(a, original), expected, 'after the edit and the uninstall');
        });
      }),
      { numRuns: NUM_RUNS },
    );
  });

  const DAMAGED = [
    '# >>> ssh-tmux-fix rocks',
    '# >>> ssh-tmux-fix',
    '# <<< ssh-tmux-fix',
    '# >>> ssh-tmux-fix 1.0.0 sum=xyz >>>',
    '# <<< ssh-tmux-fix <<< and more',
    '# >>> ssh-tmux-fix-old 0.1 >>>',
    `# >>> ssh-tmux-fix 1.0.0 sum=${checksum('x\n')} >>>`, // a begin marker that is never closed
    '# <<< ssh-tmux-fix <<<', // an end marker that was never opened
  ];

  test('a damaged or unbalanced marker line makes install refuse, naming file and line, and write nothing', () => {
    fc.assert(
      fc.property(homeArb, fc.nat(), fc.nat(12), fc.constantFrom(...DAMAGED), (generated, pick, pos, damaged) => {
        // A copy: generated values are shared with fast-check's shrinker and must not change.
        const spec: HomeSpec = { ...generated, files: generated.files.map((f) => ({ ...f, content: f.content && { ...f.content, lines: [...f.content.lines] } })) };
        // Any target the install reads: these always are, whatever else exists.
        const candidates = spec.files.filter((f) => ['.profile', '.bashrc', '.zshrc', '.ssh/rc'].includes(f.rel));
        const chosen = candidates[pick % candidates.length];
        const content = chosen.content ?? { lines: [], crlf: false, finalNewline: true, bom: false };
        const lineIndex = Math.min(pos, content.finalNewline ? content.lines.length : content.lines.length - 1);
        const lines = [...content.lines];
        lines.splice(lineIndex, 0, Buffer.from(damaged));
        // A BOM before a damaged line on line 1 would hide it (the line would not start with '#').
        chosen.content = { ...content, lines, finalNewline: content.finalNewline || lineIndex === content.lines.length, bom: content.bom && lineIndex > 0 };
        for (const f of spec.files) f.oldPos = null;
        const a = materialize(spec, false);
        withBuilt([a], () => {
          const before = snapshot(a.root);
          const x = api(a.home);
          let err: unknown = null;
          try {
            applyPlan(planInstall(x.he, x.ctx, PARTS, false), x.state);
          } catch (e) {
            err = e;
          }
          expect(err).toBeInstanceOf(StfError);
          const message = (err as StfError).message;
          expect(message).toContain(`${path.join(a.home, chosen.rel)}:${lineIndex + 1}: `);
          expect(message).toMatch(/nothing was changed/);
          expectSameTree(snapshot(a.root), before, 'after the refused install');
        });
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
