import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../core/package-root.js';

/** Every README code block marked `<!-- snippet: <file> -->` is still, verbatim, in that file. */
describe('README snippets', () => {
  const readme = readFileSync(join(PACKAGE_ROOT, 'README.md'), 'utf8');
  const snippets = [...readme.matchAll(/<!-- snippet: (\S+) -->\n```\w*\n([\s\S]*?)\n```/g)].map(([, file, code]) => ({ file: file!, code: code! }));

  it('has the tutorial snippets', () => {
    expect(snippets.length).to.be.at.least(8);
  });

  for (const [index, { file, code }] of snippets.entries()) {
    it(`snippet ${index + 1} is in ${file}`, () => {
      const source = readFileSync(join(PACKAGE_ROOT, file), 'utf8');
      expect(source.includes(code), `README snippet ${index + 1} no longer matches ${file}:\n${code}`).to.equal(true);
    });
  }
});
