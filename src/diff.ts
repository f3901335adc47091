/**
 * A unified diff of two versions of a file, as a latin1 string: write it out with
 * Buffer.from(diff, 'latin1') to get the file's own bytes back. Our changes are one inserted, replaced or
 * removed block, so one hunk between the common head and tail is the minimal diff.
 */
export function unifiedDiff(path: string, before: Buffer | null, after: Buffer | null, context = 3): string {
  const a = splitLines(before);
  const b = splitLines(after);
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head += 1;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail += 1;
  if (head === a.length && head === b.length) return '';
  const from = Math.max(0, head - context);
  const aEnd = Math.min(a.length, a.length - tail + context);
  const bEnd = Math.min(b.length, b.length - tail + context);
  const out = [
    `--- ${before === null ? '/dev/null' : `a${path}`}`,
    `+++ ${after === null ? '/dev/null' : `b${path}`}`,
    `@@ -${range(from, aEnd - from)} +${range(from, bEnd - from)} @@`,
  ];
  for (let i = from; i < head; i += 1) out.push(` ${show(a[i])}`);
  for (let i = head; i < a.length - tail; i += 1) out.push(`-${show(a[i])}`);
  for (let i = head; i < b.length - tail; i += 1) out.push(`+${show(b[i])}`);
  for (let i = a.length - tail; i < aEnd; i += 1) out.push(` ${show(a[i])}`);
  return `${out.join('\n')}\n`;
}

function splitLines(data: Buffer | null): string[] {
  if (data === null || data.length === 0) return [];
  // latin1: one char per byte, so any bytes (not only valid UTF-8) come out as they were.
  const text = data.toString('latin1');
  const parts = text.split(/(?<=\n)/);
  return parts;
}

function show(line: string): string {
  return line.endsWith('\n') ? line.slice(0, -1) : `${line}\n\\ No newline at end of file`;
}

function range(start: number, count: number): string {
  return count === 0 ? `${start},0` : `${start + 1},${count}`;
}
