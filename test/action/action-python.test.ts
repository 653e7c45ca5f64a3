// The bundled Action on the Python example, end to end: real Docker engine,
// real registry with auth, local OIDC token endpoint, stand-in App.
import assert from "node:assert/strict";
import { appendFile, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import { gitBlobSha } from "../../src/contract/handoff.ts";
import { startTokenServer, type TokenServer } from "../support/oidc-token-server.ts";
import { startRegistry, type TestRegistry } from "../support/registry.ts";
import {
  annotations,
  answerOf,
  imageHasFile,
  randomSha,
  runAction,
  startStandInApp,
  tagsOf,
  untag,
  workspaceFrom,
  type StandInApp,
} from "./harness.ts";

const docker = new Docker();
const BASE = "builder=paas-base/python:bookworm\nruntime=paas-base/python:bookworm";

describe("action on the Python example", { timeout: 600_000 }, () => {
  let registry: TestRegistry;
  let tokens: TokenServer;
  let app: StandInApp;
  let image: string;
  const workspaces: string[] = [];
  const ws = async () => {
    const w = await workspaceFrom("python");
    workspaces.push(w);
    return w;
  };
  const inputs = (extra: Record<string, string> = {}) => ({
    registry: registry.host,
    username: registry.username,
    password: registry.password,
    "app-url": app.url,
    "base-images": BASE,
    ...extra,
  });

  before(async () => {
    registry = await startRegistry();
    tokens = await startTokenServer(claims);
    app = await startStandInApp(tokens);
    image = `${registry.host}/octo-org/hello-app`;
  });
  after(async () => {
    await untag(docker, await tagsOf(docker, image));
    await app.close();
    await tokens.close();
    await registry.stop();
    for (const w of workspaces) await rm(w, { recursive: true, force: true });
  });

  // Read at each token request: a test may set the job's GitHub environment.
  const claims: Record<string, unknown> = { repository: "octo-org/hello-app", repository_id: "77" };
  let firstRef = "";
  let firstLayers: string[] = [];

  it("builds, pushes, hands off, and the image answers with its commit", async () => {
    const workspace = await ws();
    // Files .dockerignore excludes must not reach the image.
    await writeFile(path.join(workspace, ".env"), "SECRET=do-not-ship\n");
    await mkdir(path.join(workspace, "notes"));
    await writeFile(path.join(workspace, "notes", "private.txt"), "internal\n");
    await appendFile(path.join(workspace, ".dockerignore"), "notes/\n");
    const sha = randomSha();
    const run = await runAction({ workspace, inputs: inputs(), sha, tokenServer: tokens });
    assert.equal(run.code, 0, run.stdout);

    assert.equal(run.outputs.language, "python");
    assert.equal(run.outputs["start-command"], "python main.py");
    assert.equal(run.outputs.image, image);
    assert.match(run.outputs.digest ?? "", /^sha256:[a-f0-9]{64}$/);
    assert.equal(run.outputs["image-ref"], `${image}@${run.outputs.digest}`);
    assert.equal(run.outputs["preview-url"], "https://hello.paas.test");

    // The digest is what the registry serves for both tags.
    assert.equal(await registry.digestOf("octo-org/hello-app", `sha-${sha.slice(0, 7)}`), run.outputs.digest);
    assert.equal(await registry.digestOf("octo-org/hello-app", "production"), run.outputs.digest);

    // The App got the hand-off with a token for its own URL, and no failure report.
    assert.equal(app.received.length, 1);
    assert.equal(app.failures.length, 0);
    assert.deepEqual(app.received[0]!.body, {
      repository: "octo-org/hello-app",
      sha,
      ref: "refs/heads/main",
      environment: "production",
      image,
      digest: run.outputs.digest,
      app: "",
      runId: 4242,
      // The checked-out .paas.yml's blob: the App reuses the copy it read for the head.
      configBlob: gitBlobSha(await readFile(path.join(workspace, ".paas.yml"))),
    });
    assert.equal(app.received[0]!.claims.repository, "octo-org/hello-app");
    assert.deepEqual(tokens.requests, [app.url]);

    // The generated Dockerfile is in the log, and the summary reports the build.
    assert.match(run.stdout, /::group::Generated Dockerfile/);
    assert.match(
      run.stdout,
      /RUN --mount=type=cache,target=\/root\/\.cache\/pip pip install -r requirements\.txt/,
    );
    // The engine has BuildKit, and the summary says that it ran.
    assert.match(run.summary, /BuildKit \(cache mounts, inline cache\)/);
    assert.match(run.summary, /python/);
    assert.match(run.summary, /layer cache/);
    assert.match(run.summary, /https:\/\/hello\.paas\.test/);

    // What users see: the pushed image answers with the commit it was built from.
    const ref = run.outputs["image-ref"]!;
    assert.deepEqual(await answerOf(docker, ref), { status: 200, body: sha });
    assert.equal((await answerOf(docker, ref, "/healthz")).status, 200);
    const info = await docker.getImage(ref).inspect();
    assert.equal(info.Config.User, "65532:65532");
    assert.equal(info.Config.Labels["org.opencontainers.image.revision"], sha);
    assert.equal(
      info.Config.Labels["org.opencontainers.image.source"],
      "https://github.com/octo-org/hello-app",
    );

    assert.equal(await imageHasFile(docker, ref, "/app/main.py"), true);
    assert.equal(await imageHasFile(docker, ref, "/app/.env"), false);
    assert.equal(await imageHasFile(docker, ref, "/app/notes/private.txt"), false);
    assert.equal(await imageHasFile(docker, ref, "/app/.paas.Dockerfile"), false);

    firstRef = ref;
    firstLayers = info.RootFS.Layers ?? [];
  });

  it("reuses the dependency layers after a one-line source change", async () => {
    assert.ok(firstRef, "needs the first build");
    const workspace = await ws();
    const main = path.join(workspace, "main.py");
    await writeFile(main, (await readFile(main, "utf8")).replace('"ok\\n"', '"ok!\\n"'));
    const sha = randomSha();
    const run = await runAction({ workspace, inputs: inputs(), sha, tokenServer: tokens });
    assert.equal(run.code, 0, run.stdout);
    // The log shows the install step answered from the cache…
    assert.match(
      run.stdout,
      /#(\d+) \[builder \d+\/\d+\] RUN [^\n]*pip install -r requirements\.txt\n(?:[^\n]*\n)*?#\1 CACHED/,
    );
    // …and the new image shares every layer up to and including the installed dependencies.
    const info = await docker.getImage(run.outputs["image-ref"]!).inspect();
    const layers = info.RootFS.Layers ?? [];
    assert.notDeepEqual(layers, firstLayers);
    const venvLayerCount =
      (await docker.getImage("paas-base/python:bookworm").inspect()).RootFS.Layers!.length + 1;
    assert.deepEqual(layers.slice(0, venvLayerCount), firstLayers.slice(0, venvLayerCount));
    assert.deepEqual(await answerOf(docker, run.outputs["image-ref"]!), { status: 200, body: sha });
    assert.equal((await answerOf(docker, run.outputs["image-ref"]!, "/healthz")).body, "ok!");
  });

  it("fails a broken app with an annotation at the failing line and the log tail in the summary", async () => {
    const workspace = await ws();
    const main = path.join(workspace, "main.py");
    const lines = (await readFile(main, "utf8")).split("\n");
    const at = lines.findIndex((l) => l.includes("def reply"));
    lines[at] = "    def reply(self, status, text:";
    await writeFile(main, lines.join("\n"));
    const failuresBefore = app.failures.length;
    const handoffsBefore = app.received.length;
    const sha = randomSha();
    const run = await runAction({ workspace, inputs: inputs(), sha, tokenServer: tokens });
    assert.equal(run.code, 1);
    const errors = annotations(run.stdout).filter((a) => a.level === "error" && a.props.file);
    assert.equal(errors.length, 1, run.stdout);
    assert.equal(errors[0]!.props.file, "main.py");
    assert.equal(errors[0]!.props.line, String(at + 1));
    assert.match(errors[0]!.props.title ?? "", /SyntaxError/);
    assert.match(run.summary, /Build failed/);
    assert.match(run.summary, /SyntaxError/);

    // The App heard of it at once, with the same error, the log's end and the run's link.
    assert.equal(app.failures.length, failuresBefore + 1, run.stdout);
    const report = app.failures.at(-1)!;
    assert.equal(report.claims.repository, "octo-org/hello-app");
    assert.equal(report.body.sha, sha);
    assert.equal(report.body.environment, "production");
    assert.equal(report.body.step, "build");
    const error = report.body.error as Record<string, unknown>;
    assert.equal(error.file, "main.py");
    assert.equal(error.line, at + 1);
    assert.match(String(error.title), /SyntaxError/);
    assert.match(String(report.body.logTail), /SyntaxError/);
    assert.equal(report.body.jobUrl, "https://github.com/octo-org/hello-app/actions/runs/4242");
    assert.equal(app.received.length, handoffsBefore, "nothing is handed off");
    assert.match(run.stdout, /Reported the failed build to the App/);
  });

  it("names the registry that refused bad credentials", async () => {
    const workspace = await ws();
    const before = app.received.length;
    const run = await runAction({
      workspace,
      inputs: inputs({ password: "wrong-password" }),
      sha: randomSha(),
      tokenServer: tokens,
    });
    assert.equal(run.code, 1);
    const errors = annotations(run.stdout).filter((a) => a.level === "error");
    assert.ok(
      errors.some((e) => e.message.includes(`registry ${registry.host} refused`)),
      run.stdout,
    );
    assert.ok(errors.some((e) => e.message.includes("username and password")));
    assert.equal(app.received.length, before, "nothing is handed off");
    // The failed push reached the App, without the password or the token in it.
    const report = app.failures.at(-1);
    assert.equal(report?.body.step, "push", run.stdout);
    assert.ok(!JSON.stringify(report!.body).includes("wrong-password"));
  });

  it("without an OIDC token (fork pull request) builds only and succeeds", async () => {
    const workspace = await ws();
    const before = app.received.length;
    const sha = randomSha();
    const run = await runAction({
      workspace,
      inputs: inputs(),
      sha,
      ref: "refs/pull/7/merge",
      eventName: "pull_request",
      tokenServer: undefined,
    });
    assert.equal(run.code, 0, run.stdout);
    assert.match(run.stdout, /::notice::No OIDC token.*waits for a maintainer's approval/);
    assert.equal(run.outputs.digest, undefined);
    assert.equal(await registry.digestOf("octo-org/hello-app", `sha-${sha.slice(0, 7)}`), undefined);
    assert.equal(app.received.length, before);
  });

  it("retries the hand-off when the App answers 503, then deploys the pull request preview", async () => {
    const workspace = await ws();
    app.failFirst.push(503);
    const sha = randomSha();
    const run = await runAction({
      workspace,
      inputs: inputs(),
      sha,
      ref: "refs/pull/12/merge",
      eventName: "pull_request",
      tokenServer: tokens,
    });
    assert.equal(run.code, 0, run.stdout);
    assert.match(run.stdout, /::warning::hand-off attempt 1 failed \(HTTP 503/);
    assert.equal(app.received.at(-1)!.body.environment, "preview/pr-12");
    assert.equal(run.outputs["preview-url"], "https://pr-12-hello.paas.test");
    assert.equal(await registry.digestOf("octo-org/hello-app", "pr-12"), run.outputs.digest);
  });

  it("masks every secret it is given, and seals only the ones .paas.yml names to the App's key", async () => {
    const workspace = await ws();
    await appendFile(
      path.join(workspace, ".paas.yml"),
      "secrets: [API_KEY]\npreviews:\n  secrets: [DATABASE_URL]\n",
    );
    const db = `postgres://u:${randomSha().slice(0, 24)}@db/preview`;
    const unlisted = `unlisted-${randomSha().slice(0, 24)}`;
    const sha = randomSha();
    claims.environment = "preview";
    const run = await runAction({
      workspace,
      // What `${{ toJSON(secrets) }}` gives a job in the GitHub environment "preview".
      inputs: inputs({
        secrets: JSON.stringify({ DATABASE_URL: db, UNLISTED: unlisted, github_token: "ghs_x1y2z3w4" }),
      }),
      sha,
      ref: "refs/pull/14/merge",
      eventName: "pull_request",
      tokenServer: tokens,
    });
    delete claims.environment;
    assert.equal(run.code, 0, run.stdout);
    for (const v of [db, unlisted, "ghs_x1y2z3w4"]) {
      assert.ok(run.stdout.includes(`::add-mask::${v}`), `${v} is masked`);
      assert.equal(run.stdout.split(v).length, 2, "the value appears only in its mask command");
    }
    const got = app.received.at(-1)!;
    assert.equal(got.body.environment, "preview/pr-14");
    assert.deepEqual(got.opened, { DATABASE_URL: db }, "only the names .paas.yml lists are sent");
    assert.ok(!JSON.stringify(got.body).includes(db), "the hand-off body holds no value in the clear");
    assert.match(run.stdout, /Not in this job's secrets .*: API_KEY/);
    // A `secrets` input that is not JSON is refused without echoing it.
    const bad = await runAction({
      workspace,
      inputs: inputs({ secrets: `{"DATABASE_URL": ${db}` }),
      sha,
      tokenServer: tokens,
    });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stdout, /input "secrets" must be a JSON object/);
    assert.ok(!bad.stdout.includes(db));
  });

  it("builds one app of a monorepo, chosen by the path input", async () => {
    const workspace = await ws();
    const appDir = path.join(workspace, "services", "api");
    await mkdir(appDir, { recursive: true });
    for (const f of ["main.py", "requirements.txt", ".dockerignore"]) {
      await rename(path.join(workspace, f), path.join(appDir, f));
    }
    await writeFile(
      path.join(workspace, ".paas.yml"),
      "apps:\n  api:\n    path: services/api\n    environments:\n      production:\n        branch: main\n",
    );
    const sha = randomSha();
    const run = await runAction({
      workspace,
      inputs: inputs({ path: "services/api" }),
      sha,
      tokenServer: tokens,
    });
    assert.equal(run.code, 0, run.stdout);
    assert.equal(run.outputs.image, `${image}-api`);
    assert.equal(app.received.at(-1)!.body.app, "api");
    assert.equal(app.received.at(-1)!.body.image, `${image}-api`);
    assert.equal(
      await registry.digestOf("octo-org/hello-app-api", `sha-${sha.slice(0, 7)}`),
      run.outputs.digest,
    );
    assert.deepEqual(await answerOf(docker, run.outputs["image-ref"]!), { status: 200, body: sha });
    await untag(docker, await tagsOf(docker, `${image}-api`));
  });

  it("dry-run prints the plan and the Dockerfile and builds nothing", async () => {
    const workspace = await ws();
    const sha = randomSha();
    const run = await runAction({
      workspace,
      inputs: inputs({ "dry-run": "true" }),
      sha,
      tokenServer: tokens,
    });
    assert.equal(run.code, 0, run.stdout);
    assert.match(run.stdout, /FROM paas-base\/python:bookworm AS builder/);
    assert.match(run.stdout, /"language": "python"/);
    assert.match(run.summary, /Dry run/);
    assert.equal(run.outputs.language, "python");
    assert.deepEqual(
      await tagsOf(docker, image).then((t) => t.filter((x) => x.endsWith(sha.slice(0, 7)))),
      [],
    );
  });

  it("annotates mistakes in .paas.yml at their line", async () => {
    const workspace = await ws();
    await writeFile(path.join(workspace, ".paas.yml"), "name: hello\nrun:\n  prot: 8080\n");
    const run = await runAction({ workspace, inputs: inputs(), sha: randomSha(), tokenServer: tokens });
    assert.equal(run.code, 1);
    const errors = annotations(run.stdout).filter((a) => a.props.file === ".paas.yml");
    assert.equal(errors.length, 1, run.stdout);
    assert.equal(errors[0]!.props.line, "3");
    assert.match(errors[0]!.message, /unknown key "prot" in run; did you mean "port"\?/);
  });

  it("refuses bad inputs with a message naming them", async () => {
    const workspace = await ws();
    const run = await runAction({
      workspace,
      inputs: { push: "maybe", "app-url": "ftp://x", registry: registry.host },
      sha: randomSha(),
      tokenServer: tokens,
    });
    assert.equal(run.code, 1);
    assert.match(run.stdout, /input "push": true or false/);
    assert.match(run.stdout, /input "app-url"/);
  });
});
