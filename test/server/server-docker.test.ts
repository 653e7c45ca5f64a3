// The App end to end on real parts: the Docker engine runs the sample app
// (a stdlib Python server answering GET / with $PAAS_COMMIT_SHA), Caddy routes
// its preview hostname, and the App reports the URL only once it answers
// through Caddy. GitHub and the OIDC issuer are the local fakes.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import type { DockerRuntimeParts } from "../../src/runtime/docker/index.ts";
import { FULL, handoffBody, type Harness } from "../support/app-harness.ts";
import type { TestCaddy } from "../support/caddy.ts";
import { startDockerApp, stopDockerApp, type DockerApp } from "../support/docker-app.ts";
import { buildTestImage } from "../support/docker-images.ts";
import { browse } from "../support/browse.ts";

const docker = new Docker();
const run = randomBytes(3).toString("hex");
const pr = 500 + Math.floor(Math.random() * 1000);
const CONFIG = `name: app-e2e-${run}
run:
  port: 8080
  healthcheck:
    path: /healthz
    startupTimeout: 30s
    interval: 1s
`;

describe("App with the Docker runtime and Caddy", () => {
  let app: DockerApp | undefined;
  let caddy: TestCaddy;
  let parts: DockerRuntimeParts;
  let h: Harness;
  let image: { ref: string; id: string };
  // Its own containers: other suites deploy the same repository's previews on this engine.
  const instance = `e2e-${run}`;

  before(async () => {
    app = await startDockerApp({ instance });
    ({ caddy, parts, h } = app);
    image = await buildTestImage(docker, `paas-test/app-e2e-${run}`, "v1");
  });

  after(async () => {
    await stopDockerApp(docker, app ?? {}, { instance, appName: `app-e2e-${run}`, images: [image?.id] });
  });

  it("serves each pushed commit at the preview URL the comment shows, then removes it", async () => {
    const [name, digest] = image.ref.split("@") as [string, string];
    const deploy = async (commit: string) => {
      h.github.setFile(FULL, commit, ".paas.yml", CONFIG);
      h.github.setPull(FULL, {
        number: pr,
        state: "open",
        headSha: commit,
        mergeSha: null,
        headRef: "f",
        baseRef: "main",
      });
      await h.webhook(
        "pull_request",
        h.pullRequestPayload(commit.startsWith("1") ? "opened" : "synchronize", pr, commit),
      );
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

    const first = "1".repeat(40);
    const url = await deploy(first);
    assert.equal(url, `http://pr-${pr}-app-e2e-${run}.localhost:${caddy.httpPort}/`);
    const dep = h.github.deploymentsOf(FULL, `preview/pr-${pr}`)[0]!;
    assert.equal(dep.statuses.at(-1)!.state, "success", JSON.stringify(dep.statuses));
    assert.equal(dep.statuses.at(-1)!.environment_url, url);
    assert.deepEqual(await browse(url), { status: 200, body: first });
    assert.ok(h.github.commentsOf(FULL, pr)[0]!.body.includes(`](${url})`));

    const second = "2".repeat(40);
    assert.equal(await deploy(second), url);
    assert.deepEqual(await browse(url), { status: 200, body: second });
    assert.equal(h.github.commentsOf(FULL, pr).length, 1);
    assert.ok(h.github.commentsOf(FULL, pr)[0]!.body.includes("`2222222`"));

    await h.webhook("pull_request", h.pullRequestPayload("closed", pr, second));
    assert.notEqual((await browse(url)).body, second, "the preview is gone");
    assert.equal((await parts.runtime.list()).filter((e) => e.appName === `app-e2e-${run}`).length, 0);
    assert.match(h.github.commentsOf(FULL, pr)[0]!.body, /removed/);
    assert.deepEqual(h.github.violations, []);
  });
});
