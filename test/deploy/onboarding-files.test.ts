// The onboarding pull request's content, pure: whatever the default branch is
// called and whatever detection said, .paas.yml parses to what it claims and
// the workflow is YAML whose expressions never contain repository text.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parse as parseYaml } from "yaml";
import { parseConfig, resolveApps } from "../../src/config/load.ts";
import { onboardingConfig, onboardingFiles, onboardingWorkflow } from "../../src/deploy/onboarding-files.ts";
import type { BuildPlan } from "../../src/detect/types.ts";

const PLAN: BuildPlan = {
  language: "go",
  version: "1.24",
  start: "./server",
  port: 8080,
  appPath: ".",
  context: ".",
  dockerfile: undefined,
  manifests: ["go.mod"],
  reasons: ["go via go.mod", "port 8080 from run.port"],
};

const base = {
  fullName: "acme/shop",
  appUrl: "https://paas.example.com",
  action: "paas-dev/paas/action@v1",
  workflow: "paas.yml",
};

// Git branch names: no spaces, control characters, ~^:?*[\ or "..", not ending in "/" or ".lock".
const branchName = fc
  .stringMatching(/^[A-Za-z0-9][A-Za-z0-9._/'"#{}$-]{0,40}$/)
  .filter((b) => !b.includes("..") && !b.includes("//") && !b.endsWith("/") && !b.endsWith(".lock"));

describe("onboarding files", () => {
  it("keeps every default branch name as data: .paas.yml and the workflow parse to it", () => {
    fc.assert(
      fc.property(branchName, fc.string({ maxLength: 200 }), (branch, reason) => {
        const input = {
          ...base,
          defaultBranch: branch,
          detected: { plan: { ...PLAN, reasons: [reason] }, language: "auto" as const },
        };
        const [app] = resolveApps(parseConfig(onboardingConfig(input)));
        const expected = branch === "main" ? { production: { branch: "main" } } : { production: { branch } };
        assert.deepEqual(app!.config.environments, expected);
        const wf = parseYaml(onboardingWorkflow(input)) as {
          on: { push: { branches: string[] } };
          jobs: { deploy: { environment: string } };
        };
        assert.deepEqual(wf.on.push.branches, [branch]);
        // The branch never reaches a GitHub expression: the event names the default branch itself.
        assert.equal(
          wf.jobs.deploy.environment,
          "${{ github.event_name == 'push' && github.ref_name == github.event.repository.default_branch && 'production' || github.event_name == 'pull_request' && 'preview' || '' }}",
        );
      }),
      { numRuns: 300 },
    );
  });

  it("says which key to set when nothing was detected, and the file still validates", () => {
    const input = {
      ...base,
      defaultBranch: "main",
      detected: {
        error: "Nothing to build in the repository root.\nSet `language`.",
        key: "language",
        language: "auto" as const,
      },
    };
    const text = onboardingConfig(input);
    assert.match(text, /^# language: <set me>$/m);
    assert.equal(resolveApps(parseConfig(text))[0]!.config.language, "auto");
    const files = onboardingFiles(input, { workflowExists: false });
    assert.match(files.body, /could not detect how to build this repository/);
    assert.match(files.body, /Set `language` in `.paas.yml`/);
  });

  it("sets only what differs from the defaults", () => {
    const text = onboardingConfig({
      ...base,
      defaultBranch: "main",
      detected: { plan: PLAN, language: "auto" },
    });
    const keys = text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
    assert.deepEqual(keys, [], "a detected app on main needs no key");
    assert.deepEqual(parseConfig(text).raw ?? {}, {});
  });
});
