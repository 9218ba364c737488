export interface LocalKeyConfig {
  kid: string;
  /** A JWK (JSON) file, or a PEM file holding an SPKI public key or an X.509 certificate. */
  file: string;
  /** The algorithm the key is used with (needed for PEM files and JWKs without `alg`). */
  alg: string;
}

export interface SecurityYml {
  enabled: boolean;
  enableVerifyJwt: boolean;
  enableVerifyScopeToken: boolean;
  jwt: {
    jwksUrl: string;
    jwksCacheMaxAgeMs: number;
    jwksCooldownMs: number;
    jwksTimeoutMs: number;
    jwksMaxStaleMs: number;
    keys: LocalKeyConfig[];
    hmacSecret: string;
    issuer: string[];
    audience: string[];
    algorithms: string[];
    clockSkewInSeconds: number;
  };
  ignoreJwtExpiry: boolean;
  expiryGracePeriodSeconds: number;
  expiryReference: 'now' | 'recordTimestamp';
  skipTopics: string[];
  topicScopes: Record<string, string[]>;
  topicCallers: Record<string, string[]>;
  verificationCacheSize: number;
  produce: { attachToken: boolean; requireToken: boolean; verifyToken: boolean; topicScopes: Record<string, string[]> };
}

export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const strings = { type: 'array', items: { type: 'string', minLength: 1 }, default: [] };

export const SECURITY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean', default: true },
    enableVerifyJwt: { type: 'boolean', default: true },
    enableVerifyScopeToken: { type: 'boolean', default: false },
    jwt: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        jwksUrl: { type: 'string', default: '' },
        jwksCacheMaxAgeMs: { type: 'integer', minimum: 0, default: 600000 },
        jwksCooldownMs: { type: 'integer', minimum: 0, default: 30000 },
        jwksTimeoutMs: { type: 'integer', minimum: 1, default: 5000 },
        jwksMaxStaleMs: { type: 'integer', minimum: 0, default: 3600000 },
        keys: {
          type: 'array',
          default: [],
          items: {
            type: 'object',
            required: ['kid', 'file'],
            additionalProperties: false,
            properties: { kid: { type: 'string', minLength: 1 }, file: { type: 'string', minLength: 1 }, alg: { type: 'string', default: 'RS256' } },
          },
        },
        hmacSecret: { type: 'string', default: '' },
        issuer: strings,
        audience: strings,
        algorithms: { type: 'array', items: { type: 'string', minLength: 1 }, default: ASYMMETRIC_ALGORITHMS },
        clockSkewInSeconds: { type: 'integer', minimum: 0, default: 60 },
      },
    },
    ignoreJwtExpiry: { type: 'boolean', default: false },
    expiryGracePeriodSeconds: { type: 'integer', minimum: 0, default: 0 },
    expiryReference: { enum: ['now', 'recordTimestamp'], default: 'now' },
    skipTopics: strings,
    topicScopes: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } }, default: {} },
    topicCallers: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } }, default: {} },
    verificationCacheSize: { type: 'integer', minimum: 0, default: 10000 },
    produce: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        attachToken: { type: 'boolean', default: true },
        requireToken: { type: 'boolean', default: false },
        verifyToken: { type: 'boolean', default: false },
        topicScopes: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } }, default: {} },
      },
    },
  },
} as const;
