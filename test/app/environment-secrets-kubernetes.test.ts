// GitHub Environment secrets, Action → App → Kubernetes: the Action's own code
// seals the job's secrets to the App's published key, the real App (fake
// GitHub, local OIDC issuer) admits them, and the Kubernetes runtime stores
// them in the environment's one Secret on the fake API server (its route is
// served by the harness's double, so the App's probe passes). Rotation
// rewrites the Secret; a refused hand-off changes nothing.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fetchSealingKey, tokenBinding } from "../../action/src/secrets.ts";
import { sealSecrets } from "../../src/contract/sealing.ts";
import { namespaceName } from "../../src/names.ts";
import type { FakeKubernetesApi } from "../fakes/kubernetes-api.ts";
import { FULL, handoffBody, sha, type Harness } from "../support/app-harness.ts";
import { startFakeClusterHarness } from "../support/fake-cluster-harness.ts";

const CONFIG = `name: hello
run:
  port: 8080
environments:
  production:
    branch: main
previews:
  secrets: [DATABASE_URL]
`;
const PR = 61;

describe("GitHub Environment secrets on the Kubernetes runtime", () => {
  let fake: FakeKubernetesApi;
  let h: Harness;
  let close: (() => Promise<void>) | undefined;

  before(async () => {
    // No operator source (PAAS_K8S_SECRETS_NAMESPACE): every value comes from a hand-off.
    ({ h, fake, close } = await startFakeClusterHarness());
    h.github.setFile(FULL, "main", ".paas.yml", CONFIG);
  });

  after(async () => {
    await close?.();
  });

  async function previewHandoff(commit: string, jobEnvironment: string, secrets: Record<string, string>) {
    h.github.setFile(FULL, commit, ".paas.yml", CONFIG);
    h.github.setPull(FULL, {
      number: PR,
      state: "open",
      headSha: commit,
      mergeSha: null,
      headRef: "f",
      baseRef: "main",
    });
    const claims = h.claims({
      event_name: "pull_request",
      ref: `refs/pull/${PR}/merge`,
      sha: commit,
      environment: jobEnvironment,
    });
    const token = await h.tokenFor(claims);
    const body = handoffBody(commit, { ref: `refs/pull/${PR}/merge`, environment: `preview/pr-${PR}` });
    const { job: _job, ...binding } = tokenBinding(token);
    body.secrets = sealSecrets(secrets, await fetchSealingKey(h.app.url), {
      ...binding,
      environment: `preview/pr-${PR}`,
      app: "",
      sha: commit,
    });
    const res = await h.handoff(body, token);
    await h.app.deployer.idle();
    return res;
  }

  const stored = () => {
    const ns = namespaceName({
      owner: "octo-org",
      repo: "hello-world",
      app: "",
      environment: { kind: "preview", pr: PR },
    });
    const secret = fake.get("v1", "Secret", ns, "web-secrets") as
      { data: Record<string, string> } | undefined;
    return Object.fromEntries(
      Object.entries(secret?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]),
    );
  };

  it("the preview environment's values land in the environment's Secret; the next commit rotates them", async () => {
    let res = await previewHandoff(sha(0x701), "preview", {
      DATABASE_URL: "postgres://gh-one",
      OTHER: "other-value",
    });
    assert.equal(res.status, 202, JSON.stringify(res.json));
    assert.equal(h.github.deploymentsOf(FULL, `preview/pr-${PR}`).at(-1)!.statuses.at(-1)!.state, "success");
    assert.deepEqual(
      stored(),
      { DATABASE_URL: "postgres://gh-one" },
      "only the names the default branch gives previews",
    );

    res = await previewHandoff(sha(0x702), "preview", { DATABASE_URL: "postgres://gh-two" });
    assert.equal(res.status, 202, JSON.stringify(res.json));
    assert.deepEqual(stored(), { DATABASE_URL: "postgres://gh-two" });
  });

  it("secrets from the production GitHub environment are refused for a preview: the Secret is unchanged", async () => {
    const res = await previewHandoff(sha(0x703), "production", { DATABASE_URL: "postgres://prod-value" });
    assert.equal(res.status, 403, JSON.stringify(res.json));
    assert.equal(res.json.check, "secrets_environment");
    assert.deepEqual(stored(), { DATABASE_URL: "postgres://gh-two" });
    assert.ok(!JSON.stringify(h.github.checkRuns).includes("prod-value"));
  });
});
