import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder of a module (`folderOf(import.meta.url)`): where a handler keeps its default yml. */
export function folderOf(moduleUrl: string): string {
  return dirname(fileURLToPath(moduleUrl));
}
