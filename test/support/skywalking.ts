import { ensureSkyWalking, type SkyWalkingHandle } from '../../scripts/skywalking-local.js';

/**
 * The real SkyWalking backend (OAP 10.1.0, H2 in memory), started on first use by the tests that need it
 * (SKYWALKING_COLLECTOR + SKYWALKING_GRAPHQL_URL, one already answering on the ports, or one started here) and stopped
 * after the run if this run started it. Those tests are tagged @broker, so `npm run test:unit` never starts a JVM.
 */
let oap: Promise<SkyWalkingHandle> | undefined;

export interface SkyWalkingEndpoints {
  /** host:port of the OAP's gRPC receiver (an agent's collectorAddress). */
  collectorAddress: string;
  /** The OAP's GraphQL endpoint, for queryTrace / waitForTrace / queryServices. */
  graphqlUrl: string;
}

export function useSkyWalking(): Promise<SkyWalkingEndpoints> {
  if (process.env.LIGHT_KAFKA_UNIT) return Promise.reject(new Error('this test needs the SkyWalking OAP: tag it @broker'));
  oap ??= ensureSkyWalking({ log: (line) => process.stderr.write(`[skywalking-local] ${line}\n`) });
  return oap.then(({ collectorAddress, graphqlUrl }) => ({ collectorAddress, graphqlUrl }));
}

/** Stops the OAP if this run started it (and LIGHT_KAFKA_KEEP_BROKER is not set). */
export async function releaseSkyWalking(): Promise<void> {
  if (!oap) return;
  const handle = await oap.catch(() => undefined);
  oap = undefined;
  if (handle?.owned && !process.env.LIGHT_KAFKA_KEEP_BROKER) await handle.stop();
}

export { graphql, queryServices, queryTrace, waitForServices, waitForTrace, type OapService, type SpanRef, type TraceSpan } from '../../scripts/skywalking-query.js';
