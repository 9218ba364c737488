/** One entry of handler.yml `handlers:`: `module@alias`, where module is a built-in name, a path or `package#export`. */
export interface HandlerSpec {
  /** The entry as written. */
  raw: string;
  kind: 'builtin' | 'path' | 'package';
  /** Built-in name, path, or package name (without `#export`). */
  module: string;
  exportName: string | undefined;
  alias: string;
}

export function isPathSpecifier(module: string): boolean {
  return module.startsWith('./') || module.startsWith('../') || module.startsWith('/');
}

/** Parses `module[#export][@alias]`. A scoped package's leading `@` is not an alias separator. */
export function parseHandlerSpec(raw: string, isBuiltin: (name: string) => boolean): HandlerSpec {
  const text = raw.trim();
  const at = text.lastIndexOf('@');
  const hasAlias = at > 0;
  const target = hasAlias ? text.slice(0, at) : text;
  const hash = target.indexOf('#');
  const module = hash >= 0 ? target.slice(0, hash) : target;
  const exportName = hash >= 0 ? target.slice(hash + 1) : undefined;
  const kind = isPathSpecifier(module) ? 'path' : isBuiltin(module) ? 'builtin' : 'package';
  const alias = hasAlias ? text.slice(at + 1) : (exportName ?? defaultAlias(module));
  return { raw, kind, module, exportName, alias };
}

/** The last path segment without its extension: `kafka/producer` -> `producer`, `./h/enrich.js` -> `enrich`. */
function defaultAlias(module: string): string {
  const last = module.split('/').filter(Boolean).pop() ?? module;
  return last.replace(/\.(m?js|cjs|ts)$/, '');
}
