// The secret naming scheme operators follow (values are tested against the fake in runtime.test.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { secretKeys, secretNameFor } from "../../../src/runtime/kubernetes/secrets.ts";

test("one Secret per repository, named from owner and repo, case-insensitive", () => {
  assert.equal(secretNameFor("acme", "shop"), "paas-secrets.acme.shop");
  assert.equal(secretNameFor("Acme", "Shop.Web"), "paas-secrets.acme.shop.web");
  // Owners cannot contain dots, so owner "a-b" + repo "c" and owner "a" + repo "b-c" differ.
  assert.notEqual(secretNameFor("a-b", "c"), secretNameFor("a", "b-c"));
  const odd = secretNameFor("acme", "my_repo");
  assert.match(odd, /^paas-secrets\.acme-my-repo-[a-z2-7]{8}$/);
  assert.notEqual(secretNameFor("acme", "my-repo"), odd, "distinct repositories never share a Secret");
  assert.match(secretNameFor("acme", ".github"), /^paas-secrets\.[a-z0-9-]+$/);
});

test("previews read preview__ keys only; named environments their own; monorepo apps may override", () => {
  const t = (environment: { kind: "preview"; pr: number } | { kind: "named"; name: string }, app = "") => ({
    owner: "acme",
    repo: "shop",
    app,
    environment,
  });
  assert.deepEqual(secretKeys(t({ kind: "preview", pr: 4 }), "DB"), ["preview__DB"]);
  assert.deepEqual(secretKeys(t({ kind: "named", name: "production" }), "DB"), ["production__DB"]);
  assert.deepEqual(secretKeys(t({ kind: "named", name: "staging" }, "api"), "DB"), [
    "api.staging__DB",
    "staging__DB",
  ]);
  for (const pr of [1, 2, 999]) {
    assert.ok(secretKeys(t({ kind: "preview", pr }, "api"), "DB").every((k) => !k.includes("production")));
  }
});
