// The onboarding pull request is the repository's first deploy (issue #14):
// for each example app, the App onboards a repository that has no paas
// files, then the pull request's own workflow runs as a runner would run it:
// the bundled Action (action/dist) with the inputs the workflow gives it,
// building the checked-out branch, pushing the image and handing it to the
// App with the job's OIDC token; the App deploys the preview on the real
// Docker engine and Caddy, and it serves. GitHub is the validating fake.
//
// What a runner here cannot have is replaced, and only that: the image goes
// to a local registry instead of GHCR (the registry inputs), builds start
// from the local base images instead of Docker Hub's (base-images), and the
// OIDC request endpoint is a stand-in issuing tokens from the issuer the App
// trusts, with the claims GitHub gives a pull_request run of that workflow.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import { parse as parseYaml } from "yaml";
import { OWNER, OWNER_ID, type Harness } from "../support/app-harness.ts";
import { browse } from "../support/browse.ts";
import { startDockerApp, stopDockerApp, type DockerApp } from "../support/docker-app.ts";
import { checkoutFiles, exampleFiles, onboardingRepos, type OnboardingRepo } from "../support/onboarding.ts";
import { startRegistry, type TestRegistry } from "../support/registry.ts";
import { runAction } from "../action/harness.ts";

const docker = new Docker();
const run = randomBytes(3).toString("hex");
const instance = `onboard-${run}`;
const ACTION = "paas-dev/paas/action@v1";
const PYTHON = "builder=paas-base/python:bookworm\nruntime=paas-base/python:bookworm";
const EXAMPLES: Record<string, string> = {
  python: PYTHON,
  fastapi: PYTHON,
  "django-poetry": PYTHON,
  go: "builder=paas-base/go:bookworm\nruntime=paas-base/runtime:bookworm",
  "go-chi": "builder=paas-base/go:bookworm\nruntime=paas-base/runtime:bookworm",
  rust: "builder=paas-base/rust:bookworm\nruntime=paas-base/runtime:bookworm",
  "rust-axum": "builder=paas-base/rust:bookworm\nruntime=paas-base/runtime:bookworm",
};

/** A port free now, for the App's public URL (the OIDC audience the workflow names). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("onboarding pull requests build and deploy their previews", { timeout: 1_800_000 }, () => {
  let app: DockerApp | undefined;
  let h: Harness;
  let registry: TestRegistry;
  let endpoint: Server | undefined;
  const work: string[] = [];
  const images: string[] = [];
  /** The claims of the run the next token is for (GitHub's, for a pull_request run of the workflow). */
  let claims: Record<string, string> = {};
  const requestToken = randomBytes(16).toString("hex");
  let requestUrl = "";
  const repos = onboardingRepos(() => h, 800_000);

  before(async () => {
    registry = await startRegistry();
    const port = await freePort();
    app = await startDockerApp({
      instance,
      registry: { host: registry.host, username: registry.username, password: registry.password },
      env: {
        PORT: String(port),
        PAAS_PUBLIC_URL: `http://127.0.0.1:${port}`,
        PAAS_IMAGE_PREFIXES: `${registry.host}/{owner}/`,
        PAAS_RECONCILE_INTERVAL: "0s",
      },
    });
    h = app.h;
    // The runner's OIDC request endpoint: the token for the audience asked, from the App's issuer.
    endpoint = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://localhost");
      if (req.headers.authorization !== `Bearer ${requestToken}` || url.pathname !== "/token") {
        res.writeHead(401).end();
        return;
      }
      void h
        .tokenFor(claims as never, { audience: url.searchParams.get("audience") ?? "" })
        .then((value) =>
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ value })),
        );
    });
    await new Promise<void>((r) => endpoint!.listen(0, "127.0.0.1", r));
    requestUrl = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/token?api-version=2.0`;
  });

  after(async () => {
    await new Promise<void>((r) => (endpoint ? endpoint.close(() => r()) : r()));
    await stopDockerApp(docker, app ?? {}, { instance, appName: "", images });
    await registry?.stop();
    for (const d of work) await rm(d, { recursive: true, force: true });
  });

  /** The Action step's inputs as the runner evaluates them for a pull_request run. */
  const stepInputs = (workflow: string): Record<string, string> => {
    const wf = parseYaml(workflow) as {
      jobs: Record<string, { steps: { uses?: string; with?: Record<string, string> }[] }>;
    };
    const step = Object.values(wf.jobs)
      .flatMap((j) => j.steps)
      .find((s) => s.uses === ACTION);
    assert.ok(step, "the workflow runs the Action");
    // The expressions the workflow uses, as GitHub evaluates them in a pull_request run (no
    // dispatch inputs; toJSON(secrets) holds the job's token). Any other is this test's to learn.
    const evaluated: Record<string, string> = {
      "${{ inputs.pr && format('preview/pr-{0}', inputs.pr) || '' }}": "",
      "${{ inputs.sha }}": "",
      "${{ toJSON(secrets) }}": JSON.stringify({ github_token: "ghs_runner-token" }),
    };
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(step.with ?? {})) {
      const text = String(v);
      if (text.includes("${{")) {
        assert.ok(Object.hasOwn(evaluated, text), `an expression this test does not evaluate: ${text}`);
        out[k] = evaluated[text]!;
      } else out[k] = text;
    }
    return out;
  };

  it("each example's onboarding pull request builds with its own workflow and its preview serves", async () => {
    const added: [string, OnboardingRepo][] = [];
    for (const ex of Object.keys(EXAMPLES))
      added.push([ex, repos.add(`onboard-${ex}-${run}`, await exampleFiles(ex))]);
    await repos.install(
      added.map(([, r]) => r),
      "installation_repositories",
    );
    for (const [ex, r] of added) {
      const [pull] = repos.pullsOf(r.full);
      assert.ok(pull, `${ex}: an onboarding pull request`);
      const { head, files } = repos.branch(r.full);
      const workspace = await checkoutFiles(files);
      work.push(workspace);
      const inputs = stepInputs(files.get(".github/workflows/paas.yml")!);
      assert.equal(inputs["app-url"], h.settings.publicUrl);
      const ref = `refs/pull/${pull.number}/merge`;
      claims = {
        repository: r.full,
        repository_id: String(r.id),
        repository_owner: OWNER,
        repository_owner_id: String(OWNER_ID),
        sha: head,
        ref,
        event_name: "pull_request",
        environment: "preview",
        job_workflow_ref: `${r.full}/.github/workflows/paas.yml@${ref}`,
        run_id: String(1000 + pull.number),
      };
      const ran = await runAction({
        workspace,
        sha: head,
        ref,
        eventName: "pull_request",
        repository: r.full,
        tokenServer: { requestUrl, requestToken },
        inputs: {
          ...inputs,
          registry: registry.host,
          username: registry.username,
          password: registry.password,
          "base-images": EXAMPLES[ex]!,
        },
      });
      assert.equal(ran.code, 0, `${ex}: ${ran.stdout.slice(-3000)}`);
      if (ran.outputs.image) images.push(`${ran.outputs.image}@${ran.outputs.digest}`);
      await h.app.deployer.idle();
      const [check] = h.github.checkRunsOf(r.full, head);
      assert.equal(check?.conclusion, "success", `${ex}: ${JSON.stringify(check?.output)}`);
      const url = ran.outputs["preview-url"];
      assert.ok(url, `${ex}: the Action says where the preview is`);
      const page = await browse(url);
      assert.ok(
        page.status >= 200 && page.status < 400,
        `${ex}: ${url} answered ${page.status} ${page.body}`,
      );
    }
    assert.deepEqual(h.github.violations, []);
  });
});
