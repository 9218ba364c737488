import { Attachment, Shared } from '../../core/attachments.js';
import { defineHandler, phasedHandler } from '../../core/chain/handler.js';
import { folderOf } from '../../core/config/folder-of.js';
import { LightError } from '../../core/errors/light-error.js';
import type { Exchange } from '../../core/exchange.js';
import { HeaderNames } from '../../core/headers.js';
import type { RecordClaims, VerifiedClaims } from '../../core/identity.js';
import { currentContext } from '../../core/request-context.js';
import { SECURITY_SCHEMA, type SecurityYml } from './config.js';
import { createKeyResolver } from './key-resolver.js';
import { TokenVerifier, type Verdict } from './token-verifier.js';

/**
 * JWT security. Consume: verifies the Bearer token in Authorization (and X-Scope-Token when configured), checks
 * the topic's required scopes and allowed callers, leaves the claims on the exchange. Produce: attaches the
 * caller's token from the request context; can refuse to produce without one.
 */
export default defineHandler<SecurityYml>({
  name: 'security',
  configName: 'security',
  configSchema: SECURITY_SCHEMA,
  defaultConfigDir: folderOf(import.meta.url),
  async create(config, services) {
    const { file, dir } = services.config.locate('security', folderOf(import.meta.url));
    const { resolve, algorithms } = await createKeyResolver(config, file, dir);
    const verifier = new TokenVerifier(config, resolve, algorithms);
    services.shared.set(Shared.verificationStats, verifier.stats);
    const skip = new Set(config.skipTopics);

    const verifies = (exchange: Exchange): boolean => exchange.direction === 'consume' && config.enableVerifyJwt && !skip.has(exchange.topic);
    const referenceOf = (exchange: Exchange): number =>
      config.expiryReference === 'recordTimestamp' && exchange.timestamp ? Number(exchange.timestamp) : Date.now();

    /**
     * Each distinct token of a batch verified once (signature and claims), its verdict kept for the records that
     * carry it; expiry is then judged per record, against each record's own reference time.
     */
    async function verifyBatch(exchanges: readonly Exchange[]): Promise<SecurityBatch> {
      // Keyed by the header's text, so a record finds its token's verdict without parsing its header again.
      const distinct = new Map<string, { token: string; kind: 'jwt' | 'scope'; reference: number }>();
      const texts = new HeaderTexts();
      for (const exchange of exchanges) {
        if (!verifies(exchange)) continue;
        const jwt = texts.of(exchange.headers.getBuffer(HeaderNames.authorization));
        const token = jwt === undefined || distinct.has(jwt) ? undefined : bearerTokenOrUndefined(jwt);
        if (token !== undefined) distinct.set(jwt!, { token, kind: 'jwt', reference: referenceOf(exchange) });
        const scope = config.enableVerifyScopeToken ? exchange.headers.get(HeaderNames.scopeToken) : undefined;
        if (scope !== undefined && !distinct.has(scope)) distinct.set(scope, { token: stripBearer(scope), kind: 'scope', reference: referenceOf(exchange) });
      }
      const verdicts: Verdicts = new Map();
      await Promise.all(
        [...distinct].map(([header, { token, kind, reference }]) =>
          verifier.verifyIgnoringExpiry(token, reference, kind).then(
            (claims) => void verdicts.set(header, { claims, admitted: new Map() }),
            (error: unknown) => void verdicts.set(header, { error }),
          ),
        ),
      );
      return { verdicts, texts };
    }

    function verifyConsumed(exchange: Exchange, batch: SecurityBatch | undefined): void | Promise<void> {
      const reference = referenceOf(exchange);
      const verdicts = batch?.verdicts;
      const header = batch ? batch.texts.of(exchange.headers.getBuffer(HeaderNames.authorization)) : exchange.headers.get(HeaderNames.authorization);
      const scopeHeader = config.enableVerifyScopeToken ? exchange.headers.get(HeaderNames.scopeToken) : undefined;
      const jwtVerdict = header === undefined ? undefined : verdicts?.get(header);
      const scopeVerdict = scopeHeader === undefined ? undefined : verdicts?.get(scopeHeader);
      if (jwtVerdict === undefined || (scopeHeader !== undefined && scopeVerdict === undefined)) {
        // Not seen by beginBatch (a record run on its own, or a header that is no Bearer token): verified now.
        const token = bearerToken(header, exchange.topic);
        return verifyAlone(exchange, token, scopeHeader === undefined ? undefined : stripBearer(scopeHeader), reference);
      }
      const claims = verifier.judge(jwtVerdict, reference, 'jwt');
      const scopeClaims = scopeVerdict === undefined ? undefined : verifier.judge(scopeVerdict, reference, 'scope');
      const { callerId } = exchange.identity;
      // Records of one token, scope token and caller share one claims object (read-only for every handler).
      const admitted = 'admitted' in jwtVerdict && scopeVerdict === undefined ? jwtVerdict.admitted : undefined;
      const known = admitted?.get(callerId);
      if (known) {
        exchange.attachments.set(Attachment.claims, known);
        return;
      }
      const recordClaims = admit(exchange, claims, scopeClaims, callerId);
      admitted?.set(callerId, recordClaims);
    }

    async function verifyAlone(exchange: Exchange, token: string, scopeToken: string | undefined, reference: number): Promise<void> {
      const claims = await verifier.verify(token, reference, 'jwt');
      const scopeClaims = scopeToken === undefined ? undefined : await verifier.verify(scopeToken, reference, 'scope');
      admit(exchange, claims, scopeClaims, exchange.identity.callerId);
    }

    function admit(exchange: Exchange, claims: VerifiedClaims, scopeClaims: VerifiedClaims | undefined, callerId: string | undefined): RecordClaims {
      const scopes = scopeClaims?.scopes ?? claims.scopes;
      checkScopes(config, exchange.topic, scopes);
      checkCaller(config, exchange.topic, callerId);
      const recordClaims: RecordClaims = { ...claims, scopes, scopeClientId: scopeClaims?.clientId, callerId };
      exchange.attachments.set(Attachment.claims, recordClaims);
      return recordClaims;
    }

    function attachToken(exchange: Exchange): void | Promise<void> {
      const context = currentContext();
      for (const name of [HeaderNames.authorization, HeaderNames.scopeToken]) {
        const value = context?.headers.getBuffer(name);
        if (config.produce.attachToken && value && !exchange.headers.has(name)) exchange.headers.set(name, value);
      }
      const produceScopes = config.produce.topicScopes[exchange.topic];
      const verify = config.produce.verifyToken || (produceScopes !== undefined && produceScopes.length > 0);
      if ((config.produce.requireToken || verify) && !exchange.headers.has(HeaderNames.authorization)) {
        throw new LightError('ERR10002', { topic: exchange.topic });
      }
      if (verify) return verifyProduced(exchange, produceScopes);
    }

    /**
     * produce.verifyToken (or produce scopes for the topic): the record's token is verified as a consumer would,
     * its scopes checked against produce.topicScopes, and its claims attached, so that metrics and audit of the
     * produce side name the client and the caller.
     */
    async function verifyProduced(exchange: Exchange, produceScopes: string[] | undefined): Promise<void> {
      const now = Date.now();
      const claims = await verifier.verify(bearerToken(exchange.headers.get(HeaderNames.authorization), exchange.topic), now, 'jwt');
      const scopeHeader = config.enableVerifyScopeToken ? exchange.headers.get(HeaderNames.scopeToken) : undefined;
      const scopeClaims = scopeHeader === undefined ? undefined : await verifier.verify(stripBearer(scopeHeader), now, 'scope');
      const scopes = scopeClaims?.scopes ?? claims.scopes;
      if (produceScopes && produceScopes.length > 0 && !produceScopes.some((scope) => scopes.includes(scope))) {
        throw new LightError('ERR10005', { scopes, required: produceScopes, topic: exchange.topic });
      }
      exchange.attachments.set(Attachment.claims, { ...claims, scopes, scopeClientId: scopeClaims?.clientId, callerId: exchange.identity.callerId });
    }

    return phasedHandler<SecurityBatch | undefined>({
      name: 'security',
      beginBatch(exchanges) {
        return exchanges.some(verifies) ? verifyBatch(exchanges) : undefined;
      },
      before(exchange, verdicts) {
        if (exchange.direction === 'produce') return attachToken(exchange);
        if (verifies(exchange)) return verifyConsumed(exchange, verdicts);
      },
    });
  },
});

/**
 * What beginBatch learnt of each distinct token header of the batch: its claims (and the claims records of it were
 * admitted with, by caller), or why it was refused.
 */
type Verdicts = Map<string, Verdict & { admitted?: Map<string | undefined, RecordClaims> }>;

interface SecurityBatch {
  verdicts: Verdicts;
  texts: HeaderTexts;
}

/** Header bytes as text; consecutive records carrying the same token bytes reuse one decoded string. */
class HeaderTexts {
  private lastBytes: Buffer | undefined;
  private lastText: string | undefined;

  of(bytes: Buffer | undefined): string | undefined {
    if (bytes === undefined) return undefined;
    if (this.lastBytes !== undefined && (bytes === this.lastBytes || bytes.equals(this.lastBytes))) return this.lastText;
    this.lastBytes = bytes;
    this.lastText = bytes.toString('utf8');
    return this.lastText;
  }
}

function bearerToken(header: string | undefined, topic: string): string {
  if (!header) throw new LightError('ERR10002', { topic });
  const token = bearerTokenOrUndefined(header);
  if (token === undefined) throw new LightError('ERR10000', { reason: 'Authorization is not a Bearer token' });
  return token;
}

function bearerTokenOrUndefined(header: string): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(header.trim())?.[1];
}

function stripBearer(header: string): string {
  return header.trim().replace(/^Bearer\s+/i, '');
}

function checkScopes(config: SecurityYml, topic: string, scopes: string[]): void {
  const required = config.topicScopes[topic];
  if (!required || required.length === 0) return;
  if (!required.some((scope) => scopes.includes(scope))) throw new LightError('ERR10005', { scopes, required, topic });
}

function checkCaller(config: SecurityYml, topic: string, callerId: string | undefined): void {
  const allowed = config.topicCallers[topic];
  if (!allowed || allowed.length === 0) return;
  if (!callerId || !allowed.includes(callerId)) throw new LightError('ERR10006', { callerId: callerId ?? '(none)', topic });
}
