// `/paas deploy` on a removed preview, with in-memory ports: who may, what is
// redeployed (the newest image recorded for the head, per app), and the answers
// when nothing can be.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RuntimeEnvironment } from "../../src/core/spec.ts";
import { revivePreview, type RevivalDeps } from "../../src/deploy/revive.ts";
import type { DeploymentInput, Permission, RepoInfo } from "../../src/github/port.ts";

const repo: RepoInfo = { owner: "acme", repo: "shop", installationId: 1, repositoryId: 42, ownerId: 7 };
const head = "a".repeat(40);

function ports(o: {
  permission?: Permission;
  live?: RuntimeEnvironment[];
  recorded?: { id: number; environment: string; payload: Record<string, unknown> }[];
  refuse?: string;
}) {
  const created: DeploymentInput[] = [];
  const resumed: { id: number; environment: string; payload: Record<string, unknown> }[] = [];
  const deps: RevivalDeps = {
    github: {
      permission: () => Promise.resolve(o.permission ?? "write"),
      // Recorded deployments of the commit (their sha and date do not matter here).
      deploymentsOfCommit: (_r, sha) =>
        Promise.resolve((o.recorded ?? []).map((d) => ({ sha, createdAt: "", ...d }))),
      createDeployment: (_r, input) => {
        created.push(input);
        return Promise.resolve(500 + created.length);
      },
    },
    runtime: { list: () => Promise.resolve(o.live ?? []) },
    resume: (_r, d) => {
      resumed.push(d);
      return Promise.resolve(o.refuse);
    },
  };
  return { deps, created, resumed };
}

const image = (tag: string) => `ghcr.io/acme/shop@sha256:${tag.repeat(64)}`;

describe("revivePreview", () => {
  it("redeploys the newest recorded image of the head for each app, without the hand-off's token id", async () => {
    const p = ports({
      recorded: [
        {
          id: 3,
          environment: "preview/pr-5/api",
          payload: { image: image("c"), sha: head, app: "api", jti: "t3" },
        },
        { id: 2, environment: "preview/pr-5", payload: { image: image("b"), sha: head, app: "", jti: "t2" } },
        { id: 1, environment: "preview/pr-5", payload: { image: image("a"), sha: head, app: "" } },
        { id: 0, environment: "preview/pr-6", payload: { image: image("d"), sha: head, app: "" } },
      ],
    });
    const answer = await revivePreview(repo, { number: 5, headSha: head }, "maria", p.deps);
    assert.match(answer, /^@maria: redeploying `aaaaaaa`/);
    assert.deepEqual(
      p.created.map((c) => [c.environment, c.payload.image, "jti" in c.payload, c.transient]),
      [
        ["preview/pr-5/api", image("c"), false, true],
        ["preview/pr-5", image("b"), false, true],
      ],
    );
    assert.deepEqual(
      p.resumed.map((r) => [r.id, r.environment]),
      [
        [501, "preview/pr-5/api"],
        [502, "preview/pr-5"],
      ],
    );
  });

  it("refuses users without write permission, and changes nothing", async () => {
    const p = ports({
      permission: "triage",
      recorded: [{ id: 1, environment: "preview/pr-5", payload: { image: image("a"), sha: head } }],
    });
    assert.match(
      await revivePreview(repo, { number: 5, headSha: head }, "x", p.deps),
      /only users with write permission/,
    );
    assert.equal(p.created.length, 0);
  });

  it("says so when the preview is running, or when no build of the head is recorded", async () => {
    const live = {
      target: { owner: "acme", repo: "shop", app: "", environment: { kind: "preview", pr: 5 } },
      repositoryId: 42,
    } as unknown as RuntimeEnvironment;
    const running = ports({ live: [live] });
    assert.match(await revivePreview(repo, { number: 5, headSha: head }, "m", running.deps), /is running/);
    const none = ports({});
    assert.match(
      await revivePreview(repo, { number: 5, headSha: head }, "m", none.deps),
      /no build of `aaaaaaa` is recorded; push/,
    );
    assert.equal(running.created.length + none.created.length, 0);
  });

  it("passes on the deployer's reason when the image cannot be deployed", async () => {
    const p = ports({
      recorded: [{ id: 1, environment: "preview/pr-5", payload: { image: image("a"), sha: head, app: "" } }],
      refuse: 'app "" is no longer defined in .paas.yml',
    });
    assert.match(
      await revivePreview(repo, { number: 5, headSha: head }, "m", p.deps),
      /cannot be redeployed .*no longer defined/,
    );
  });
});
