import type { Direction } from '../exchange.js';
import type { ChainHandler } from './handler.js';

export interface ChainRoute {
  direction: Direction;
  /** Exact topic name, or a pattern matched against the whole name. */
  topic: string | RegExp;
  handlers: readonly ChainHandler[];
  /** Where it was declared, for logs (e.g. `topics[2]`). */
  source: string;
}

/**
 * The handlers of each topic and direction, resolved once at start. A lookup is one map read; a topic that
 * matches a pattern (or only the default) is resolved on first use and cached.
 */
export class ChainTable {
  private readonly exact = new Map<string, ChainRoute>();
  private readonly patterns: ChainRoute[] = [];
  private readonly cache = new Map<string, ChainRoute | null>();

  constructor(
    routes: readonly ChainRoute[],
    private readonly defaults: Partial<Record<Direction, ChainRoute>>,
  ) {
    for (const route of routes) {
      if (typeof route.topic === 'string') {
        const key = keyOf(route.direction, route.topic);
        if (!this.exact.has(key)) this.exact.set(key, route);
      } else {
        this.patterns.push(route);
      }
    }
  }

  /** The route for a topic: an exact entry, else the first matching pattern in file order, else the default. */
  resolve(direction: Direction, topic: string): ChainRoute | undefined {
    const key = keyOf(direction, topic);
    const exact = this.exact.get(key);
    if (exact) return exact;
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached ?? undefined;
    const found = this.patterns.find((route) => route.direction === direction && (route.topic as RegExp).test(topic)) ?? this.defaults[direction];
    this.cache.set(key, found ?? null);
    return found;
  }

  /** Every declared route in file order, then the defaults (for listing what handler.yml resolves to). */
  routes(): { route: ChainRoute; isDefault: boolean }[] {
    const declared = [...this.exact.values(), ...this.patterns].map((route) => ({ route, isDefault: false }));
    const defaults = Object.values(this.defaults)
      .filter((route): route is ChainRoute => route !== undefined)
      .map((route) => ({ route, isDefault: true }));
    return [...declared, ...defaults];
  }

  /** Exact topics declared for a direction (what a consumer may subscribe to). */
  topics(direction: Direction): string[] {
    return [...this.exact.values()].filter((route) => route.direction === direction).map((route) => route.topic as string);
  }
}

function keyOf(direction: Direction, topic: string): string {
  return `${direction}\u0000${topic}`;
}
