// Day two on the Kubernetes runtime (the fake API server, a gateway double
// serving what the HTTPRoutes and Deployments say), with the App as a child
// process killed between the deploys and the command: `/paas rollback` reads
// the history back from GitHub and puts the previous image back, and
// `/paas logs` shows the pods' lines in a check run.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { namespaceName } from "../../src/names.ts";
import { BASE_DOMAIN, FULL, OWNER, REPO, startWorld, type World } from "../support/reliability-world.ts";
import { until } from "../support/wait.ts";

const CONFIG = `name: records
run:
  port: 8080
environments:
  staging:
    branch: main
`;
const digest = (n: number) => `sha256:${String(n).padStart(64, "0")}`;

describe("day two on the Kubernetes runtime", { timeout: 180_000 }, () => {
  let w: World;
  const a = "f1".padEnd(40, "0");
  const b = "f2".padEnd(40, "0");
  const hostname = `staging-records.${BASE_DOMAIN}`;

  before(async () => {
    w = await startWorld();
    w.github.permissions.set(`${FULL}:maintainer`, "write");
    await w.app.start();
  });
  after(async () => {
    await w?.close();
  });

  const staging = () => w.github.deploymentsOf(FULL, "staging");

  const liveState = (id: number) => () =>
    staging().find((d) => d.id === id && d.statuses.at(-1)?.state === "success");

  async function deploy(sha: string, n: number): Promise<void> {
    const id = await w.pushHandoff({
      sha,
      environment: "staging",
      image: `ghcr.io/${OWNER}/${REPO}@${digest(n)}`,
      config: CONFIG,
    });
    await until(`${sha} live`, liveState(id));
  }

  it("rolls back after the App was killed: the gateway serves the previous commit again", async () => {
    await deploy(a, 1);
    await deploy(b, 2);
    assert.equal(w.gateway.serving(hostname), b);
    await w.app.kill();
    await w.app.start();
    const reply = await w.say("/paas rollback staging");
    assert.match(reply, /✅ Rolling staging back to f100000/);
    const rolled = staging().at(-1)!;
    assert.equal((rolled.payload as Record<string, string>).digest, digest(1));
    await until("the rollback live", liveState(rolled.id));
    assert.equal(w.gateway.serving(hostname), a);
  });

  it("shows the pods' recent lines in a check run", async () => {
    const ns = namespaceName({
      owner: OWNER,
      repo: REPO,
      app: "",
      environment: { kind: "named", name: "staging" },
    });
    const pods = w.kube.list("v1", "Pod", ns).map((p) => (p.metadata as { name: string }).name);
    assert.ok(pods.length > 0);
    for (const pod of pods)
      w.kube.setPodLogs(ns, pod, [`${new Date().toISOString()} served GET / from ${pod}`]);
    const reply = await w.say("/paas logs staging");
    const id = /\/runs\/(\d+)\)/.exec(reply)?.[1];
    assert.ok(id, reply);
    const check = w.github.checkRunsOf(FULL).find((c) => c.id === Number(id))!;
    assert.equal(check.headSha, a, "on the live commit");
    for (const pod of pods)
      assert.ok(check.output.text!.includes(`served GET / from ${pod}`), check.output.text);
  });
});
