import type * as Net from 'node:net';

/**
 * What an agent socket says when asked for its keys: `ssh-add -l`'s exits 0, 1 and 2, except
 * that a listener which hangs up without answering is no agent (ssh-add says 1).
 */
export type AgentAnswer = 'keys' | 'no-keys' | 'none';

// draft-miller-ssh-agent: SSH_AGENTC_REQUEST_IDENTITIES (11) is answered by
// SSH_AGENT_IDENTITIES_ANSWER (12) with a uint32 count of keys, or by SSH_AGENT_FAILURE (5).
const REQUEST_IDENTITIES = Buffer.from([0, 0, 0, 1, 11]);
const IDENTITIES_ANSWER = 12;

/** How long an agent may take to answer: one that hangs (a suspended ssh -A) counts as none. */
export const AGENT_TIMEOUT_MS = 2000;

/**
 * Asks the agent at `sock` how many keys it holds, in-process: `ssh-add -l` would be a whole
 * process, which costs `status` more CPU than the rest of it. Bounded by `timeoutMs`.
 */
export function askAgent(sock: string, timeoutMs = AGENT_TIMEOUT_MS): Promise<AgentAnswer> {
  const net = require('node:net') as typeof Net;
  return new Promise((resolve) => {
    let reply = Buffer.alloc(0);
    const conn = net.createConnection(sock);
    const done = (answer: AgentAnswer) => {
      clearTimeout(timer);
      conn.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done('none'), timeoutMs);
    conn.on('connect', () => conn.write(REQUEST_IDENTITIES));
    conn.on('data', (chunk: Buffer) => {
      reply = Buffer.concat([reply, chunk]);
      // Only the length, the type and the count are needed; the keys that follow are not.
      if (reply.length < 5) return;
      if (reply[4] !== IDENTITIES_ANSWER) return done('no-keys');
      if (reply.length >= 9) done(reply.readUInt32BE(5) > 0 ? 'keys' : 'no-keys');
    });
    conn.on('error', () => done('none'));
    conn.on('close', () => done('none'));
  });
}
