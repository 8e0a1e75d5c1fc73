// Test helpers: the HealthOmics emulator on a local HTTP server with a real OmicsClient pointed at it.
import { OmicsClient } from '@aws-sdk/client-omics';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OmicsEmulator } from '../../../local/omics';

export interface OmicsServer {
  client: OmicsClient;
  stop: () => Promise<void>;
}

/** Serves `emulator` on a free 127.0.0.1 port; the client sends no host prefix (the SDK would prepend `workflows-`). */
export async function serveOmics(emulator: OmicsEmulator): Promise<OmicsServer> {
  const server = http.createServer((req, res) => void emulator.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new OmicsClient({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    disableHostPrefix: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  return {
    client,
    stop: async () => {
      client.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
