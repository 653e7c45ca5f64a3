// Fork approvals as a use case with an in-memory GitHub port (no HTTP): an
// approval is recorded on the App's own check run (its external id) and the
// workflow dispatched, and the recorded approval is what a dispatched
// hand-off is checked against. End to end: test/app/forks.test.ts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { approvedBy, ForkApprovals, type ForkGitHub } from "../../src/app/forks.ts";
import type { CheckRunUpdate, Permission, PullInfo, RepoInfo } from "../../src/github/port.ts";

const repo: RepoInfo = { owner: "o", repo: "r", installationId: 1, repositoryId: 2, ownerId: 3 };
const head = "c".repeat(40);
const CONFIG = "run: { port: 8080 }\npreviews: { forks: approve }\n";

class MemoryGitHub implements ForkGitHub {
  pull: PullInfo = {
    number: 4,
    state: "open",
    headSha: head,
    mergeSha: null,
    headRef: "feature",
    baseRef: "main",
    headRepoId: 99,
    baseRepoId: 10,
  };
  permissions = new Map<string, Permission>([["maintainer", "write"]]);
  readonly checks = new Map<number, { name: string; sha: string; updates: CheckRunUpdate[] }>();
  readonly comments: string[] = [];
  readonly dispatches: Record<string, string>[] = [];
  async getPull() {
    return this.pull;
  }
  async getFile() {
    return CONFIG;
  }
  async createComment(_r: unknown, _pr: number, body: string) {
    this.comments.push(body);
    return this.comments.length;
  }
  async defaultBranch() {
    return "main";
  }
  async permission(_r: unknown, login: string) {
    return this.permissions.get(login) ?? "read";
  }
  async dispatchWorkflow(_r: unknown, _w: string, _ref: string, inputs: Record<string, string>) {
    this.dispatches.push(inputs);
  }
  async findOwnCheckRun(_r: unknown, sha: string, name: string) {
    const found = [...this.checks].find(([, c]) => c.sha === sha && c.name === name);
    if (!found) return undefined;
    const externalId = found[1].updates.findLast((u) => u.externalId)?.externalId ?? null;
    return { id: found[0], externalId };
  }
  async createCheckRun(_r: unknown, sha: string, name: string, u: CheckRunUpdate) {
    const id = this.checks.size + 1;
    this.checks.set(id, { name, sha, updates: [u] });
    return id;
  }
  async updateCheckRun(_r: unknown, id: number, u: CheckRunUpdate) {
    this.checks.get(id)!.updates.push(u);
  }
}

const silent = { info() {}, warn() {} };
const comment = (login: string, body = "/paas deploy") => ({
  issueNumber: 4,
  isPullRequest: true,
  body,
  login,
  userType: "User",
});

describe("ForkApprovals (in-memory port)", () => {
  it("records an approval on the App's own check run and dispatches the build of that commit", async () => {
    const github = new MemoryGitHub();
    const forks = new ForkApprovals({ github, workflow: "paas.yml", log: silent });
    await forks.pullRequestUpdated(repo, 4, head);
    assert.equal(github.checks.get(1)!.updates[0]!.status, "queued");
    // Only the full sha approves: the maintainer names exactly the commit they reviewed.
    await forks.commented(repo, comment("maintainer", `/paas deploy ${head}`));
    const run = await github.findOwnCheckRun(repo, head, "paas");
    assert.equal(approvedBy(run?.externalId, head), "maintainer");
    assert.deepEqual(github.dispatches, [{ pr: "4", sha: head }]);
  });

  it("refuses a user without write permission, once, and records nothing", async () => {
    const github = new MemoryGitHub();
    const forks = new ForkApprovals({ github, workflow: "paas.yml", log: silent });
    await forks.commented(repo, comment("visitor"));
    await forks.commented(repo, comment("visitor"));
    assert.equal(github.comments.length, 1);
    assert.match(github.comments[0]!, /only users with write permission/);
    assert.deepEqual(github.dispatches, []);
    assert.equal(github.checks.size, 0);
  });

  it("refuses an approval pinned to a commit that is no longer the head", async () => {
    const github = new MemoryGitHub();
    const forks = new ForkApprovals({ github, workflow: "paas.yml", log: silent });
    await forks.commented(repo, comment("maintainer", `/paas deploy ${"d".repeat(40)}`));
    assert.match(github.comments[0]!, /is not the head of this pull request/);
    assert.deepEqual(github.dispatches, []);
  });
});
