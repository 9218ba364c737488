import { expect } from 'chai';
import { AssignerProtocol } from 'kafkajs';
import { decodeMemberMetadata, encodeMemberMetadata } from '../../core/kafka/kafkajs-streams.js';
import { planAssignment, rangeMemberIndex, rangeStandbys, type MemberReport, type PlanMember, type RangeMember } from '../../core/kafka/streams-assignment.js';

const task = (partition: number): string => `in-${partition}`;
const tasks = (count: number): string[] => Array.from({ length: count }, (_, partition) => task(partition));
const stateful = (): boolean => true;
const report = (processId: string, active: string[], warm: Record<string, string> = {}): MemberReport => ({ processId, active, warm });

/** librdkafka's range assignor as rdkafka_range_assignor.c writes it: per member, a start and a length. */
function librdkafkaRange(partitions: number, members: number): number[] {
  const owner: number[] = [];
  const per = Math.floor(partitions / members);
  const extra = partitions % members;
  for (let i = 0; i < members; i++) {
    const start = per * i + Math.min(i, extra);
    const length = per + (i + 1 > extra ? 0 : 1);
    for (let p = start; p < start + length; p++) owner[p] = i;
  }
  return owner;
}

/** The range assignment of one topic over member ids (sorted as librdkafka sorts them). */
function rangeAssign(topic: string, partitions: number, ids: string[]): RangeMember[] {
  const sorted = [...ids].sort();
  return sorted.map((memberId, index) => ({
    memberId,
    assignment: [{ topic, partitions: Array.from({ length: partitions }, (_, p) => p).filter((p) => rangeMemberIndex(p, partitions, sorted.length) === index) }],
  }));
}

function ownerOf(members: RangeMember[], partition: number): string {
  return members.find((member) => member.assignment.some(({ partitions }) => partitions.includes(partition)))!.memberId;
}

describe('standby replicas: placement', () => {
  describe('the kafkajs assignor (planAssignment)', () => {
    it('balances tasks and keeps each with the member that ran it', () => {
      const members: PlanMember[] = [
        { memberId: 'a', report: report('pa', [task(0), task(1), task(2), task(3)]) },
        { memberId: 'b', report: report('pb', []) },
      ];
      const plans = planAssignment(tasks(4), members, { standbyReplicas: 0, stateful });
      expect(plans.get('a')!.active).to.deep.equal([task(0), task(1)]);
      expect(plans.get('b')!.active).to.deep.equal([task(2), task(3)]);
      // Three members, one leaves: the survivors keep what they had, only the leaver's tasks move.
      const before = planAssignment(tasks(6), [{ memberId: 'a' }, { memberId: 'b' }, { memberId: 'c' }], { standbyReplicas: 0, stateful });
      const after = planAssignment(
        tasks(6),
        ['a', 'c'].map((memberId) => ({ memberId, report: report(`p${memberId}`, before.get(memberId)!.active) })),
        { standbyReplicas: 0, stateful },
      );
      for (const memberId of ['a', 'c']) expect(after.get(memberId)!.active).to.include.members(before.get(memberId)!.active);
      expect([...after.get('a')!.active, ...after.get('c')!.active].sort()).to.deep.equal(tasks(6));
    });

    it('gives a task whose owner left to the member with the most caught-up copy of its stores', () => {
      // Owner "a" of in-0 and in-1 is gone; "c" holds in-1 warm (ahead of "b"'s old copy), "b" holds in-0.
      const members: PlanMember[] = [
        { memberId: 'b', report: report('pb', [task(2)], { [task(0)]: '900', [task(1)]: '10' }) },
        { memberId: 'c', report: report('pc', [task(3)], { [task(1)]: '950' }) },
      ];
      const plans = planAssignment(tasks(4), members, { standbyReplicas: 1, stateful });
      expect(plans.get('b')!.active).to.deep.equal([task(0), task(2)]);
      expect(plans.get('c')!.active).to.deep.equal([task(1), task(3)]);
    });

    it('places num.standby.replicas standbys per stateful task, never on its owner, at most one per other member, spread over members', () => {
      const members: PlanMember[] = ['a', 'b', 'c'].map((memberId) => ({ memberId }));
      for (const replicas of [1, 2, 5]) {
        const plans = planAssignment(tasks(6), members, { standbyReplicas: replicas, stateful: (id) => id !== task(5) });
        for (const id of tasks(6)) {
          const owner = [...plans].find(([, plan]) => plan.active.includes(id))![0];
          const holders = [...plans].filter(([, plan]) => plan.standby.includes(id)).map(([memberId]) => memberId);
          expect(holders, id).to.not.include(owner);
          expect(holders.length, id).to.equal(id === task(5) ? 0 : Math.min(replicas, 2));
        }
      }
      // One standby each: an owner's two tasks have their standbys on the two other members, so its failure does not
      // put both on one survivor.
      const plans = planAssignment(tasks(6), members, { standbyReplicas: 1, stateful });
      for (const [owner, plan] of plans) {
        const holders = plan.active.map((id) => [...plans].find(([, other]) => other.standby.includes(id))![0]);
        expect(new Set(holders).size, `standbys of ${owner}'s tasks`).to.equal(2);
      }
      // With a single member there is nowhere to put a standby.
      expect(planAssignment(tasks(2), [{ memberId: 'a' }], { standbyReplicas: 1, stateful }).get('a')!.standby).to.deep.equal([]);
    });

    it('keeps a standby where a copy of the task already is, and a failed owner lands on it', () => {
      // Three members, a task each; c's copy of a's task is the most caught up (it was its standby).
      const warm = { [task(0)]: '5000' };
      const members: PlanMember[] = [
        { memberId: 'a', report: report('pa', [task(0)]) },
        { memberId: 'b', report: report('pb', [task(1)], { [task(0)]: '100' }) },
        { memberId: 'c', report: report('pc', [task(2)], warm) },
      ];
      const plans = planAssignment(tasks(3), members, { standbyReplicas: 1, stateful });
      expect(plans.get('c')!.standby).to.include(task(0));
      expect(plans.get('b')!.standby).to.not.include(task(0));
      // a dies: its task goes to c, which holds it warm, though b has the room balance would give it otherwise.
      const failover = planAssignment(tasks(3), members.slice(1), { standbyReplicas: 1, stateful });
      expect(failover.get('c')!.active).to.deep.equal([task(0), task(2)]);
      expect(failover.get('b')!.active).to.deep.equal([task(1)]);
    });

    it('lifts a member below its share, and an idle member gets the standby', () => {
      // Two tasks, three members: c runs nothing, so it holds both standbys, and a failed owner's task lands there.
      const members: PlanMember[] = [
        { memberId: 'a', report: report('pa', [task(0)]) },
        { memberId: 'b', report: report('pb', [task(1)]) },
        { memberId: 'c', report: report('pc', []) },
      ];
      const plans = planAssignment(tasks(2), members, { standbyReplicas: 1, stateful });
      expect(plans.get('c')!.standby).to.deep.equal([task(0), task(1)]);
      // b took everything while a was away; a back: one of b's tasks moves to it, the one a holds warm.
      const back = planAssignment(
        tasks(4),
        [
          { memberId: 'a', report: report('pa', [], { [task(3)]: '7' }) },
          { memberId: 'b', report: report('pb', tasks(4)) },
        ],
        { standbyReplicas: 0, stateful },
      );
      expect(back.get('b')!.active).to.have.length(2);
      expect(back.get('a')!.active).to.have.length(2);
      expect(back.get('a')!.active).to.include(task(3));
      // Four tasks on a and b, c joins: c gets one of them (floor 1), no member more than two (ceil).
      const joined = planAssignment(
        tasks(4),
        [
          { memberId: 'a', report: report('pa', [task(0), task(1)]) },
          { memberId: 'b', report: report('pb', [task(2), task(3)]) },
          { memberId: 'c', report: report('pc', []) },
        ],
        { standbyReplicas: 0, stateful },
      );
      expect(['a', 'b', 'c'].map((memberId) => joined.get(memberId)!.active.length).sort()).to.deep.equal([1, 1, 2]);
      expect(joined.get('b')!.active).to.deep.equal([task(2), task(3)]);
    });
  });

  describe("librdkafka's range assignor (rangeStandbys)", () => {
    it('rangeMemberIndex is range as librdkafka computes it', () => {
      for (let partitions = 1; partitions <= 13; partitions++) {
        for (let members = 1; members <= 7; members++) {
          const expected = librdkafkaRange(partitions, members);
          for (let p = 0; p < partitions; p++) expect(rangeMemberIndex(p, partitions, members), `${p} of ${partitions} over ${members}`).to.equal(expected[p] ?? -1);
        }
      }
    });

    it("puts a task's standby where range moves the task when its owner leaves, so one owner failure lands on a warm copy", () => {
      for (let partitions = 1; partitions <= 8; partitions++) {
        for (let count = 2; count <= 5; count++) {
          const ids = Array.from({ length: count }, (_, i) => `rdkafka-${String.fromCharCode(97 + ((i * 7) % 26))}${i}`);
          const members = rangeAssign('in', partitions, ids);
          const standbys = rangeStandbys(members, (topic, partition) => `${topic}-${partition}`, stateful, 1);
          for (const leaving of ids) {
            const after = rangeAssign('in', partitions, ids.filter((id) => id !== leaving));
            for (let p = 0; p < partitions; p++) {
              if (ownerOf(members, p) !== leaving) continue;
              const next = ownerOf(after, p);
              expect(standbys.get(next), `in-${p} of ${leaving} (${partitions} partitions, ${count} members) on ${next}`).to.include(`in-${p}`);
            }
          }
          for (const [memberId, held] of standbys) for (const id of held) expect(ownerOf(members, Number(id.slice(3))), `${id} on its owner`).to.not.equal(memberId);
        }
      }
    });

    it('with more replicas also covers the tasks range moves although their owner stays', () => {
      // 6 partitions over 3 members: when the first leaves, range also moves in-3 from the second to the third.
      const members = rangeAssign('in', 6, ['m0', 'm1', 'm2']);
      const one = rangeStandbys(members, (topic, partition) => `${topic}-${partition}`, stateful, 1);
      const two = rangeStandbys(members, (topic, partition) => `${topic}-${partition}`, stateful, 2);
      const after = rangeAssign('in', 6, ['m1', 'm2']);
      let warmWithOne = 0;
      let warmWithTwo = 0;
      let moved = 0;
      for (let p = 0; p < 6; p++) {
        const next = ownerOf(after, p);
        if (next === ownerOf(members, p)) continue;
        moved++;
        if (one.get(next)!.includes(`in-${p}`)) warmWithOne++;
        if (two.get(next)!.includes(`in-${p}`)) warmWithTwo++;
      }
      expect(moved).to.be.greaterThan(2);
      expect(warmWithTwo).to.equal(moved);
      // m0's p0 and p1 move, and range shifts m1's p3 to m2: with one copy each all three are warm here (p3's copy is
      // where range moves it when m1 leaves, which is where it goes now); other layouts leave such shifts cold.
      expect([warmWithOne, moved]).to.deep.equal([3, 3]);
      // Stateless tasks get none; no member gets a standby when it is alone.
      expect([...rangeStandbys(members, (topic, partition) => `${topic}-${partition}`, () => false, 1).values()].flat()).to.deep.equal([]);
      expect(rangeStandbys(rangeAssign('in', 2, ['solo']), (topic, partition) => `${topic}-${partition}`, stateful, 1).get('solo')).to.deep.equal([]);
    });
  });

  describe('the kafkajs member metadata', () => {
    it('carries the endpoint where older members read it, and the report after it', () => {
      const metadata = encodeMemberMetadata(['in'], '127.0.0.1:8080', report('p1', [task(0)], { [task(1)]: '42' }));
      // A member of an older version decodes kafkajs' layout and reads its user data as the endpoint.
      const old = AssignerProtocol.MemberMetadata.decode(metadata)!;
      expect(old.topics).to.deep.equal(['in']);
      expect(old.userData.toString('utf8')).to.equal('127.0.0.1:8080');
      expect(decodeMemberMetadata(metadata)).to.deep.equal({ endpoint: '127.0.0.1:8080', report: report('p1', [task(0)], { [task(1)]: '42' }) });
      // An older member's metadata (the endpoint only, or nothing): no report.
      expect(decodeMemberMetadata(AssignerProtocol.MemberMetadata.encode({ version: 1, topics: ['in'], userData: Buffer.from('h:1') }))).to.deep.equal({ endpoint: 'h:1' });
      expect(decodeMemberMetadata(AssignerProtocol.MemberMetadata.encode({ version: 1, topics: ['in'], userData: Buffer.alloc(0) }))).to.deep.equal({});
      expect(decodeMemberMetadata(encodeMemberMetadata(['in'], undefined, report('p2', [])))).to.deep.equal({ report: report('p2', []) });
    });
  });
});
