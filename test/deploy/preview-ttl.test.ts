// previews.ttl end to end on real parts: the Docker engine runs the preview,
// Caddy routes it, GitHub is the validating fake. The App's clock (and the
// fake's, which dates deployments) is moved forward; the last push is read from
// GitHub's deployment dates, so a restarted App keeps counting from it. After
// the TTL the preview is removed like a closed one, the comment says how to
// bring it back, and `/paas deploy` brings it back serving the same commit.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import type { DockerRuntimeParts } from "../../src/runtime/docker/index.ts";
import { FULL, handoffBody, type Harness } from "../support/app-harness.ts";
import { startDockerApp, stopDockerApp, type DockerApp } from "../support/docker-app.ts";
import { buildTestImage } from "../support/docker-images.ts";
import { prCommentPayload } from "../support/fork-payloads.ts";
import { browse } from "../support/browse.ts";

const docker = new Docker();
const run = randomBytes(3).toString("hex");
const pr = 2000 + Math.floor(Math.random() * 1000);
const DAY = 86_400_000;
const CONFIG = `name: ttl-${run}
run:
  port: 8080
  healthcheck:
    path: /healthz
    startupTimeout: 30s
    interval: 1s
previews:
  ttl: 30d
`;
// The default branch's word: the pull request's own 30d cannot extend its preview's life.
const MAIN_CONFIG = CONFIG.replace("ttl: 30d", "ttl: 2d");

describe("previews.ttl on the Docker runtime", () => {
  let app: DockerApp | undefined;
  let parts: DockerRuntimeParts;
  let h: Harness;
  let image: { ref: string; id: string };
  let offset = 0;
  const clock = { now: () => new Date(Date.now() + offset) };
  const instance = `ttl-${run}`;
  const mine = async () => (await parts.runtime.list()).filter((e) => e.appName === `ttl-${run}`);

  before(async () => {
    // The test runs each reconcile pass itself.
    app = await startDockerApp({ instance, env: { PAAS_RECONCILE_INTERVAL: "0s" }, clock });
    ({ parts, h } = app);
    image = await buildTestImage(docker, `paas-test/ttl-${run}`, "v1");
    // A removed preview's image is pruned from the host; a registry would serve it again. This
    // local image stays because a second tag holds it (the runtime prunes only unreferenced ones).
    await docker.getImage(image.id).tag({ repo: `paas-test/ttl-${run}-kept`, tag: "v1" });
    // The default branch's .paas.yml decides the TTL.
    h.github.setBranch(FULL, "main", "f".repeat(40));
    h.github.setFile(FULL, "f".repeat(40), ".paas.yml", MAIN_CONFIG);
  });

  after(async () => {
    await stopDockerApp(docker, app ?? {}, { instance, appName: `ttl-${run}`, images: [image?.id] });
  });

  const deploy = async (commit: string, action: "opened" | "synchronize") => {
    const [name, digest] = image.ref.split("@") as [string, string];
    h.github.setFile(FULL, commit, ".paas.yml", CONFIG);
    h.github.setPull(FULL, {
      number: pr,
      state: "open",
      headSha: commit,
      mergeSha: null,
      headRef: "f",
      baseRef: "main",
    });
    await h.webhook("pull_request", h.pullRequestPayload(action, pr, commit));
    const token = await h.tokenFor(
      h.claims({ event_name: "pull_request", ref: `refs/pull/${pr}/merge`, sha: commit }),
    );
    const res = await h.handoff(
      handoffBody(commit, {
        ref: `refs/pull/${pr}/merge`,
        environment: `preview/pr-${pr}`,
        image: name,
        digest,
      }),
      token,
    );
    assert.equal(res.status, 202, JSON.stringify(res.json));
    await h.app.deployer.idle();
    return String(res.json.url);
  };

  it("removes a preview after the TTL without a push, counted from GitHub across a restart, and /paas deploy brings it back", async () => {
    const first = "1".repeat(40);
    const second = "2".repeat(40);
    const url = await deploy(first, "opened");
    assert.deepEqual(await browse(url), { status: 200, body: first });

    offset = 1 * DAY;
    assert.equal((await h.app.reconciler.run()).previewsExpired, 0);
    offset = 1.5 * DAY;
    await deploy(second, "synchronize"); // the last push: the TTL counts from here
    assert.deepEqual(await browse(url), { status: 200, body: second });

    // A new process: nothing in memory; 1.5 days after the last push the preview stays.
    offset = 3 * DAY;
    await h.restartApp();
    assert.equal((await h.app.reconciler.run()).previewsExpired, 0);
    assert.equal((await mine()).length, 1);

    offset = 3.6 * DAY;
    assert.equal((await h.app.reconciler.run()).previewsExpired, 1);
    assert.equal((await mine()).length, 0, "the container is removed");
    assert.notEqual((await browse(url)).body, second, "the route is gone");
    for (const d of h.github.deploymentsOf(FULL, `preview/pr-${pr}`))
      assert.equal(d.statuses.at(-1)?.state, "inactive", JSON.stringify(d.statuses));
    assert.equal(
      h.github.deploymentsOf(FULL, `preview/pr-${pr}`).at(-1)!.statuses.at(-1)!.description,
      "preview removed: no push for 2d",
    );
    assert.ok(!h.github.environmentsOf(FULL).includes(`preview/pr-${pr}`));
    const [comment] = h.github.commentsOf(FULL, pr);
    assert.match(comment!.body, /removed — no push for 2d\\?: push a commit or comment \/paas deploy/);
    // Converged: the next pass changes nothing.
    assert.equal((await h.app.reconciler.run()).previewsExpired, 0);

    // A reader cannot redeploy; a writer brings back the head's image without a build.
    await h.webhook("issue_comment", prCommentPayload(pr, "visitor", "/paas deploy"));
    await h.app.deployer.idle();
    assert.equal((await mine()).length, 0);
    assert.match(h.github.commentsOf(FULL, pr).at(-1)!.body, /only users with write permission/);
    h.github.permissions.set(`${FULL.toLowerCase()}:maintainer`, "write");
    await h.webhook("issue_comment", prCommentPayload(pr, "maintainer", "/paas deploy"));
    await h.app.deployer.idle();
    assert.match(h.github.commentsOf(FULL, pr).at(-1)!.body, /redeploying `2222222`/);
    assert.deepEqual(await browse(url), { status: 200, body: second });
    assert.equal(h.github.deploymentsOf(FULL, `preview/pr-${pr}`).at(-1)!.statuses.at(-1)!.state, "success");
    assert.match(h.github.commentsOf(FULL, pr)[0]!.body, /ready/);
    // Revived now: not expired again until a TTL has passed from this deployment.
    offset = 4 * DAY;
    assert.equal((await h.app.reconciler.run()).previewsExpired, 0);
    assert.deepEqual(h.github.violations, []);
  });
});
