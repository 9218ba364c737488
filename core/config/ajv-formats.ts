import type { Ajv } from 'ajv';
import formatsModule from 'ajv-formats';

type FormatsPlugin = (ajv: Ajv) => Ajv;

/** ajv-formats is CommonJS with a `default` export; this is the plugin function under NodeNext ESM either way. */
export const addFormats = ((formatsModule as unknown as { default?: FormatsPlugin }).default ?? formatsModule) as unknown as FormatsPlugin;
