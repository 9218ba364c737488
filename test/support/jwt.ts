import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export interface TestKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  publicPem: string;
}

export async function makeKey(kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return { kid, privateKey, publicJwk, publicPem: await exportSPKI(publicKey) };
}

export const ISSUER = 'urn:test:issuer';
export const AUDIENCE = 'urn:test:audience';

/** A signed RS256 token; `expiresInSeconds` may be negative for an expired one. */
export async function signToken(key: TestKey, claims: JWTPayload = {}, options: { expiresInSeconds?: number; issuer?: string; audience?: string | string[] } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const exp = now + (options.expiresInSeconds ?? 600);
  return new SignJWT({ client_id: 'client-a', user_id: 'user-1', scope: 'order.r order.w', ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
    .setIssuer(options.issuer ?? ISSUER)
    .setAudience(options.audience ?? AUDIENCE)
    .setIssuedAt(Math.min(now, exp - 60))
    .setExpirationTime(exp)
    .sign(key.privateKey);
}

/** An unsecured token: header {"alg":"none"}, no signature. */
export function unsecuredToken(claims: JWTPayload): string {
  const encode = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode({ iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 600, ...claims })}.`;
}

/** The classic key-confusion forgery: HS256 with the RSA public key's PEM as the HMAC secret. */
export async function hmacWithPublicKey(key: TestKey, claims: JWTPayload = {}): Promise<string> {
  return new SignJWT({ client_id: 'client-a', scope: 'order.r', ...claims })
    .setProtectedHeader({ alg: 'HS256', kid: key.kid })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(key.publicPem));
}

/** A JWKS endpoint on loopback; keys can be rotated while it runs. */
export class JwksServer {
  private keys: JWK[] = [];
  requests = 0;
  private constructor(private readonly server: Server) {}

  static async start(keys: TestKey[]): Promise<JwksServer> {
    let instance: JwksServer | undefined;
    const server = createServer((_request, response) => {
      instance!.requests += 1;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ keys: instance!.keys }));
    });
    instance = new JwksServer(server);
    instance.setKeys(keys);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return instance;
  }

  setKeys(keys: TestKey[]): void {
    this.keys = keys.map((key) => key.publicJwk);
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/oauth2/keys`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
