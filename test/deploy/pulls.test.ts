// The pull requests this process read: admission's read answers the pipeline's
// newest-wins check for a few seconds, a newer read (a webhook's) replaces it,
// and nothing older than that is ever reused.
import assert from "node:assert/strict";
import { it } from "node:test";
import type { PullInfo } from "../../src/github/port.ts";
import { RecentPulls } from "../../src/deploy/pulls.ts";

const REPO = { owner: "o", repo: "r", installationId: 1, repositoryId: 42 };

function pull(headSha: string, state: PullInfo["state"] = "open"): PullInfo {
  return {
    number: 3,
    state,
    headSha,
    mergeSha: null,
    headRef: "f",
    baseRef: "main",
    headRepoId: 42,
    baseRepoId: 42,
  };
}

function github() {
  const g = {
    reads: 0,
    current: pull("a"),
    /** Pending answers, to finish reads out of order. */
    gate: undefined as Promise<void> | undefined,
    async getPull(): Promise<PullInfo | undefined> {
      g.reads++;
      const answer = g.current;
      await g.gate;
      return answer;
    },
  };
  return g;
}

it("reuses a read for a few seconds, then asks GitHub again", async () => {
  const g = github();
  let now = 0;
  const pulls = new RecentPulls(g, () => now, 5_000);
  await pulls.getPull(REPO, 3);
  g.current = pull("b");
  assert.equal((await pulls.recent(REPO, 3))!.headSha, "a");
  assert.equal(g.reads, 1);
  now = 5_000;
  assert.equal((await pulls.recent(REPO, 3))!.headSha, "b", "too old: read again");
  assert.equal(g.reads, 2);
});

it("a newer read replaces the remembered one; an older read finishing late does not", async () => {
  const g = github();
  let now = 0;
  const pulls = new RecentPulls(g, () => now, 5_000);
  let release!: () => void;
  g.gate = new Promise((r) => (release = r));
  const slow = pulls.getPull(REPO, 3); // started at 0, answers "a"
  g.gate = undefined;
  now = 1;
  g.current = pull("b");
  await pulls.getPull(REPO, 3); // a synchronize webhook's read: "b"
  release();
  await slow;
  assert.equal((await pulls.recent(REPO, 3))!.headSha, "b");
});

it("a closed pull request is forgotten: the next check reads GitHub", async () => {
  const g = github();
  const pulls = new RecentPulls(g, () => 0, 5_000);
  await pulls.getPull(REPO, 3);
  pulls.forget(REPO, 3);
  g.current = pull("a", "closed");
  assert.equal((await pulls.recent(REPO, 3))!.state, "closed");
  assert.equal(g.reads, 2);
});
