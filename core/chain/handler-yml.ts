import type { Direction } from '../exchange.js';

/** handler.yml as written. Order in a list is order of execution. */
export interface HandlerYml {
  handlers: string[];
  chains?: Record<string, string[]>;
  topics?: TopicEntry[];
  defaultHandlers?: Partial<Record<Direction, string[]>>;
}

export interface TopicEntry {
  topic: string;
  pattern?: boolean;
  direction: Direction;
  exec: string[];
}

const aliasList = { type: 'array', items: { type: 'string', minLength: 1 } };

export const HANDLER_YML_SCHEMA = {
  type: 'object',
  required: ['handlers'],
  additionalProperties: false,
  properties: {
    handlers: aliasList,
    chains: { type: 'object', additionalProperties: aliasList },
    topics: {
      type: 'array',
      items: {
        type: 'object',
        required: ['topic', 'direction', 'exec'],
        additionalProperties: false,
        properties: {
          topic: { type: 'string', minLength: 1 },
          pattern: { type: 'boolean', default: false },
          direction: { enum: ['produce', 'consume'] },
          exec: aliasList,
        },
      },
    },
    defaultHandlers: {
      type: 'object',
      additionalProperties: false,
      properties: { produce: aliasList, consume: aliasList },
    },
  },
} as const;
