import { dirname } from 'node:path';
import type { ConfigLoader } from '../config/loader.js';
import { LightError } from '../errors/light-error.js';
import type { Direction } from '../exchange.js';
import { ChainTable, type ChainRoute } from './chain-table.js';
import { transportKind, type ChainHandler, type HandlerModule, type HandlerServices } from './handler.js';
import { parseHandlerSpec, type HandlerSpec } from './handler-spec.js';
import { HANDLER_YML_SCHEMA, type HandlerYml } from './handler-yml.js';
import { loadHandlerModule, type HandlerCatalog } from './module-loader.js';

/** The alias of the consume transport added in front of consume chains that name none. */
export const IMPLICIT_CONSUME_TRANSPORT = '(consume transport)';

interface DeclaredHandler {
  spec: HandlerSpec;
  key: string;
  module: HandlerModule;
}

/** One flattened exec list with where it came from. */
interface ExecList {
  key: string;
  direction: Direction;
  aliases: string[];
}

/** Where a handler of the chains came from, for `light-kafka chains` (light-4j lists its chains the same way). */
export interface HandlerOrigin {
  alias: string;
  /** handler.yml's entry for it, e.g. `validation/json-schema@schema` (the implicit consume transport: its module). */
  entry: string;
  kind: HandlerSpec['kind'];
  /** The config file it was created from; undefined when no file exists and its schema's defaults apply. */
  configFile: string | undefined;
}

export interface BuiltChains {
  table: ChainTable;
  /** Each handler instance of the table -> where it came from. */
  origins: ReadonlyMap<ChainHandler, HandlerOrigin>;
  /** The handler.yml the chains came from. */
  file: string;
  /** Aliases dropped because their config said `enabled: false`. */
  disabled: string[];
}

/**
 * Reads handler.yml, loads every declared handler module, checks the chains, and composes each topic's
 * handler list once. Every mistake is a startup error naming the file, the key and the alias.
 */
export async function buildChains(
  loader: ConfigLoader,
  services: HandlerServices,
  catalog: HandlerCatalog,
  registered: ReadonlyMap<string, unknown> = new Map(),
): Promise<BuiltChains> {
  const { config: yml, file: found } = loader.load<HandlerYml>('handler', { schema: HANDLER_YML_SCHEMA, required: true });
  const file = found!;
  const declared = await declareHandlers(yml, file, catalog, registered);
  const chains = yml.chains ?? {};
  for (const name of Object.keys(chains)) {
    if (declared.has(name)) throw new LightError('ERR13012', { file, key: `chains.${name}`, alias: name });
  }

  const execLists = collectExecLists(yml, file, declared, chains);
  for (const list of execLists) checkExecList(list, file, declared);
  await addConsumeTransport(execLists, declared, file, catalog, registered);

  const { instances, disabled, origins } = await instantiate(declared, loader, services, file);
  for (const list of execLists) {
    const transport = list.aliases.find((alias) => transportKind(declared.get(alias)!.module) && disabled.includes(alias));
    if (transport) {
      const module = declared.get(transport)!.spec.module;
      throw new LightError('ERR13009', { file, key: list.key, module, reason: `(alias ${transport}) is a transport and cannot be disabled by enabled: false` });
    }
  }

  const enabled = (aliases: string[]): string[] => aliases.filter((alias) => !disabled.includes(alias));
  const toHandlers = (aliases: string[]): ChainHandler[] => enabled(aliases).map((alias) => instances.get(alias)!);
  const routes: ChainRoute[] = (yml.topics ?? []).map((entry, index) => {
    const aliases = execLists.find((list) => list.key === `topics[${index}].exec`)!.aliases;
    return {
      direction: entry.direction,
      topic: entry.pattern ? new RegExp(`^(?:${entry.topic})$`) : entry.topic,
      handlers: toHandlers(aliases),
      source: `topics[${index}]`,
    };
  });
  const defaults: Partial<Record<Direction, ChainRoute>> = {};
  for (const direction of ['produce', 'consume'] as const) {
    const list = execLists.find((candidate) => candidate.key === `defaultHandlers.${direction}`);
    if (list) defaults[direction] = { direction, topic: /.*/, handlers: toHandlers(list.aliases), source: list.key };
  }
  // A consumed topic no entry names still gets its records decoded.
  defaults.consume ??= { direction: 'consume', topic: /.*/, handlers: toHandlers(consumeTransportOnly(declared)), source: 'consume transport' };
  return { table: new ChainTable(routes, defaults), origins, file, disabled };
}

async function declareHandlers(
  yml: HandlerYml,
  file: string,
  catalog: HandlerCatalog,
  registered: ReadonlyMap<string, unknown>,
): Promise<Map<string, DeclaredHandler>> {
  const declared = new Map<string, DeclaredHandler>();
  const baseDir = dirname(file);
  for (const [index, raw] of yml.handlers.entries()) {
    const key = `handlers[${index}]`;
    const spec = parseHandlerSpec(raw, (name) => registered.has(name) || Object.hasOwn(catalog.builtins, name));
    if (declared.has(spec.alias)) throw new LightError('ERR13012', { file, key, alias: spec.alias });
    const module = await loadHandlerModule(spec, { file, key, baseDir, registered, catalog });
    declared.set(spec.alias, { spec, key, module });
  }
  return declared;
}

/** Expands chain names in every exec list, keeping order. Unknown names are reported with their key. */
function collectExecLists(
  yml: HandlerYml,
  file: string,
  declared: ReadonlyMap<string, DeclaredHandler>,
  chains: Record<string, string[]>,
): ExecList[] {
  const expand = (names: string[], key: string, seen: string[]): string[] =>
    names.flatMap((name, index) => {
      if (declared.has(name)) return [name];
      const chain = chains[name];
      if (!chain) throw new LightError('ERR13004', { file, key: `${key}[${index}]`, alias: name });
      if (seen.includes(name)) throw new LightError('ERR13004', { file, key: `${key}[${index}]`, alias: `${name} (chain includes itself)` });
      return expand(chain, `chains.${name}`, [...seen, name]);
    });

  const lists: ExecList[] = [];
  for (const [name, chain] of Object.entries(chains)) expand(chain, `chains.${name}`, [name]);
  for (const [index, entry] of (yml.topics ?? []).entries()) {
    const key = `topics[${index}].exec`;
    lists.push({ key, direction: entry.direction, aliases: expand(entry.exec, key, []) });
  }
  for (const direction of ['produce', 'consume'] as const) {
    const names = yml.defaultHandlers?.[direction];
    if (names) lists.push({ key: `defaultHandlers.${direction}`, direction, aliases: expand(names, `defaultHandlers.${direction}`, []) });
  }
  return lists;
}

function checkExecList(list: ExecList, file: string, declared: ReadonlyMap<string, DeclaredHandler>): void {
  const { key, aliases, direction } = list;
  if (aliases.length === 0 && direction === 'produce') throw new LightError('ERR13005', { file, key });
  if (aliases.length === 0 && key.startsWith('topics')) throw new LightError('ERR13005', { file, key });
  const seen = new Set<string>();
  for (const alias of aliases) {
    if (seen.has(alias)) throw new LightError('ERR13007', { file, key, alias });
    seen.add(alias);
  }
  const kind = (alias: string): 'produce' | 'consume' | undefined => transportKind(declared.get(alias)!.module);
  if (direction === 'produce') {
    const last = aliases[aliases.length - 1]!;
    if (kind(last) !== 'produce') throw new LightError('ERR13006', { file, key, alias: last });
  }
  for (const [index, alias] of aliases.entries()) {
    const role = kind(alias);
    if (role === 'produce' && (direction === 'consume' || index !== aliases.length - 1)) {
      throw new LightError('ERR13009', { file, key, module: alias, reason: 'is a produce transport: it may only stand last in a produce chain' });
    }
    if (role === 'consume' && (direction === 'produce' || index !== 0)) {
      throw new LightError('ERR13009', { file, key, module: alias, reason: 'is a consume transport: it may only stand first in a consume chain' });
    }
  }
}

/**
 * Every consume chain begins with a consume transport. One that names none gets the consume transport handler.yml
 * declares, or the built-in one (kafka/consumer) declared implicitly.
 */
async function addConsumeTransport(
  lists: ExecList[],
  declared: Map<string, DeclaredHandler>,
  file: string,
  catalog: HandlerCatalog,
  registered: ReadonlyMap<string, unknown>,
): Promise<void> {
  const consumeLists = lists.filter((list) => list.direction === 'consume');
  const isConsumeTransport = (alias: string | undefined): boolean => alias !== undefined && transportKind(declared.get(alias)!.module) === 'consume';
  let transport = [...declared.keys()].find(isConsumeTransport);
  if (!transport) {
    const spec = parseHandlerSpec(`${catalog.consumeTransport}@${IMPLICIT_CONSUME_TRANSPORT}`, () => true);
    const module = await loadHandlerModule(spec, { file, key: 'handlers', baseDir: dirname(file), registered, catalog });
    if (transportKind(module) !== 'consume') {
      throw new LightError('ERR13009', { file, key: 'handlers', module: spec.module, reason: 'is not a consume transport' });
    }
    declared.set(IMPLICIT_CONSUME_TRANSPORT, { spec, key: 'handlers', module });
    transport = IMPLICIT_CONSUME_TRANSPORT;
  }
  for (const list of consumeLists) if (!isConsumeTransport(list.aliases[0])) list.aliases.unshift(transport);
}

function consumeTransportOnly(declared: ReadonlyMap<string, DeclaredHandler>): string[] {
  return [...declared.keys()].filter((alias) => transportKind(declared.get(alias)!.module) === 'consume').slice(0, 1);
}

/** Loads each handler's own config; drops those with `enabled: false`; calls the factories once. */
async function instantiate(
  declared: ReadonlyMap<string, DeclaredHandler>,
  loader: ConfigLoader,
  services: HandlerServices,
  file: string,
): Promise<{ instances: Map<string, ChainHandler>; disabled: string[]; origins: Map<ChainHandler, HandlerOrigin> }> {
  const instances = new Map<string, ChainHandler>();
  const origins = new Map<ChainHandler, HandlerOrigin>();
  const disabled: string[] = [];
  for (const [alias, { module, key, spec }] of declared) {
    const configName = module.configName ?? alias;
    const { config, file: configFile } = loader.load<Record<string, unknown>>(configName, {
      ...(module.configSchema ? { schema: module.configSchema } : {}),
      ...(module.defaultConfigDir ? { defaultDir: module.defaultConfigDir } : {}),
    });
    if (config.enabled === false) {
      disabled.push(alias);
      continue;
    }
    const handler = await module.create(config, services);
    const problem = handlerProblem(handler);
    if (problem) throw new LightError('ERR13009', { file, key, module: spec.module, reason: problem });
    instances.set(alias, handler);
    origins.set(handler, { alias, entry: alias === IMPLICIT_CONSUME_TRANSPORT ? spec.module : spec.raw, kind: spec.kind, configFile });
  }
  return { instances, disabled, origins };
}

const PHASES = ['beginBatch', 'before', 'after', 'endBatch'] as const;

/** Why a factory's result is no handler: neither a function nor an object of phase functions. */
function handlerProblem(handler: unknown): string | undefined {
  if (typeof handler === 'function') return undefined;
  if (typeof handler !== 'object' || handler === null) return 'factory did not return a handler (a function or an object of phases)';
  const phases = handler as Record<string, unknown>;
  const present = PHASES.filter((phase) => phases[phase] !== undefined);
  if (present.length === 0) return `factory returned an object with none of the phases ${PHASES.join(', ')}`;
  const notFunction = present.find((phase) => typeof phases[phase] !== 'function');
  return notFunction ? `phase ${notFunction} is not a function` : undefined;
}
