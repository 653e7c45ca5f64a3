// Sleeping previews end to end on real parts: the Docker engine, Caddy (its
// access log is the request activity), the App's wake handler, the validating
// fake GitHub. A preview with no request for previews.sleep is scaled to zero
// and its route points at the App; the next request gets the waiting page,
// wakes it, and the preview serves its commit again.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import type { DockerRuntimeParts } from "../../src/runtime/docker/index.ts";
import { FULL, handoffBody, type Harness } from "../support/app-harness.ts";
import type { TestCaddy } from "../support/caddy.ts";
import { startDockerApp, stopDockerApp, type DockerApp } from "../support/docker-app.ts";
import { buildTestImage } from "../support/docker-images.ts";
import { page as browse } from "../support/browse.ts";

const docker = new Docker();
const run = randomBytes(3).toString("hex");
const pr = 3000 + Math.floor(Math.random() * 1000);
const MINUTE = 60_000;
const CONFIG = `name: sleep-${run}
run:
  port: 8080
  healthcheck:
    path: /healthz
    startupTimeout: 60s
    interval: 1s
previews:
  sleep: 10m
`;

describe("sleeping previews on the Docker runtime", () => {
  let app: DockerApp | undefined;
  let caddy: TestCaddy;
  let parts: DockerRuntimeParts;
  let h: Harness;
  let image: { ref: string; id: string };
  let dir: string;
  let offset = 0;
  const clock = { now: () => new Date(Date.now() + offset) };
  const instance = `sleep-${run}`;
  const states = async () =>
    (await docker.listContainers({ all: true, filters: { label: [`paas.app-name=sleep-${run}`] } })).map(
      (c) => c.State,
    );

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "paas-sleep-"));
    app = await startDockerApp({
      instance,
      accessLog: join(dir, "access.log"),
      env: { PAAS_RECONCILE_INTERVAL: "0s" },
      clock,
    });
    ({ caddy, parts, h } = app);
    image = await buildTestImage(docker, `paas-test/sleep-${run}`, "v1");
    h.github.setBranch(FULL, "main", "f".repeat(40));
    h.github.setFile(FULL, "f".repeat(40), ".paas.yml", CONFIG);
  });

  after(async () => {
    await stopDockerApp(docker, app ?? {}, { instance, appName: `sleep-${run}`, images: [image?.id] });
    await rm(dir, { recursive: true, force: true });
  });

  it("scales an idle preview to zero and wakes it on its next request, serving its commit", async () => {
    const commit = "5".repeat(40);
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
    await h.webhook("pull_request", h.pullRequestPayload("opened", pr, commit));
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
    const url = String(res.json.url);
    assert.equal((await h.app.reconciler.run()).slept, 0);

    // Requests keep it awake: each pass reads them from Caddy's access log.
    assert.deepEqual((await browse(url)).body, commit);
    offset = 8 * MINUTE;
    assert.equal((await h.app.reconciler.run()).slept, 0);
    offset = 17 * MINUTE;
    assert.equal((await h.app.reconciler.run()).slept, 0, "9 minutes after the last request");

    offset = 19 * MINUTE;
    assert.equal((await h.app.reconciler.run()).slept, 1);
    assert.deepEqual(await states(), ["exited"], "scaled to zero");
    assert.equal((await h.app.reconciler.run()).slept, 0, "asleep: nothing more to do");

    // Caddy restarted empty (a host reboot): `paas start` restores routes, the sleeping one to the wake handler.
    await caddy.restart();
    assert.equal(await parts.runtime.restoreRoutes({ wakeUpstream: new URL(h.app.url).host }), 1);

    // The next request: the waiting page (it reloads) while the preview wakes, then the commit.
    const first = await browse(url);
    assert.equal(first.status, 503);
    assert.match(first.body, /http-equiv="refresh"/);
    let served: { status: number; body: string } | undefined;
    for (let i = 0; i < 120 && served?.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 500));
      served = await browse(url);
    }
    assert.deepEqual({ status: served!.status, body: served!.body }, { status: 200, body: commit });
    assert.deepEqual(await states(), ["running"]);
    // The header sent straight to the App: the fixed page, nothing read, nothing else served or woken.
    const direct = await fetch(`${h.app.url}${h.settings.webhookPath}`, {
      method: "POST",
      headers: { "x-paas-wake": "1", "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(direct.status, 503);
    assert.match(await direct.text(), /http-equiv="refresh"/);
    await h.app.sleeper!.idle();
    assert.deepEqual(await states(), ["running"]);
    // Awake again: it sleeps again only after another 10 minutes without a request.
    offset = 25 * MINUTE;
    assert.equal((await h.app.reconciler.run()).slept, 0);
    assert.deepEqual(h.github.violations, []);
  });
});
