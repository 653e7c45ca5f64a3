// Golden tests: every folder of test/fixtures/repos is a sample repository;
// detect() over it must equal its expected.json exactly (the plan, or
// { "error": message }; monorepos map each app key to one of those).
// Regenerate with UPDATE_GOLDEN=1 and review the diff before committing.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parseConfig, resolveApps } from "../../src/config/load.ts";
import { detect, diskSource, formatPlan } from "../../src/detect/index.ts";
import { PaasError } from "../../src/errors.ts";

const REPOS = join(import.meta.dirname, "../fixtures/repos");
const UPDATE = process.env.UPDATE_GOLDEN === "1";

async function outcome(dir: string): Promise<unknown> {
  const configPath = join(dir, ".paas.yml");
  const apps = resolveApps(
    parseConfig(existsSync(configPath) ? readFileSync(configPath, "utf8") : undefined),
  );
  const source = diskSource(dir);
  const results: Record<string, unknown> = {};
  for (const app of apps) {
    try {
      const plan = await detect(source, app.config, { appPath: app.path });
      assert.ok(formatPlan(plan).includes(`language:`));
      // JSON drops undefined fields: compare what a reader of the golden file sees.
      results[app.key] = JSON.parse(JSON.stringify(plan));
    } catch (e) {
      if (!(e instanceof PaasError)) throw e;
      results[app.key] = { error: e.message };
    }
  }
  return apps.length === 1 && apps[0]!.key === "" ? results[""] : results;
}

for (const name of readdirSync(REPOS).sort()) {
  test(`detect ${name}`, async () => {
    const dir = join(REPOS, name);
    const actual = await outcome(dir);
    const goldenPath = join(dir, "expected.json");
    if (UPDATE) {
      writeFileSync(goldenPath, `${JSON.stringify(actual, null, 2)}\n`);
      return;
    }
    assert.ok(existsSync(goldenPath), `${goldenPath} is missing: run with UPDATE_GOLDEN=1 and review it`);
    assert.deepStrictEqual(actual, JSON.parse(readFileSync(goldenPath, "utf8")));
  });
}

test("the fixtures cover the required layouts", () => {
  const names = readdirSync(REPOS);
  const count = (prefix: string) => names.filter((n) => n.startsWith(prefix)).length;
  assert.ok(count("py-") >= 4 && count("go-") >= 3 && count("rust-") >= 3 && count("docker-") >= 2);
});
