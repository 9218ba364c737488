import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../core/package-root.js';

/** Runs the light-kafka command (dist/scripts/cli.js) in a process of its own: its exit code and its output. */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}, stdin = ''): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist', 'scripts', 'cli.js'), ...args], { env: { ...process.env, LOG_LEVEL: 'error', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end(stdin);
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })));
}
