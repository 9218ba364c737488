import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import avro from 'avsc';

/**
 * A Confluent Schema Registry REST API on loopback for the tests (no Confluent-compatible registry can be had
 * from npm, Maven Central or Debian here; see the README). It covers what Avro clients use:
 *
 *   GET  /subjects                              GET  /subjects/{s}/versions
 *   GET  /subjects/{s}/versions/{v|latest}      POST /subjects/{s}/versions        register (compatibility-checked)
 *   POST /subjects/{s}                          look a schema up under a subject
 *   GET  /schemas/ids/{id}                      GET|PUT /config, GET|PUT /config/{s}
 *   POST /compatibility/subjects/{s}/versions/{v|latest}
 *
 * Ids are global and one per distinct schema (by Avro parsing canonical form). Compatibility levels BACKWARD,
 * FORWARD, FULL (and _TRANSITIVE) and NONE are checked for real: "reader can read writer" means avsc can build
 * a resolver from the writer's type to the reader's. Error bodies use Confluent's error codes.
 */
export class TestSchemaRegistry {
  private readonly schemasById = new Map<number, { text: string; type: avro.Type }>();
  private readonly idsByCanonical = new Map<string, number>();
  private readonly subjects = new Map<string, number[]>(); // subject -> ids, index = version - 1
  private readonly subjectConfig = new Map<string, string>();
  private globalCompatibility = 'BACKWARD';
  private nextId = 1;
  requests = 0;

  private constructor(
    private readonly server: Server,
    private readonly credentials?: { username: string; password: string },
  ) {}

  static async start(options: { credentials?: { username: string; password: string } } = {}): Promise<TestSchemaRegistry> {
    let registry!: TestSchemaRegistry;
    const server = createServer((request, response) => {
      registry.handle(request, response).catch((error: Error) => reply(response, 500, { error_code: 50001, message: error.message }));
    });
    registry = new TestSchemaRegistry(server, options.credentials);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return registry;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    this.requests += 1;
    if (this.credentials && request.headers.authorization !== basic(this.credentials)) {
      return reply(response, 401, { error_code: 40101, message: 'Unauthorized' });
    }
    const method = request.method ?? 'GET';
    const path = decodeURIComponent((request.url ?? '/').split('?')[0]!);
    const body = method === 'POST' || method === 'PUT' ? await readJson(request) : undefined;
    let match: RegExpExecArray | null;

    if (method === 'GET' && path === '/subjects') return reply(response, 200, [...this.subjects.keys()]);
    if ((match = /^\/schemas\/ids\/(\d+)$/.exec(path)) && method === 'GET') {
      const schema = this.schemasById.get(Number(match[1]));
      return schema ? reply(response, 200, { schema: schema.text }) : reply(response, 404, { error_code: 40403, message: 'Schema not found' });
    }
    if (path === '/config') {
      if (method === 'PUT') this.globalCompatibility = String((body as { compatibility: string }).compatibility);
      return reply(response, 200, method === 'PUT' ? { compatibility: this.globalCompatibility } : { compatibilityLevel: this.globalCompatibility });
    }
    if ((match = /^\/config\/(.+)$/.exec(path))) {
      const subject = match[1]!;
      if (method === 'PUT') {
        const level = String((body as { compatibility: string }).compatibility).toUpperCase();
        if (!LEVELS.includes(level)) return reply(response, 422, { error_code: 42203, message: `Invalid compatibility level ${level}` });
        this.subjectConfig.set(subject, level);
        return reply(response, 200, { compatibility: level });
      }
      const level = this.subjectConfig.get(subject);
      return level ? reply(response, 200, { compatibilityLevel: level }) : reply(response, 404, { error_code: 40408, message: `Subject '${subject}' does not have subject-level compatibility configured` });
    }
    if ((match = /^\/subjects\/([^/]+)\/versions$/.exec(path))) {
      const subject = match[1]!;
      if (method === 'GET') {
        const ids = this.subjects.get(subject);
        return ids ? reply(response, 200, ids.map((_, index) => index + 1)) : subjectNotFound(response, subject);
      }
      return this.register(subject, body, response);
    }
    if ((match = /^\/subjects\/([^/]+)\/versions\/([^/]+)$/.exec(path)) && method === 'GET') {
      const found = this.version(match[1]!, match[2]!);
      if ('error' in found) return reply(response, 404, found.error);
      return reply(response, 200, { subject: match[1], version: found.version, id: found.id, schema: this.schemasById.get(found.id)!.text });
    }
    if ((match = /^\/subjects\/([^/]+)$/.exec(path)) && method === 'POST') {
      const subject = match[1]!;
      const ids = this.subjects.get(subject);
      if (!ids) return subjectNotFound(response, subject);
      const parsed = parse(body);
      if ('error' in parsed) return reply(response, 422, parsed.error);
      const id = this.idsByCanonical.get(parsed.canonical);
      const index = id === undefined ? -1 : ids.indexOf(id);
      if (index < 0) return reply(response, 404, { error_code: 40403, message: 'Schema not found' });
      return reply(response, 200, { subject, version: index + 1, id, schema: this.schemasById.get(id!)!.text });
    }
    if ((match = /^\/compatibility\/subjects\/([^/]+)\/versions\/([^/]+)$/.exec(path)) && method === 'POST') {
      const parsed = parse(body);
      if ('error' in parsed) return reply(response, 422, parsed.error);
      const found = this.version(match[1]!, match[2]!);
      if ('error' in found) return reply(response, 404, found.error);
      const level = this.subjectConfig.get(match[1]!) ?? this.globalCompatibility;
      return reply(response, 200, { is_compatible: compatible(parsed.type, [this.schemasById.get(found.id)!.type], level.replace('_TRANSITIVE', '')) });
    }
    reply(response, 404, { error_code: 404, message: `${method} ${path} is not part of this test registry` });
  }

  private register(subject: string, body: unknown, response: ServerResponse): void {
    const parsed = parse(body);
    if ('error' in parsed) return reply(response, 422, parsed.error);
    const ids = this.subjects.get(subject) ?? [];
    const existing = this.idsByCanonical.get(parsed.canonical);
    if (existing !== undefined && ids.includes(existing)) return reply(response, 200, { id: existing });
    const level = this.subjectConfig.get(subject) ?? this.globalCompatibility;
    const earlier = ids.map((id) => this.schemasById.get(id)!.type);
    const against = level.endsWith('_TRANSITIVE') ? earlier : earlier.slice(-1);
    if (!compatible(parsed.type, against, level.replace('_TRANSITIVE', ''))) {
      return reply(response, 409, { error_code: 409, message: `Schema being registered is incompatible with an earlier schema for subject "${subject}" (${level})` });
    }
    let id = existing;
    if (id === undefined) {
      id = this.nextId++;
      this.idsByCanonical.set(parsed.canonical, id);
      this.schemasById.set(id, { text: parsed.text, type: parsed.type });
    }
    this.subjects.set(subject, [...ids, id]);
    reply(response, 200, { id });
  }

  private version(subject: string, version: string): { id: number; version: number } | { error: object } {
    const ids = this.subjects.get(subject);
    if (!ids) return { error: { error_code: 40401, message: `Subject '${subject}' not found.` } };
    const number = version === 'latest' ? ids.length : Number(version);
    const id = ids[number - 1];
    return id === undefined ? { error: { error_code: 40402, message: `Version ${version} not found.` } } : { id, version: number };
  }
}

const LEVELS = ['BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD', 'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE', 'NONE'];

function canRead(reader: avro.Type, writer: avro.Type): boolean {
  try {
    reader.createResolver(writer);
    return true;
  } catch {
    return false;
  }
}

/** BACKWARD: the new schema reads data written with the old ones; FORWARD: the old ones read the new; FULL: both. */
function compatible(candidate: avro.Type, earlier: avro.Type[], level: string): boolean {
  return earlier.every((old) => {
    if (level === 'BACKWARD') return canRead(candidate, old);
    if (level === 'FORWARD') return canRead(old, candidate);
    if (level === 'FULL') return canRead(candidate, old) && canRead(old, candidate);
    return true;
  });
}

function parse(body: unknown): { text: string; type: avro.Type; canonical: string } | { error: object } {
  const { schema, schemaType } = (body ?? {}) as { schema?: unknown; schemaType?: string };
  if (schemaType && schemaType !== 'AVRO') return { error: { error_code: 42201, message: `Only AVRO schemas are supported here, got ${schemaType}` } };
  if (typeof schema !== 'string') return { error: { error_code: 42201, message: 'Request body needs a schema string' } };
  try {
    const type = avro.Type.forSchema(JSON.parse(schema));
    return { text: schema, type, canonical: JSON.stringify(type.schema()) };
  } catch (error) {
    return { error: { error_code: 42201, message: `Invalid schema: ${(error as Error).message}` } };
  }
}

function subjectNotFound(response: ServerResponse, subject: string): void {
  reply(response, 404, { error_code: 40401, message: `Subject '${subject}' not found.` });
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/vnd.schemaregistry.v1+json' });
  response.end(JSON.stringify(body));
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

function basic({ username, password }: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}
