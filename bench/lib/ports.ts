// A free loopback TCP port: bind port 0, read the port the kernel chose, release it.
// Another process could take it in between; callers that start a server on it (Redis)
// retry with a fresh port when the server fails to bind.

import { createServer } from "node:net";

export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error("could not read the bound port"));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}
