/** Prints the README's error table from the catalogue: node dist/scripts/error-table.js */
import { STATUS_CATALOGUE } from '../core/errors/catalogue.js';

export function errorTable(): string {
  const rows = Object.entries(STATUS_CATALOGUE).map(
    ([code, def]) => `| ${code} | ${def.statusCode} | ${def.message} | ${def.retryable ? 'yes' : 'no'} | ${def.description.replace(/\|/g, '\\|')} |`,
  );
  return ['| code | status | message | retried | description |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(errorTable());
