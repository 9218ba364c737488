import type { Assignment } from './streams-clients.js';

/**
 * Where LightStreams' tasks and their standby replicas go: pure functions, run by the kafkajs assignor (the group
 * leader places active tasks and standbys) and by each librdkafka instance (librdkafka's `range` assignor places the
 * active tasks; every instance predicts from the group description where a task would go if its owner left, and keeps
 * the standby there).
 */

/** What a member tells the group at each join (kafkajs: in its subscription metadata). */
export interface MemberReport {
  /** The instance's process id (kept in state.dir): how an instance finds itself in the group description. */
  processId: string;
  /** The tasks it processes now: they stay with it when the balance allows (sticky). */
  active: string[];
  /**
   * Tasks it holds local state of without processing them (standby replicas, tasks it owned before, state found in
   * state.dir at start): the sum of their stores' changelog checkpoints, the higher the more caught up.
   */
  warm: Record<string, string>;
}

/** A member as the planner sees it: its id and what it reported (nothing for a member of an older version). */
export interface PlanMember {
  memberId: string;
  report?: MemberReport;
}

export interface MemberPlan {
  active: string[];
  standby: string[];
}

export interface PlanOptions {
  /** num.standby.replicas: standbys per stateful task, at most one per member other than the owner. */
  standbyReplicas: number;
  /** True for a task with state stores (only those have standbys). */
  stateful(task: string): boolean;
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** How far a member's local copy of a task goes (-1: none). */
function warmth(member: PlanMember, task: string): bigint {
  const offset = member.report?.warm[task];
  return offset === undefined ? -1n : BigInt(offset);
}

/**
 * Active tasks and standbys for every member, deterministic for the same input:
 * - balance: each member gets floor(T/N) or ceil(T/N) of the T tasks;
 * - a task stays with the member that ran it (sticky), as long as that member has room;
 * - a task without an owner in the group (its owner left, or it is new) goes to the member with room whose local
 *   copy of its stores is the most caught up (a standby replica, or state it kept from before), else to the least
 *   loaded member; a member left below floor(T/N) then takes tasks from one at ceil(T/N), one it holds warm first;
 * - each stateful task gets min(standbyReplicas, N - 1) standbys, never on its owner, on the members that are, in
 *   this order: holding the fewest standbys of the same owner's tasks (when an owner dies its tasks land on
 *   different members), running the fewest tasks (where a failed-over task finds room), the most caught up, holding
 *   the fewest standbys, first by member id.
 */
export function planAssignment(tasks: readonly string[], members: readonly PlanMember[], options: PlanOptions): Map<string, MemberPlan> {
  const sorted = [...members].sort((a, b) => compareIds(a.memberId, b.memberId));
  const plans = new Map<string, MemberPlan>(sorted.map(({ memberId }) => [memberId, { active: [], standby: [] }]));
  if (sorted.length === 0) return plans;
  const ordered = [...tasks].sort(compareIds);
  const previousOwner = new Map<string, string>();
  for (const member of sorted) for (const task of member.report?.active ?? []) if (!previousOwner.has(task)) previousOwner.set(task, member.memberId);
  const floor = Math.floor(ordered.length / sorted.length);
  const ceiling = Math.ceil(ordered.length / sorted.length);
  const owner = new Map<string, string>();
  const load = (memberId: string): number => plans.get(memberId)!.active.length;
  const give = (task: string, memberId: string): void => {
    owner.set(task, memberId);
    plans.get(memberId)!.active.push(task);
  };
  const warmest = (candidates: readonly PlanMember[], task: string): PlanMember | undefined =>
    candidates
      .filter((member) => warmth(member, task) >= 0n)
      .sort((a, b) => {
        const difference = warmth(b, task) - warmth(a, task);
        return difference > 0n ? 1 : difference < 0n ? -1 : compareIds(a.memberId, b.memberId);
      })[0];
  for (const task of ordered) {
    const previous = previousOwner.get(task);
    if (previous !== undefined && load(previous) < ceiling) give(task, previous);
  }
  for (const task of ordered) {
    if (owner.has(task)) continue;
    const warm = warmest(sorted.filter(({ memberId }) => load(memberId) < ceiling), task);
    if (warm) give(task, warm.memberId);
  }
  for (const task of ordered) {
    if (owner.has(task)) continue;
    const target = sorted.filter(({ memberId }) => load(memberId) < ceiling).sort((a, b) => load(a.memberId) - load(b.memberId) || compareIds(a.memberId, b.memberId))[0]!;
    give(task, target.memberId);
  }
  // Every member at ceil(T/N) at most; those below floor(T/N) take from those above it.
  for (const under of sorted) {
    while (load(under.memberId) < floor) {
      const over = sorted.filter(({ memberId }) => load(memberId) > floor).sort((a, b) => load(b.memberId) - load(a.memberId) || compareIds(a.memberId, b.memberId))[0]!;
      const given = plans.get(over.memberId)!.active;
      const moved = given.filter((task) => warmth(under, task) >= 0n).sort((a, b) => (warmth(under, b) > warmth(under, a) ? 1 : -1))[0] ?? given.filter((task) => previousOwner.get(task) !== over.memberId).pop() ?? given[given.length - 1]!;
      given.splice(given.indexOf(moved), 1);
      give(moved, under.memberId);
    }
  }
  for (const plan of plans.values()) plan.active.sort(compareIds);
  const replicas = Math.min(Math.max(0, options.standbyReplicas), sorted.length - 1);
  if (replicas === 0) return plans;
  /** Per member: how many standbys it holds of each owner's tasks. */
  const byOwner = new Map<string, Map<string, number>>(sorted.map(({ memberId }) => [memberId, new Map()]));
  for (const task of ordered) {
    if (!options.stateful(task)) continue;
    const taskOwner = owner.get(task)!;
    const candidates = sorted
      .filter(({ memberId }) => memberId !== taskOwner)
      .sort((a, b) => {
        const spread = (byOwner.get(a.memberId)!.get(taskOwner) ?? 0) - (byOwner.get(b.memberId)!.get(taskOwner) ?? 0);
        if (spread !== 0) return spread;
        const busy = load(a.memberId) - load(b.memberId);
        if (busy !== 0) return busy;
        const difference = warmth(b, task) - warmth(a, task);
        if (difference !== 0n) return difference > 0n ? 1 : -1;
        return plans.get(a.memberId)!.standby.length - plans.get(b.memberId)!.standby.length || compareIds(a.memberId, b.memberId);
      });
    for (const { memberId } of candidates.slice(0, replicas)) {
      plans.get(memberId)!.standby.push(task);
      const counts = byOwner.get(memberId)!;
      counts.set(taskOwner, (counts.get(taskOwner) ?? 0) + 1);
    }
  }
  return plans;
}

/**
 * The member index Kafka's (and librdkafka's) `range` assignor gives partition `partition` of a topic with
 * `partitions` partitions, over `members` members sorted by member id: each gets a contiguous range, the first
 * `partitions % members` one partition more.
 */
export function rangeMemberIndex(partition: number, partitions: number, members: number): number {
  const per = Math.floor(partitions / members);
  const extra = partitions % members;
  // The first `extra` members hold per + 1 partitions each.
  const boundary = extra * (per + 1);
  return partition < boundary ? Math.floor(partition / (per + 1)) : per === 0 ? -1 : extra + Math.floor((partition - boundary) / per);
}

/** A member of the group as described: its id and the partitions it owns. */
export interface RangeMember {
  memberId: string;
  assignment: Assignment;
}

/**
 * Standby placement under librdkafka's `range` assignor, which LightStreams cannot change: for each stateful task,
 * the members range would move it to when one member leaves — first when its owner leaves (so that a single failure
 * of the owner lands on a warm copy), then when any other member leaves (range shifts its ranges: a task can move
 * although its owner stays) — then the other members by id; the first min(replicas, N - 1) of them, never the owner.
 * A task is named by `taskOf(topic, partition)` of its first topic (co-partitioned topics: range gives partition p of
 * each to the same member).
 */
export function rangeStandbys(members: readonly RangeMember[], taskOf: (topic: string, partition: number) => string, stateful: (task: string) => boolean, replicas: number): Map<string, string[]> {
  const ids = members.map(({ memberId }) => memberId).sort(compareIds);
  const standbys = new Map<string, string[]>(ids.map((id) => [id, []]));
  const wanted = Math.min(Math.max(0, replicas), ids.length - 1);
  if (wanted === 0) return standbys;
  /** Per topic: its partition count (as the group sees it: the partitions assigned) and each partition's owner. */
  const owners = new Map<string, Map<number, string>>();
  for (const { memberId, assignment } of members) {
    for (const { topic, partitions } of assignment) {
      let topicOwners = owners.get(topic);
      if (!topicOwners) owners.set(topic, (topicOwners = new Map()));
      for (const partition of partitions) topicOwners.set(partition, memberId);
    }
  }
  const seen = new Set<string>();
  for (const topic of [...owners.keys()].sort(compareIds)) {
    const topicOwners = owners.get(topic)!;
    const partitions = Math.max(...topicOwners.keys()) + 1;
    for (const [partition, owner] of [...topicOwners].sort(([a], [b]) => a - b)) {
      const task = taskOf(topic, partition);
      if (seen.has(task) || !stateful(task)) continue;
      seen.add(task);
      const without = (leaving: string): string | undefined => {
        const rest = ids.filter((id) => id !== leaving);
        return rest[rangeMemberIndex(partition, partitions, rest.length)];
      };
      const order: string[] = [];
      const add = (id: string | undefined): void => {
        if (id !== undefined && id !== owner && !order.includes(id)) order.push(id);
      };
      add(without(owner));
      for (const leaving of ids) if (leaving !== owner) add(without(leaving));
      for (const id of ids) add(id);
      for (const id of order.slice(0, wanted)) standbys.get(id)!.push(task);
    }
  }
  return standbys;
}
