import * as fs from 'node:fs';

let viaStream = false;

/**
 * Writes to stdout with blocking writes to fd 1: node's stdout stream costs `--version` and
 * `snippet` ~5% of node's own start. A closed pipe (`| head`) ends the program quietly; a
 * non-blocking stdout (EAGAIN) is left to the stream from then on, which waits for it.
 */
export function writeOut(text: string): void {
  if (viaStream) {
    process.stdout.write(text);
    return;
  }
  let rest = Buffer.from(text);
  while (rest.length > 0) {
    try {
      rest = rest.subarray(fs.writeSync(1, rest));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') process.exit(process.exitCode ?? 0);
      if (code !== 'EAGAIN') throw err;
      viaStream = true;
      process.stdout.write(rest);
      return;
    }
  }
}
