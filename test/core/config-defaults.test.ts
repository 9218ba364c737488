import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { resolvePlaceholders } from '../../core/config/placeholders.js';
import { ConfigSchemaValidator } from '../../core/config/schema-validator.js';
import { KAFKA_CONSUMER_SCHEMA, KAFKA_PRODUCER_SCHEMA } from '../../core/kafka/client-config.js';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import { SERVICE_SCHEMA } from '../../core/service-config.js';
import { AUDIT_SCHEMA } from '../../handlers/audit/config.js';
import { CORRELATION_SCHEMA } from '../../handlers/correlation/config.js';
import { METRICS_SCHEMA } from '../../handlers/metrics/config.js';
import { SECURITY_SCHEMA } from '../../handlers/security/config.js';
import { TRACING_SCHEMA } from '../../handlers/tracing/config.js';
import { AVRO_SCHEMA } from '../../handlers/validation/avro/config.js';
import { SCHEMA_REGISTRY_SCHEMA } from '../../handlers/validation/avro/schema-registry.js';
import { JSON_SCHEMA_CONFIG_SCHEMA } from '../../handlers/validation/json-schema/config.js';

interface JsonSchemaNode {
  type?: string;
  default?: unknown;
  properties?: Record<string, JsonSchemaNode>;
}

/** Every config file the package ships: its default yml, its schema, and the README heading of its table. */
const CONFIGS: { yml: string; schema: object; heading: string; keyColumn?: string }[] = [
  { yml: 'config/service.yml', schema: SERVICE_SCHEMA, heading: '### service.yml' },
  { yml: 'config/kafka-producer.yml', schema: KAFKA_PRODUCER_SCHEMA, heading: '### kafka-producer.yml' },
  { yml: 'config/kafka-consumer.yml', schema: KAFKA_CONSUMER_SCHEMA, heading: '### kafka-consumer.yml' },
  { yml: 'handlers/correlation/correlation.yml', schema: CORRELATION_SCHEMA, heading: '### correlation.yml' },
  { yml: 'handlers/security/security.yml', schema: SECURITY_SCHEMA, heading: '### security.yml' },
  { yml: 'handlers/audit/audit.yml', schema: AUDIT_SCHEMA, heading: '### audit.yml' },
  { yml: 'handlers/metrics/metrics.yml', schema: METRICS_SCHEMA, heading: '### metrics.yml' },
  { yml: 'handlers/tracing/tracing.yml', schema: TRACING_SCHEMA, heading: '## Tracing' },
  { yml: 'handlers/validation/json-schema/json-schema.yml', schema: JSON_SCHEMA_CONFIG_SCHEMA, heading: '### json-schema.yml' },
  { yml: 'handlers/validation/avro/avro.yml', schema: AVRO_SCHEMA, heading: '### avro.yml', keyColumn: 'avro.yml key' },
  { yml: 'handlers/validation/avro/schema-registry.yml', schema: SCHEMA_REGISTRY_SCHEMA, heading: '### avro.yml', keyColumn: 'schema-registry.yml key' },
];

/** Maps whose defaults the README lists in prose under the table ("see below"), e.g. Kafka's `properties`. */
const PROSE_DEFAULTS = new Set(['properties']);

function rawYml(path: string): Record<string, unknown> {
  return (parse(readFileSync(join(PACKAGE_ROOT, path), 'utf8')) ?? {}) as Record<string, unknown>;
}

/** The leaf keys of a schema, nested objects flattened with dots, with their schema defaults. */
function leaves(schema: JsonSchemaNode, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [key, node] of Object.entries(schema.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (node.properties && !PROSE_DEFAULTS.has(path)) for (const [leaf, value] of leaves(node, path)) out.set(leaf, value);
    else out.set(path, node.default);
  }
  return out;
}

function valueAt(tree: Record<string, unknown>, path: string): unknown {
  return path.split('.').reduce<unknown>((node, key) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined), tree);
}

/** How the README's default column writes a value: the yml's own text for a placeholder, so env overrides show. */
function documented(value: unknown, path: string): string {
  if (PROSE_DEFAULTS.has(path)) return 'see below';
  if (typeof value === 'string') return value === '' ? "`''`" : `\`${value}\``;
  if (Array.isArray(value)) return value.length === 0 ? '`[]`' : `\`[${value.map((item) => String(item)).join(', ')}]\``;
  if (value !== null && typeof value === 'object') return Object.keys(value).length === 0 ? '`{}`' : '`' + JSON.stringify(value) + '`';
  return String(value);
}

/** The rows of the first table after `heading` whose key column is titled `keyColumn`: key -> default cell. */
function readmeTable(readme: string, heading: string, keyColumn = 'key'): Map<string, string> {
  const start = readme.split('\n').findIndex((line) => line.startsWith(`${heading} `) || line === heading);
  expect(start, `README has no heading ${heading}`).to.be.greaterThan(-1);
  const lines = readme.split('\n').slice(start);
  const first = lines.findIndex((line) => line.startsWith(`| ${keyColumn} | default |`));
  expect(first, `README: no "| ${keyColumn} | default |" table under ${heading}`).to.be.greaterThan(-1);
  const rows = new Map<string, string>();
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    const cells = line.split(/(?<!\\)\|/).map((cell) => cell.trim());
    rows.set(cells[1]!.replace(/`/g, ''), cells[2]!);
  }
  return rows;
}

describe('config defaults and their documentation', () => {
  const validator = new ConfigSchemaValidator();

  for (const { yml, schema } of CONFIGS) {
    it(`${yml} holds exactly its schema's defaults`, () => {
      const resolved = resolvePlaceholders(rawYml(yml), { values: new Map(), env: {} }, yml) as Record<string, unknown>;
      const fromSchema: Record<string, unknown> = {};
      validator.validate(fromSchema, schema, `${yml} (schema defaults)`);
      validator.validate(resolved, schema, yml);
      for (const key of PROSE_DEFAULTS) {
        // Kafka's client properties: the yml lists them (bootstrap.servers, acks, ...); the schema only says "a map".
        delete resolved[key];
        delete fromSchema[key];
      }
      expect(resolved).to.deep.equal(fromSchema);
    });
  }

  it('the README documents every key of every config file with its default, and nothing else', () => {
    const readme = readFileSync(join(PACKAGE_ROOT, 'README.md'), 'utf8');
    for (const { yml, schema, heading, keyColumn } of CONFIGS) {
      const raw = rawYml(yml);
      const rows = readmeTable(readme, heading, keyColumn);
      const keys = leaves(schema as JsonSchemaNode);
      expect([...rows.keys()].sort(), `${heading}: documented keys`).to.deep.equal([...keys.keys()].sort());
      for (const [key, schemaDefault] of keys) {
        const fromYml = valueAt(raw, key);
        const expected = documented(fromYml !== undefined ? fromYml : schemaDefault, key);
        const cell = rows.get(key)!;
        expect(cell === expected || cell.startsWith(`${expected} `), `${heading} ${key}: default cell "${cell}" should start with ${expected}`).to.equal(true);
      }
    }
  });
});
