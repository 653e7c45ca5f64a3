// The deploy hand-off: the Action POSTs the image digest with a GitHub Actions
// OIDC token. This module verifies the token (signature against the issuer's
// JWKS found through its discovery document, iss, aud, exp/nbf) and holds the
// pure request checks; the deployer adds the checks that need GitHub. The
// request's schema is the contract's (src/contract/handoff.ts).
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from "jose";
import { z } from "zod";
import type { EnvironmentConfig } from "../config/schema.ts";
import type { HandoffTarget } from "../contract/handoff.ts";
import type { RefusalCode } from "../contract/refusal.ts";
import { PaasError } from "../errors.ts";
import { githubEnvironment, previewPr, type EnvRef } from "../names.ts";

/**
 * A refused request of the Action: which check failed. Its HTTP status is the
 * contract's table's (src/contract/refusal.ts), chosen by the server, not here.
 */
export class HandoffRejected extends PaasError {
  readonly check: RefusalCode;
  constructor(check: RefusalCode, message: string) {
    super("handoff_rejected", message);
    this.check = check;
  }
}

/** Claims of a GitHub Actions OIDC token that the checks use. */
export const actionsClaimsSchema = z.object({
  repository: z.string(),
  repository_id: z.coerce.string(),
  repository_owner: z.string().optional(),
  repository_owner_id: z.coerce.string(),
  sha: z.string(),
  ref: z.string(),
  event_name: z.string(),
  job_workflow_ref: z.string().optional(),
  /** The top-level workflow of the run (a reusable workflow's caller), unlike job_workflow_ref. */
  workflow_ref: z.string().optional(),
  /** The GitHub environment the job ran in: GitHub's protection rules gated it. */
  environment: z.string().optional(),
  run_id: z.coerce.string().optional(),
  /** Unique per token: a hand-off uses its token once. */
  jti: z.string().min(1).max(200),
  iat: z.number(),
  exp: z.number(),
});
export type ActionsClaims = z.output<typeof actionsClaimsSchema>;

export interface VerifierOptions {
  issuer: string;
  audience: string;
  /** Seconds of clock skew accepted on exp/nbf/iat. */
  clockToleranceSec?: number;
  /** Minimum time between JWKS refetches triggered by an unknown `kid`. */
  cooldownMs?: number;
  /** How long fetched keys are trusted without refetching. */
  cacheMaxAgeMs?: number;
  /**
   * Oldest token accepted (seconds since iat), and the longest lifetime (exp - iat) accepted:
   * a leaked token is good for minutes, not for as long as its issuer chose.
   */
  maxTokenAgeSec?: number;
}

/** GitHub's Actions tokens live 5 minutes; a hand-off requests its token right before posting. */
export const DEFAULT_MAX_TOKEN_AGE_SEC = 15 * 60;

/** Verifies GitHub Actions OIDC tokens. Keys are cached and refreshed when a token names an unknown `kid`. */
export class OidcVerifier {
  readonly #options: Required<VerifierOptions>;
  #jwks: Promise<JWTVerifyGetKey> | undefined;

  constructor(options: VerifierOptions) {
    this.#options = {
      clockToleranceSec: 60,
      cooldownMs: 30_000,
      cacheMaxAgeMs: 10 * 60_000,
      maxTokenAgeSec: DEFAULT_MAX_TOKEN_AGE_SEC,
      ...options,
    };
  }

  async verify(token: string): Promise<ActionsClaims> {
    const jwks = await this.#keys();
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        issuer: this.#options.issuer,
        // The same URL with or without its trailing slash.
        audience: [this.#options.audience, `${this.#options.audience}/`],
        clockTolerance: this.#options.clockToleranceSec,
        algorithms: ["RS256", "RS384", "RS512", "ES256", "ES384"],
        requiredClaims: ["exp", "iat", "jti"],
        maxTokenAge: this.#options.maxTokenAgeSec,
      }));
    } catch (e) {
      throw rejectionFor(e, this.#options);
    }
    const claims = actionsClaimsSchema.safeParse(payload);
    if (!claims.success) {
      throw new HandoffRejected(
        "claims",
        "the token is not a GitHub Actions OIDC token (repository, sha, ref, event_name or jti missing)",
      );
    }
    const lifetime = claims.data.exp - claims.data.iat;
    if (lifetime > this.#options.maxTokenAgeSec + this.#options.clockToleranceSec) {
      throw new HandoffRejected(
        "max_age",
        `the token is valid for ${lifetime} s; this App accepts tokens valid for at most ${this.#options.maxTokenAgeSec} s (request a fresh GitHub Actions OIDC token)`,
      );
    }
    return claims.data;
  }

  #keys(): Promise<JWTVerifyGetKey> {
    this.#jwks ??= this.#discover().catch((e: unknown) => {
      this.#jwks = undefined; // retry discovery on the next request
      throw e;
    });
    return this.#jwks;
  }

  async #discover(): Promise<JWTVerifyGetKey> {
    const url = `${this.#options.issuer}/.well-known/openid-configuration`;
    let doc: unknown;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      doc = await res.json();
    } catch (e) {
      throw new HandoffRejected(
        "issuer_unavailable",
        `cannot read the OIDC discovery document at ${url} (${(e as Error).message}); check PAAS_OIDC_ISSUER`,
      );
    }
    const parsed = z.object({ issuer: z.string(), jwks_uri: z.string().url() }).safeParse(doc);
    if (!parsed.success || parsed.data.issuer.replace(/\/+$/, "") !== this.#options.issuer) {
      throw new HandoffRejected(
        "issuer_unavailable",
        `the discovery document at ${url} does not describe issuer ${this.#options.issuer}`,
      );
    }
    return createRemoteJWKSet(new URL(parsed.data.jwks_uri), {
      cooldownDuration: this.#options.cooldownMs,
      cacheMaxAge: this.#options.cacheMaxAgeMs,
      timeoutDuration: 5000,
    });
  }
}

function rejectionFor(e: unknown, o: Required<VerifierOptions>): HandoffRejected {
  if (e instanceof HandoffRejected) return e;
  // jose reports an iat older than maxTokenAge as an expired "iat" claim.
  if (e instanceof joseErrors.JWTExpired && e.claim === "iat")
    return new HandoffRejected(
      "max_age",
      `the token was issued more than ${o.maxTokenAgeSec} s ago: request a fresh OIDC token right before the hand-off`,
    );
  if (e instanceof joseErrors.JWTExpired)
    return new HandoffRejected("expiry", "the token has expired: request a fresh OIDC token");
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    if (e.claim === "aud")
      return new HandoffRejected(
        "audience",
        `the token's audience must be ${o.audience} (request the token with that audience)`,
      );
    if (e.claim === "iss") return new HandoffRejected("issuer", `the token was not issued by ${o.issuer}`);
    if (e.claim === "nbf" || e.claim === "iat")
      return new HandoffRejected("not_before", "the token is not valid yet");
    return new HandoffRejected("claims", `the token's ${e.claim} claim is invalid`);
  }
  if (e instanceof joseErrors.JWKSNoMatchingKey)
    return new HandoffRejected("signature", "the token is signed with a key the issuer does not publish");
  if (e instanceof joseErrors.JWSSignatureVerificationFailed)
    return new HandoffRejected("signature", "the token's signature is invalid");
  if (e instanceof joseErrors.JOSEAlgNotAllowed)
    return new HandoffRejected("signature", "the token's signing algorithm is not accepted");
  if (e instanceof joseErrors.JWKSTimeout || e instanceof joseErrors.JWKSInvalid) {
    return new HandoffRejected("issuer_unavailable", "cannot read the issuer's signing keys; try again");
  }
  return new HandoffRejected("token", "the bearer token is malformed");
}

/** The bearer token of an Authorization header. */
export function bearerToken(header: string | undefined): string {
  const m = /^Bearer\s+([A-Za-z0-9._~+/=-]+)$/i.exec(header ?? "");
  if (!m)
    throw new HandoffRejected(
      "token",
      "missing bearer token: send Authorization: Bearer <GitHub Actions OIDC token>",
    );
  return m[1]!;
}

/** Checks that need only the token and the body. */
export function checkClaims(claims: ActionsClaims, body: HandoffTarget): void {
  if (claims.event_name === "pull_request_target") {
    throw new HandoffRejected(
      "event",
      "pull_request_target runs cannot deploy: they run base-branch code with fork input; use pull_request",
    );
  }
  if (claims.repository.toLowerCase() !== body.repository.toLowerCase()) {
    throw new HandoffRejected(
      "repository",
      `the token belongs to ${claims.repository}, not ${body.repository}`,
    );
  }
  if (body.ref !== undefined && body.ref !== claims.ref) {
    throw new HandoffRejected(
      "ref",
      `the body's ref ${body.ref.slice(0, 100)} is not the ref the workflow ran on`,
    );
  }
}

/** PR number of a pull_request run (`refs/pull/<N>/merge`), if the token is one. */
export function pullRequestOf(claims: ActionsClaims): number | undefined {
  if (claims.event_name !== "pull_request") return undefined;
  const m = /^refs\/pull\/(\d{1,9})\/(?:merge|head)$/.exec(claims.ref);
  return m ? Number(m[1]) : undefined;
}

/**
 * The environment a hand-off deploys. Previews come from pull_request runs;
 * an environment with a `branch` deploys only from `refs/heads/<branch>`.
 */
export function resolveEnvironment(
  claims: ActionsClaims,
  body: HandoffTarget,
  environments: Record<string, EnvironmentConfig>,
): EnvRef {
  const pr = pullRequestOf(claims);
  if (pr !== undefined) {
    const preview: EnvRef = { kind: "preview", pr };
    if (body.environment !== undefined && previewPr(body.environment) !== pr) {
      throw new HandoffRejected(
        "branch",
        `a pull_request run of PR #${pr} deploys only ${githubEnvironment(preview)}, not ${body.environment.slice(0, 64)}`,
      );
    }
    return preview;
  }
  if (claims.event_name === "pull_request") {
    throw new HandoffRejected("ref", `unexpected ref ${claims.ref.slice(0, 100)} for a pull_request run`);
  }
  const branch = claims.ref.startsWith("refs/heads/") ? claims.ref.slice("refs/heads/".length) : undefined;
  if (body.environment === undefined) {
    const match = Object.entries(environments).find(([, e]) => branch !== undefined && e.branch === branch);
    if (!match) {
      throw new HandoffRejected(
        "branch",
        `no environment in .paas.yml deploys from ${claims.ref.slice(0, 100)}; map the branch under environments`,
      );
    }
    return { kind: "named", name: match[0] };
  }
  const name = body.environment;
  if (/^(?:preview\/)?pr-\d+$/.test(name)) {
    throw new HandoffRejected("branch", "previews are deployed only from pull_request runs");
  }
  // Own keys only: "constructor", "toString", "__proto__" are not environments of every config.
  const env = Object.hasOwn(environments, name) ? environments[name] : undefined;
  if (!env) {
    throw new HandoffRejected(
      "environment",
      `environment "${name.slice(0, 64)}" is not defined in .paas.yml (defined: ${Object.keys(environments).join(", ") || "none"})`,
    );
  }
  if (env.branch !== undefined && env.branch !== branch) {
    throw new HandoffRejected(
      "branch",
      `${name} deploys only from branch ${env.branch}, not ${claims.ref.slice(0, 100)}`,
    );
  }
  return { kind: "named", name };
}
