#!/usr/bin/env node
/**
 * Applies light-kafka's fixes of kafkajs 2.2.4 (patches/kafkajs@2.2.4/, README: What send guarantees) to the
 * kafkajs this package loads: the produce retry (src/producer/sendMessages.js) and a transaction's requests
 * retried while the coordinator is not ready (src/producer/eosManager/index.js, src/producer/index.js). It runs as
 * light-kafka's `postinstall`, in this repository and in every project that installs the package, so nothing is
 * asked of the user; `light-kafka patch-kafkajs` runs it by hand (after an install with --ignore-scripts). Plain
 * JavaScript: it runs before anything is compiled.
 *
 * Each patched file replaces the upstream file only when that file is byte for byte the published 2.2.4 one;
 * anything else is left alone and reported, so a kafkajs changed by someone else is never overwritten. Running it
 * again changes nothing, and a kafkajs patched by an earlier light-kafka gets the files it lacks. The patched
 * sendMessages.js is byte for byte what the earlier patches/kafkajs+2.2.4.patch produced (its header still names it).
 *
 * Usage: node scripts/patch-kafkajs.mjs [--kafkajs DIR]   (DIR: a kafkajs package folder; default: the one
 * this package resolves)
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const VERSION = '2.2.4';
const PATCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'patches', `kafkajs@${VERSION}`);
/** Patched file (relative to the kafkajs folder) -> sha256 of the file as published in kafkajs 2.2.4. */
const UPSTREAM = {
  'src/producer/sendMessages.js': '8a120e6993955e040a13014cccebd79b8d41e7355d6eda1065fa83fea2fbbcdb',
  'src/producer/eosManager/index.js': 'a74ae029d7aa786b8616b77f922d30a81bec2833878769dbfa6b4a9dab66db22',
  'src/producer/index.js': '37a6da431139e4af020c4f381af10855ab34e3660bbf4937abda1b27f9379775',
};

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

function kafkajsFolder(args) {
  const at = args.indexOf('--kafkajs');
  if (at >= 0) {
    if (!args[at + 1]) throw new Error('--kafkajs needs a folder');
    return resolve(args[at + 1]);
  }
  return dirname(createRequire(import.meta.url).resolve('kafkajs/package.json'));
}

/** Patches the kafkajs in `folder`; returns one line per file saying what was done. Throws when it cannot. */
export function patchKafkajs(folder) {
  const manifest = join(folder, 'package.json');
  if (!existsSync(manifest)) throw new Error(`no kafkajs package at ${folder}`);
  const { version } = JSON.parse(readFileSync(manifest, 'utf8'));
  if (version !== VERSION) {
    throw new Error(`kafkajs at ${folder} is ${version}; light-kafka's kafkajs patch is for ${VERSION} (light-kafka depends on exactly ${VERSION})`);
  }
  const report = [];
  for (const [file, upstreamSha] of Object.entries(UPSTREAM)) {
    const target = join(folder, file);
    // Bytes, not text: the comparison is exact, whatever the line endings.
    const patched = readFileSync(join(PATCH_DIR, file));
    const current = readFileSync(target);
    if (current.equals(patched)) {
      report.push(`${target}: already patched`);
      continue;
    }
    if (sha256(current) !== upstreamSha) {
      throw new Error(`${target} is neither kafkajs ${VERSION}'s published file nor light-kafka's patch of it: not overwriting it`);
    }
    // Write beside it and rename, so an interrupted install never leaves half a file.
    const temporary = `${target}.light-kafka-${process.pid}`;
    writeFileSync(temporary, patched);
    renameSync(temporary, target);
    report.push(`${target}: patched`);
  }
  return report;
}

/** Real paths: a package folder may be a symlink (pnpm), and node reports the path it was started with. */
const isMain = () => {
  try {
    return Boolean(process.argv[1]) && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
};

if (isMain()) {
  try {
    for (const line of patchKafkajs(kafkajsFolder(process.argv.slice(2)))) console.log(`[light-kafka] kafkajs patch: ${line}`);
  } catch (error) {
    console.error(`[light-kafka] kafkajs patch NOT applied: ${error instanceof Error ? error.message : String(error)}`);
    console.error('[light-kafka] LightService refuses to start on an unpatched kafkajs (ERR12008); README: What send guarantees');
    process.exit(1);
  }
}
