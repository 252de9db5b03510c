import { Agent as HttpAgent, type AgentOptions, type ClientRequestArgs } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * Decides, per connection, which addresses a remote driver may reach (the gateway's endpoint policy;
 * drivers know nothing of it beyond this). `lookup` judges host names as they resolve; `permits` judges
 * literal addresses, for which sockets never call a lookup - e.g. a redirect to `http://169.254.169.254/`,
 * which the OBS SDK follows on its own.
 */
export interface ConnectGuard {
  lookup: LookupFunction;
  permits(address: string): boolean;
}

export const CONNECT_REFUSED_CODE = 'EENDPOINTDENIED';

type Callback = (err: Error | null, stream?: Duplex) => void;

function refusedLiteral(guard: ConnectGuard, options: ClientRequestArgs, cb: Callback): boolean {
  const host = String(options.host ?? options.hostname ?? '').replace(/^\[|\]$/g, '');
  if (!isIP(host) || guard.permits(host)) return false;
  cb(Object.assign(new Error("connection refused by the gateway's endpoint policy"), { code: CONNECT_REFUSED_CODE }));
  return true;
}

/**
 * HTTP and HTTPS agents whose every new connection passes `guard` before a packet is sent (names
 * through the socket's lookup, literal addresses here). Without a guard: plain agents.
 */
export function guardedAgents(guard: ConnectGuard | undefined, opts: AgentOptions & HttpsAgentOptions): { http: HttpAgent; https: HttpsAgent } {
  if (!guard) return { http: new HttpAgent(opts), https: new HttpsAgent(opts) };
  const options = { ...opts, lookup: guard.lookup };
  class GuardedHttpAgent extends HttpAgent {
    override createConnection(o: ClientRequestArgs, cb: Callback): Duplex | undefined {
      if (refusedLiteral(guard!, o, cb)) return undefined;
      return super.createConnection(o, cb) ?? undefined;
    }
  }
  class GuardedHttpsAgent extends HttpsAgent {
    override createConnection(o: ClientRequestArgs, cb: Callback): Duplex | undefined {
      if (refusedLiteral(guard!, o, cb)) return undefined;
      return super.createConnection(o, cb) ?? undefined;
    }
  }
  return { http: new GuardedHttpAgent(options), https: new GuardedHttpsAgent(options) };
}
