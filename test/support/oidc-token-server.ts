// A minimal stand-in for the GitHub Actions OIDC token endpoint
// (ACTIONS_ID_TOKEN_REQUEST_URL / ACTIONS_ID_TOKEN_REQUEST_TOKEN): it checks
// the runner's bearer token and answers `{ value: <signed JWT> }` for the
// requested audience, as @actions/core's getIDToken expects.
import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  exportJWK,
  generateKeyPair,
  jwtVerify,
  SignJWT,
  createLocalJWKSet,
  type JWK,
  type JWTPayload,
} from "jose";

export interface TokenServer {
  /** Value for ACTIONS_ID_TOKEN_REQUEST_URL (already carries a query, as GitHub's does). */
  requestUrl: string;
  /** Value for ACTIONS_ID_TOKEN_REQUEST_TOKEN. */
  requestToken: string;
  issuer: string;
  /** Audiences asked for, in order. */
  requests: string[];
  /** Verifies a token this server issued; returns its claims. */
  verify(token: string, audience: string): Promise<JWTPayload>;
  close(): Promise<void>;
}

export async function startTokenServer(claims: Record<string, unknown>): Promise<TokenServer> {
  const { publicKey, privateKey } = await generateKeyPair("RS256");
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: "test", alg: "RS256", use: "sig" };
  const jwks = createLocalJWKSet({ keys: [jwk] });
  const requestToken = randomBytes(16).toString("hex");
  const requests: string[] = [];
  let issuer = "";
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (req.method !== "GET" || url.pathname !== "/token") {
      res.writeHead(404).end();
      return;
    }
    if (req.headers.authorization !== `Bearer ${requestToken}`) {
      res
        .writeHead(401, { "content-type": "application/json" })
        .end(JSON.stringify({ message: "bad request token" }));
      return;
    }
    const audience = url.searchParams.get("audience") ?? "";
    requests.push(audience);
    // Every token GitHub issues has its own jti (the App uses each once).
    void new SignJWT({ jti: randomUUID(), ...claims })
      .setProtectedHeader({ alg: "RS256", kid: "test" })
      .setIssuer(issuer)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(privateKey)
      .then((value) =>
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ count: 1, value })),
      );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  issuer = `http://127.0.0.1:${port}`;
  return {
    requestUrl: `http://127.0.0.1:${port}/token?api-version=2.0`,
    requestToken,
    issuer,
    requests,
    async verify(token, audience) {
      const { payload } = await jwtVerify(token, jwks, { issuer, audience });
      return payload;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
