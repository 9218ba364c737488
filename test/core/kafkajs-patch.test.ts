import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { LightError } from '../../core/errors/light-error.js';
import { assertKafkajsPatched } from '../../core/kafka/kafkajs-patch.js';
import { PACKAGE_ROOT } from '../../core/package-root.js';

const require = createRequire(import.meta.url);

describe('kafkajs send-retry patch', () => {
  it('npm ci applied patches/kafkajs+2.2.4.patch to the kafkajs that core loads', () => {
    expect(() => assertKafkajsPatched({})).to.not.throw();
    const installed = readFileSync(require.resolve('kafkajs/src/producer/sendMessages.js'), 'utf8');
    expect(installed).to.contain('Patched by light-kafka (patches/kafkajs+2.2.4.patch)');
    expect(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')).to.match(/"postinstall": "patch-package --error-on-fail"/);
  });

  it('refuses an unpatched kafkajs with ERR12008 unless the risk is accepted', async () => {
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
      expect((error as LightError).message).to.contain('sendMessages.js');
      expect(() => assertKafkajsPatched({ LIGHT_KAFKA_ALLOW_UNPATCHED_KAFKAJS: '1' })).to.not.throw();
    } finally {
      module[marker] = true;
    }
  });
});
