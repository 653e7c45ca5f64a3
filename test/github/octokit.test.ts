// The one Octokit adapter against the fake GitHub (which validates every
// request against GitHub's OpenAPI description): every field of a check run
// update reaches GitHub, whichever use case writes it (fork approvals used to
// have their own adapter that dropped annotations and the details URL).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createProbot } from "probot";
import { OctokitGitHub } from "../../src/github/octokit.ts";
import type { RepoRef } from "../../src/github/port.ts";
import { probotEnv } from "../../src/settings/app.ts";
import {
  APP_ID,
  FULL,
  INSTALLATION_ID,
  OWNER,
  REPO,
  startHarness,
  type Harness,
} from "../support/app-harness.ts";

const sha = "ab".repeat(20);
const repo: RepoRef = { owner: OWNER, repo: REPO, installationId: INSTALLATION_ID };

describe("OctokitGitHub", () => {
  let h: Harness;
  let github: OctokitGitHub;
  before(async () => {
    h = await startHarness({ PAAS_RECONCILE_INTERVAL: "0s" });
    const probot = createProbot({ env: probotEnv(h.settings) });
    github = new OctokitGitHub({
      app: () => probot.auth(),
      installation: (id) => probot.auth(id),
      appId: APP_ID,
    });
  });
  after(() => h.close());

  it("writes every field of a check run, the approval's external id included", async () => {
    const id = await github.createCheckRun(repo, sha, "paas", {
      status: "queued",
      detailsUrl: "https://ci.example.com/run/1",
      externalId: `paas-approved:${sha}:alice`,
      output: {
        title: "t",
        summary: "s",
        annotations: [
          { path: "a.py", start_line: 1, end_line: 1, annotation_level: "failure", message: "m" },
        ],
      },
    });
    await github.updateCheckRun(repo, id, {
      status: "completed",
      conclusion: "failure",
      detailsUrl: "https://ci.example.com/run/2",
      output: {
        title: "t2",
        summary: "s2",
        annotations: [
          { path: "b.py", start_line: 2, end_line: 2, annotation_level: "warning", message: "n" },
        ],
      },
    });
    const run = h.github.checkRunsOf(FULL, sha).find((c) => c.id === id)!;
    assert.equal(run.detailsUrl, "https://ci.example.com/run/2");
    assert.equal(run.conclusion, "failure");
    assert.deepEqual(
      run.annotations.map((a) => a.path),
      ["a.py", "b.py"],
    );
    assert.deepEqual(await github.findOwnCheckRun(repo, sha, "paas"), {
      id,
      externalId: `paas-approved:${sha}:alice`,
    });
    assert.equal(await github.findCheckRun(repo, sha, "paas"), id);
    assert.deepEqual(h.github.violations, []);
  });

  it("reads deployments newest first, bounded, with the App's payload", async () => {
    for (const n of [1, 2, 3])
      await github.createDeployment(repo, {
        sha,
        environment: "production",
        description: `d${n}`,
        transient: false,
        production: true,
        payload: { n: String(n) },
      });
    const two = await github.deployments(repo, 2, "production");
    assert.equal(two.length, 2);
    assert.ok(two.every((d) => d.environment === "production" && typeof d.payload.n === "string"));
    // The commit's deployments read as the same records.
    const ofCommit = await github.deploymentsOfCommit(repo, sha);
    for (const d of two)
      assert.deepEqual(
        ofCommit.find((c) => c.id === d.id),
        d,
      );
    assert.equal(await github.defaultBranch(repo), (await github.repository(repo)).defaultBranch);
    assert.deepEqual(h.github.violations, []);
  });
});
