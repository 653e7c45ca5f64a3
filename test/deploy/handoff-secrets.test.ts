// The App's gate for the secrets a hand-off carries: only from the GitHub
// environment whose secrets the target receives, opened for this hand-off
// only, cut down to the names the default branch allows.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { describe, it } from "node:test";
import { refusalStatus } from "../../src/contract/refusal.ts";
import type { ActionsClaims } from "../../src/app/handoff.ts";
import { HandoffRejected } from "../../src/app/handoff.ts";
import { handoffRequestSchema } from "../../src/contract/handoff.ts";
import { sealingKeyAnswer, sealSecrets } from "../../src/contract/sealing.ts";
import { admitSecrets, expectedEnvironments } from "../../src/deploy/handoff-secrets.ts";
import type { EnvRef } from "../../src/names.ts";

const privateKey = generateKeyPairSync("x25519").privateKey;
const published = sealingKeyAnswer(privateKey);
const key = { kid: published.kid, privateKey };
const SHA = "c".repeat(40);

function claims(over: Partial<ActionsClaims> = {}): ActionsClaims {
  return {
    repository: "o/r",
    repository_id: "42",
    repository_owner_id: "7",
    sha: SHA,
    ref: "refs/heads/main",
    event_name: "push",
    environment: "production",
    jti: "jti-1",
    iat: 1,
    exp: 2,
    ...over,
  };
}

function body(values: Record<string, string>, c: ActionsClaims, environment = "production", app = "") {
  const secrets = sealSecrets(values, published, {
    repositoryId: c.repository_id,
    environment,
    app,
    sha: SHA,
    jti: c.jti,
  });
  return handoffRequestSchema.parse({
    repository: "o/r",
    sha: SHA,
    environment,
    app,
    image: "ghcr.io/o/r",
    digest: `sha256:${"d".repeat(64)}`,
    secrets,
  });
}

const production: EnvRef = { kind: "named", name: "production" };
const preview: EnvRef = { kind: "preview", pr: 3 };

function refusal(f: () => unknown): { status: number; check: string; message: string } {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof HandoffRejected, String(e));
    return { status: refusalStatus(e.check), check: e.check, message: e.message };
  }
  assert.fail("expected a refusal");
}

describe("admitSecrets", () => {
  it("keeps the names the default branch gives the environment, reports the others, never stores them", () => {
    const c = claims();
    const got = admitSecrets({
      claims: c,
      body: body({ DATABASE_URL: "db-value", EXTRA: "extra-value" }, c),
      env: production,
      allowed: ["DATABASE_URL", "SESSION_KEY"],
      key,
    });
    assert.deepEqual(got, { values: { DATABASE_URL: "db-value" }, ignored: ["EXTRA"] });
  });

  it("no sealed field: nothing delivered (the runtime's operator values apply)", () => {
    const parsed = handoffRequestSchema.parse({
      repository: "o/r",
      sha: SHA,
      image: "ghcr.io/o/r",
      digest: `sha256:${"d".repeat(64)}`,
    });
    assert.equal(
      admitSecrets({ claims: claims(), body: parsed, env: production, allowed: [], key }),
      undefined,
    );
  });

  it("secrets only from the GitHub environment of the target: a preview never takes production's", () => {
    const fromProd = claims({
      event_name: "pull_request",
      ref: "refs/pull/3/merge",
      environment: "production",
    });
    const r = refusal(() =>
      admitSecrets({
        claims: fromProd,
        body: body({ DATABASE_URL: "prod-db-value" }, fromProd, "preview/pr-3"),
        env: preview,
        allowed: ["DATABASE_URL"],
        key,
      }),
    );
    assert.equal(r.status, 403);
    assert.equal(r.check, "secrets_environment");
    assert.match(r.message, /`environment: preview`/);
    assert.ok(!r.message.includes("prod-db-value"));
    const none = claims({ environment: undefined });
    assert.equal(
      refusal(() =>
        admitSecrets({ claims: none, body: body({ A: "v" }, none), env: production, allowed: ["A"], key }),
      ).check,
      "secrets_environment",
    );
    const fromPreview = claims({
      event_name: "pull_request",
      ref: "refs/pull/3/merge",
      environment: "preview",
    });
    assert.deepEqual(
      admitSecrets({
        claims: fromPreview,
        body: body({ DATABASE_URL: "preview-db" }, fromPreview, "preview/pr-3"),
        env: preview,
        allowed: ["DATABASE_URL"],
        key,
      })?.values,
      { DATABASE_URL: "preview-db" },
    );
  });

  it("a monorepo app may take them from `<environment>/<app>`", () => {
    assert.deepEqual(expectedEnvironments(production, "api"), ["production", "production/api"]);
    assert.deepEqual(expectedEnvironments(preview, ""), ["preview"]);
    const c = claims({ environment: "production/api" });
    const got = admitSecrets({
      claims: c,
      body: body({ A: "v" }, c, "production", "api"),
      env: production,
      allowed: ["A"],
      key,
    });
    assert.deepEqual(got?.values, { A: "v" });
  });

  it("sealed for another token, or to another key: 422 `secrets`, no value in the message", () => {
    const c = claims();
    const sealedForOther = body({ A: "a-value" }, claims({ jti: "jti-2" }));
    const r = refusal(() =>
      admitSecrets({ claims: c, body: sealedForOther, env: production, allowed: ["A"], key }),
    );
    assert.equal(r.status, 422);
    assert.equal(r.check, "secrets");
    assert.ok(!r.message.includes("a-value"));
    const other = generateKeyPairSync("x25519").privateKey;
    const wrongKey = { kid: sealingKeyAnswer(other).kid, privateKey: other };
    assert.match(
      refusal(() =>
        admitSecrets({
          claims: c,
          body: body({ A: "v" }, c),
          env: production,
          allowed: ["A"],
          key: wrongKey,
        }),
      ).message,
      /fetch the key again/,
    );
  });
});
