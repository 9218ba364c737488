import { errors, jwtVerify, type JWTPayload } from 'jose';
import { LightError, reasonOf } from '../../core/errors/light-error.js';
import type { VerificationStats, VerifiedClaims } from '../../core/identity.js';
import type { KeyResolver } from './key-resolver.js';
import type { SecurityYml } from './config.js';
import { VerifiedTokenCache } from './verified-token-cache.js';

type TokenKind = 'jwt' | 'scope';

/** A token's verdict before its expiry is judged: its claims, or why it was refused. */
export type Verdict = { claims: VerifiedClaims } | { error: unknown };

/**
 * Verifies tokens with jose: signature, algorithm allow-list, issuer, audience, nbf, exp with clock skew.
 * Expiry can be judged against the record's timestamp instead of now, forgiven for a grace period, or ignored,
 * because a record may be consumed long after it was produced. A verified token is cached until it expires.
 */
export class TokenVerifier {
  readonly stats: VerificationStats = { verifications: 0, cacheHits: 0 };
  private readonly cache: VerifiedTokenCache<VerifiedClaims>;

  constructor(
    private readonly config: SecurityYml,
    private readonly resolveKey: KeyResolver,
    private readonly algorithms: string[],
  ) {
    this.cache = new VerifiedTokenCache(config.verificationCacheSize);
  }

  async verify(token: string, referenceMs: number, kind: TokenKind = 'jwt'): Promise<VerifiedClaims> {
    const claims = await this.verifyIgnoringExpiry(token, referenceMs, kind);
    this.checkExpiry(claims.expiresAt, referenceMs, kind);
    return claims;
  }

  /** Signature and every claim but the expiry, which `judge` checks per record (records of a batch differ in time). */
  async verifyIgnoringExpiry(token: string, referenceMs: number, kind: TokenKind = 'jwt'): Promise<VerifiedClaims> {
    const nowSeconds = Date.now() / 1000;
    const cached = this.cache.get(token, nowSeconds);
    if (cached) {
      this.stats.cacheHits += 1;
      return cached;
    }
    this.stats.verifications += 1;
    const claims = await this.verifySignatureAndClaims(token, referenceMs, kind);
    if (claims.expiresAt !== undefined) {
      const usableUntil = claims.expiresAt + (this.config.ignoreJwtExpiry ? 0 : this.config.expiryGracePeriodSeconds);
      if (usableUntil > nowSeconds) this.cache.set(token, claims, usableUntil);
    } else {
      this.cache.set(token, claims, Number.POSITIVE_INFINITY);
    }
    return claims;
  }

  private async verifySignatureAndClaims(token: string, referenceMs: number, kind: TokenKind): Promise<VerifiedClaims> {
    const { jwt } = this.config;
    try {
      const { payload } = await jwtVerify(token, this.resolveKey, {
        algorithms: this.algorithms,
        clockTolerance: jwt.clockSkewInSeconds,
        currentDate: new Date(referenceMs),
        ...(jwt.issuer.length > 0 ? { issuer: jwt.issuer } : {}),
        ...(jwt.audience.length > 0 ? { audience: jwt.audience } : {}),
      });
      return claimsOf(payload);
    } catch (error) {
      // jose checks the signature, then iss, aud and nbf, and exp last: an expired token passed everything else.
      if (error instanceof errors.JWTExpired && error.claim === 'exp') return claimsOf(error.payload);
      throw toLightError(error, kind);
    }
  }

  /** A record's verdict from its token's: the refusal, or the claims if the token had not expired at `referenceMs`. */
  judge(verdict: Verdict, referenceMs: number, kind: TokenKind): VerifiedClaims {
    if ('error' in verdict) throw verdict.error;
    this.checkExpiry(verdict.claims.expiresAt, referenceMs, kind);
    return verdict.claims;
  }

  private checkExpiry(expiresAt: number | undefined, referenceMs: number, kind: TokenKind): void {
    if (expiresAt === undefined || this.config.ignoreJwtExpiry) return;
    const allowedUntil = expiresAt + this.config.jwt.clockSkewInSeconds + this.config.expiryGracePeriodSeconds;
    if (referenceMs / 1000 >= allowedUntil) {
      throw new LightError(kind === 'jwt' ? 'ERR10001' : 'ERR10004', { expiredAt: new Date(expiresAt * 1000).toISOString() });
    }
  }
}

function claimsOf(payload: JWTPayload): VerifiedClaims {
  const text = (name: string): string | undefined => (typeof payload[name] === 'string' ? (payload[name] as string) : undefined);
  return {
    clientId: text('client_id') ?? text('cid') ?? text('azp'),
    userId: text('user_id') ?? text('uid') ?? payload.sub,
    subject: payload.sub,
    issuer: payload.iss,
    scopes: scopesOf(payload),
    expiresAt: payload.exp,
    payload,
  };
}

/** `scope` is a space-separated string (OAuth 2); `scp` an array or a string (light-4j, Azure). */
function scopesOf(payload: JWTPayload): string[] {
  const raw = payload.scope ?? payload.scp;
  if (Array.isArray(raw)) return raw.filter((item): item is string => typeof item === 'string');
  if (typeof raw === 'string') return raw.split(/\s+/).filter(Boolean);
  return [];
}

/** A JWKS endpoint that could not be read (down, timing out, not answering 200): ERR10008, retried. */
export function isJwksUnavailable(error: unknown): boolean {
  if (error instanceof errors.JWKSTimeout) return true;
  if (error instanceof errors.JOSEError && error.code === 'ERR_JOSE_GENERIC' && /fetch|network|ECONN|200 OK/i.test(error.message)) return true;
  return error instanceof TypeError && /fetch/i.test(error.message);
}

function toLightError(error: unknown, kind: TokenKind): LightError {
  if (error instanceof LightError) return error;
  const invalid = kind === 'jwt' ? 'ERR10000' : 'ERR10003';
  if (error instanceof errors.JWKSNoMatchingKey) return new LightError('ERR10007', { kid: '(from the token header)' }, { cause: error });
  if (isJwksUnavailable(error)) return new LightError('ERR10008', { reason: reasonOf(error) }, { cause: error });
  if (error instanceof errors.JWSSignatureVerificationFailed) return new LightError(invalid, { reason: 'signature verification failed' }, { cause: error });
  if (error instanceof errors.JOSEAlgNotAllowed) return new LightError(invalid, { reason: `algorithm not allowed: ${error.message}` }, { cause: error });
  if (error instanceof errors.JWTClaimValidationFailed) {
    return new LightError(invalid, { reason: `claim ${error.claim} failed: ${error.reason}` }, { cause: error });
  }
  return new LightError(invalid, { reason: reasonOf(error) }, { cause: error });
}
