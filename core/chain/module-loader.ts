import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LightError, reasonOf } from '../errors/light-error.js';
import type { HandlerModule } from './handler.js';
import type { HandlerSpec } from './handler-spec.js';

/**
 * The handler modules a service can name without a path: the package entry hands the engine its built-ins
 * (the built-in table of the handlers folder), each imported only when a handler.yml names it.
 */
export interface HandlerCatalog {
  builtins: Readonly<Record<string, () => Promise<unknown>>>;
  /** The built-in put in front of consume chains that name no consume transport. */
  consumeTransport: string;
}

/** An empty catalog: only modules by path, package or registered in code. */
export const NO_BUILTINS: HandlerCatalog = { builtins: {}, consumeTransport: 'kafka/consumer' };

export interface ModuleLoadContext {
  /** handler.yml's path, for errors. */
  file: string;
  /** The key of the entry, for errors (e.g. `handlers[3]`). */
  key: string;
  /** Folder that relative module paths and packages resolve from. */
  baseDir: string;
  /** Modules the service registered programmatically, by name; they win over built-ins. */
  registered: ReadonlyMap<string, unknown>;
  catalog: HandlerCatalog;
}

/** Loads the module a handler.yml entry names and checks it has the handler contract's shape. */
export async function loadHandlerModule(spec: HandlerSpec, context: ModuleLoadContext): Promise<HandlerModule> {
  const loaded = await importModule(spec, context);
  const exported = pickExport(loaded, spec, context);
  return normalizeModule(exported, spec, context);
}

async function importModule(spec: HandlerSpec, context: ModuleLoadContext): Promise<unknown> {
  if (context.registered.has(spec.module)) return { default: context.registered.get(spec.module) };
  try {
    if (spec.kind === 'builtin') {
      const load = context.catalog.builtins[spec.module];
      if (!load) throw new Error(`no built-in handler named ${spec.module}`);
      return await load();
    }
    if (spec.kind === 'path') return await import(pathToFileURL(resolve(context.baseDir, spec.module)).href);
    return await import(resolvePackage(spec.module, context.baseDir));
  } catch (error) {
    throw new LightError('ERR13008', { file: context.file, key: context.key, module: spec.module, reason: reasonOf(error) }, { cause: error });
  }
}

/** A package is looked up from the config folder first (the service's node_modules), then from light-kafka's. */
function resolvePackage(name: string, baseDir: string): string {
  try {
    return pathToFileURL(createRequire(join(baseDir, 'handler.yml')).resolve(name)).href;
  } catch {
    return name;
  }
}

function pickExport(loaded: unknown, spec: HandlerSpec, context: ModuleLoadContext): unknown {
  const namespace = loaded as Record<string, unknown>;
  const name = spec.exportName ?? 'default';
  const exported = namespace[name];
  if (exported === undefined) {
    throw new LightError('ERR13009', { file: context.file, key: context.key, module: spec.module, reason: `has no export named ${name}` });
  }
  return exported;
}

function normalizeModule(exported: unknown, spec: HandlerSpec, context: ModuleLoadContext): HandlerModule {
  if (typeof exported === 'function') {
    return { name: exported.name || spec.alias, create: exported as HandlerModule['create'] };
  }
  const candidate = exported as Partial<HandlerModule> | null;
  if (candidate && typeof candidate === 'object' && typeof candidate.create === 'function') {
    return { ...candidate, name: candidate.name ?? spec.alias } as HandlerModule;
  }
  throw new LightError('ERR13009', {
    file: context.file,
    key: context.key,
    module: spec.module,
    reason: 'exports neither a handler factory function nor a module with a create(config, services) function',
  });
}
