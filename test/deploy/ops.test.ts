// The operations use case with in-memory ports: which environments a command
// names (the default branch's .paas.yml decides), who may run it, and what it
// asks of the deployer or GitHub.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseConfig } from "../../src/config/load.ts";
import { parseOpCommand, type OpCommand } from "../../src/core/operations.ts";
import { Operations, type OpsDeps } from "../../src/deploy/ops.ts";
import { DeployRefused } from "../../src/deploy/resume.ts";
import type { ConfigError } from "../../src/errors.ts";
import type { DeploymentRecord, Permission, RepoInfo } from "../../src/github/port.ts";

const repo: RepoInfo = { owner: "o", repo: "r", installationId: 1, repositoryId: 2, ownerId: 3 };
const MONO = `apps:
  api:
    path: api
  web:
    path: web
environments:
  production: { branch: main }
  staging: { branch: main }
`;

function world(config: string, o: { permission?: Permission; refuse?: string } = {}) {
  const deployed: { environment: string; sha: string; image: string; pinned?: boolean }[] = [];
  const closed: number[] = [];
  const dispatched: Record<string, string>[] = [];
  const history = new Map<string, DeploymentRecord[]>();
  let id = 100;
  const record = (environment: string, sha: string, n: number, app = "") => {
    const d: DeploymentRecord = {
      id: id++,
      sha,
      environment,
      payload: { image: `ghcr.io/o/r@sha256:${String(n).padStart(64, "0")}`, sha, app },
      createdAt: "",
    };
    history.set(environment, [d, ...(history.get(environment) ?? [])]);
  };
  let loaded: ReturnType<typeof parseConfig> | ConfigError;
  try {
    loaded = parseConfig(config);
  } catch (e) {
    loaded = e as ConfigError;
  }
  const deps: OpsDeps = {
    github: {
      permission: async () => o.permission ?? "write",
      deployments: async (_r, _max, env) => history.get(env ?? "") ?? [],
      // The newest deployment of each environment is live; older ones were.
      deploymentStates: async (_r, dId) =>
        [...history.values()].some((l) => l[0]?.id === dId) ? ["success"] : ["inactive", "success"],
      dispatchWorkflow: async (_r, _w, _ref, inputs) => void dispatched.push(inputs),
      createCheckRun: async () => 1,
    },
    deployer: {
      deployImage: async (_r, k) => {
        if (o.refuse) throw new DeployRefused(o.refuse);
        deployed.push({ environment: k.environment, sha: k.sha, image: k.image, pinned: k.pinned });
        return { deploymentId: id++ };
      },
      pullRequestClosed: async (_r, pr) => void closed.push(pr),
    },
    trusted: { get: async () => ({ defaultBranch: "main", etag: undefined, loaded }) },
    runtime: { logs: async () => [] },
    githubWebUrl: "https://github.com",
    workflow: "paas-release.yml",
  };
  const ops = new Operations(deps);
  const run = (body: string, pr?: number) =>
    ops.run(repo, { login: "u", command: parseOpCommand(body) as OpCommand, pr });
  return { run, record, deployed, closed, dispatched };
}

describe("Operations", () => {
  it("operates every app of a monorepo, or the one the environment names", async () => {
    const w = world(MONO);
    for (const app of ["api", "web"]) {
      w.record(`staging/${app}`, "a".repeat(40), 1, app);
      w.record(`staging/${app}`, "b".repeat(40), 2, app);
    }
    const all = await w.run("/paas rollback staging");
    assert.equal(all.ok, true, all.text);
    assert.deepEqual(
      w.deployed.map((d) => [d.environment, d.sha[0], d.pinned]),
      [
        ["staging/api", "a", true],
        ["staging/web", "a", true],
      ],
    );
    const one = await w.run("/paas redeploy staging/web");
    assert.equal(one.ok, true, one.text);
    assert.deepEqual(w.deployed.at(-1)!.environment, "staging/web");
    const none = await w.run("/paas redeploy staging/nope");
    assert.equal(none.ok, false);
    assert.match(none.text, /no app `nope`/);
  });

  it("names what is wrong: an environment the default branch does not define, a bad default config", async () => {
    const w = world(MONO);
    const r = await w.run("/paas redeploy qa");
    assert.match(
      r.text,
      /qa is not an environment of the default branch's \.paas\.yml \(defined: production, staging\)/,
    );
    const broken = world("run: { port: nope }\n");
    assert.match((await broken.run("/paas redeploy")).text, /on the default branch main is invalid/);
    assert.equal(broken.deployed.length, 0);
  });

  it("refuses read permission before reading anything; help needs no permission", async () => {
    const w = world(MONO, { permission: "read" });
    const r = await w.run("/paas destroy", 4);
    assert.equal(r.ok, false);
    assert.match(r.text, /has read permission .* needs write permission/);
    assert.deepEqual(w.closed, []);
    assert.equal((await w.run("/paas help")).ok, true);
  });

  it("destroys only previews, the comment's own by default", async () => {
    const w = world("run: { port: 8080 }\n");
    assert.equal((await w.run("/paas destroy", 7)).ok, true);
    assert.deepEqual(w.closed, [7]);
    assert.match((await w.run("/paas destroy")).text, /previews only; production is not one/);
    assert.equal((await w.run("/paas destroy pr-8")).ok, true);
    assert.deepEqual(w.closed, [7, 8]);
  });

  it("dispatches protected production instead of deploying it, and says why the deployer refused", async () => {
    const w = world("run: { port: 8080 }\nenvironments: { production: { branch: main } }\n");
    w.record("production", "a".repeat(40), 1);
    w.record("production", "b".repeat(40), 2);
    const r = await w.run("/paas rollback");
    assert.equal(r.ok, true, r.text);
    assert.deepEqual(w.deployed, []);
    assert.deepEqual(w.dispatched, [
      {
        environment: "production",
        image: `ghcr.io/o/r@sha256:${"1".padStart(64, "0")}`,
        sha: "a".repeat(40),
      },
    ]);
    const open = world(
      "run: { port: 8080 }\nenvironments: { production: { branch: main, protected: false } }\n",
      {
        refuse: "the image is not under an allowed prefix",
      },
    );
    open.record("production", "a".repeat(40), 1);
    const refused = await open.run("/paas redeploy production");
    assert.equal(refused.ok, false);
    assert.match(refused.text, /Not done: the image is not under an allowed prefix/);
  });
});
