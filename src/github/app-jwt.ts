// The App's JWT (RS256, iss = App id), signed once and reused until a minute
// before it expires. @octokit/auth-app signs a new one for every request made
// as the App (installation lookups, installation tokens), importing the key
// each time: ~1.5 ms of CPU per request, twice per new installation (#16).
// Given to auth-app as its `createJwt` option in place of the private key.
import { createPrivateKey, createSign, type KeyObject } from "node:crypto";

/** GitHub's maximum JWT lifetime is 10 minutes; iat is set 30 s back against clock drift. */
const LIFETIME_S = 600;
const DRIFT_S = 30;
/** A cached JWT is replaced once it has less than this left. */
const RENEW_BEFORE_S = 60;

export type CreateJwt = (
  appId: number | string,
  timeDifference?: number,
) => Promise<{ jwt: string; expiresAt: string }>;

const b64url = (v: object | Buffer) =>
  (Buffer.isBuffer(v) ? v : Buffer.from(JSON.stringify(v))).toString("base64url");

/**
 * auth-app's `createJwt`: one signature per App id and clock offset (auth-app passes the
 * offset it learns from GitHub's Date header after a clock-skew refusal), until it nears expiry.
 * `now` is in seconds (tests pass their own clock).
 */
export function cachedAppJwt(
  privateKey: string,
  now: () => number = () => Math.floor(Date.now() / 1000),
): CreateJwt {
  // Keys set in environment variables often carry escaped newlines, as universal-github-app-jwt allows.
  // Imported at the first signature, as auth-app did: a bad key fails the first request as before.
  let key: KeyObject | undefined;
  const cache = new Map<string, { jwt: string; exp: number }>();
  return async (appId, timeDifference = 0) => {
    const at = now() + timeDifference;
    const k = `${appId}|${timeDifference}`;
    const hit = cache.get(k);
    if (hit && hit.exp - at > RENEW_BEFORE_S) return { jwt: hit.jwt, expiresAt: iso(hit.exp) };
    const iat = at - DRIFT_S;
    const exp = iat + LIFETIME_S;
    const unsigned = `${b64url({ alg: "RS256", typ: "JWT" })}.${b64url({ iat, exp, iss: appId })}`;
    const jwt = `${unsigned}.${createSign("RSA-SHA256")
      .update(unsigned)
      .sign((key ??= createPrivateKey(privateKey.replace(/\\n/g, "\n"))))
      .toString("base64url")}`;
    cache.clear(); // one App: only the newest offset is useful
    cache.set(k, { jwt, exp });
    return { jwt, expiresAt: iso(exp) };
  };
}

const iso = (s: number) => new Date(s * 1000).toISOString();

/** Octokit auth options with the private key replaced by `createJwt` (auth-app takes one or the other). */
export function withCachedJwt(auth: unknown, createJwt: CreateJwt): unknown {
  if (auth === null || typeof auth !== "object" || !("privateKey" in auth) || !("appId" in auth)) return auth;
  const { privateKey: _key, ...rest } = auth as Record<string, unknown>;
  return { ...rest, createJwt };
}
