// previews.ttl on the Kubernetes runtime: the App (its reconciler) against
// the fake API server and the validating fake GitHub. A preview applied to the
// cluster, with its deployment recorded in GitHub, is removed once the default
// branch's TTL has passed since that deployment: the namespace goes, the
// deployment turns inactive, and the pull request stays open.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { KubernetesRuntime } from "../../src/runtime/kubernetes/runtime.ts";
import { FakeKubernetesApi } from "../fakes/kubernetes-api.ts";
import { FULL, OWNER, REPO, REPO_ID, startHarness, type Harness } from "../support/app-harness.ts";
import { HTTPROUTE_SETTINGS, specFor } from "../runtime/kubernetes/specs.ts";

const HOUR = 3_600_000;
const CONFIG = "run: { port: 8080 }\npreviews: { ttl: 12h }\n";

describe("previews.ttl on the Kubernetes runtime", () => {
  let fake: FakeKubernetesApi;
  let runtime: KubernetesRuntime;
  let h: Harness;
  let offset = 0;
  const clock = { now: () => new Date(Date.now() + offset) };

  before(async () => {
    fake = await FakeKubernetesApi.start();
    runtime = new KubernetesRuntime({
      kubeConfig: fake.kubeConfig(),
      settings: HTTPROUTE_SETTINGS,
      pollIntervalMs: 10,
      retry: { minDelayMs: 5, maxDelayMs: 50 },
    });
    h = await startHarness({ PAAS_RECONCILE_INTERVAL: "0s" }, { runtime, clock });
    h.github.setBranch(FULL, "main", "f".repeat(40));
    h.github.setFile(FULL, "f".repeat(40), ".paas.yml", CONFIG);
  });
  after(async () => {
    await h?.close();
    await fake?.close();
  });

  it("removes the preview's namespace after the TTL since its newest deployment", async () => {
    const pr = 41;
    const head = "4".repeat(40);
    h.github.setPull(FULL, {
      number: pr,
      state: "open",
      headSha: head,
      mergeSha: null,
      headRef: "f",
      baseRef: "main",
    });
    const spec = specFor(CONFIG, `preview/pr-${pr}`, {
      owner: OWNER,
      repo: REPO,
      repositoryId: REPO_ID,
      sha: head,
    });
    const applied = await runtime.apply(spec);
    assert.ok(applied.ok);
    // The deployment GitHub records for it, as a hand-off creates it (dated by the fake's clock).
    h.github.deployments.push({
      repo: FULL.toLowerCase(),
      id: 90_001,
      sha: head,
      ref: head,
      environment: `preview/pr-${pr}`,
      transient: true,
      production: false,
      payload: { image: spec.image, sha: head, app: "" },
      description: null,
      statuses: [{ state: "success", description: "live" }],
      createdAt: clock.now().toISOString(),
    });
    h.github.environments.set(FULL.toLowerCase(), new Set([`preview/pr-${pr}`]));

    offset = 11 * HOUR;
    assert.equal((await h.app.reconciler.run()).previewsExpired, 0);
    assert.equal((await runtime.list()).length, 1);

    offset = 12 * HOUR;
    assert.equal((await h.app.reconciler.run()).previewsExpired, 1);
    assert.equal((await runtime.list()).length, 0, "the namespace is gone");
    const [dep] = h.github.deploymentsOf(FULL, `preview/pr-${pr}`);
    assert.equal(dep!.statuses.at(-1)!.state, "inactive");
    assert.equal(dep!.statuses.at(-1)!.description, "preview removed: no push for 12h");
    assert.equal(h.github.pulls.get(`${FULL.toLowerCase()}#${pr}`)!.state, "open");
    assert.deepEqual(h.github.violations, []);
    assert.deepEqual(fake.unmatched, []);
  });
});
