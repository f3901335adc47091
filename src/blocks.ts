import { TOOL } from './context';
import { StfError } from './errors';
import { sha256 } from './files';

/*
 * Managed blocks. File contents are handled as latin1 strings, one char per byte, so bytes
 * that are not valid UTF-8, a BOM or CRLF line endings pass through untouched.
 *
 *   # >>> ssh-tmux-fix 1.0.0 sum=0123456789ab [+created] [+newline] >>>
 *   ...body...
 *   # <<< ssh-tmux-fix <<<
 *
 * sum is a checksum of the body, so an edit inside the block is noticed. +created means the
 * file did not exist before the block was added; +newline means a newline was added to end
 * the user's last line. Both let removal give back the exact original bytes.
 */
const BEGIN = new RegExp(`^# >>> ${TOOL} (\\d+\\.\\d+\\.\\d+\\S*) sum=([0-9a-f]{12})((?: \\+[a-z]+)*) >>>\\r?$`);
const END = new RegExp(`^# <<< ${TOOL} <<<\\r?$`);
const LOOKS_LIKE_MARKER = new RegExp(`^# (>>>|<<<) ${TOOL}\\b`);

export interface Block {
  /** Offset of the begin marker line and just past the end marker line (with its newline). */
  start: number;
  end: number;
  bodyStart: number;
  bodyEnd: number;
  version: string;
  sum: string;
  created: boolean;
  addedNewline: boolean;
  /** 1-based line numbers of the markers, for messages. */
  beginLine: number;
  endLine: number;
}

export type Placement = 'append' | 'top';

export function checksum(body: string): string {
  return sha256(Buffer.from(body, 'latin1')).slice(0, 12);
}

/** Finds our blocks; a malformed marker structure is an error that names file and line. */
export function findBlocks(content: string, path: string): Block[] {
  const blocks: Block[] = [];
  let open: { start: number; bodyStart: number; line: number; match: RegExpExecArray } | null = null;
  let offset = 0;
  let lineNo = 0;
  while (offset < content.length) {
    const nl = content.indexOf('\n', offset);
    const lineEnd = nl === -1 ? content.length : nl + 1;
    const line = content.slice(offset, nl === -1 ? content.length : nl);
    lineNo += 1;
    const begin = BEGIN.exec(line);
    if (begin) {
      if (open) {
        throw brokenMarkers(path, lineNo, `a second begin marker before the end of the block opened on line ${open.line}`);
      }
      open = { start: offset, bodyStart: lineEnd, line: lineNo, match: begin };
    } else if (END.test(line)) {
      if (!open) throw brokenMarkers(path, lineNo, 'an end marker without a begin marker before it');
      const flags = open.match[3];
      blocks.push({
        start: open.start,
        end: lineEnd,
        bodyStart: open.bodyStart,
        bodyEnd: offset,
        version: open.match[1],
        sum: open.match[2],
        created: flags.includes('+created'),
        addedNewline: flags.includes('+newline'),
        beginLine: open.line,
        endLine: lineNo,
      });
      open = null;
    } else if (LOOKS_LIKE_MARKER.test(line)) {
      throw brokenMarkers(path, lineNo, `a damaged ${TOOL} marker line`);
    }
    offset = lineEnd;
  }
  if (open) throw brokenMarkers(path, open.line, 'a begin marker without an end marker');
  return blocks;
}

function brokenMarkers(path: string, line: number, what: string): StfError {
  return new StfError(
    `${path}:${line}: ${what}; nothing was changed.\n` +
      `  next step: open the file, remove or repair the ${TOOL} marker lines by hand, then run the command again`,
  );
}

export function isEdited(content: string, block: Block): boolean {
  return checksum(content.slice(block.bodyStart, block.bodyEnd)) !== block.sum;
}

function renderBlock(body: string, version: string, flags: { created: boolean; addedNewline: boolean }): string {
  const tokens = [flags.created ? ' +created' : '', flags.addedNewline ? ' +newline' : ''].join('');
  return `# >>> ${TOOL} ${version} sum=${checksum(body)}${tokens} >>>\n${body}# <<< ${TOOL} <<<\n`;
}

/** Adds a block to content that has none. `existed` is false when the file is new. */
export function insertBlock(content: string, body: string, version: string, placement: Placement, existed: boolean): string {
  // A lone `#!` line without a newline stays first: the block goes after it.
  if (placement === 'top' && !(content.startsWith('#!') && !content.includes('\n'))) {
    // Keep a leading #! line first; the block runs before the user's own lines.
    const firstNl = content.indexOf('\n');
    const at = content.startsWith('#!') && firstNl !== -1 ? firstNl + 1 : 0;
    return content.slice(0, at) + renderBlock(body, version, { created: !existed, addedNewline: false }) + content.slice(at);
  }
  const end = scriptEnd(content);
  if (end !== null) return content.slice(0, end) + renderBlock(body, version, { created: false, addedNewline: false }) + content.slice(end);
  const addedNewline = content.length > 0 && !content.endsWith('\n');
  return content + (addedNewline ? '\n' : '') + renderBlock(body, version, { created: !existed, addedNewline });
}

/**
 * A config file that is also a sh script run as `cut -c3- FILE | sh -s FUNCTION` (Oh my tmux!'s
 * .tmux.conf and .tmux.conf.local): its first line `# : << EOF` opens a here-document that
 * hides the config lines from sh, a line `# EOF` ends it, and sh runs what follows. A block
 * appended at the end would be run by sh (a syntax error: the script exits 2), so it goes
 * inside the here-document instead: before the line that ends it and the comment lines right
 * above that line. Returns that offset, or null for any other file.
 */
export function scriptEnd(content: string): number | null {
  const open = /^# : << *(['"]?)(\w+)\1[ \t]*\r?\n/.exec(content);
  if (!open) return null;
  const close = new RegExp(`^# ${open[2]}[ \\t]*\\r?$`, 'm').exec(content.slice(open[0].length));
  if (!close) return null;
  let at = open[0].length + close.index;
  // Comment lines right above the end line belong to it ("do not remove the following line").
  while (at > open[0].length) {
    const prevStart = content.lastIndexOf('\n', at - 2) + 1;
    if (!/^#[^\n]*\S/.test(content.slice(prevStart, at - 1))) break;
    at = prevStart;
  }
  return at;
}

/** Replaces a block's body (an upgrade), keeping its place and flags. */
export function replaceBlock(content: string, block: Block, body: string, version: string): string {
  return content.slice(0, block.start) + renderBlock(body, version, block) + content.slice(block.end);
}

/** Removes a block; `deleteFile` says the file was created by the install and is now empty. */
export function removeBlock(content: string, block: Block): { content: string; deleteFile: boolean } {
  let start = block.start;
  if (block.addedNewline && block.end >= content.length && content[start - 1] === '\n') start -= 1;
  const rest = content.slice(0, start) + content.slice(block.end);
  return { content: rest, deleteFile: block.created && rest.length === 0 };
}
