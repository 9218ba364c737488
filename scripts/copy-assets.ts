/**
 * tsc compiles only .ts files; samples and test fixtures also hold yml and json files that must sit beside
 * the compiled .js (a handler.yml names its custom handlers by relative path). This copies them into dist/.
 */
import { cpSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PACKAGE_ROOT } from '../core/package-root.js';

const ASSET = /\.(ya?ml|json|avsc|pem|jwk)$/;
const FOLDERS = ['handlers', 'samples', 'test', 'bench'];

function copyAssets(dir: string): number {
  let copied = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) copied += copyAssets(path);
    else if (ASSET.test(name)) {
      cpSync(path, join(PACKAGE_ROOT, 'dist', relative(PACKAGE_ROOT, path)));
      copied += 1;
    }
  }
  return copied;
}

let total = 0;
for (const folder of FOLDERS) {
  try {
    total += copyAssets(join(PACKAGE_ROOT, folder));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
console.log(`copied ${total} config and fixture files into dist/`);
