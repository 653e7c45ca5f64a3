// The refusal contract: every code has one HTTP status, the App's refusals carry
// their code, and the Action reads the code. (test/support/app-harness.ts checks
// every refusal of the real App against this table too.)
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  isRefusalCode,
  REFUSAL_CODES,
  REFUSAL_STATUS,
  refusalSchema,
  refusalStatus,
  retryable,
} from "../../src/contract/refusal.ts";

describe("refusal contract", () => {
  it("every code has an HTTP error status", () => {
    assert.ok(REFUSAL_CODES.length > 30);
    for (const code of REFUSAL_CODES) {
      const status = refusalStatus(code);
      assert.ok(Number.isInteger(status) && status >= 400 && status <= 599, `${code}: ${status}`);
    }
  });

  it("the App's side is retried, the request's is not", () => {
    assert.equal(retryable(refusalStatus("issuer_unavailable")), true);
    assert.equal(retryable(refusalStatus("server")), true);
    assert.equal(retryable(refusalStatus("internal")), true);
    for (const code of ["token", "sha", "replay", "config", "body", "size"] as const)
      assert.equal(retryable(refusalStatus(code)), false, code);
  });

  it("a code is known only as an own key of the table", () => {
    assert.equal(isRefusalCode("sha"), true);
    assert.equal(isRefusalCode("constructor"), false);
    assert.equal(isRefusalCode("toString"), false);
  });

  it("a refusal names its check, and an unknown one still parses (an older Action, a newer App)", () => {
    assert.equal(
      refusalSchema.safeParse({ error: "handoff_rejected", check: "sha", message: "m" }).success,
      true,
    );
    assert.equal(refusalSchema.safeParse({ error: "x", check: "future_check", message: "m" }).success, true);
    assert.equal(refusalSchema.safeParse({ error: "x", message: "m" }).success, false);
  });

  it("no use case chooses a status: every thrown refusal names a code of the table", () => {
    // A HandoffRejected takes (code, message); the compiler checks the code. What is left to
    // catch is a status written back at a throw site, or a status kept outside the table.
    const files = [
      "src/deploy/admission.ts",
      "src/deploy/accept.ts",
      "src/app/handoff.ts",
      "src/server/server.ts",
    ];
    for (const f of files) {
      const text = readFileSync(new URL(`../../${f}`, import.meta.url), "utf8");
      assert.doesNotMatch(text, /HandoffRejected\(\s*\d{3}/, f);
      assert.doesNotMatch(text, /json\(res, (?:4|5)\d\d,/, `${f}: a refusal status outside the table`);
    }
    assert.equal(Object.keys(REFUSAL_STATUS).length, REFUSAL_CODES.length);
  });

  it("docs/settings.md lists every code under its status", () => {
    const docs = readFileSync(new URL("../../docs/settings.md", import.meta.url), "utf8");
    for (const code of REFUSAL_CODES) {
      const row = docs.split("\n").find((l) => l.startsWith("| ") && l.includes(`\`${code}\``));
      assert.ok(row, `${code} is not in the table of docs/settings.md`);
      assert.ok(row.includes(String(refusalStatus(code))), `${code}: ${row}`);
    }
  });
});
