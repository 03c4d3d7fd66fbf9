// Child process for the cross-process test of the known-hosts store (test/tofu.test.ts).
// Plain JS because Node 20 cannot import .ts: it imports the compiled store.
// Usage: node tofu-writer.mjs <module-path> <known-hosts-path> <host-prefix> <count>
// Records <count> hosts named <prefix>-<i>.example:1965, alternating pin() and verify().
import { pathToFileURL } from 'node:url';

const [modulePath, knownHostsPath, prefix, countText] = process.argv.slice(2);
const { KnownHostsStore } = await import(pathToFileURL(modulePath).href);
const store = new KnownHostsStore(knownHostsPath);
const count = Number(countText);
const expires = new Date('2099-01-01T00:00:00.000Z');
for (let i = 0; i < count; i++) {
  const hostPort = `${prefix}-${i}.example:1965`;
  const fingerprint = (prefix + i).split('').map((c) => c.charCodeAt(0).toString(16)).join('').padEnd(64, '0').slice(0, 64);
  if (i % 2 === 0) await store.pin({ hostPort, fingerprint, expires, added: new Date() });
  else if ((await store.verify(hostPort, { fingerprint, expires, caVerified: false })) !== 'first-use') {
    throw new Error(`unexpected decision for ${hostPort}`);
  }
}
process.stdout.write(`${count}\n`);
