import { Attachment, Shared } from '../../core/attachments.js';
import { defineHandler } from '../../core/chain/handler.js';
import { folderOf } from '../../core/config/folder-of.js';
import { LightError } from '../../core/errors/light-error.js';
import type { Exchange } from '../../core/exchange.js';
import { HeaderNames } from '../../core/headers.js';
import { currentContext } from '../../core/request-context.js';
import { SECURITY_SCHEMA, type SecurityYml } from './config.js';
import { createKeyResolver } from './key-resolver.js';
import { TokenVerifier } from './token-verifier.js';

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

    async function verifyConsumed(exchange: Exchange): Promise<void> {
      const reference = config.expiryReference === 'recordTimestamp' && exchange.timestamp ? Number(exchange.timestamp) : Date.now();
      const token = bearerToken(exchange.headers.get(HeaderNames.authorization), exchange.topic);
      const claims = await verifier.verify(token, reference, 'jwt');
      let scopes = claims.scopes;
      let scopeClientId: string | undefined;
      const scopeHeader = exchange.headers.get(HeaderNames.scopeToken);
      if (config.enableVerifyScopeToken && scopeHeader) {
        const scopeClaims = await verifier.verify(stripBearer(scopeHeader), reference, 'scope');
        scopes = scopeClaims.scopes;
        scopeClientId = scopeClaims.clientId;
      }
      const { callerId } = exchange.identity;
      checkScopes(config, exchange.topic, scopes);
      checkCaller(config, exchange.topic, callerId);
      exchange.attachments.set(Attachment.claims, { ...claims, scopes, scopeClientId, callerId });
    }

    function attachToken(exchange: Exchange): void {
      const context = currentContext();
      for (const name of [HeaderNames.authorization, HeaderNames.scopeToken]) {
        const value = context?.headers.getBuffer(name);
        if (config.produce.attachToken && value && !exchange.headers.has(name)) exchange.headers.set(name, value);
      }
      if (config.produce.requireToken && !exchange.headers.has(HeaderNames.authorization)) {
        throw new LightError('ERR10002', { topic: exchange.topic });
      }
    }

    return async function security(exchange, next) {
      if (exchange.direction === 'produce') attachToken(exchange);
      else if (config.enableVerifyJwt && !skip.has(exchange.topic)) await verifyConsumed(exchange);
      await next();
    };
  },
});

function bearerToken(header: string | undefined, topic: string): string {
  if (!header) throw new LightError('ERR10002', { topic });
  const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
  if (!match) throw new LightError('ERR10000', { reason: 'Authorization is not a Bearer token' });
  return match[1]!;
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
