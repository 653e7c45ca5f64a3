// GitHub Environment secrets survive day two on the Kubernetes runtime: the
// Action's own code seals a job's secrets, the real App (fake GitHub, local
// OIDC issuer) admits them and the runtime stores them in the environment's
// Secret on the fake API server; then `/paas rollback`, `/paas redeploy` and
// `/paas promote` — deploys without a hand-off and without any operator source
// — keep the values delivered to each environment, and a promotion gets the
// target environment's own values, never the source's.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fetchSealingKey, tokenBinding } from "../../action/src/secrets.ts";
import { sealSecrets } from "../../src/contract/sealing.ts";
import { replyMarker } from "../../src/deploy/ops-chatops.ts";
import { namespaceName } from "../../src/names.ts";
import type { KubernetesRuntime } from "../../src/runtime/kubernetes/runtime.ts";
import type { FakeKubernetesApi } from "../fakes/kubernetes-api.ts";
import { prCommentPayload } from "../support/fork-payloads.ts";
import { FULL, handoffBody, IMAGE, OWNER, REPO, type Harness } from "../support/app-harness.ts";
import { startFakeClusterHarness } from "../support/fake-cluster-harness.ts";

const CONFIG = `name: hello
run:
  port: 8080
secrets: [DATABASE_URL]
environments:
  staging:
    branch: main
  production:
    branch: release
    protected: false
`;
const digest = (n: number) => `sha256:${String(n).padStart(64, "0")}`;
const commit = (n: number) => `c${n}`.padEnd(40, "0");

describe("delivered secrets survive rollback, redeploy and promote on the Kubernetes runtime", () => {
  let fake: FakeKubernetesApi;
  let k8s: KubernetesRuntime;
  let h: Harness;
  let close: (() => Promise<void>) | undefined;

  before(async () => {
    // No operator source (PAAS_K8S_SECRETS_NAMESPACE): every value comes from a hand-off.
    ({ h, fake, k8s, close } = await startFakeClusterHarness());
    h.github.permissions.set(`${FULL}:maintainer`, "write");
  });

  after(async () => {
    await close?.();
  });

  const deployments = (env: string) => h.github.deploymentsOf(FULL, env);
  const lastState = (env: string) => deployments(env).at(-1)!.statuses.at(-1)!.state;

  /** A workflow job in GitHub environment `env` builds `n` and hands it off with its sealed secrets. */
  async function handoff(env: "staging" | "production", n: number, secrets: Record<string, string>) {
    const sha = commit(n);
    const branch = env === "staging" ? "main" : "release";
    h.github.setFile(FULL, sha, ".paas.yml", CONFIG);
    h.github.setFile(FULL, "main", ".paas.yml", CONFIG);
    h.github.setBranch(FULL, branch, sha);
    const ref = `refs/heads/${branch}`;
    const token = await h.tokenFor(h.claims({ sha, ref, environment: env }));
    const body = handoffBody(sha, { ref, environment: env, image: IMAGE, digest: digest(n) });
    const { job: _job, ...binding } = tokenBinding(token);
    body.secrets = sealSecrets(secrets, await fetchSealingKey(h.app.url), {
      ...binding,
      environment: env,
      app: "",
      sha,
    });
    const res = await h.handoff(body, token);
    assert.equal(res.status, 202, JSON.stringify(res.json));
    await h.app.deployer.idle();
    assert.equal(lastState(env), "success", JSON.stringify(deployments(env).at(-1)));
  }

  async function say(body: string): Promise<string> {
    const p = prCommentPayload(5, "maintainer", body);
    delete (p.issue as Record<string, unknown>).pull_request;
    const id = h.github.addUserComment(FULL, 5, body);
    (p.comment as Record<string, unknown>).id = id;
    assert.equal(await h.webhook("issue_comment", p), 200);
    await h.app.deployer.idle();
    const replies = h.github.commentsOf(FULL, 5).filter((c) => c.body.includes(replyMarker(id)));
    assert.equal(replies.length, 1);
    return replies[0]!.body;
  }

  const stored = (env: string) => {
    const ns = namespaceName({
      owner: OWNER,
      repo: REPO,
      app: "",
      environment: { kind: "named", name: env },
    });
    const secret = fake.get("v1", "Secret", ns, "web-secrets") as
      { data: Record<string, string> } | undefined;
    return Object.fromEntries(
      Object.entries(secret?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]),
    );
  };
  const liveDigest = async (env: string) =>
    (await k8s.list()).find((e) => e.target.environment.kind === "named" && e.target.environment.name === env)
      ?.digest;

  it("rollback and redeploy keep the value the workflow delivered last", async () => {
    await handoff("production", 1, { DATABASE_URL: "postgres://production-db" });
    await handoff("staging", 2, { DATABASE_URL: "postgres://staging-one" });
    await handoff("staging", 3, { DATABASE_URL: "postgres://staging-two" });
    assert.deepEqual(stored("staging"), { DATABASE_URL: "postgres://staging-two" });

    await h.restartApp();
    const rollback = await say("/paas rollback staging");
    assert.match(rollback, /✅ Rolling staging back to c200000/);
    assert.equal(lastState("staging"), "success", JSON.stringify(deployments("staging").at(-1)));
    assert.equal(await liveDigest("staging"), digest(2));
    assert.deepEqual(
      stored("staging"),
      { DATABASE_URL: "postgres://staging-two" },
      "the rotated value, kept",
    );

    const redeploy = await say("/paas redeploy staging");
    assert.match(redeploy, /✅/);
    assert.equal(lastState("staging"), "success", JSON.stringify(deployments("staging").at(-1)));
    assert.deepEqual(stored("staging"), { DATABASE_URL: "postgres://staging-two" });
  });

  it("a promotion gets production's own delivered value, never staging's", async () => {
    const reply = await say("/paas promote staging to production");
    assert.match(reply, /✅/);
    assert.equal(lastState("production"), "success", JSON.stringify(deployments("production").at(-1)));
    assert.equal(await liveDigest("production"), digest(2), "staging's image");
    assert.deepEqual(stored("production"), { DATABASE_URL: "postgres://production-db" });
    assert.ok(!JSON.stringify(h.github.checkRuns).includes("postgres://"), "no value in a check run");
  });
});
