// The App's sealing key: given as PEM, kept in a 0600 file (created once,
// then reused: the kid stays across restarts), or generated per start; bad
// input is a problem naming the variable, never the key.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { loadSealingKey, withSealingKeyFile } from "../../src/settings/sealing-key.ts";
import { loadSettings } from "../../src/settings/app.ts";
import { SettingsError } from "../../src/settings/errors.ts";

const dir = mkdtempSync(join(tmpdir(), "paas-sealing-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("sealing key", () => {
  it("PAAS_SEALING_KEY_PATH: created 0600 when missing, the same key after a restart", () => {
    const path = join(dir, "sealing-key.pem");
    const problems: string[] = [];
    const first = loadSealingKey({ PAAS_SEALING_KEY_PATH: path }, problems);
    assert.deepEqual(problems, []);
    assert.equal(first?.source, "PAAS_SEALING_KEY_PATH");
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const again = loadSealingKey({ PAAS_SEALING_KEY_PATH: path }, problems);
    assert.equal(again?.kid, first?.kid, "the kid survives a restart");
    assert.deepEqual(again?.answer, first?.answer);
  });

  it("`paas start` on one host keeps the key in its state folder unless the operator set one", () => {
    const state = join(dir, "state", "paas");
    const env = withSealingKeyFile({}, state);
    assert.equal(env.PAAS_SEALING_KEY_PATH, join(state, "sealing-key.pem"));
    assert.equal(statSync(state).mode & 0o777, 0o700);
    const a = loadSealingKey(env, []);
    assert.equal(
      loadSealingKey(withSealingKeyFile({}, state), [])?.kid,
      a?.kid,
      "the same key after a restart",
    );
    const own = { PAAS_SEALING_KEY_PATH: "/etc/paas/sealing.pem" };
    assert.deepEqual(withSealingKeyFile(own, state), own);
    assert.deepEqual(withSealingKeyFile({ PAAS_SEALING_KEY: "pem" }, state), { PAAS_SEALING_KEY: "pem" });
  });

  it("a key file others can read is refused with the fix", () => {
    const path = join(dir, "open.pem");
    writeFileSync(path, generateKeyPairSync("x25519").privateKey.export({ format: "pem", type: "pkcs8" }));
    chmodSync(path, 0o644);
    const problems: string[] = [];
    assert.equal(loadSealingKey({ PAAS_SEALING_KEY_PATH: path }, problems), undefined);
    assert.match(problems.join("\n"), /readable by other users: run `chmod 600/);
  });

  it("PAAS_SEALING_KEY: an X25519 PEM; anything else is refused without quoting it", () => {
    const pem = generateKeyPairSync("x25519").privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    const problems: string[] = [];
    assert.equal(loadSealingKey({ PAAS_SEALING_KEY: pem }, problems)?.source, "PAAS_SEALING_KEY");
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 })
      .privateKey.export({ format: "pem", type: "pkcs8" })
      .toString();
    for (const bad of [rsa, "not-a-key-planted-value"]) {
      const p: string[] = [];
      assert.equal(loadSealingKey({ PAAS_SEALING_KEY: bad }, p), undefined);
      assert.match(
        p.join("\n"),
        /PAAS_SEALING_KEY must be an X25519 private key .*openssl genpkey -algorithm X25519/,
      );
      assert.ok(!p.join("\n").includes("planted-value") && !p.join("\n").includes("PRIVATE KEY"));
    }
    const both: string[] = [];
    loadSealingKey({ PAAS_SEALING_KEY: pem, PAAS_SEALING_KEY_PATH: join(dir, "x.pem") }, both);
    assert.match(both.join("\n"), /not both/);
  });

  it("neither: a key per start; loadSettings reports a bad key among its problems", () => {
    const a = loadSealingKey({}, []);
    const b = loadSealingKey({}, []);
    assert.equal(a?.source, "generated");
    assert.notEqual(a?.kid, b?.kid);
    const base = {
      APP_ID: "1",
      WEBHOOK_SECRET: "w",
      PAAS_PUBLIC_URL: "https://p.example",
      PRIVATE_KEY: generateKeyPairSync("rsa", { modulusLength: 1024 })
        .privateKey.export({ format: "pem", type: "pkcs8" })
        .toString(),
    };
    assert.equal(loadSettings(base).sealing.source, "generated");
    assert.throws(
      () => loadSettings({ ...base, PAAS_SEALING_KEY: "garbage" }),
      (e: unknown) => e instanceof SettingsError && /PAAS_SEALING_KEY must be/.test(e.message),
    );
  });
});
