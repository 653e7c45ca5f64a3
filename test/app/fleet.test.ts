// One environment on three clusters, through the App as `paas start` runs it
// (a child process, SIGKILLed between waves): the fake GitHub, three fake
// Kubernetes API servers registered in PAAS_CLUSTERS, the gateway double on
// the first. Production rolls out in waves [1, 2] (aceh, then bali, then papua):
// the check run shows the per-cluster table, the deployment records each wave,
// a kill during the second wave resumes there after the restart without
// touching the first wave again, and a wave that fails offers Rollback.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { KubernetesRuntime } from "../../src/runtime/kubernetes/runtime.ts";
import { FakeKubernetesApi } from "../fakes/kubernetes-api.ts";
import { HTTPROUTE_SETTINGS } from "../runtime/kubernetes/specs.ts";
import {
  BASE_DOMAIN,
  FULL,
  OWNER,
  REPO,
  kubeconfigYaml,
  pushClaims,
  startWorld,
  type World,
} from "../support/reliability-world.ts";
import { until } from "../support/wait.ts";
import { tmpdir } from "node:os";

const CONFIG = `name: records
run:
  port: 8080
environments:
  national:
    branch: main
    clusters: provinces
    rollout: { waves: [1, 2] }
`;
const HOST = `national-records.${BASE_DOMAIN}`;
const digest = (n: number) => `sha256:${String(n).padStart(64, "0")}`;

describe("one environment on three clusters, in waves", { timeout: 240_000 }, () => {
  let w: World;
  const dir = mkdtempSync(join(tmpdir(), "paas-fleet-"));
  const clustersFile = join(dir, "clusters.yaml");
  let bali: FakeKubernetesApi;
  let papua: FakeKubernetesApi;

  before(async () => {
    // bali's rollouts are slow enough to kill the App in the middle of its wave.
    bali = await FakeKubernetesApi.start({ controllerDelayMs: 2, slowMs: 4000 });
    papua = await FakeKubernetesApi.start({ controllerDelayMs: 2 });
    w = await startWorld({ appEnv: { PAAS_CLUSTERS: clustersFile } });
    w.github.permissions.set(`${FULL}:maintainer`, "write");
    for (const [name, fake] of [
      ["aceh", w.kube],
      ["bali", bali],
      ["papua", papua],
    ] as const)
      writeFileSync(join(dir, `${name}.yaml`), kubeconfigYaml(fake));
    writeFileSync(
      clustersFile,
      [
        "clusters:",
        "  - { name: aceh, kubeconfig: aceh.yaml, labels: { island: sumatra }, detailsUrl: 'https://console.example.com/aceh' }",
        "  - { name: bali, kubeconfig: bali.yaml, labels: { island: bali } }",
        "  - { name: papua, kubeconfig: papua.yaml, labels: { island: papua } }",
        "groups:",
        "  provinces: [aceh, bali, papua]",
        "unreachable: { retries: 1, delay: 100ms }",
        "",
      ].join("\n"),
    );
    await w.app.start();
  });
  after(async () => {
    await w?.close();
    await bali?.close();
    await papua?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const production = () => w.github.deploymentsOf(FULL, "national");

  const handoff = (sha: string, n: number) =>
    w.pushHandoff({
      sha,
      environment: "national",
      image: `ghcr.io/${OWNER}/${REPO}@${digest(n)}`,
      config: CONFIG,
    });

  const finalState = (id: number) => () => {
    const s = production()
      .find((d) => d.id === id)
      ?.statuses.at(-1)?.state;
    return s === "success" || s === "failure" || s === "error" ? s : undefined;
  };
  const summary = (sha: string) => w.github.checkRunsOf(FULL, sha).at(-1)?.output?.summary ?? "";
  const deploymentPatches = (fake: FakeKubernetesApi) =>
    fake.requests.filter((r) => r.method === "PATCH" && r.resource === "deployments").length;

  it("the first deploy reaches every cluster wave by wave, and the check run shows each cluster", async () => {
    const sha = "a1".padEnd(40, "0");
    bali.setScenario(`ghcr.io/${OWNER}/${REPO}@${digest(1)}`, "ready");
    const id = await handoff(sha, 1);
    assert.equal(await until("deploy 1", finalState(id)), "success");
    const statuses = production()
      .find((d) => d.id === id)!
      .statuses.map((s) => s.description ?? "");
    for (const wave of [1, 2, 3])
      assert.ok(
        statuses.some((d) => d.startsWith(`wave ${wave} of 3`)),
        JSON.stringify(statuses),
      );
    const text = summary(sha);
    assert.match(text, /### Clusters/);
    for (const c of ["aceh", "bali", "papua"])
      assert.match(text, new RegExp(`\\| ${c} \\| \\d \\| \`a100000\` \\| ✅ serving`));
    assert.match(text, /\[cluster\]\(https:\/\/console\.example\.com\/aceh\)/);
  });

  it("killed during the second wave, the App resumes there: the first wave is verified, not applied again", async () => {
    const sha = "a2".padEnd(40, "0");
    bali.setScenario(`ghcr.io/${OWNER}/${REPO}@${digest(2)}`, "slow");
    const id = await handoff(sha, 2);
    await until("wave 2 started", () =>
      production()
        .find((d) => d.id === id)
        ?.statuses.some((s) => s.description?.startsWith("wave 2 of 3"))
        ? true
        : undefined,
    );
    await w.app.kill();
    const acehBefore = deploymentPatches(w.kube);
    const papuaBefore = deploymentPatches(papua);
    assert.equal(papuaBefore, deploymentPatches(papua));
    await w.app.start();
    assert.equal(await until("deploy 2 after the restart", finalState(id)), "success");
    assert.equal(deploymentPatches(w.kube), acehBefore, "aceh served the new version: not applied again");
    assert.ok(deploymentPatches(papua) > papuaBefore, "papua got the new version after the restart");
    const text = summary(sha);
    assert.match(text, /\| aceh \| 1 \| `a200000` \| ✅ serving \(already\)/);
    assert.match(text, /\| papua \| 3 \| `a200000` \| ✅ serving \|/);
  });

  it("a wave that fails on one cluster stops there, offers to roll the changed clusters back, which restores the first wave", async () => {
    const sha = "a3".padEnd(40, "0");
    bali.setScenario(`ghcr.io/${OWNER}/${REPO}@${digest(3)}`, "crash");
    const papuaBefore = deploymentPatches(papua);
    const id = await handoff(sha, 3);
    assert.equal(await until("deploy 3", finalState(id)), "failure");
    assert.equal(deploymentPatches(papua), papuaBefore, "papua (wave 3) was not touched");
    // The deployment's failure is written first, the check run's right after.
    const run = await until("the check run completed", () =>
      w.github.checkRunsOf(FULL, sha).find((r) => r.status === "completed"),
    );
    assert.equal(run.conclusion, "failure");
    assert.deepEqual(
      (run.actions ?? []).map((a) => a.identifier),
      ["restore"],
    );
    assert.match(run.output?.summary ?? "", /\| bali \| 2 \| `a200000` \| ❌ failed/);
    assert.match(
      run.output?.summary ?? "",
      /\| papua \| 3 \| `a200000` \| ⏸️ not started \(previous version\)/,
    );
    // aceh runs a3 now; the others a2.
    assert.equal(w.gateway.serving(HOST), sha);

    const applies = [deploymentPatches(w.kube), deploymentPatches(bali), deploymentPatches(papua)];
    // The button's command: the live version (a2) again, on every cluster.
    const reply = await w.say("/paas redeploy national");
    assert.match(reply, /Redeploying a200000/i);
    const rolled = production().at(-1)!;
    assert.equal(await until("the rollback", finalState(rolled.id)), "success");
    assert.equal(w.gateway.serving(HOST), "a2".padEnd(40, "0"));
    assert.deepEqual(
      [deploymentPatches(w.kube), deploymentPatches(bali), deploymentPatches(papua)].map(
        (n, i) => n - applies[i]!,
      ),
      [1, 0, 0],
      "only aceh changed back; bali and papua still served a2",
    );
  });
  it("--cluster: a rollback of one cluster changes that cluster only; a cluster the environment does not run on is refused", async () => {
    const applies = [deploymentPatches(w.kube), deploymentPatches(bali), deploymentPatches(papua)];
    const reply = await w.say("/paas rollback national --cluster papua");
    assert.match(reply, /Rolling national back to a100000/);
    const rolled = production().at(-1)!;
    assert.equal(await until("the rollback of papua", finalState(rolled.id)), "success");
    assert.deepEqual(
      [deploymentPatches(w.kube), deploymentPatches(bali), deploymentPatches(papua)].map(
        (n, i) => n - applies[i]!,
      ),
      [0, 0, 1],
    );
    const ns = papua
      .list("v1", "Namespace")
      .find((n) => (n.metadata as { name: string }).name.includes("records"))!;
    assert.equal(
      (ns.metadata as { annotations: Record<string, string> }).annotations["paas.dev/sha"],
      "a1".padEnd(40, "0"),
    );
    assert.equal(w.gateway.serving(HOST), "a2".padEnd(40, "0"), "aceh still serves a2");
    const table = w.github.checkRunsOf(FULL, "a1".padEnd(40, "0")).at(-1)!.output?.summary ?? "";
    assert.match(table, /\| papua \| 3 \| `a100000` \| ✅ serving/);
    assert.doesNotMatch(table, /\| aceh \|/);

    const refused = await w.say("/paas redeploy national --cluster java");
    assert.match(refused, /Not done: national does not run on java; it runs on aceh, bali, papua/);
  });
  it("the reconciler converges a cluster that lost the live version, and only that one", async () => {
    const sha = "a4".padEnd(40, "0");
    const id = await handoff(sha, 4);
    assert.equal(await until("deploy 4", finalState(id)), "success");
    // bali is rebuilt: the environment is gone from it.
    const runtime = new KubernetesRuntime({
      kubeConfig: bali.kubeConfig(),
      settings: HTTPROUTE_SETTINGS,
      pollIntervalMs: 20,
    });
    await runtime.destroy({
      owner: OWNER,
      repo: REPO,
      app: "",
      environment: { kind: "named", name: "national" },
    });
    const applies = [deploymentPatches(w.kube), deploymentPatches(bali), deploymentPatches(papua)];
    const converged = await until("a converging deployment", () =>
      production().find((d) => d.id > id && d.statuses.at(-1)?.state === "success"),
    );
    assert.equal((converged.payload as { clusters?: string }).clusters, "bali");
    assert.equal(
      (
        await runtime.serving({
          owner: OWNER,
          repo: REPO,
          app: "",
          environment: { kind: "named", name: "national" },
        })
      )?.sha,
      sha,
    );
    assert.deepEqual(
      [deploymentPatches(w.kube), deploymentPatches(bali), deploymentPatches(papua)].map(
        (n, i) => n - applies[i]!,
      ),
      [0, 1, 0],
    );
    await runtime.close();
  });
  it("a preview runs on the default cluster only, and its comment row says where", async () => {
    const pr = 21;
    const head = "b1".padEnd(40, "0");
    const merge = "b2".padEnd(40, "0");
    w.github.setFile(FULL, head, ".paas.yml", CONFIG);
    w.github.setFile(FULL, merge, ".paas.yml", CONFIG);
    w.github.setPull(FULL, {
      number: pr,
      state: "open",
      headSha: head,
      mergeSha: merge,
      headRef: "feature",
      baseRef: "main",
    });
    assert.equal(await w.deliver("pull_request", w.pullRequestPayload("opened", pr, head)), 200);
    const [papuaBefore, baliBefore] = [deploymentPatches(papua), deploymentPatches(bali)];
    const res = await w.handoff(
      {
        repository: FULL,
        sha: head,
        ref: `refs/pull/${pr}/merge`,
        environment: `preview/pr-${pr}`,
        image: `ghcr.io/${OWNER}/${REPO}`,
        digest: digest(5),
        app: "",
      },
      { ...pushClaims(merge), ref: `refs/pull/${pr}/merge`, event_name: "pull_request" },
    );
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const comment = await until("the preview's row ready", () =>
      w.github.commentsOf(FULL, pr).find((c) => c.body.includes("— on aceh")),
    );
    assert.match(comment.body, /on aceh/);
    assert.deepEqual([deploymentPatches(papua), deploymentPatches(bali)], [papuaBefore, baliBefore]);
  });
});
