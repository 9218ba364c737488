import { expect } from 'chai';
import type { Assignment } from '../../core/kafka/streams-clients.js';
import { StreamsConsumerAdapter, withPartitions, type GroupConsumerClient } from '../../core/kafka/streams-consumer.js';

/** A group client that is never run: the adapter's rebalance bookkeeping needs none of its calls. */
const idle: GroupConsumerClient = {
  connect: async () => undefined,
  subscribe: async () => undefined,
  run: async () => undefined,
  seek: () => undefined,
  commitOffsets: async () => undefined,
  disconnect: async () => undefined,
};

/** What the listeners saw, in order: `assign <assignment>` or `revoke <lost>`. */
function observed(adapter: StreamsConsumerAdapter): string[] {
  const seen: string[] = [];
  adapter.onAssignment((assignment: Assignment) => void seen.push(`assign ${JSON.stringify(assignment)}`));
  adapter.onRevocation(async (lost) => void seen.push(`revoke ${lost}`));
  return seen;
}

/** Lets the gate's listener chain run the assignment announced last. */
async function settled(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('streams consumer: cooperative rebalances (group.protocol consumer)', () => {
  it('adds and removes partitions, topics and partitions kept in order', () => {
    const start = withPartitions([], [{ topic: 'b', partition: 2 }, { topic: 'a', partition: 1 }, { topic: 'b', partition: 0 }], true);
    expect(start).to.deep.equal([{ topic: 'a', partitions: [1] }, { topic: 'b', partitions: [0, 2] }]);
    expect(withPartitions(start, [{ topic: 'a', partition: 1 }, { topic: 'b', partition: 2 }], false)).to.deep.equal([{ topic: 'b', partitions: [0] }]);
    expect(withPartitions(start, [{ topic: 'c', partition: 5 }], false)).to.deep.equal(start);
  });

  it('hands the listeners the whole assignment after each incremental event, the revocation listeners first on a revoke', async () => {
    const adapter = new StreamsConsumerAdapter(idle);
    const seen = observed(adapter);
    adapter.added([{ topic: 'in', partition: 0 }, { topic: 'in', partition: 1 }]);
    adapter.added([{ topic: 'in', partition: 2 }]);
    await adapter.removed([{ topic: 'in', partition: 1 }], false);
    await settled();
    expect(seen).to.deep.equal([
      'assign [{"topic":"in","partitions":[0,1]}]',
      'assign [{"topic":"in","partitions":[0,1,2]}]',
      'revoke false',
      'assign [{"topic":"in","partitions":[0,2]}]',
    ]);
    expect(adapter.assignment).to.deep.equal([{ topic: 'in', partitions: [0, 2] }]);
  });

  it('a lost assignment leaves nothing assigned, whatever partitions the event names', async () => {
    const adapter = new StreamsConsumerAdapter(idle);
    const seen = observed(adapter);
    adapter.added([{ topic: 'in', partition: 0 }, { topic: 'in', partition: 1 }]);
    await adapter.removed([{ topic: 'in', partition: 0 }], true);
    await settled();
    expect(seen.slice(1)).to.deep.equal(['revoke true', 'assign []']);
    expect(adapter.assignment).to.deep.equal([]);
  });
});
