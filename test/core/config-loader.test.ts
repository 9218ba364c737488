import { expect } from 'chai';
import { ConfigLoader } from '../../core/config/loader.js';
import { envNameOf } from '../../core/config/placeholders.js';
import { configDir } from '../support/config-dir.js';
import { lightErrorOf } from '../support/errors.js';

const schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: { type: 'string' },
    retries: { type: 'integer', minimum: 0, default: 3 },
    enabled: { type: 'boolean', default: true },
    nested: { type: 'object', properties: { port: { type: 'integer' } } },
  },
};

describe('ConfigLoader', () => {
  it('maps keys to environment names the light-4j way', () => {
    expect(envNameOf('kafka-consumer.groupId')).to.equal('KAFKA_CONSUMER_GROUPID');
    expect(envNameOf('a.b-c_d')).to.equal('A_B_C_D');
  });

  it('prefers the external folder over the package defaults', () => {
    const defaults = configDir({ 'demo.yml': 'name: default\n' });
    const external = configDir({ 'demo.yml': 'name: external\n' });
    const loader = new ConfigLoader({ configDir: external, defaultDirs: [defaults], env: {} });
    expect(loader.load('demo').config).to.deep.equal({ name: 'external' });
    expect(new ConfigLoader({ defaultDirs: [defaults], env: {} }).load('demo').config).to.deep.equal({ name: 'default' });
  });

  it('reads LIGHT_KAFKA_CONFIG_DIR when no folder is given', () => {
    const external = configDir({ 'demo.yml': 'name: from-env-dir\n' });
    const loader = new ConfigLoader({ defaultDirs: [], env: { LIGHT_KAFKA_CONFIG_DIR: external } });
    expect(loader.load('demo').config).to.deep.equal({ name: 'from-env-dir' });
  });

  it('fills placeholders from values.yml first, then the environment, then the default', () => {
    const dir = configDir({
      'values.yml': 'demo.name: from-values\ndemo:\n  port: 8443\n',
      'demo.yml': 'name: ${demo.name:x}\nother: ${demo.other:fallback}\nfromEnv: ${demo.env-key}\nport: ${demo.port}\nurl: http://h:${demo.port}/p\n',
    });
    const loader = new ConfigLoader({ configDir: dir, defaultDirs: [], env: { DEMO_NAME: 'env-loses', DEMO_ENV_KEY: 'env-wins' } });
    expect(loader.load('demo').config).to.deep.equal({
      name: 'from-values',
      other: 'fallback',
      fromEnv: 'env-wins',
      port: 8443,
      url: 'http://h:8443/p',
    });
  });

  it('keeps a default that contains colons (host:port)', () => {
    const dir = configDir({ 'demo.yml': 'servers: ${kafka.brokers:127.0.0.1:9092}\n' });
    expect(new ConfigLoader({ configDir: dir, defaultDirs: [], env: {} }).load('demo').config).to.deep.equal({ servers: '127.0.0.1:9092' });
  });

  it('reports a mandatory value that is missing with its message, file and key', () => {
    const dir = configDir({ 'demo.yml': 'nested:\n  secret: ${demo.secret:?the signing secret is required}\n' });
    const error = lightErrorOf(() => new ConfigLoader({ configDir: dir, defaultDirs: [], env: {} }).load('demo'));
    expect(error.code).to.equal('ERR13003');
    expect(error.message).to.contain('demo.yml').and.contain('nested.secret').and.contain('the signing secret is required');
  });

  it('reports an unresolvable placeholder with the environment name to set', () => {
    const dir = configDir({ 'demo.yml': 'name: ${demo.missing}\n' });
    const error = lightErrorOf(() => new ConfigLoader({ configDir: dir, defaultDirs: [], env: {} }).load('demo'));
    expect(error.code).to.equal('ERR13003');
    expect(error.message).to.contain('DEMO_MISSING');
  });

  it('validates against the schema: defaults applied, env strings coerced', () => {
    const dir = configDir({ 'demo.yml': 'retries: ${demo.retries:5}\n' });
    const loader = new ConfigLoader({ configDir: dir, defaultDirs: [], env: {} });
    expect(loader.load('demo', { schema }).config).to.deep.equal({ retries: 5, enabled: true });
  });

  it('names the file and the key of an invalid value', () => {
    const dir = configDir({ 'demo.yml': 'nested:\n  port: eighty\n' });
    const error = lightErrorOf(() => new ConfigLoader({ configDir: dir, defaultDirs: [], env: {} }).load('demo', { schema }));
    expect(error.code).to.equal('ERR13001');
    expect(error.message).to.contain(`${dir}/demo.yml`).and.contain('nested.port').and.contain('integer');
  });

  it('names an unknown key', () => {
    const dir = configDir({ 'demo.yml': 'retires: 3\n' });
    const error = lightErrorOf(() => new ConfigLoader({ configDir: dir, defaultDirs: [], env: {} }).load('demo', { schema }));
    expect(error.message).to.contain('retires').and.contain('not a known key');
  });

  it('reports YAML syntax errors with the file', () => {
    const dir = configDir({ 'demo.yml': 'a: [1, 2\n' });
    const error = lightErrorOf(() => new ConfigLoader({ configDir: dir, defaultDirs: [], env: {} }).load('demo'));
    expect(error.code).to.equal('ERR13002');
    expect(error.message).to.contain('demo.yml');
  });

  it('a required file that is missing names the folders searched', () => {
    const dir = configDir({});
    const error = lightErrorOf(() => new ConfigLoader({ configDir: dir, defaultDirs: [], env: {} }).load('handler', { required: true }));
    expect(error.code).to.equal('ERR13000');
    expect(error.message).to.contain(dir);
  });
});
