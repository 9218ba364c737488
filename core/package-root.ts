import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'light-kafka') {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('light-kafka: cannot find the package root (package.json) above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

/** The installed package's root folder: holds config/ (the default yml files) and dist/. */
export const PACKAGE_ROOT = findPackageRoot();
export const DEFAULT_CONFIG_DIR = join(PACKAGE_ROOT, 'config');
