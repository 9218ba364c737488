/** Prints the README's error table from the catalogue: node dist/scripts/error-table.js */
import { STATUS_CATALOGUE } from '../core/errors/catalogue.js';
import { isMain } from './is-main.js';

export function errorTable(): string {
  const rows = Object.entries(STATUS_CATALOGUE).map(
    ([code, def]) => `| ${code} | ${def.statusCode} | ${def.message} | ${def.retryable ? 'yes' : 'no'} | ${def.description.replace(/\|/g, '\\|')} |`,
  );
  return ['| code | status | message | retried | description |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}

if (isMain(import.meta.url)) console.log(errorTable());
