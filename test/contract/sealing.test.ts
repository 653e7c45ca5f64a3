// Sealed hand-off secrets: what the Action seals the App opens, for exactly
// the hand-off it was sealed for; anything else (another repository,
// environment, app, commit or token, another key, a changed byte) does not
// open, and the errors never hold a value.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { describe, it } from "node:test";
import { handoffRequestSchema } from "../../src/contract/handoff.ts";
import {
  openSealed,
  sealedSecretsSchema,
  sealingKeyAnswer,
  sealingKeyAnswerSchema,
  sealSecrets,
  UnsealError,
  type SealBinding,
} from "../../src/contract/sealing.ts";

const privateKey = generateKeyPairSync("x25519").privateKey;
const published = sealingKeyAnswer(privateKey);
const key = { kid: published.kid, privateKey };
const binding: SealBinding = {
  repositoryId: "123456",
  environment: "production",
  app: "",
  sha: "a".repeat(40),
  jti: "6f1c1b1e-0000-4000-8000-000000000001",
};
const VALUE = "postgres://app:s3cr3t-value@db/prod";

function reason(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof UnsealError, String(e));
    assert.ok(!e.message.includes(VALUE) && !e.message.includes("s3cr3t"), e.message);
    return e.reason;
  }
  return "opened";
}

describe("sealed secrets", () => {
  it("the published key follows the contract, and what is sealed to it opens for the same hand-off", () => {
    assert.deepEqual(sealingKeyAnswerSchema.parse(published), published);
    const sealed = sealSecrets({ DATABASE_URL: VALUE, PEM: "a\nb\n" }, published, binding);
    assert.deepEqual(sealedSecretsSchema.parse(sealed), sealed);
    assert.ok(!JSON.stringify(sealed).includes("s3cr3t"), "the blob holds no value in the clear");
    assert.deepEqual(
      [...openSealed(sealed, key, binding)],
      [
        ["DATABASE_URL", VALUE],
        ["PEM", "a\nb\n"],
      ],
    );
    // Each seal uses a fresh ephemeral key and nonce.
    assert.notEqual(
      sealSecrets({ A: "x" }, published, binding).ct,
      sealSecrets({ A: "x" }, published, binding).ct,
    );
  });

  it("a blob moved to any other hand-off does not open", () => {
    const sealed = sealSecrets({ DATABASE_URL: VALUE }, published, binding);
    for (const change of [
      { repositoryId: "654321" },
      { environment: "preview/pr-1" },
      { environment: "" },
      { app: "api" },
      { sha: "b".repeat(40) },
      { jti: "another-token" },
    ])
      assert.equal(
        reason(() => openSealed(sealed, key, { ...binding, ...change })),
        "binding",
        JSON.stringify(change),
      );
  });

  it("another key, or a changed byte, does not open; the kid says which key to fetch", () => {
    const sealed = sealSecrets({ DATABASE_URL: VALUE }, published, binding);
    const other = generateKeyPairSync("x25519").privateKey;
    assert.equal(
      reason(() => openSealed(sealed, { kid: sealed.kid, privateKey: other }, binding)),
      "binding",
    );
    assert.equal(
      reason(() => openSealed(sealed, { kid: "0".repeat(16), privateKey }, binding)),
      "kid",
    );
    const ct = Buffer.from(sealed.ct, "base64url");
    ct[0]! ^= 1;
    assert.equal(
      reason(() => openSealed({ ...sealed, ct: ct.toString("base64url") }, key, binding)),
      "binding",
    );
    const epk = sealSecrets({}, published, binding).epk;
    assert.equal(
      reason(() => openSealed({ ...sealed, epk }, key, binding)),
      "binding",
    );
  });

  it("names must be variable names; __proto__ is kept as a name, not a prototype", () => {
    assert.equal(
      reason(() => openSealed(sealSecrets({ "BAD NAME": VALUE }, published, binding), key, binding)),
      "names",
    );
    assert.equal(
      reason(() => openSealed(sealSecrets({ "1X": VALUE }, published, binding), key, binding)),
      "names",
    );
    assert.equal(
      reason(() => openSealed(sealSecrets({ NUL: "a\0b" }, published, binding), key, binding)),
      "names",
    );
    const proto = JSON.parse('{"__proto__":"p-value","toString":"t"}') as Record<string, string>;
    const opened = openSealed(sealSecrets(proto, published, binding), key, binding);
    assert.equal(opened.get("__proto__"), "p-value");
    assert.equal(opened.get("toString"), "t");
  });

  it("the hand-off request carries the sealed field, and refuses a malformed one", () => {
    const base = {
      repository: "o/r",
      sha: binding.sha,
      image: "ghcr.io/o/r",
      digest: `sha256:${"b".repeat(64)}`,
    };
    const sealed = sealSecrets({ A: VALUE }, published, binding);
    assert.deepEqual(handoffRequestSchema.parse({ ...base, secrets: sealed }).secrets, sealed);
    assert.equal(
      handoffRequestSchema.safeParse({ ...base, secrets: { ...sealed, iv: "short" } }).success,
      false,
    );
    assert.equal(
      handoffRequestSchema.safeParse({ ...base, secrets: { A: VALUE } }).success,
      false,
      "never plain values",
    );
    assert.equal(
      handoffRequestSchema.safeParse({ ...base, secrets: { ...sealed, ct: "A".repeat(60_000) } }).success,
      false,
    );
  });
});
