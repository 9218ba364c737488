/**
 * What the local launchers (kafka-local.ts, skywalking-local.ts) share: Maven runs, pid files, port probes, tools
 * on the PATH and log tails.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';

/** Runs Maven (in `cwd`), handing each output line to `onLine`; resolves with the exit status and the whole output. */
export function runMaven(args: string[], onLine: (line: string) => void, cwd?: string): Promise<{ status: number | null; output: string }> {
  const child = spawn('mvn', args, { ...(cwd ? { cwd } : {}), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  // One reader per stream: a stderr line never lands in the middle of a stdout line.
  const lines = (stream: NodeJS.ReadableStream): void => {
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      output += `${line}\n`;
      onLine(line);
    });
  };
  lines(child.stdout);
  lines(child.stderr);
  return new Promise((resolve) => {
    child.on('error', (error) => resolve({ status: null, output: `${output}${error.message}\n` }));
    child.on('close', (status) => resolve({ status, output }));
  });
}

/** Throws `message` naming the command when it cannot be run. */
export function requireTool(command: string, args: string[], message: string): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error || result.status !== 0) throw new Error(`${message}: '${command}' is not available`);
}

/** The pid a pid file names, when that process is alive. */
export function livePid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether something accepts connections on 127.0.0.1:port (within a second). */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

export function tailOf(text: string, lines = 30): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** The last lines of a log file; `missing` when there is none. */
export function tailOfFile(file: string, lines = 30, missing = ''): string {
  return existsSync(file) ? tailOf(readFileSync(file, 'utf8'), lines) : missing;
}
