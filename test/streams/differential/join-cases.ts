// The LightStreams side of the join cases of the differential tests (their inputs and the Kafka Streams side:
// pending-inputs.ts, Topologies.java). Canonical output (as Topologies.java writes it): key `<key>`; value a JSON
// object, or null (a tombstone) where a joined table deletes the key. A side without a record is null in the output:
// Kafka Streams' joiners get null for it, LightStreams' get undefined, and `pair` writes both as null.
import { JoinWindows } from '../../../index.js';
import type { DifferentialCase, LightContext } from '../../support/differential/harness.js';
import type { Value } from './cases.js';
import { streamGlobalJoin, streamStreamJoin, tableTableJoin } from './pending-inputs.js';

/** The ids of the records a join joined (null for a side without a record). */
const pair = (l: Value | null | undefined, r: Value | null | undefined): { l: string | null; r: string | null } => ({ l: l?.id ?? null, r: r?.id ?? null });

/** Two streams joined within JoinWindows.ofTimeDifferenceAndGrace: inner, left, outer. */
export function streamStreamJoinTopology({ builder, topic, out, params }: LightContext): void {
  const left = builder.stream<string, Value | null>(topic('left'));
  const right = builder.stream<string, Value | null>(topic('right'));
  const windows = JoinWindows.ofTimeDifferenceAndGrace(params.differenceMs!, params.graceMs!);
  left.join(right, pair, windows, { name: 'inner' }).to(out('inner'));
  left.leftJoin(right, pair, windows, { name: 'left' }).to(out('left'));
  left.outerJoin(right, pair, windows, { name: 'outer' }).to(out('outer'));
}

/** Two tables joined: inner, left, outer (a tombstone where the join has no result any more). */
export function tableTableJoinTopology({ builder, topic, out }: LightContext): void {
  const left = builder.table<string, Value>(topic('left'), { store: 'left' });
  const right = builder.table<string, Value>(topic('right'), { store: 'right' });
  const joined = (value: { l: string | null; r: string | null } | null | undefined): { l: string | null; r: string | null } | null => value ?? null;
  left.join(right, pair, { store: 'inner' }).toStream().mapValues(joined).to(out('inner'));
  left.leftJoin(right, pair, { store: 'left-join' }).toStream().mapValues(joined).to(out('left'));
  left.outerJoin(right, pair, { store: 'outer' }).toStream().mapValues(joined).to(out('outer'));
}

/** A stream joined with a global table through a key selector (the value's ref): inner and left. */
export function streamGlobalJoinTopology({ builder, topic, out }: LightContext): void {
  const global = builder.globalTable<string, Value>(topic('global'), { store: 'global' });
  const stream = builder.stream<string, Value | null>(topic('in'));
  const ref = (_key: string | null, value: Value | null): string | null => value?.ref ?? null;
  const joined = (value: Value | null, globalValue: Value | null | undefined): { s: string | null; g: string | null } => ({ s: value?.id ?? null, g: globalValue?.id ?? null });
  stream.join(global, ref, joined).to(out('inner'));
  stream.leftJoin(global, ref, joined).to(out('left'));
}

export const JOIN_CASES: DifferentialCase[] = [
  { ...streamStreamJoin, light: streamStreamJoinTopology },
  { ...tableTableJoin, light: tableTableJoinTopology },
  { ...streamGlobalJoin, light: streamGlobalJoinTopology },
];
