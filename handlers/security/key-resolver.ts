import { createLocalJWKSet, createRemoteJWKSet, importJWK, importSPKI, importX509, type CryptoKey, type JWK, type JWTHeaderParameters, type FlattenedJWSInput } from 'jose';
import { readReferencedFile } from '../../core/config/referenced-file.js';
import { LightError } from '../../core/errors/light-error.js';
import { ASYMMETRIC_ALGORITHMS, type SecurityYml } from './config.js';
import { isJwksUnavailable } from './token-verifier.js';

export type KeyResolver = (header: JWTHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey | Uint8Array>;

/**
 * The keys tokens are verified with: local JWK/PEM files by kid, then the JWKS URL (jose caches it, refetches
 * on an unknown kid, at most once per cooldown), or an HMAC secret when no asymmetric key is configured.
 * HMAC and asymmetric keys never mix, so an HS256 token can never be checked against a public key.
 */
export async function createKeyResolver(config: SecurityYml, file: string, baseDir: string): Promise<{ resolve: KeyResolver; algorithms: string[] }> {
  const { jwt } = config;
  const asymmetric = jwt.keys.length > 0 || jwt.jwksUrl !== '';
  const hmacAlgorithms = jwt.algorithms.filter((alg) => alg.startsWith('HS'));
  if (jwt.algorithms.includes('none')) throw new LightError('ERR13001', { file, key: 'jwt.algorithms', reason: 'must not allow none' });
  if (asymmetric && hmacAlgorithms.length > 0) {
    throw new LightError('ERR13001', { file, key: 'jwt.algorithms', reason: `must not allow ${hmacAlgorithms.join(', ')} with asymmetric keys configured` });
  }
  if (!asymmetric && jwt.hmacSecret === '') {
    throw new LightError('ERR13001', { file, key: 'jwt', reason: 'needs jwksUrl, keys or hmacSecret to verify tokens' });
  }
  if (!asymmetric) {
    const algorithms = hmacAlgorithms.length > 0 ? hmacAlgorithms : ['HS256'];
    const secret = new TextEncoder().encode(jwt.hmacSecret);
    return { resolve: async () => secret, algorithms };
  }
  const unknownAlg = jwt.algorithms.find((alg) => !ASYMMETRIC_ALGORITHMS.includes(alg));
  if (unknownAlg) throw new LightError('ERR13001', { file, key: 'jwt.algorithms', reason: `names an unknown algorithm ${unknownAlg}` });

  const local = new Map<string, CryptoKey>();
  for (const [index, key] of jwt.keys.entries()) {
    local.set(key.kid, await importKeyFile(key.file, key.alg, file, `jwt.keys[${index}].file`, baseDir));
  }
  const remote = jwt.jwksUrl ? staleTolerantJwks(jwt.jwksUrl, jwt) : undefined;

  return {
    algorithms: jwt.algorithms,
    resolve: async (header, token) => {
      const localKey = header.kid === undefined ? (local.size === 1 ? [...local.values()][0] : undefined) : local.get(header.kid);
      if (localKey) return localKey;
      if (remote) return remote(header, token);
      throw new LightError('ERR10007', { kid: header.kid ?? '(none)' });
    },
  };
}

/**
 * The JWKS endpoint through jose's remote key set (cached for jwksCacheMaxAgeMs; an unknown kid refetches at most
 * once per jwksCooldownMs), and the last key set it returned: while the endpoint cannot be reached, tokens are
 * still verified with those keys until they are jwksMaxStaleMs old (then ERR10008, which the consumer retries).
 */
function staleTolerantJwks(url: string, jwt: SecurityYml['jwt']): KeyResolver {
  const remote = createRemoteJWKSet(new URL(url), { cacheMaxAge: jwt.jwksCacheMaxAgeMs, cooldownDuration: jwt.jwksCooldownMs, timeoutDuration: jwt.jwksTimeoutMs });
  let lastGood: { keys: ReturnType<typeof createLocalJWKSet>; fetchedAt: number; json: string } | undefined;
  return async (header, token) => {
    try {
      const key = await remote(header, token);
      const current = remote.jwks();
      const json = current ? JSON.stringify(current) : '';
      if (current && json !== lastGood?.json) lastGood = { keys: createLocalJWKSet(current), fetchedAt: Date.now(), json };
      else if (lastGood) lastGood.fetchedAt = Date.now();
      return key;
    } catch (error) {
      if (isJwksUnavailable(error) && lastGood && Date.now() - lastGood.fetchedAt <= jwt.jwksMaxStaleMs) return lastGood.keys(header, token);
      throw error;
    }
  };
}

async function importKeyFile(path: string, alg: string, file: string, key: string, baseDir: string): Promise<CryptoKey> {
  const { text } = readReferencedFile(path, baseDir, file, key);
  try {
    if (text.trimStart().startsWith('{')) {
      const jwk = JSON.parse(text) as JWK;
      return (await importJWK(jwk, jwk.alg ?? alg)) as CryptoKey;
    }
    if (text.includes('BEGIN CERTIFICATE')) return await importX509(text, alg);
    return await importSPKI(text, alg);
  } catch (error) {
    throw new LightError('ERR13001', { file, key, reason: `holds no usable ${alg} public key: ${(error as Error).message}` }, { cause: error });
  }
}
