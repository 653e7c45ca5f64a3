// The reporter with an in-memory GitHub: one check run per commit and app
// (found or created), config annotations once and in batches of 50, and the
// sticky comment created once, edited only when its rows change.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InProcessLock } from "../../src/app/lock.ts";
import { COMMENT_MARKER, upsertRow } from "../../src/app/report.ts";
import { parseConfig } from "../../src/config/load.ts";
import { Reporter, type ReporterGitHub } from "../../src/deploy/reporter.ts";
import { ConfigError } from "../../src/errors.ts";
import type { CheckRunUpdate, RepoInfo } from "../../src/github/port.ts";

const repo: RepoInfo = { owner: "o", repo: "r", installationId: 1, repositoryId: 10, ownerId: 2 };
const sha = "a".repeat(40);

class MemoryGitHub implements ReporterGitHub {
  readonly writes: string[] = [];
  readonly checks = new Map<number, { name: string; updates: CheckRunUpdate[] }>();
  readonly comments = new Map<number, string>();
  #next = 1;
  async findCheckRun(_r: unknown, _sha: string, name: string) {
    return [...this.checks].find(([, c]) => c.name === name)?.[0];
  }
  async createCheckRun(_r: unknown, _sha: string, name: string, u: CheckRunUpdate) {
    const id = this.#next++;
    this.checks.set(id, { name, updates: [u] });
    this.writes.push(`create check ${name}`);
    return id;
  }
  async updateCheckRun(_r: unknown, id: number, u: CheckRunUpdate) {
    this.checks.get(id)!.updates.push(u);
    this.writes.push(`update check ${id}`);
  }
  async listComments() {
    return [...this.comments].map(([id, body]) => ({ id, body, byBot: true }));
  }
  async createComment(_r: unknown, _pr: number, body: string) {
    const id = this.#next++;
    this.comments.set(id, body);
    this.writes.push("create comment");
    return id;
  }
  async updateComment(_r: unknown, id: number, body: string) {
    this.comments.set(id, body);
    this.writes.push(`update comment ${id}`);
  }
}

function reporter(github: MemoryGitHub): Reporter {
  return new Reporter({
    github,
    lock: new InProcessLock(),
    clock: { now: () => new Date("2026-01-01T00:00:00Z") },
    githubWebUrl: "https://github.example.com",
  });
}

describe("Reporter", () => {
  it("finds or creates one check run per commit and app, then updates it by id", async () => {
    const github = new MemoryGitHub();
    const report = reporter(github);
    const ref = { repo, sha, appKey: "api" };
    assert.equal(report.checkUrl(ref), undefined);
    await report.check(ref, { status: "in_progress" });
    await report.completeCheck(ref, "success", { title: "t", summary: "s" });
    assert.deepEqual(github.writes, ["create check paas (api)", "update check 1"]);
    assert.equal(report.checkUrl(ref), "https://github.example.com/o/r/runs/1");
    assert.equal(github.checks.get(1)!.updates[1]!.completedAt, "2026-01-01T00:00:00.000Z");
  });

  it("annotates an invalid .paas.yml once, 50 annotations per request", async () => {
    const github = new MemoryGitHub();
    const report = reporter(github);
    const bad = Array.from({ length: 60 }, (_, i) => `k${i}: 1`).join("\n");
    let err: ConfigError | undefined;
    try {
      parseConfig(bad);
    } catch (e) {
      err = e as ConfigError;
    }
    assert.ok(err instanceof ConfigError && err.issues.length > 50, "the config has more than 50 problems");
    const ref = { repo, sha, appKey: "" };
    await report.failConfig(ref, err);
    await report.failConfig(ref, err);
    const updates = github.checks.get(1)!.updates;
    assert.equal(updates.length, 2, "created with the first 50, then one update with the rest");
    assert.equal(updates[0]!.output!.annotations!.length, 50);
    assert.equal(updates[1]!.output!.annotations!.length, err.issues.length - 50);
  });

  it("creates the comment once and edits it only when its rows change", async () => {
    const github = new MemoryGitHub();
    const report = reporter(github);
    const row = report.row("web", "building", sha, { checkUrl: undefined });
    assert.equal("checkUrl" in row, false, "undefined extras are left out");
    await report.updateComment(repo, 3, false, (rows) => upsertRow(rows, row));
    assert.deepEqual(github.writes, [], "no comment is created unless asked");
    await report.updateComment(repo, 3, true, (rows) => upsertRow(rows, row));
    await report.updateComment(repo, 3, true, (rows) => upsertRow(rows, row));
    await report.updateComment(repo, 3, true, (rows) => upsertRow(rows, { ...row, status: "ready" }));
    assert.deepEqual(github.writes, ["create comment", "update comment 1"]);
    assert.ok(github.comments.get(1)!.includes(COMMENT_MARKER));
  });
});
