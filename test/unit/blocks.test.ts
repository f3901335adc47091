import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { checksum, findBlocks, insertBlock, isEdited, removeBlock, replaceBlock } from '../../src/blocks';
import { StfError } from '../../src/errors';
import { stfError } from './helpers';

const V = '1.0.0';
const BODY = 'echo one\necho two\n';
const END = '# <<< ssh-tmux-fix <<<\n';
const begin = (body: string, flags = '', version = V) => `# >>> ssh-tmux-fix ${version} sum=${checksum(body)}${flags} >>>\n`;
const P = '/home/u/.bashrc';


describe('checksum', () => {
  test('is the first 12 hex digits of the sha256 of the body bytes (latin1: one char per byte)', () => {
    const body = 'caf\xe9 \xff\x00\n';
    expect(checksum(body)).toBe(createHash('sha256').update(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0xff, 0x00, 0x0a])).digest('hex').slice(0, 12));
    expect(checksum(body)).toMatch(/^[0-9a-f]{12}$/);
    expect(checksum('a\n')).not.toBe(checksum('a\r\n'));
  });
});

describe('insertBlock, append placement', () => {
  test('into content that ends with a newline: block goes after it, no flags', () => {
    const before = 'export A=1\n';
    const after = insertBlock(before, BODY, V, 'append', true);
    expect(after).toBe(`${before}${begin(BODY)}${BODY}${END}`);
    const [b] = findBlocks(after, P);
    expect(b).toMatchObject({ version: V, created: false, addedNewline: false, beginLine: 2, endLine: 5 });
    expect(after.slice(b.bodyStart, b.bodyEnd)).toBe(BODY);
    expect(removeBlock(after, b)).toEqual({ content: before, deleteFile: false });
  });

  test('into content without a trailing newline: a newline is added and flagged +newline, removal takes it back', () => {
    const before = 'export A=1';
    const after = insertBlock(before, BODY, V, 'append', true);
    expect(after).toBe(`${before}\n${begin(BODY, ' +newline')}${BODY}${END}`);
    const [b] = findBlocks(after, P);
    expect(b.addedNewline).toBe(true);
    expect(b.created).toBe(false);
    expect(removeBlock(after, b)).toEqual({ content: before, deleteFile: false });
  });

  test('CRLF content without a final newline is flagged +newline and comes back byte for byte', () => {
    const before = 'a=1\r\nb=2';
    const after = insertBlock(before, BODY, V, 'append', true);
    const [b] = findBlocks(after, P);
    expect(b.addedNewline).toBe(true);
    expect(removeBlock(after, b).content).toBe(before);
  });

  test('a new file (existed=false) is flagged +created; removal empties it and says delete it', () => {
    const after = insertBlock('', BODY, V, 'append', false);
    expect(after).toBe(`${begin(BODY, ' +created')}${BODY}${END}`);
    const [b] = findBlocks(after, P);
    expect(b).toMatchObject({ created: true, addedNewline: false, beginLine: 1 });
    expect(removeBlock(after, b)).toEqual({ content: '', deleteFile: true });
  });

  test('an existing empty file is not +created: removal keeps the (empty) file', () => {
    const after = insertBlock('', BODY, V, 'append', true);
    const [b] = findBlocks(after, P);
    expect(b.created).toBe(false);
    expect(removeBlock(after, b)).toEqual({ content: '', deleteFile: false });
  });

  test('+created with +newline both round-trip (file created through a path that then got a line)', () => {
    // A +created block whose file got user lines later is not deleted on removal.
    const after = `${insertBlock('', BODY, V, 'append', false)}user line\n`;
    const [b] = findBlocks(after, P);
    expect(removeBlock(after, b)).toEqual({ content: 'user line\n', deleteFile: false });
  });

  test('the +newline is only taken back when the block is still last; a line appended after it keeps its separator', () => {
    const installed = insertBlock('abc', BODY, V, 'append', true);
    const edited = `${installed}mine\n`;
    const [b] = findBlocks(edited, P);
    expect(removeBlock(edited, b).content).toBe('abc\nmine\n');
  });
});

describe('insertBlock, top placement', () => {
  test('without a #! line the block comes first', () => {
    const before = 'echo user\n';
    const after = insertBlock(before, BODY, V, 'top', true);
    expect(after).toBe(`${begin(BODY)}${BODY}${END}${before}`);
    const [b] = findBlocks(after, P);
    expect(b).toMatchObject({ beginLine: 1, endLine: 4, created: false, addedNewline: false });
    expect(removeBlock(after, b).content).toBe(before);
  });

  test('a leading #! line stays first, the block follows it', () => {
    const before = '#!/bin/sh\necho user\n';
    const after = insertBlock(before, BODY, V, 'top', true);
    expect(after).toBe(`#!/bin/sh\n${begin(BODY)}${BODY}${END}echo user\n`);
    const [b] = findBlocks(after, P);
    expect(b.beginLine).toBe(2);
    expect(removeBlock(after, b).content).toBe(before);
  });

  test('a #! that is not on line 1 is not special', () => {
    const before = 'echo a\n#!/bin/sh\n';
    expect(insertBlock(before, BODY, V, 'top', true).startsWith('# >>> ssh-tmux-fix')).toBe(true);
  });

  test('top placement into a new file is +created and removal deletes it', () => {
    const after = insertBlock('', BODY, V, 'top', false);
    const [b] = findBlocks(after, P);
    expect(b.created).toBe(true);
    expect(removeBlock(after, b)).toEqual({ content: '', deleteFile: true });
  });

  test('top placement into content without a trailing newline round-trips', () => {
    const before = 'echo user';
    const after = insertBlock(before, BODY, V, 'top', true);
    const [b] = findBlocks(after, P);
    expect(removeBlock(after, b).content).toBe(before);
  });

  test('a file that is only a #! line without a newline keeps the #! line first', () => {
    // insertBlock documents "Keep a leading #! line first"; with no newline after the #! line
    // it currently puts the block in front of it.
    const before = '#!/bin/sh';
    const after = insertBlock(before, BODY, V, 'top', true);
    expect(after.startsWith('#!/bin/sh\n')).toBe(true);
    const [b] = findBlocks(after, P);
    expect(removeBlock(after, b).content).toBe(before);
  });
});

describe('replaceBlock (upgrade)', () => {
  test('replaces body and version in place, keeps flags and the surrounding bytes', () => {
    const oldBody = 'echo old\n';
    const content = `head\r\n${begin(oldBody, ' +created +newline', '0.9.0')}${oldBody}${END}tail \t\n`;
    const [b] = findBlocks(content, P);
    expect(b).toMatchObject({ version: '0.9.0', created: true, addedNewline: true });
    const after = replaceBlock(content, b, BODY, V);
    expect(after).toBe(`head\r\n${begin(BODY, ' +created +newline')}${BODY}${END}tail \t\n`);
    const [nb] = findBlocks(after, P);
    expect(nb).toMatchObject({ version: V, created: true, addedNewline: true, beginLine: 2 });
    expect(isEdited(after, nb)).toBe(false);
  });
});

describe('isEdited', () => {
  const content = `x\n${begin(BODY)}${BODY}${END}y\n`;
  test('an untouched block is not edited', () => {
    expect(isEdited(content, findBlocks(content, P)[0])).toBe(false);
  });
  test.each([
    ['one changed character', content.replace('echo two', 'echo twO')],
    ['an added line', content.replace('echo two\n', 'echo two\nrm -rf ~\n')],
    ['a deleted line', content.replace('echo one\n', '')],
    ['CRLF line endings in the body', content.replace('echo one\n', 'echo one\r\n')],
    ['a trailing space', content.replace('echo one\n', 'echo one \n')],
  ])('%s inside the block is noticed', (_what, edited) => {
    const [b] = findBlocks(edited, P);
    expect(isEdited(edited, b)).toBe(true);
  });
  test('an edit outside the block is not an edit of the block', () => {
    const edited = `# mine\n${content}more\n`;
    expect(isEdited(edited, findBlocks(edited, P)[0])).toBe(false);
  });
});

describe('findBlocks', () => {
  test('finds nothing in ordinary content, including near-miss marker lines', () => {
    const content = [
      '# >>> conda initialize >>>',
      '#>>> ssh-tmux-fix 1.0.0',
      ' # >>> ssh-tmux-fix 1.0.0 sum=0123456789ab >>>',
      '# >> ssh-tmux-fix',
      '## <<< ssh-tmux-fix <<<',
      '# >>> ssh-tmux-fixer 1.0.0',
      'echo "# >>> ssh-tmux-fix"',
      '',
    ].join('\n');
    expect(findBlocks(content, P)).toEqual([]);
  });

  test('accepts CR before the newline of marker lines and reports 1-based lines', () => {
    const content = `a\r\n${begin(BODY).replace('\n', '\r\n')}${BODY}${END.replace('\n', '\r\n')}`;
    const [b] = findBlocks(content, P);
    expect(b).toMatchObject({ beginLine: 2, endLine: 5 });
    expect(b.end).toBe(content.length);
  });

  test('finds two separate blocks', () => {
    const content = `${begin(BODY)}${BODY}${END}mid\n${begin(BODY)}${BODY}${END}`;
    expect(findBlocks(content, P).map((b) => [b.beginLine, b.endLine])).toEqual([[1, 4], [6, 9]]);
  });

  test('an end marker as the very last line without a newline still closes the block', () => {
    const content = `${begin(BODY)}${BODY}${END.slice(0, -1)}`;
    const [b] = findBlocks(content, P);
    expect(b.end).toBe(content.length);
    expect(removeBlock(content, b).content).toBe('');
  });
});

describe('broken markers are an StfError naming file and line', () => {
  const cases: [string, string, number, RegExp][] = [
    ['begin without end', `a\nb\n${begin(BODY)}${BODY}`, 3, /begin marker without an end marker/],
    ['two begins', `${begin(BODY)}x\n${begin(BODY)}${BODY}${END}`, 3, /second begin marker before the end of the block opened on line 1/],
    ['end first', `x\n${END}${begin(BODY)}${BODY}${END}`, 2, /end marker without a begin marker/],
    ['a damaged begin marker (prose after the tool name)', 'x\ny\n# >>> ssh-tmux-fix rocks\n', 3, /damaged ssh-tmux-fix marker line/],
    ['a begin marker with a short checksum', `# >>> ssh-tmux-fix 1.0.0 sum=0123456789a >>>\n${BODY}${END}`, 1, /damaged/],
    ['a begin marker with an unknown flag syntax', `# >>> ssh-tmux-fix 1.0.0 sum=0123456789ab +Created >>>\n${BODY}${END}`, 1, /damaged/],
    ['an end marker missing its closing arrows', `${begin(BODY)}${BODY}# <<< ssh-tmux-fix\n`, 4, /damaged/],
    ['an end marker with trailing spaces', `${begin(BODY)}${BODY}# <<< ssh-tmux-fix <<< \n`, 4, /damaged/],
    ['a damaged end marker alone', 'ok\n# <<< ssh-tmux-fix-old\n', 2, /damaged/],
  ];
  test.each(cases)('%s', (_name, content, line, what) => {
    const err = stfError(() => findBlocks(content, '/h/.zshrc'));
    expect(err.message.split('\n')[0]).toMatch(new RegExp(`^/h/\\.zshrc:${line}: `));
    expect(err.message).toMatch(what);
    expect(err.message).toMatch(/nothing was changed/);
    expect(err.message).toMatch(/next step: /);
    expect(err.exitCode).toBe(1);
  });
});

describe('properties', () => {
  const looksLikeMarker = /^# (>>>|<<<) ssh-tmux-fix\b/m;
  // Any bytes at all (latin1 string), as long as no line looks like one of our markers.
  const anyContent = fc
    .array(fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x0a, 0x0d, 0x23, 0x20)), { maxLength: 300 })
    .map((codes) => String.fromCharCode(...codes))
    .filter((s) => !looksLikeMarker.test(s));
  const anyBody = fc.array(fc.string({ maxLength: 30 }).map((s) => s.replace(/\n/g, '')), { maxLength: 6 }).map((ls) => ls.map((l) => `${l}\n`).join('')).filter((s) => !looksLikeMarker.test(s));

  test('insert then remove gives back the exact content, for both placements and any bytes', () => {
    fc.assert(
      fc.property(anyContent, anyBody, fc.constantFrom<'append' | 'top'>('append', 'top'), fc.boolean(), (content, body, placement, createdFlag) => {
        const existed = content !== '' || !createdFlag;
        const after = insertBlock(content, body, V, placement, existed);
        const blocks = findBlocks(after, P);
        expect(blocks).toHaveLength(1);
        expect(isEdited(after, blocks[0])).toBe(false);
        expect(after.slice(blocks[0].bodyStart, blocks[0].bodyEnd)).toBe(body);
        const removed = removeBlock(after, blocks[0]);
        expect(removed.content).toBe(content);
        expect(removed.deleteFile).toBe(!existed);
      }),
      { numRuns: 300 },
    );
  });

  test('replace keeps everything outside the block', () => {
    fc.assert(
      fc.property(anyContent, anyBody, anyBody, fc.constantFrom<'append' | 'top'>('append', 'top'), (content, oldBody, newBody, placement) => {
        const installed = insertBlock(content, oldBody, '0.9.0', placement, true);
        const [b] = findBlocks(installed, P);
        const upgraded = replaceBlock(installed, b, newBody, V);
        const [nb] = findBlocks(upgraded, P);
        expect(upgraded.slice(0, nb.start)).toBe(installed.slice(0, b.start));
        expect(upgraded.slice(nb.end)).toBe(installed.slice(b.end));
        expect(removeBlock(upgraded, nb).content).toBe(content);
      }),
      { numRuns: 200 },
    );
  });
});
