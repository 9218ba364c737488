import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { credentials, Metadata } from '@grpc/grpc-js';
import CommonPb from 'skywalking-backend-js/lib/proto/common/Common_pb.js';
import TracingGrpc from 'skywalking-backend-js/lib/proto/language-agent/Tracing_grpc_pb.js';
import TracingPb from 'skywalking-backend-js/lib/proto/language-agent/Tracing_pb.js';
import { ensureSkyWalking, oapVersion } from '../../scripts/skywalking-local.js';
import { useSkyWalking, waitForServices, waitForTrace, type SkyWalkingEndpoints, type TraceSpan } from '../support/skywalking.js';

const { KeyStringValuePair } = CommonPb;
const { Log, RefType, SegmentCollection, SegmentObject, SegmentReference, SpanLayer, SpanObject, SpanType } = TracingPb;

/** The segments an agent would report, sent with the agent's own generated stubs (collectInSync: one unary call). */
function report(collectorAddress: string, segments: InstanceType<typeof SegmentObject>[]): Promise<void> {
  const client = new TracingGrpc.TraceSegmentReportServiceClient(collectorAddress, credentials.createInsecure());
  return new Promise<void>((resolve, reject) => {
    client.collectInSync(new SegmentCollection().setSegmentsList(segments), new Metadata(), { deadline: Date.now() + 10_000 }, (error) => (error ? reject(error) : resolve()));
  }).finally(() => client.close());
}

const pairs = (entries: Record<string, string>): InstanceType<typeof KeyStringValuePair>[] =>
  Object.entries(entries).map(([key, value]) => new KeyStringValuePair().setKey(key).setValue(value));

const tagsOf = (span: TraceSpan): Record<string, string | null> => Object.fromEntries(span.tags.map((tag) => [tag.key, tag.value]));

describe('the local SkyWalking OAP and its GraphQL client @broker', function () {
  this.timeout(120_000);
  let oap: SkyWalkingEndpoints;

  before(async function () {
    this.timeout(600_000); // a first run fetches the jars (1-4 minutes with an empty ~/.m2)
    oap = await useSkyWalking();
  });

  it('answers GraphQL { version } as OAP 10.1.0, and a second ensure reuses it without starting another', async () => {
    expect(await oapVersion(oap.graphqlUrl)).to.match(/^10\.1\.0\b/);
    const again = await ensureSkyWalking({ log: () => undefined });
    expect(again).to.include({ collectorAddress: oap.collectorAddress, graphqlUrl: oap.graphqlUrl, owned: false });
  });

  it('gives back two segments of one trace reported over gRPC: spans, tags, logs and the cross-process reference', async () => {
    const run = randomUUID().slice(0, 8);
    const traceId = randomUUID().replace(/-/g, '');
    const producerSegment = randomUUID().replace(/-/g, '');
    const consumerSegment = randomUUID().replace(/-/g, '');
    const producer = `lk-oap-producer-${run}`;
    const consumer = `lk-oap-consumer-${run}`;
    const t0 = Date.now() - 1000;

    const entry = new SpanObject()
      .setSpanid(0)
      .setParentspanid(-1)
      .setStarttime(t0)
      .setEndtime(t0 + 40)
      .setOperationname('POST:/orders')
      .setSpantype(SpanType.ENTRY)
      .setSpanlayer(SpanLayer.HTTP)
      .setComponentid(49)
      .setTagsList(pairs({ 'http.method': 'POST' }));
    const exit = new SpanObject()
      .setSpanid(1)
      .setParentspanid(0)
      .setStarttime(t0 + 10)
      .setEndtime(t0 + 30)
      .setOperationname('Kafka/orders/Producer')
      .setPeer('127.0.0.1:9092')
      .setSpantype(SpanType.EXIT)
      .setSpanlayer(SpanLayer.MQ)
      .setComponentid(40)
      .setTagsList(pairs({ 'mq.topic': 'orders', 'mq.broker': '127.0.0.1:9092' }));
    const received = new SpanObject()
      .setSpanid(0)
      .setParentspanid(-1)
      .setStarttime(t0 + 50)
      .setEndtime(t0 + 90)
      .setOperationname('Kafka/orders/Consumer/orders-group')
      .setPeer('127.0.0.1:9092')
      .setSpantype(SpanType.ENTRY)
      .setSpanlayer(SpanLayer.MQ)
      .setComponentid(41)
      .setIserror(true)
      .setRefsList([
        new SegmentReference()
          .setReftype(RefType.CROSSPROCESS)
          .setTraceid(traceId)
          .setParenttracesegmentid(producerSegment)
          .setParentspanid(1)
          .setParentservice(producer)
          .setParentserviceinstance('inst-a')
          .setParentendpoint('POST:/orders')
          .setNetworkaddressusedatpeer('127.0.0.1:9092'),
      ])
      .setTagsList(pairs({ 'mq.topic': 'orders', 'mq.broker': '127.0.0.1:9092' }))
      .setLogsList([new Log().setTime(t0 + 80).setDataList(pairs({ event: 'error', message: 'refused' }))]);

    await report(oap.collectorAddress, [
      new SegmentObject().setTraceid(traceId).setTracesegmentid(producerSegment).setService(producer).setServiceinstance('inst-a').setSpansList([entry, exit]),
      new SegmentObject().setTraceid(traceId).setTracesegmentid(consumerSegment).setService(consumer).setServiceinstance('inst-b').setSpansList([received]),
    ]);

    const spans = await waitForTrace(oap.graphqlUrl, traceId, (found) => found.length === 3, 15_000);
    const bySegment = (segmentId: string, spanId: number): TraceSpan => spans.find((span) => span.segmentId === segmentId && span.spanId === spanId)!;

    const producerExit = bySegment(producerSegment, 1);
    expect(producerExit).to.include({
      traceId,
      parentSpanId: 0,
      serviceCode: producer,
      serviceInstanceName: 'inst-a',
      startTime: t0 + 10,
      endTime: t0 + 30,
      endpointName: 'Kafka/orders/Producer',
      type: 'Exit',
      peer: '127.0.0.1:9092',
      component: 'kafka-producer',
      layer: 'MQ',
      isError: false,
    });
    expect(producerExit.refs).to.deep.equal([]);
    expect(tagsOf(producerExit)).to.deep.equal({ 'mq.topic': 'orders', 'mq.broker': '127.0.0.1:9092' });
    expect(bySegment(producerSegment, 0)).to.include({ parentSpanId: -1, type: 'Entry', component: 'http', layer: 'Http', endpointName: 'POST:/orders' });

    const consumerEntry = bySegment(consumerSegment, 0);
    expect(consumerEntry).to.include({
      traceId,
      parentSpanId: -1,
      serviceCode: consumer,
      serviceInstanceName: 'inst-b',
      endpointName: 'Kafka/orders/Consumer/orders-group',
      type: 'Entry',
      component: 'kafka-consumer',
      layer: 'MQ',
      isError: true,
    });
    expect(consumerEntry.refs).to.deep.equal([{ traceId, parentSegmentId: producerSegment, parentSpanId: 1, type: 'CROSS_PROCESS' }]);
    expect(tagsOf(consumerEntry)).to.deep.equal({ 'mq.topic': 'orders', 'mq.broker': '127.0.0.1:9092' });
    expect(consumerEntry.logs).to.deep.equal([{ time: t0 + 80, data: [{ key: 'event', value: 'error' }, { key: 'message', value: 'refused' }] }]);

    const services = await waitForServices(oap.graphqlUrl, [producer, consumer]);
    expect(services.find((service) => service.name === consumer)).to.include({ shortName: consumer, normal: true }).and.have.property('layers').that.deep.equals(['GENERAL']);
  });

  it('waitForTrace names the trace and quotes what the OAP last answered when the predicate never holds', async () => {
    const traceId = `never-reported-${randomUUID()}`;
    const failure = await waitForTrace(oap.graphqlUrl, traceId, (spans) => spans.length > 0, 500).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(failure?.message).to.contain(traceId).and.contain('0 span(s): []');
  });
});
