// Which environments may sleep, and when: previews by previews.sleep (default
// 30m, "off" never), long-lived environments only when configured.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseConfig, resolveApps } from "../../src/config/load.ts";
import { sleepAfterMs } from "../../src/deploy/sleep.ts";

const config = (yaml: string) => resolveApps(parseConfig(yaml))[0]!.config;
const preview = { kind: "preview", pr: 3 } as const;
const production = { kind: "named", name: "production" } as const;

describe("sleepAfterMs", () => {
  it("sleeps previews after 30 minutes by default, and production never", () => {
    const c = config("run: { port: 8080 }\n");
    assert.equal(sleepAfterMs(c, preview), 30 * 60_000);
    assert.equal(sleepAfterMs(c, production), undefined);
  });

  it("follows previews.sleep and environments.<name>.sleep, off included", () => {
    const c = config(
      "previews: { sleep: 'off' }\nenvironments:\n  production: { branch: main }\n  staging: { branch: dev, sleep: 2h }\n",
    );
    assert.equal(sleepAfterMs(c, preview), undefined);
    assert.equal(sleepAfterMs(c, production), undefined);
    assert.equal(sleepAfterMs(c, { kind: "named", name: "staging" }), 2 * 3_600_000);
    assert.equal(sleepAfterMs(c, { kind: "named", name: "constructor" }), undefined);
  });

  it("refuses a value that is neither a duration nor off", () => {
    assert.throws(() => parseConfig("previews: { sleep: never }\n"), /previews\.sleep/);
  });
});
