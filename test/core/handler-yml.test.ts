import { BUILTIN_CATALOG } from '../../handlers/index.js';
import { expect } from 'chai';
import { buildChains } from '../../core/chain/chain-builder.js';
import { compose } from '../../core/chain/compose.js';
import { defineHandler } from '../../core/chain/handler.js';
import { ConfigLoader } from '../../core/config/loader.js';
import { LightError } from '../../core/errors/light-error.js';
import { Exchange } from '../../core/exchange.js';
import { configDir } from '../support/config-dir.js';
import { testServices } from '../support/services.js';

const MARK_JS = `export default function mark(config) {
  return async function markHandler(exchange, next) {
    exchange.headers.add('trail', config.label ?? 'mark');
    await next();
  };
}
`;


/** A registered in-code handler that appends its name to the `trail` header. */
function trail(name: string) {
  return defineHandler({
    name,
    create: () =>
      async function trailHandler(exchange, next) {
        exchange.headers.add('trail', name);
        await next();
      },
  });
}

const registered = new Map<string, unknown>([
  ['a', trail('a')],
  ['b', trail('b')],
  ['c', trail('c')],
]);

async function build(files: Record<string, string>) {
  const dir = configDir(files);
  const loader = new ConfigLoader({ configDir: dir, env: {} });
  return { dir, built: await buildChains(loader, testServices(loader), BUILTIN_CATALOG, registered) };
}

async function buildError(files: Record<string, string>): Promise<LightError> {
  try {
    await build(files);
  } catch (error) {
    if (error instanceof LightError) return error;
    throw error;
  }
  throw new Error('expected a startup error');
}

/** Runs the consume chain a topic resolves to and returns the trail it left. */
async function trailOf(built: Awaited<ReturnType<typeof build>>['built'], direction: 'produce' | 'consume', topic: string): Promise<string[]> {
  const route = built.table.resolve(direction, topic);
  if (!route) return [];
  const exchange = new Exchange({ direction: 'consume', topic });
  const handlers = direction === 'produce' ? route.handlers.slice(0, -1) : route.handlers; // skip the transport
  await compose(handlers)(exchange, async () => undefined);
  return exchange.headers.getAll('trail');
}

describe('handler.yml', () => {
  it('runs handlers in the order of exec, expanding chain names', async () => {
    const { built } = await build({
      'handler.yml': `handlers: [a, b, c, kafka/producer@producer]
chains:
  front: [a, b]
topics:
  - topic: orders
    direction: consume
    exec: [front, c]
  - topic: orders
    direction: produce
    exec: [c, a, producer]
`,
    });
    expect(await trailOf(built, 'consume', 'orders')).to.deep.equal(['a', 'b', 'c']);
    expect(await trailOf(built, 'produce', 'orders')).to.deep.equal(['c', 'a']);
  });

  it('matches patterns in file order and falls back to defaultHandlers', async () => {
    const { built } = await build({
      'handler.yml': `handlers: [a, b, c]
topics:
  - topic: 'orders\\..*'
    pattern: true
    direction: consume
    exec: [a]
  - topic: 'orders\\.eu'
    pattern: true
    direction: consume
    exec: [b]
defaultHandlers:
  consume: [c]
`,
    });
    expect(await trailOf(built, 'consume', 'orders.eu')).to.deep.equal(['a']);
    expect(await trailOf(built, 'consume', 'orders.us')).to.deep.equal(['a']);
    expect(await trailOf(built, 'consume', 'payments')).to.deep.equal(['c']);
    expect(built.table.resolve('produce', 'payments')).to.equal(undefined);
  });

  it('loads a custom handler by path relative to the config folder, with its own config file', async () => {
    const { built } = await build({
      'handlers/mark.mjs': MARK_JS,
      'marker.yml': 'label: from-marker-yml\n',
      'handler.yml': `handlers: [./handlers/mark.mjs@marker]
topics:
  - topic: t
    direction: consume
    exec: [marker]
`,
    });
    expect(await trailOf(built, 'consume', 't')).to.deep.equal(['from-marker-yml']);
  });

  it('loads a named export of a package (package#export@alias)', async () => {
    const { built } = await build({
      'node_modules/my-company-handlers/package.json': JSON.stringify({ name: 'my-company-handlers', type: 'module', main: 'index.js' }),
      'node_modules/my-company-handlers/index.js': `export const stamp = { name: 'stamp', create: () => async function stamp(exchange, next) { exchange.headers.add('trail', 'stamped'); await next(); } };\n`,
      'handler.yml': `handlers: [my-company-handlers#stamp@stamp]
defaultHandlers:
  consume: [stamp]
`,
    });
    expect(await trailOf(built, 'consume', 'any')).to.deep.equal(['stamped']);
  });

  it('drops a handler whose config says enabled: false', async () => {
    const { built } = await build({
      'b.yml': 'enabled: false\n',
      'handler.yml': `handlers: [a, b, c]
defaultHandlers:
  consume: [a, b, c]
`,
    });
    expect(built.disabled).to.deep.equal(['b']);
    expect(await trailOf(built, 'consume', 'x')).to.deep.equal(['a', 'c']);
  });

  describe('startup errors name the file, the key and the alias', () => {
    it('unknown alias', async () => {
      const error = await buildError({ 'handler.yml': 'handlers: [a]\ntopics:\n  - topic: t\n    direction: consume\n    exec: [a, nope]\n' });
      expect(error.code).to.equal('ERR13004');
      expect(error.message).to.contain('handler.yml').and.contain('topics[0].exec[1]').and.contain('nope');
    });

    it('an exec that names nothing', async () => {
      const error = await buildError({ 'handler.yml': 'handlers: [a]\ntopics:\n  - topic: t\n    direction: consume\n    exec: []\n' });
      expect(error.code).to.equal('ERR13005');
      expect(error.message).to.contain('topics[0].exec');
    });

    it('a produce chain that does not end in the transport', async () => {
      const error = await buildError({ 'handler.yml': 'handlers: [a, kafka/producer@producer]\ndefaultHandlers:\n  produce: [producer, a]\n' });
      expect(error.code).to.equal('ERR13006');
      expect(error.message).to.contain('defaultHandlers.produce').and.contain(' a');
    });

    it('a handler listed twice in one flattened chain', async () => {
      const error = await buildError({
        'handler.yml': 'handlers: [a, b]\nchains:\n  front: [a, b]\ntopics:\n  - topic: t\n    direction: consume\n    exec: [front, a]\n',
      });
      expect(error.code).to.equal('ERR13007');
      expect(error.message).to.contain('topics[0].exec').and.contain('a');
    });

    it('the same alias declared twice', async () => {
      const error = await buildError({ 'handler.yml': 'handlers: [a, b@a]\n' });
      expect(error.code).to.equal('ERR13012');
      expect(error.message).to.contain('handlers[1]');
    });

    it('a module path that does not exist', async () => {
      const error = await buildError({ 'handler.yml': 'handlers: [./missing.mjs@m]\n' });
      expect(error.code).to.equal('ERR13008');
      expect(error.message).to.contain('handlers[0]').and.contain('./missing.mjs');
    });

    it('a module that exports no handler', async () => {
      const error = await buildError({ 'bad.mjs': 'export default 42;\n', 'handler.yml': 'handlers: [./bad.mjs]\n' });
      expect(error.code).to.equal('ERR13009');
      expect(error.message).to.contain('./bad.mjs');
    });

    it('a structural mistake in the file itself', async () => {
      const error = await buildError({ 'handler.yml': 'handlers: [a]\ntopics:\n  - topic: t\n    direction: sideways\n    exec: [a]\n' });
      expect(error.code).to.equal('ERR13001');
      expect(error.message).to.contain('topics.0.direction');
    });

    it('a transport that is disabled', async () => {
      const error = await buildError({
        'wire.mjs': "export default { name: 'wire', transport: 'produce', create: () => async () => undefined };\n",
        'wire.yml': 'enabled: false\n',
        'handler.yml': 'handlers: [./wire.mjs@wire]\ndefaultHandlers:\n  produce: [wire]\n',
      });
      expect(error.code).to.equal('ERR13009');
      expect(error.message).to.contain('defaultHandlers.produce').and.contain('./wire.mjs').and.contain('cannot be disabled');
    });

    it('kafka-producer.yml has no enabled key: the Kafka transport cannot be switched off', async () => {
      const error = await buildError({
        'kafka-producer.yml': 'enabled: false\n',
        'handler.yml': 'handlers: [kafka/producer@producer]\ndefaultHandlers:\n  produce: [producer]\n',
      });
      expect(error.code).to.equal('ERR13001');
      expect(error.message).to.contain('kafka-producer.yml').and.contain('enabled');
    });
  });
});
