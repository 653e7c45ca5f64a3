// A local OpenID Connect issuer standing in for GitHub Actions'
// (token.actions.githubusercontent.com): discovery document, JWKS, and tokens
// with the claims a workflow run gets. Keys can be rotated to test refresh.
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";

export interface ActionsTokenClaims {
  repository: string;
  repository_id: string;
  repository_owner: string;
  repository_owner_id: string;
  sha: string;
  ref: string;
  event_name: string;
  job_workflow_ref?: string;
  run_id?: string;
  [k: string]: unknown;
}

interface Key {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

export class OidcIssuer {
  url = "";
  jwksFetches = 0;
  #server: Server | undefined;
  #keys: Key[] = [];

  async start(): Promise<void> {
    this.#keys = [await makeKey("key-1")];
    this.#server = createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      if (path === "/.well-known/openid-configuration") {
        res.writeHead(200, { "content-type": "application/json" }).end(
          JSON.stringify({
            issuer: this.url,
            jwks_uri: `${this.url}/.well-known/jwks`,
            id_token_signing_alg_values_supported: ["RS256"],
            response_types_supported: ["id_token"],
            subject_types_supported: ["public", "pairwise"],
          }),
        );
        return;
      }
      if (path === "/.well-known/jwks") {
        this.jwksFetches++;
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ keys: this.#keys.map((k) => k.jwk) }));
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => this.#server!.listen(0, "127.0.0.1", () => r()));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }

  /** Replaces the published keys by a new one (GitHub rotates its signing keys). */
  async rotate(kid: string): Promise<void> {
    this.#keys = [await makeKey(kid)];
  }

  /** A token as GitHub Actions issues it; `overrides` change claims or options for forged-token tests. */
  async token(
    claims: ActionsTokenClaims,
    o: {
      audience: string;
      issuer?: string;
      expiresInSec?: number;
      notBeforeSec?: number;
      /** Seconds from now of the iat claim (default -5). */
      issuedAtSec?: number;
      signWith?: CryptoKey;
      kid?: string;
    },
  ): Promise<string> {
    const key = this.#keys[0]!;
    const now = Math.floor(Date.now() / 1000);
    // Every token GitHub issues has its own jti; a claim given here (replay tests) wins.
    const jwt = new SignJWT({
      jti: randomUUID(),
      ...claims,
      sub: `repo:${claims.repository}:ref:${claims.ref}`,
    })
      .setProtectedHeader({ alg: "RS256", kid: o.kid ?? key.kid, typ: "JWT" })
      .setIssuer(o.issuer ?? this.url)
      .setAudience(o.audience)
      .setIssuedAt(now + (o.issuedAtSec ?? -5))
      .setNotBefore(now + (o.notBeforeSec ?? -5))
      .setExpirationTime(now + (o.expiresInSec ?? 300));
    return jwt.sign(o.signWith ?? key.privateKey);
  }
}

async function makeKey(kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair("RS256");
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" } };
}

/** A key pair the issuer does not publish: tokens signed with it are forgeries. */
export async function foreignKey(): Promise<CryptoKey> {
  return (await generateKeyPair("RS256")).privateKey;
}
