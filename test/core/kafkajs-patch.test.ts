import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LightError } from '../../core/errors/light-error.js';
import { assertKafkajsPatched } from '../../core/kafka/kafkajs-patch.js';
import { PACKAGE_ROOT } from '../../core/package-root.js';

const require = createRequire(import.meta.url);
const SCRIPT = join(PACKAGE_ROOT, 'scripts', 'patch-kafkajs.mjs');
/** The files patches/kafkajs@2.2.4 replaces, as paths in a kafkajs folder. */
const PATCHED_FILES = ['src/producer/sendMessages.js', 'src/producer/eosManager/index.js', 'src/producer/index.js'];
const patchedText = (file: string): string => readFileSync(join(PACKAGE_ROOT, 'patches', 'kafkajs@2.2.4', file), 'utf8');
const PATCHED = patchedText('src/producer/sendMessages.js');

/** A kafkajs package folder holding only what the patch script looks at: the patched files, sendMessages.js as given. */
function fakeKafkajs(version: string, sendMessages: string): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kafkajs-'));
  mkdirSync(join(dir, 'src', 'producer', 'eosManager'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'kafkajs', version }));
  for (const file of PATCHED_FILES) writeFileSync(join(dir, file), patchedText(file));
  const file = join(dir, 'src', 'producer', 'sendMessages.js');
  writeFileSync(file, sendMessages);
  return { dir, file };
}

function runScript(dir: string): { status: number | null; output: string } {
  const run = spawnSync(process.execPath, [SCRIPT, '--kafkajs', dir], { encoding: 'utf8' });
  return { status: run.status, output: run.stdout + run.stderr };
}

describe('kafkajs patch (send retry, transaction requests retried)', () => {
  it('the install applied patches/kafkajs@2.2.4 to the kafkajs that core loads, and the package ships the script that does it', () => {
    expect(() => assertKafkajsPatched({})).to.not.throw();
    for (const file of PATCHED_FILES) expect(readFileSync(require.resolve(`kafkajs/${file}`), 'utf8'), file).to.equal(patchedText(file));
    const manifest = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; dependencies: Record<string, string>; files: string[] };
    expect(manifest.scripts.postinstall).to.equal('node scripts/patch-kafkajs.mjs');
    // The patch replaces whole files of one release: any other kafkajs must not be installed under it.
    expect(manifest.dependencies.kafkajs).to.equal('2.2.4');
    expect(manifest.files).to.include.members(['scripts/patch-kafkajs.mjs', 'patches']);
  });

  it('the script leaves a patched kafkajs as it is (the published file is replaced: test/package installs one fresh)', () => {
    const { dir, file } = fakeKafkajs('2.2.4', PATCHED);
    try {
      const again = runScript(dir);
      expect(again.status, again.output).to.equal(0);
      expect(again.output).to.contain(`${file}: already patched`);
      expect(readFileSync(file, 'utf8')).to.equal(PATCHED);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the script refuses, and leaves alone, a file it does not know and a kafkajs of another version', () => {
    const foreign = fakeKafkajs('2.2.4', '// changed by someone else\n');
    const edited = fakeKafkajs('2.2.4', PATCHED.replace('re-sends', 'resends'));
    const otherVersion = fakeKafkajs('2.2.3', '// 2.2.3\n');
    try {
      const refused = runScript(foreign.dir);
      expect(refused.status).to.equal(1);
      expect(refused.output).to.contain(`${foreign.file} is neither kafkajs 2.2.4's published file nor light-kafka's patch of it`);
      expect(readFileSync(foreign.file, 'utf8')).to.equal('// changed by someone else\n');
      // A patched file edited locally is not ours any more either.
      expect(runScript(edited.dir).status).to.equal(1);
      expect(readFileSync(edited.file, 'utf8')).to.equal(PATCHED.replace('re-sends', 'resends'));
      const wrong = runScript(otherVersion.dir);
      expect(wrong.status).to.equal(1);
      expect(wrong.output).to.contain("is 2.2.3; light-kafka's kafkajs patch is for 2.2.4");
      expect(readFileSync(otherVersion.file, 'utf8')).to.equal('// 2.2.3\n');
    } finally {
      rmSync(foreign.dir, { recursive: true, force: true });
      rmSync(edited.dir, { recursive: true, force: true });
      rmSync(otherVersion.dir, { recursive: true, force: true });
    }
  });

  it('the patched kafkajs retries AddOffsetsToTxn and EndTxn while the transaction coordinator answers CONCURRENT_TRANSACTIONS, with the producer\'s backoff', async () => {
    const createEosManager = require('kafkajs/src/producer/eosManager/index.js') as (options: object) => {
      initProducerId(): Promise<void>;
      beginTransaction(): void;
      sendOffsets(offsets: object): Promise<void>;
      commit(): Promise<void>;
    };
    const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as { createErrorFromCode(code: number): Error };
    // The coordinator as a broker answers it: each of the two requests refused twice (code 51), then taken.
    const refusals = { addOffsetsToTxn: 2, endTxn: 2 };
    const sent: string[] = [];
    const answer = (request: keyof typeof refusals) => async (): Promise<void> => {
      sent.push(request);
      if (refusals[request]-- > 0) throw createErrorFromCode(51);
    };
    const coordinator = {
      initProducerId: async () => ({ producerId: 7, producerEpoch: 0 }),
      addOffsetsToTxn: answer('addOffsetsToTxn'),
      endTxn: answer('endTxn'),
      txnOffsetCommit: async () => sent.push('txnOffsetCommit'),
    };
    const cluster = { refreshMetadataIfNecessary: async () => undefined, findGroupCoordinator: async () => coordinator };
    const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
    const eos = createEosManager({ logger, cluster, transactional: true, transactionalId: 'tx-1', retry: { initialRetryTime: 5, retries: 3 } });
    await eos.initProducerId();
    eos.beginTransaction();
    const started = Date.now();
    await eos.sendOffsets({ consumerGroupId: 'group', topics: [{ topic: 'in', partitions: [{ partition: 0, offset: '1' }] }] });
    await eos.commit();
    expect(sent).to.deep.equal(['addOffsetsToTxn', 'addOffsetsToTxn', 'addOffsetsToTxn', 'txnOffsetCommit', 'endTxn', 'endTxn', 'endTxn']);
    // Four backoffs from the 5 ms given (from kafkajs's default 300 ms they would take 1.8 s).
    expect(Date.now() - started).to.be.below(1000);
  });

  it('refuses a kafkajs whose transaction requests are not patched with ERR12008 naming that file (a kafkajs patched by an earlier light-kafka)', () => {
    const module = require('kafkajs/src/producer/eosManager/index.js') as Record<symbol, unknown>;
    const marker = Symbol.for('light-kafka.kafkajs-transaction-retry-patch');
    module[marker] = false;
    try {
      expect(() => assertKafkajsPatched({})).to.throw(LightError).with.property('message').that.contains('eosManager/index.js');
    } finally {
      module[marker] = true;
    }
  });

  it('refuses an unpatched kafkajs with ERR12008, naming the command that patches it, unless the risk is accepted', async () => {
    const module = require('kafkajs/src/producer/sendMessages.js') as Record<symbol, unknown>;
    const marker = Symbol.for('light-kafka.kafkajs-send-retry-patch');
    module[marker] = false;
    try {
      const error = (() => {
        try {
          assertKafkajsPatched({});
        } catch (caught) {
          return caught;
        }
        return undefined;
      })();
      expect(error).to.be.instanceOf(LightError);
      expect((error as LightError).code).to.equal('ERR12008');
      expect((error as LightError).message).to.contain('sendMessages.js').and.contain('npx light-kafka patch-kafkajs');
      expect(() => assertKafkajsPatched({ LIGHT_KAFKA_ALLOW_UNPATCHED_KAFKAJS: '1' })).to.not.throw();
    } finally {
      module[marker] = true;
    }
  });
});
