/**
 * What the bench servers (fast-server.js, geminispace-sim.js) share: reading
 * a request line off each TLS connection, and listening on several loopback
 * addresses with one port.
 */
import tls from 'node:tls';

/**
 * A TLS 'secureConnection' handler that reads the request line (up to CRLF,
 * at most 2 KiB, else the connection is destroyed) and calls
 * `onLine(socket, line)` once; later data is not read by it.
 */
export function requestLineHandler(onLine) {
  return (socket) => {
    let buffered = '';
    socket.on('error', () => socket.destroy());
    const onData = (chunk) => {
      buffered += chunk.toString('latin1');
      const end = buffered.indexOf('\r\n');
      if (end < 0) {
        if (buffered.length > 2048) socket.destroy();
        return;
      }
      socket.off('data', onData);
      onLine(socket, buffered.slice(0, end));
    };
    socket.on('data', onData);
  };
}

/**
 * One TLS server per address in `hosts`, all on one port (`port`, or the one
 * the first was given when 0), backlog 4096, handshake errors ignored.
 * Resolves with the port and the servers.
 */
export async function listenOnAll(hosts, port, cert, onConnection) {
  const servers = [];
  for (const host of hosts) {
    const server = tls.createServer({ key: cert.key, cert: cert.cert }, onConnection);
    server.on('tlsClientError', () => {});
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, backlog: 4096 }, resolve);
    });
    port = server.address().port;
    servers.push(server);
  }
  return { port, servers };
}
