/** A port on 127.0.0.1 that was free a moment ago, so nothing listens there: for "cannot reach" errors. */
import { createServer, type AddressInfo } from 'node:net';

export function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
