import type { JWTPayload } from 'jose';
import { HeaderNames, type RecordHeaders } from './headers.js';

/**
 * Who and what a record belongs to, as the correlation handler resolved it with the header names correlation.yml
 * configures. Tracing, security, metrics and audit read it from here, so a renamed header reaches all of them.
 */
export interface Identity {
  correlationId: string | undefined;
  traceabilityId: string | undefined;
  /** Produce: this service's caller id as written on the record. Consume: the caller the record arrived from. */
  callerId: string | undefined;
  /** The header names the ids travel under. */
  headers: IdentityHeaderNames;
}

export interface IdentityHeaderNames {
  correlationId: string;
  traceabilityId: string;
  callerId: string;
}

export const DEFAULT_IDENTITY_HEADERS: IdentityHeaderNames = {
  correlationId: HeaderNames.correlationId,
  traceabilityId: HeaderNames.traceabilityId,
  callerId: HeaderNames.callerId,
};

/** The identity read from headers under the given names (the default names when no correlation handler ran). */
export function identityFromHeaders(headers: RecordHeaders, names: IdentityHeaderNames = DEFAULT_IDENTITY_HEADERS): Identity {
  return {
    correlationId: headers.get(names.correlationId),
    traceabilityId: headers.get(names.traceabilityId),
    callerId: headers.get(names.callerId),
    headers: names,
  };
}

/** What later handlers need of a verified token. */
export interface VerifiedClaims {
  clientId: string | undefined;
  userId: string | undefined;
  subject: string | undefined;
  issuer: string | undefined;
  scopes: string[];
  expiresAt: number | undefined;
  payload: JWTPayload;
}

/** The claims a consumed record's token carried, as the security handler leaves them on the exchange. */
export interface RecordClaims extends VerifiedClaims {
  /** client_id of the X-Scope-Token, when one was verified. */
  scopeClientId: string | undefined;
  /** The caller the record arrived from (the resolved identity's caller). */
  callerId: string | undefined;
}

/** Counts published for tests and metrics: how often a signature was really checked. */
export interface VerificationStats {
  verifications: number;
  cacheHits: number;
}
