// The App end to end with a release step and a worker on real parts (Docker
// engine, Caddy; GitHub and the OIDC issuer are the local fakes): a release
// that fails reaches the check run with the command's output, the preview
// keeps serving the previous commit, and closing the pull request removes the
// workers with the preview.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import { FULL, handoffBody, type Harness } from "../support/app-harness.ts";
import { browse } from "../support/browse.ts";
import { startDockerApp, stopDockerApp, type DockerApp } from "../support/docker-app.ts";
import { buildTestImage } from "../support/docker-images.ts";

const docker = new Docker();
const run = randomBytes(3).toString("hex");
const pr = 1500 + Math.floor(Math.random() * 1000);
const instance = `rel-${run}`;
const FILES = {
  "release.py": `
import sys
print("applying migration 0002", flush=True)
if sys.argv[1:] == ["fail"]:
    print("error: column users.email already exists", file=sys.stderr, flush=True)
    sys.exit(1)
`,
  "worker.py": `
import time
print("worker up", flush=True)
while True:
    time.sleep(1)
`,
};
const config = (release: string) => `name: rel-e2e-${run}
run:
  port: 8080
  healthcheck: { path: /healthz, startupTimeout: 30s, interval: 1s }
  release: ${release}
processes:
  worker: python3 /app/worker.py
`;

describe("App with a release step and a worker on the Docker runtime", () => {
  let app: DockerApp | undefined;
  let h: Harness;
  let image: { ref: string; id: string };
  const workers = () =>
    docker.listContainers({
      all: true,
      filters: { label: [`paas.managed-by=${instance}`, "paas.role=worker"] },
    });

  before(async () => {
    app = await startDockerApp({ instance });
    ({ h } = app);
    image = await buildTestImage(docker, `paas-test/rel-e2e-${run}`, "v1", "server", FILES);
  });

  after(async () => {
    await stopDockerApp(docker, app ?? {}, { instance, appName: `rel-e2e-${run}`, images: [image?.id] });
  });

  it("a failed release fails the check run with its output; the preview keeps serving; close removes the worker", async () => {
    const [name, digest] = image.ref.split("@") as [string, string];
    const deploy = async (commit: string, release: string) => {
      h.github.setFile(FULL, commit, ".paas.yml", config(release));
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
    const url = await deploy(first, "python3 /app/release.py");
    assert.equal((await browse(url)).body, first);
    assert.equal(h.github.checkRunsOf(FULL, first)[0]!.conclusion, "success");
    const [worker] = await workers();
    assert.equal(worker?.State, "running");

    const second = "2".repeat(40);
    await deploy(second, "python3 /app/release.py fail");
    const check = h.github.checkRunsOf(FULL, second)[0]!;
    assert.equal(check.conclusion, "failure", JSON.stringify(check.output));
    assert.match(
      check.output.title ?? "",
      /^Release failed: the release command \(run\.release\) exited with code 1/,
    );
    assert.match(check.output.text ?? "", /error: column users\.email already exists/);
    assert.equal((await browse(url)).body, first, "the previous version keeps serving");
    assert.deepEqual(
      (await workers()).map((w) => w.Id),
      [worker!.Id],
      "the previous worker keeps running",
    );

    await h.webhook("pull_request", h.pullRequestPayload("closed", pr, second));
    assert.equal((await workers()).length, 0);
    assert.deepEqual(h.github.violations, []);
  });
});
