// Day two on the real Docker runtime (engine + Caddy) through the App and the
// validating fake GitHub: after an App restart, `/paas rollback` puts the
// previous image back (Caddy serves the old commit, no rebuild), the check's
// Redeploy button redeploys it, and `/paas logs` shows the running
// container's lines with its secret masked. A secret the workflow delivered
// with the hand-off (no operator value for it) survives both: the rollback
// and the redeploy carry no hand-off, and keep the value delivered last.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import { fetchSealingKey, tokenBinding } from "../../action/src/secrets.ts";
import { sealSecrets } from "../../src/contract/sealing.ts";
import { replyMarker } from "../../src/deploy/ops-chatops.ts";
import type { DockerRuntimeParts } from "../../src/runtime/docker/index.ts";
import { FULL, handoffBody, INSTALLATION_ID, OWNER, REPO, type Harness } from "../support/app-harness.ts";
import { pushToRegistry, startDockerApp, stopDockerApp, type DockerApp } from "../support/docker-app.ts";
import { buildTestImage } from "../support/docker-images.ts";
import { startRegistry, type TestRegistry } from "../support/registry.ts";
import { prCommentPayload } from "../support/fork-payloads.ts";
import { browse } from "../support/browse.ts";

const require = createRequire(import.meta.url);
const examples = require("@octokit/webhooks-examples") as {
  name: string;
  examples: Record<string, unknown>[];
}[];

const docker = new Docker();
const run = randomBytes(3).toString("hex");
const APP = `daytwo-${run}`;
const DB = `postgres://app:${randomBytes(12).toString("hex")}@db.internal/staging`;
// Delivered by the workflow's job in the GitHub environment "staging"; the operator has no value for it.
const TOKENS = [`tok-one-${randomBytes(8).toString("hex")}`, `tok-two-${randomBytes(8).toString("hex")}`];
const CONFIG = `name: ${APP}
run:
  port: 8080
  healthcheck:
    path: /healthz
    startupTimeout: 20s
    interval: 1s
secrets: [DATABASE_URL, APP_TOKEN]
environments:
  staging:
    branch: main
  production:
    branch: release
    protected: false
`;

describe("day two on the Docker runtime", { timeout: 300_000 }, () => {
  let app: DockerApp | undefined;
  let parts: DockerRuntimeParts;
  let h: Harness;
  let secretsDir: string;
  let registry: TestRegistry;
  const images: { ref: string; id: string }[] = [];
  const instance = `dayops-${process.pid}`;
  const a = "e1".padEnd(40, "0");
  const b = "e2".padEnd(40, "0");

  before(async () => {
    secretsDir = await mkdtemp(join(tmpdir(), "paas-secrets-"));
    await mkdir(join(secretsDir, OWNER, REPO), { recursive: true });
    await writeFile(join(secretsDir, OWNER, REPO, "staging.env"), `DATABASE_URL=${DB}\n`);
    await chmod(join(secretsDir, OWNER, REPO, "staging.env"), 0o600);
    // The operator gives production its database, not APP_TOKEN: no workflow delivered one there.
    await writeFile(join(secretsDir, OWNER, REPO, "production.env"), `DATABASE_URL=${DB}-production\n`);
    await chmod(join(secretsDir, OWNER, REPO, "production.env"), 0o600);
    // Rolled-back images come from the registry: the runtime removes images nothing runs.
    registry = await startRegistry();
    app = await startDockerApp({
      instance,
      secretsDir,
      registry: { host: registry.host, username: registry.username, password: registry.password },
      env: { PAAS_IMAGE_PREFIXES: `${registry.host}/paas-test/` },
      dns: "recording",
    });
    ({ parts, h } = app);
    for (const tag of ["v1", "v2"]) images.push(await pushed(tag));
    h.github.permissions.set(`${FULL}:maintainer`, "write");
  });

  after(async () => {
    await stopDockerApp(docker, app ?? {}, {
      instance,
      appName: APP,
      images: images.flatMap((img) => [img.ref, img.id]),
    });
    await registry?.stop();
    await rm(secretsDir, { recursive: true, force: true });
  });

  /** A test image in the registry only, pinned by digest. */
  async function pushed(tag: string): Promise<{ ref: string; id: string }> {
    const name = `paas-test/${APP}`;
    const local = await buildTestImage(docker, name, tag);
    const remote = await pushToRegistry(docker, registry, { id: local.id, name, tag });
    const digest = await registry.digestOf(name, tag);
    assert.ok(digest);
    await docker.getImage(`${remote}:${tag}`).remove({ force: true });
    await docker
      .getImage(local.id)
      .remove({ force: true })
      .catch(() => undefined);
    return { ref: `${remote}@${digest}`, id: local.id };
  }

  const staging = () => h.github.deploymentsOf(FULL, "staging");
  const url = () => staging().at(-1)!.statuses.at(-1)!.environment_url!;

  async function deploy(commit: string, image: string, appToken: string): Promise<void> {
    h.github.setFile(FULL, commit, ".paas.yml", CONFIG);
    h.github.setBranch(FULL, "main", commit);
    const [name, digest] = image.split("@") as [string, string];
    const token = await h.tokenFor(h.claims({ sha: commit, environment: "staging" }));
    const body = handoffBody(commit, { environment: "staging", image: name, digest });
    const { job: _job, ...binding } = tokenBinding(token);
    body.secrets = sealSecrets({ APP_TOKEN: appToken }, await fetchSealingKey(h.app.url), {
      ...binding,
      environment: "staging",
      app: "",
      sha: commit,
    });
    const res = await h.handoff(body, token);
    assert.equal(res.status, 202, JSON.stringify(res.json));
    await h.app.deployer.idle();
    assert.equal(staging().at(-1)!.statuses.at(-1)!.state, "success", JSON.stringify(staging().at(-1)));
  }

  async function say(body: string): Promise<string> {
    const p = prCommentPayload(3, "maintainer", body);
    delete (p.issue as Record<string, unknown>).pull_request;
    const id = h.github.addUserComment(FULL, 3, body);
    (p.comment as Record<string, unknown>).id = id;
    assert.equal(await h.webhook("issue_comment", p), 200);
    await h.app.deployer.idle();
    const replies = h.github.commentsOf(FULL, 3).filter((c) => c.body.includes(replyMarker(id)));
    assert.equal(replies.length, 1);
    return replies[0]!.body;
  }

  /** The app's own view of its environment (the test image's /info). */
  const appEnv = async () =>
    (JSON.parse((await browse(url(), "/info")).body) as { env: Record<string, string> }).env;

  it("rolls back to the previous image after a restart: Caddy serves the old commit again", async () => {
    await deploy(a, images[0]!.ref, TOKENS[0]!);
    await deploy(b, images[1]!.ref, TOKENS[1]!);
    assert.equal((await browse(url())).body, b);
    assert.equal((await appEnv()).APP_TOKEN, TOKENS[1]);
    await h.restartApp();
    const reply = await say("/paas rollback staging");
    assert.match(reply, /✅ Rolling staging back to e100000/);
    assert.equal(staging().at(-1)!.statuses.at(-1)!.state, "success", JSON.stringify(staging().at(-1)));
    assert.equal((await browse(url())).body, a, "the old image serves through Caddy");
    const [live] = (await parts.runtime.list()).filter((e) => e.appName === APP);
    assert.equal(live!.digest, images[0]!.ref.split("@")[1]);
    const env = await appEnv();
    assert.equal(env.APP_TOKEN, TOKENS[1], "the value delivered last, kept without a hand-off");
    assert.equal(env.DATABASE_URL, DB, "the operator's value, read again");
  });

  it("redeploys from the check's button", async () => {
    const check = h.github.checkRunsOf(FULL, a).find((c) => c.name === "paas")!;
    assert.ok(check.actions?.some((x) => x.identifier === "redeploy"));
    const p = structuredClone(
      examples.find((e) => e.name === "check_run")!.examples.find((e) => e.action === "requested_action")!,
    );
    p.check_run = { ...(p.check_run as object), head_sha: a, name: "paas", id: check.id };
    p.requested_action = { identifier: "redeploy" };
    p.sender = { ...(p.sender as object), login: "maintainer" };
    p.repository = prCommentPayload(3, "x", "x").repository;
    p.installation = { id: INSTALLATION_ID, node_id: "x" };
    const before = staging().length;
    assert.equal(await h.webhook("check_run", p), 200);
    await h.app.deployer.idle();
    assert.equal(staging().length, before + 1);
    assert.equal(staging().at(-1)!.statuses.at(-1)!.state, "success");
    assert.equal((await browse(url())).body, a);
    assert.equal((await appEnv()).APP_TOKEN, TOKENS[1]);
  });

  it("shows the running container's log lines with its secret masked", async () => {
    assert.equal((await browse(url(), "/leak")).status, 200);
    const reply = await say("/paas logs staging");
    const id = /\/runs\/(\d+)\)/.exec(reply)?.[1];
    assert.ok(id, reply);
    const check = h.github.checkRunsOf(FULL).find((c) => c.id === Number(id))!;
    assert.match(check.output.text!, /db is \*\*\*/);
    assert.match(check.output.text!, /listening on 8080/);
    const runs = JSON.stringify(h.github.checkRunsOf(FULL));
    for (const v of [DB, ...TOKENS]) assert.ok(!runs.includes(v), "no secret is in a check run");
  });

  it("a promotion into production never carries staging's delivered value", async () => {
    const reply = await say("/paas promote staging to production");
    assert.match(reply, /✅/);
    const prod = h.github.deploymentsOf(FULL, "production").at(-1)!;
    const last = prod.statuses.at(-1)!;
    assert.equal(last.state, "failure", JSON.stringify(prod));
    assert.match(last.description ?? "", /APP_TOKEN/);
    assert.equal(
      (await parts.runtime.list()).filter(
        (e) =>
          e.appName === APP &&
          e.target.environment.kind === "named" &&
          e.target.environment.name === "production",
      ).length,
      0,
      "nothing started in production",
    );
    const everything = JSON.stringify([
      h.github.checkRunsOf(FULL),
      h.github.deploymentsOf(FULL, "production"),
    ]);
    for (const v of TOKENS) assert.ok(!everything.includes(v));
  });
});
