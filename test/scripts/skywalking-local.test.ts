import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureSkyWalking, oapVersion } from '../../scripts/skywalking-local.js';

/** A loopback port nothing listens on (the OS picked it, then it was closed). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('local SkyWalking launcher (no JVM)', () => {
  const saved = { collector: process.env.SKYWALKING_COLLECTOR, graphql: process.env.SKYWALKING_GRAPHQL_URL };
  let server: Server;
  let takenPort: number;
  let dir: string;

  before(async () => {
    // An HTTP server that is not an OAP: it answers 404 to everything, GraphQL included.
    server = createServer((_, response) => response.writeHead(404).end('not here'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    takenPort = (server.address() as AddressInfo).port;
    dir = mkdtempSync(join(tmpdir(), 'lk-skywalking-'));
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(() => {
    for (const [name, value] of [
      ['SKYWALKING_COLLECTOR', saved.collector],
      ['SKYWALKING_GRAPHQL_URL', saved.graphql],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it('refuses a port taken by something that is not an OAP, naming the port and the variable to set, before fetching anything', async () => {
    delete process.env.SKYWALKING_COLLECTOR;
    delete process.env.SKYWALKING_GRAPHQL_URL;
    const error = await ensureSkyWalking({ grpcPort: await freePort(), restPort: takenPort, dir, log: () => undefined }).then(
      () => undefined,
      (failure: Error) => failure,
    );
    expect(error?.message).to.contain(`port ${takenPort} is taken by something that is not a SkyWalking OAP`).and.contain('LIGHT_KAFKA_SKYWALKING_REST_PORT');
  });

  it('takes an existing OAP only from both SKYWALKING_COLLECTOR and SKYWALKING_GRAPHQL_URL', async () => {
    process.env.SKYWALKING_COLLECTOR = '127.0.0.1:11800';
    delete process.env.SKYWALKING_GRAPHQL_URL;
    const error = await ensureSkyWalking({ dir }).then(
      () => undefined,
      (failure: Error) => failure,
    );
    expect(error?.message).to.contain('SKYWALKING_GRAPHQL_URL');
  });

  it('does not take an HTTP server that fails GraphQL { version } for an OAP', async () => {
    expect(await oapVersion(`http://127.0.0.1:${takenPort}/graphql`)).to.equal(undefined);
  });
});
