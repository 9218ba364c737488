import { Socket } from 'node:net';

/**
 * The API versions a broker serves per API key, from an ApiVersions v0 request on a plain socket (kafkajs does not expose them):
 * lets a test skip on a broker too old for what it needs, e.g. ConsumerGroupHeartbeat (68) for KIP-848.
 */
export async function brokerApiVersions(broker: string, timeoutMs = 5000): Promise<Map<number, { min: number; max: number }>> {
  const [host, port] = [broker.slice(0, broker.lastIndexOf(':')), Number(broker.slice(broker.lastIndexOf(':') + 1))];
  const clientId = Buffer.from('light-kafka-test');
  // Header v1: api key 18 (ApiVersions), version 0, correlation id 1, client id; v0 has no body.
  const body = Buffer.alloc(2 + 2 + 4 + 2 + clientId.length);
  body.writeInt16BE(18, 0);
  body.writeInt16BE(0, 2);
  body.writeInt32BE(1, 4);
  body.writeInt16BE(clientId.length, 8);
  clientId.copy(body, 10);
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length);
  const response = await new Promise<Buffer>((resolve, reject) => {
    const socket = new Socket();
    let received = Buffer.alloc(0);
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no ApiVersions answer from ${broker} within ${timeoutMs} ms`)));
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 4 && received.length >= 4 + received.readInt32BE(0)) {
        socket.end();
        resolve(received.subarray(4, 4 + received.readInt32BE(0)));
      }
    });
    socket.connect(port, host, () => socket.write(Buffer.concat([size, body])));
  });
  // Correlation id (4), error code (2), then [api key, min version, max version] per API.
  const versions = new Map<number, { min: number; max: number }>();
  const count = response.readInt32BE(6);
  for (let i = 0, at = 10; i < count; i++, at += 6) versions.set(response.readInt16BE(at), { min: response.readInt16BE(at + 2), max: response.readInt16BE(at + 4) });
  return versions;
}
