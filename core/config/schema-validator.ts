import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { LightError } from '../errors/light-error.js';
import { addFormats } from './ajv-formats.js';


/**
 * Validates config objects against their JSON Schemas: defaults filled in, strings from placeholders coerced
 * to the declared type, every problem reported with the file and the key.
 */
export class ConfigSchemaValidator {
  private readonly ajv: Ajv;
  private readonly compiled = new WeakMap<object, ValidateFunction>();

  constructor() {
    this.ajv = new Ajv({ allErrors: true, useDefaults: true, coerceTypes: true, strict: false });
    addFormats(this.ajv);
  }

  /** Validates `config` in place (defaults are written into it); throws ERR13001 naming file and key. */
  validate(config: unknown, schema: object, file: string): void {
    let validate = this.compiled.get(schema);
    if (!validate) {
      validate = this.ajv.compile(schema);
      this.compiled.set(schema, validate);
    }
    if (validate(config)) return;
    const errors = validate.errors ?? [];
    const first = errors[0];
    const details = errors.map(schemaErrorText);
    throw new LightError('ERR13001', {
      file,
      key: first ? keyOf(first) : '(root)',
      reason: first ? reasonOf(first) + (errors.length > 1 ? ` (and: ${details.slice(1).join('; ')})` : '') : 'is invalid',
    });
  }
}

/** One ajv error as `<dotted key> <reason>`, e.g. `jwt.jwksUrl is required` (config files, message envelopes). */
export function schemaErrorText(error: ErrorObject): string {
  return `${keyOf(error)} ${reasonOf(error)}`;
}

function keyOf(error: ErrorObject): string {
  // A JSON pointer as a dotted path, its escapes undone (~1 is /, ~0 is ~).
  const base = error.instancePath.split('/').slice(1).map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~')).join('.');
  const child =
    error.keyword === 'required'
      ? (error.params as { missingProperty: string }).missingProperty
      : error.keyword === 'additionalProperties'
        ? (error.params as { additionalProperty: string }).additionalProperty
        : undefined;
  const key = child ? (base ? `${base}.${child}` : child) : base;
  return key || '(root)';
}

function reasonOf(error: ErrorObject): string {
  switch (error.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not a known key';
    case 'enum':
      return `must be one of ${JSON.stringify((error.params as { allowedValues: unknown[] }).allowedValues)}`;
    case 'const':
      return `${error.message ?? 'must be equal to constant'} ${JSON.stringify((error.params as { allowedValue: unknown }).allowedValue)}`;
    default:
      return error.message ?? 'is invalid';
  }
}
