// Loopback servers for the checks.

import net from 'node:net';

/**
 * Starts `server` (an http.Server or net.Server) on 127.0.0.1 and a port the
 * kernel picks, and resolves to that port. Binding port 0 directly avoids the
 * race of asking for a free port first and binding it later.
 */
export function listenLoopback(server, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const onError = (err) => reject(new Error(`cannot listen on ${host}: ${err.message}`));
    server.once('error', onError);
    server.listen(0, host, () => {
      server.off('error', onError);
      resolve(server.address().port);
    });
  });
}

/** Closes a server and every connection it still holds. */
export function closeServer(server) {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}

/**
 * Returns a TCP port on 127.0.0.1 that was free a moment ago, for programs
 * that must be told a port before they start (prefer listenLoopback).
 */
export async function freePort(host = '127.0.0.1') {
  const server = net.createServer();
  const port = await listenLoopback(server, host);
  await closeServer(server);
  return port;
}
