import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  HandoffRejected,
  OidcVerifier,
  resolveEnvironment,
  type ActionsClaims,
} from "../../src/app/handoff.ts";
import { refusalStatus } from "../../src/contract/refusal.ts";
import { handoffRequestSchema } from "../../src/contract/handoff.ts";
import { OidcIssuer, type ActionsTokenClaims } from "../fakes/oidc-issuer.ts";

const AUD = "https://paas.example.test";
const claims: ActionsTokenClaims = {
  repository: "o/r",
  repository_id: "1",
  repository_owner: "o",
  repository_owner_id: "2",
  sha: "a".repeat(40),
  ref: "refs/heads/main",
  event_name: "push",
};

describe("OidcVerifier", () => {
  const issuer = new OidcIssuer();
  before(() => issuer.start());
  after(() => issuer.stop());

  it("verifies a token and returns its Actions claims", async () => {
    const v = new OidcVerifier({ issuer: issuer.url, audience: AUD });
    const c = await v.verify(await issuer.token(claims, { audience: AUD }));
    assert.equal(c.repository, "o/r");
    assert.equal(c.repository_id, "1");
  });

  it("caches keys and refetches them when a token names an unknown kid", async () => {
    const v = new OidcVerifier({ issuer: issuer.url, audience: AUD, cooldownMs: 0 });
    await v.verify(await issuer.token(claims, { audience: AUD }));
    const fetches = issuer.jwksFetches;
    await v.verify(await issuer.token(claims, { audience: AUD }));
    assert.equal(issuer.jwksFetches, fetches, "known keys come from the cache");
    await issuer.rotate("key-2");
    const c = await v.verify(await issuer.token(claims, { audience: AUD }));
    assert.equal(c.sha, claims.sha);
    assert.equal(issuer.jwksFetches, fetches + 1);
  });

  it("names the failed check", async () => {
    const v = new OidcVerifier({ issuer: issuer.url, audience: AUD, clockToleranceSec: 5 });
    const check = async (token: string) => {
      const e = await v.verify(token).then(
        () => undefined,
        (err: unknown) => err,
      );
      assert.ok(e instanceof HandoffRejected);
      return `${refusalStatus(e.check)} ${e.check}`;
    };
    assert.equal(await check(await issuer.token(claims, { audience: "https://elsewhere" })), "401 audience");
    assert.equal(await check(await issuer.token(claims, { audience: AUD, expiresInSec: -60 })), "401 expiry");
    assert.equal(
      await check(await issuer.token(claims, { audience: AUD, notBeforeSec: 120 })),
      "401 not_before",
    );
    assert.equal(
      await check(await issuer.token(claims, { audience: AUD, kid: "unknown-kid" })),
      "401 signature",
    );
    const { repository: _r, ...partial } = claims;
    assert.equal(
      await check(await issuer.token(partial as ActionsTokenClaims, { audience: AUD })),
      "401 claims",
    );
    // One use per token needs its jti: a token without one is not accepted.
    assert.equal(
      await check(await issuer.token({ ...claims, jti: undefined }, { audience: AUD })),
      "401 claims",
    );
  });

  it("refuses a token issued longer ago, or valid for longer, than the maximum age (max_age)", async () => {
    const v = new OidcVerifier({
      issuer: issuer.url,
      audience: AUD,
      clockToleranceSec: 5,
      maxTokenAgeSec: 600,
    });
    const check = (token: string) =>
      v.verify(token).then(
        () => "accepted",
        (e: unknown) => (e instanceof HandoffRejected ? `${refusalStatus(e.check)} ${e.check}` : String(e)),
      );
    assert.equal(
      await check(await issuer.token(claims, { audience: AUD, issuedAtSec: -700 })),
      "401 max_age",
    );
    assert.equal(
      await check(await issuer.token(claims, { audience: AUD, expiresInSec: 10 * 365 * 86400 })),
      "401 max_age",
    );
    assert.equal(await check(await issuer.token(claims, { audience: AUD, issuedAtSec: -300 })), "accepted");
  });

  it("reports an unreachable issuer as 503", async () => {
    const v = new OidcVerifier({ issuer: "http://127.0.0.1:9", audience: AUD });
    const e = await v.verify("x.y.z").catch((err: unknown) => err);
    assert.ok(e instanceof HandoffRejected);
    assert.equal(refusalStatus(e.check), 503);
    assert.equal(e.check, "issuer_unavailable");
  });
});

describe("hand-off body and environment", () => {
  const body = (over: Record<string, unknown>) =>
    handoffRequestSchema.parse({
      repository: "o/r",
      sha: "a".repeat(40),
      image: "ghcr.io/o/r",
      digest: `sha256:${"1".repeat(64)}`,
      ...over,
    });

  it("accepts the Action's image + digest or one pinned reference", () => {
    assert.equal(body({}).image, `ghcr.io/o/r@sha256:${"1".repeat(64)}`);
    assert.equal(
      body({ image: `ghcr.io/o/r@sha256:${"2".repeat(64)}`, digest: undefined }).digest,
      `sha256:${"2".repeat(64)}`,
    );
    assert.throws(
      () => body({ image: `ghcr.io/o/r@sha256:${"2".repeat(64)}` }),
      /matching the image reference/,
    );
    assert.throws(() => body({ image: "Bad Image" }), /image name/);
  });

  const envs = { production: { branch: "main" }, staging: { branch: "develop" }, qa: {} };
  const c = (over: Partial<ActionsClaims>): ActionsClaims => ({ ...claims, ...over }) as ActionsClaims;

  it("maps pull_request runs to their preview and branches to their environment", () => {
    assert.deepEqual(
      resolveEnvironment(c({ event_name: "pull_request", ref: "refs/pull/4/merge" }), body({}), envs),
      { kind: "preview", pr: 4 },
    );
    assert.deepEqual(resolveEnvironment(c({ ref: "refs/heads/develop" }), body({}), envs), {
      kind: "named",
      name: "staging",
    });
    assert.deepEqual(resolveEnvironment(c({ ref: "refs/heads/any" }), body({ environment: "qa" }), envs), {
      kind: "named",
      name: "qa",
    });
  });

  it("refuses environments outside their branch", () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as HandoffRejected).check;
      }
      return "accepted";
    };
    assert.equal(
      code(() =>
        resolveEnvironment(c({ ref: "refs/heads/feature" }), body({ environment: "production" }), envs),
      ),
      "branch",
    );
    assert.equal(
      code(() => resolveEnvironment(c({ ref: "refs/heads/feature" }), body({}), envs)),
      "branch",
    );
    assert.equal(
      code(() => resolveEnvironment(c({ ref: "refs/tags/v1" }), body({ environment: "production" }), envs)),
      "branch",
    );
    assert.equal(
      code(() =>
        resolveEnvironment(
          c({ event_name: "pull_request", ref: "refs/pull/4/merge" }),
          body({ environment: "production" }),
          envs,
        ),
      ),
      "branch",
    );
    assert.equal(
      code(() => resolveEnvironment(c({ ref: "refs/heads/main" }), body({ environment: "nope" }), envs)),
      "environment",
    );
  });
});
