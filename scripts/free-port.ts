import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Ports this process has handed out already: each one is given once, so two roles never get the same. */
const given = new Set<number>();

/**
 * The kernel's range for the source ports of outgoing connections. A port from it that is free now can be taken a
 * moment later by any connection this machine opens (gRPC to Temporal, RPC to the chain), before the role it was
 * meant for binds it: that is the EADDRINUSE a devnet host once died of. Ports are therefore chosen below it.
 */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low > 0 && high >= low) return [low, high];
  } catch {
    // Not Linux: the IANA dynamic range, which is what macOS and Windows use.
  }
  return [49152, 65535];
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A TCP port on loopback that is free now and that no outgoing connection will take: chosen at random below the
 * kernel's ephemeral range (from 20000, clear of the well-known services), never the same twice in one process.
 * `below` caps it further (Temporal keeps membership ports in a SMALLINT, so they must be under 32768).
 */
export async function freePort(opts: { below?: number } = {}): Promise<number> {
  const [ephemeralLow] = ephemeralRange();
  const high = Math.min(ephemeralLow, opts.below ?? Infinity) - 1;
  const low = Math.min(20000, high - 1000);
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (given.has(port)) continue;
    if (await canBind(port)) {
      given.add(port);
      return port;
    }
  }
  throw new Error(`no free TCP port on 127.0.0.1 between ${low} and ${high} after 200 tries`);
}
