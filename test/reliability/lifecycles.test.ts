// Fault-injection suite: many pull request lifecycles (open, 1–5 pushes,
// duplicated and reordered deliveries and hand-offs, close) and production
// pushes, against the App running as a child process that is SIGKILLed and
// restarted at random moments, while GitHub answers ~10% of requests with
// 5xx, 429, 403 secondary limits, 409s or dropped connections, the Kubernetes
// API and Cloudflare inject their own faults. The end state is checked as a
// user sees it: statuses, the URLs, the comment, what is left behind.
// Seed: PAAS_RELIABILITY_SEED; size: PAAS_RELIABILITY_LIFECYCLES (default 200).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import Docker from "dockerode";
import { adminHeaders } from "../../src/runtime/docker/caddy.ts";
import { createDockerRuntime, type DockerRuntimeParts } from "../../src/runtime/docker/index.ts";
import { startCaddy, type TestCaddy } from "../support/caddy.ts";
import { stopDockerApp } from "../support/docker-app.ts";
import { buildTestImage } from "../support/docker-images.ts";
import { after, before, describe, it } from "node:test";
import {
  BASE_DOMAIN,
  CONFIG,
  FULL,
  githubFaults,
  OWNER,
  OWNER_ID,
  REPO_ID,
  rng,
  startWorld,
  type World,
} from "../support/reliability-world.ts";
import type { ActionsTokenClaims } from "../fakes/oidc-issuer.ts";

const SEED = Number(process.env.PAAS_RELIABILITY_SEED ?? Math.floor(Math.random() * 1e9));
const LIFECYCLES = Number(process.env.PAAS_RELIABILITY_LIFECYCLES ?? 200);
const CONCURRENCY = Number(process.env.PAAS_RELIABILITY_CONCURRENCY ?? 40);
const FAULT_RATE = 0.1;
const TERMINAL = new Set(["success", "failure", "error", "inactive"]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe(`reliability: ${LIFECYCLES} pull request lifecycles with faults and App kills (seed ${SEED})`, () => {
  let w: World;
  const random = rng(SEED);
  const faults: Record<string, number> = {};
  let faultRate = FAULT_RATE;
  const sha = () => Array.from({ length: 40 }, () => "0123456789abcdef"[Math.floor(random() * 16)]).join("");
  const figures: Record<string, unknown> = {};

  before(async () => {
    console.log(`reliability seed ${SEED} (replay: PAAS_RELIABILITY_SEED=${SEED})`);
    w = await startWorld();
    w.github.faults = githubFaults(random, () => faultRate, faults, 3);
    // The cluster's API server and Cloudflare fail too (both clients retry 5xx and 429).
    w.kube.setFaultRate(
      FAULT_RATE / 2,
      [{ status: 500 }, { status: 503 }, { status: 429, retryAfter: 1 }],
      SEED,
    );
    await w.app.start();
  });
  after(async () => {
    await w?.close();
  });

  const claims = (over: Partial<ActionsTokenClaims>): ActionsTokenClaims => ({
    repository: FULL,
    repository_id: String(REPO_ID),
    repository_owner: OWNER,
    repository_owner_id: String(OWNER_ID),
    sha: "",
    ref: "refs/heads/main",
    event_name: "push",
    job_workflow_ref: `${FULL}/.github/workflows/paas.yml@refs/heads/main`,
    run_id: "1",
    // Production deploys run in the GitHub environment "production" (it is protected).
    environment: "production",
    ...over,
  });

  /** The Action's hand-off with its retries: until accepted or refused (4xx). */
  const handoff = async (body: Record<string, unknown>, c: ActionsTokenClaims): Promise<number> => {
    for (let attempt = 0; ; attempt++) {
      const r = await w.handoff(body, c);
      if (r.status !== 0 && r.status < 500) return r.status;
      if (attempt > 200) return r.status;
      await sleep(150 + random() * 250);
    }
  };
  /** GitHub delivers once; a failed delivery waits for the reconciler's redelivery. */
  const deliver = async (event: string, payload: Record<string, unknown>) => {
    const guid = crypto.randomUUID();
    await w.deliver(event, payload, guid);
    // Some deliveries arrive twice (the same X-GitHub-Delivery).
    if (random() < 0.1) {
      await sleep(random() * 100);
      await w.deliver(event, payload, guid);
      faults["duplicated deliveries"] = (faults["duplicated deliveries"] ?? 0) + 1;
    }
  };
  const image = (commit: string) => `ghcr.io/${FULL}@sha256:${commit.slice(0, 32).repeat(2)}`;

  const heads = new Map<number, string>();
  const open = new Set<number>();
  let mainHead = "";

  async function lifecycle(pr: number): Promise<void> {
    const pushes = 1 + Math.floor(random() * 5);
    let previous: (() => Promise<void>) | undefined;
    for (let i = 0; i < pushes; i++) {
      const head = sha();
      w.github.setFile(FULL, head, ".paas.yml", CONFIG);
      const merge = sha();
      w.github.setPull(FULL, {
        number: pr,
        state: "open",
        headSha: head,
        mergeSha: merge,
        headRef: `feature-${pr}`,
        baseRef: "main",
      });
      heads.set(pr, head);
      open.add(pr);
      const event = w.pullRequestPayload(i === 0 ? "opened" : "synchronize", pr, head);
      const send = async () => {
        await deliver("pull_request", event);
        await handoff(
          {
            repository: FULL,
            sha: head,
            ref: `refs/pull/${pr}/merge`,
            environment: `preview/pr-${pr}`,
            image: image(head),
            app: "",
          },
          claims({ sha: merge, ref: `refs/pull/${pr}/merge`, event_name: "pull_request" }),
        );
      };
      // Reordered: the previous push's delivery and hand-off arrive after this one's.
      if (previous && random() < 0.15) {
        faults["reordered pushes"] = (faults["reordered pushes"] ?? 0) + 1;
        await send();
        await previous();
      } else {
        await previous?.();
        await send();
      }
      previous = undefined;
      if (i < pushes - 1 && random() < 0.3) previous = async () => {};
      await sleep(random() * 400);
    }
    // A few stay open: their previews are checked before they close.
    if (random() < 0.1) return;
    w.github.setPull(FULL, {
      number: pr,
      state: "closed",
      headSha: heads.get(pr)!,
      mergeSha: null,
      headRef: `feature-${pr}`,
      baseRef: "main",
    });
    open.delete(pr);
    await deliver("pull_request", w.pullRequestPayload("closed", pr, heads.get(pr)!));
  }

  async function productionPush(): Promise<void> {
    const commit = sha();
    w.github.setFile(FULL, commit, ".paas.yml", CONFIG);
    w.github.setBranch(FULL, "main", commit);
    mainHead = commit;
    await deliver("push", w.pushPayload("refs/heads/main", commit));
    const go = () =>
      handoff(
        {
          repository: FULL,
          sha: commit,
          ref: "refs/heads/main",
          environment: "production",
          image: image(commit),
          app: "",
        },
        claims({ sha: commit }),
      );
    // Reordered: this build finishes after the next push's.
    if (random() < 0.2) {
      faults["reordered production hand-offs"] = (faults["reordered production hand-offs"] ?? 0) + 1;
      setTimeout(() => void go(), 1500);
    } else await go();
  }

  /** Polls until `done` holds (the App converges through its reconciler), or the deadline. */
  async function converge(done: () => Promise<string | undefined>, ms: number): Promise<string | undefined> {
    const until = Date.now() + ms;
    let why: string | undefined;
    while (Date.now() < until) {
      why = await done();
      if (why === undefined) return undefined;
      await sleep(1000);
    }
    return why;
  }

  const previewHost = (pr: number) => `pr-${pr}-records.${BASE_DOMAIN}`;
  const unfinished = () =>
    w.github
      .deploymentsOf(FULL)
      .filter((d) => !TERMINAL.has(d.statuses.at(-1)?.state ?? ""))
      .map((d) => `${d.environment}@${d.sha.slice(0, 7)}`);

  it("converges: terminal statuses, newest commits served, one comment per PR, no duplicates, nothing left behind", async () => {
    const t0 = Date.now();
    let running = true;
    // Kills at random moments (seeded), immediately restarted.
    const killer = (async () => {
      while (running) {
        await sleep(3000 + random() * 6000);
        if (!running) break;
        await w.app.restart();
      }
    })();
    let next = 1;
    const workers = Array.from({ length: CONCURRENCY }, async (_, k) => {
      for (;;) {
        const pr = next++;
        if (pr > LIFECYCLES) return;
        if (k === 0 && pr % 10 === 0) await productionPush();
        await lifecycle(pr);
      }
    });
    // Cloudflare: a fault now and then, taken by the next DNS request.
    const dnsFaults = setInterval(() => {
      const kind = random() < 0.5 ? 503 : 429;
      w.cloudflare.inject(kind === 429 ? { status: 429, retryAfter: "1" } : { status: 503 });
      faults[`cloudflare ${kind}`] = (faults[`cloudflare ${kind}`] ?? 0) + 1;
    }, 500);
    await Promise.all(workers);
    clearInterval(dnsFaults);
    w.kube.setFaultRate(0, []);
    running = false;
    await killer;
    const driveMs = Date.now() - t0;
    // Faults stop; the App (restarted, reconciling every 2 s) must converge by itself.
    faultRate = 0;
    const why = await converge(async () => {
      const left = unfinished();
      if (left.length) return `unfinished deployments: ${left.slice(0, 5).join(", ")}`;
      for (const pr of open)
        if (w.gateway.serving(previewHost(pr)) !== heads.get(pr))
          return `pr-${pr} serves ${w.gateway.serving(previewHost(pr))?.slice(0, 7)}, not ${heads.get(pr)!.slice(0, 7)}`;
      if (mainHead && w.gateway.serving(`records.${BASE_DOMAIN}`) !== mainHead)
        return "production is not on the newest commit";
      const envs = w.github
        .environmentsOf(FULL)
        .filter((e) => e.startsWith("preview/") && !open.has(Number(e.slice(11))));
      if (envs.length) return `environments of closed PRs: ${envs.slice(0, 5).join(", ")}`;
      return undefined;
    }, 180_000);
    if (why !== undefined) {
      // What a user would look at: the unfinished deployments, their statuses and environments.
      for (const d of w.github
        .deploymentsOf(FULL)
        .filter((x) => !TERMINAL.has(x.statuses.at(-1)?.state ?? ""))
        .slice(0, 5))
        console.log(
          JSON.stringify({
            id: d.id,
            env: d.environment,
            sha: d.sha,
            statuses: d.statuses,
            envExists: w.github.environmentsOf(FULL).includes(d.environment),
          }),
        );
    }
    assert.equal(why, undefined, why);
    const convergeMs = Date.now() - t0 - driveMs;
    const stillOpen = [...open];

    // Duplicates: two deployments of one sha to one environment (a failed one may be retried).
    const seen = new Map<string, number>();
    for (const d of w.github.deploymentsOf(FULL)) {
      if (d.statuses.some((s) => s.state === "failure" || s.state === "error")) continue;
      const k = `${d.environment}@${(d.payload as { sha?: string }).sha}`;
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    const duplicates = [...seen.values()].filter((n) => n > 1).length;
    const comments = Array.from({ length: LIFECYCLES }, (_, i) => w.github.commentsOf(FULL, i + 1).length);
    // A preview that ever went live was announced in the comment; PRs closed before any of
    // their events reached the App (it was down) have none, and say nothing.
    const previewed = new Set(
      w.github
        .deploymentsOf(FULL)
        .filter(
          (d) => d.statuses.some((s) => s.state === "success") && d.environment.startsWith("preview/pr-"),
        )
        .map((d) => Number(d.environment.slice("preview/pr-".length))),
    );
    const withoutComment = [...previewed].filter((pr) => comments[pr - 1] !== 1);

    // Then the open ones close, and nothing may be left behind.
    for (const pr of stillOpen) {
      w.github.setPull(FULL, {
        number: pr,
        state: "closed",
        headSha: heads.get(pr)!,
        mergeSha: null,
        headRef: "x",
        baseRef: "main",
      });
      open.delete(pr);
      await w.deliver("pull_request", w.pullRequestPayload("closed", pr, heads.get(pr)!));
    }
    const orphans = () => {
      const namespaces = w.kube
        .list("v1", "Namespace")
        .filter(
          (n) => (n.metadata as { labels?: Record<string, string> }).labels?.["paas.dev/pr"] !== undefined,
        );
      const routes = w.kube
        .list("gateway.networking.k8s.io/v1", "HTTPRoute")
        .filter((r) =>
          ((r.spec as { hostnames?: string[] }).hostnames ?? []).some((h) => h.startsWith("pr-")),
        );
      const records = [...w.cloudflare.records].filter((r) => r.name.startsWith("pr-"));
      const environments = w.github.environmentsOf(FULL).filter((e) => e.startsWith("preview/"));
      return {
        namespaces: namespaces.length,
        routes: routes.length,
        records: records.length,
        environments: environments.length,
      };
    };
    const left = await converge(async () => {
      const o = orphans();
      const n = o.namespaces + o.routes + o.records + o.environments;
      return n === 0 && unfinished().length === 0 ? undefined : JSON.stringify(o);
    }, 120_000);
    const o = orphans();
    const wallMs = Date.now() - t0;

    const deployments = w.github.deploymentsOf(FULL);
    Object.assign(figures, {
      seed: SEED,
      lifecycles: LIFECYCLES,
      productionPushes: Math.floor(LIFECYCLES / 10),
      deployments: deployments.length,
      outcomes: countBy(deployments.map((d) => d.statuses.at(-1)?.state ?? "none")),
      superseded: deployments.filter((d) => d.statuses.some((s) => s.description.startsWith("superseded by")))
        .length,
      faultsInjected: faults,
      githubRequests: w.github.log.length,
      kubernetesRequests: w.kube.requestCount,
      kubernetesFaults: w.kube.requests.filter((r) => r.status === 429 || r.status >= 500).length,
      restarts: w.app.restarts,
      redeliveries: w.github.deliveries.filter((d) => d.redelivery).length,
      openAtCheck: stillOpen.length,
      orphans: o,
      duplicates,
      commentsPerPr: countBy(comments.map(String)),
      prsWithPreview: previewed.size,
      driveSeconds: Math.round(driveMs / 1000),
      convergeSeconds: Math.round(convergeMs / 1000),
      wallSeconds: Math.round(wallMs / 1000),
    });
    console.log(`reliability figures: ${JSON.stringify(figures, null, 2)}`);
    if (process.env.PAAS_RELIABILITY_WRITE)
      writeFileSync(process.env.PAAS_RELIABILITY_WRITE, JSON.stringify(figures, null, 2));

    assert.equal(left, undefined, `left behind after the PRs closed: ${left}`);
    assert.deepEqual(unfinished(), [], "every deployment ends in a terminal status");
    assert.equal(duplicates, 0, "no duplicate deployments for the same sha and environment");
    assert.deepEqual(withoutComment, [], "exactly one App comment on every PR that had a preview");
    assert.ok(
      comments.every((n) => n <= 1),
      `never more than one App comment per PR: ${JSON.stringify(countBy(comments.map(String)))}`,
    );
    assert.deepEqual(w.github.violations, [], "every GitHub request was a documented one");
    assert.ok(w.app.restarts > 0);
  });
});

function countBy(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

// The same lifecycle on real parts: the Docker engine runs the sample app (it
// answers with $PAAS_COMMIT_SHA), Caddy routes each preview hostname, and the
// App (a child process) is killed at chosen moments: right after a hand-off is
// accepted (mid-deploy), right after a close is delivered, and at random.
describe(`reliability on the Docker runtime and Caddy (seed ${SEED})`, () => {
  const docker = new Docker();
  const run = randomBytes(3).toString("hex");
  const name = `reliability-${run}`;
  const config = `name: ${name}\nrun:\n  port: 8080\n  healthcheck:\n    path: /healthz\n    startupTimeout: 30s\n    interval: 1s\n`;
  const random = rng(SEED + 1);
  let caddy: TestCaddy;
  let w: World;
  let image: { ref: string; id: string };
  let parts: DockerRuntimeParts;

  before(async () => {
    caddy = await startCaddy();
    image = await buildTestImage(docker, `paas-test/${name}`, "v1");
    w = await startWorld({
      appEnv: {
        PAAS_RUNTIME: "docker",
        // Its own containers only: other suites deploy on the same engine at the same time.
        PAAS_DOCKER_INSTANCE: name,
        PAAS_CADDY_ADMIN: caddy.adminUrl,
        PAAS_HTTP_PORT: String(caddy.httpPort),
        PAAS_LISTEN_HOST: "127.0.0.1",
        PAAS_DNS_PROVIDER: "none",
        PAAS_BASE_DOMAIN: "localhost",
        PAAS_URL_PORT: String(caddy.httpPort),
        // The test image is local (paas-test/...): the App allows that prefix here.
        PAAS_IMAGE_PREFIXES: "paas-test/",
        PAAS_PROBE_ADDRESS: `http://127.0.0.1:${caddy.httpPort}`,
      },
    });
    await w.app.start();
    parts = createDockerRuntime({
      dockerHost: undefined,
      caddyAdmin: caddy.adminUrl,
      httpListen: caddy.httpListen,
      httpsListen: undefined,
      secretsDir: undefined,
      instance: name,
      registry: undefined,
    });
  });
  after(async () => {
    await w?.close();
    await stopDockerApp(docker, { caddy, parts }, { instance: name, appName: name, images: [image?.id] });
  });

  const browse = (hostname: string): Promise<string> =>
    new Promise((resolve) => {
      const req = httpRequest(
        { host: "127.0.0.1", port: caddy.httpPort, path: "/", headers: { host: hostname }, timeout: 5000 },
        (res) => {
          let body = "";
          res.on("data", (d: Buffer) => (body += d.toString()));
          res.on("end", () => resolve(res.statusCode === 200 ? body : `HTTP ${res.statusCode}`));
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", () => resolve("no answer"));
      req.end();
    });

  it("a few lifecycles with kills mid-deploy and mid-teardown converge: newest commit served, then nothing left", async () => {
    const prs = [1, 2, 3, 4].map((i) => 9000 + i);
    const heads = new Map<number, string>();
    const handoffOnce = async (pr: number, head: string) => {
      for (let i = 0; i < 200; i++) {
        const r = await w.handoff(
          {
            repository: FULL,
            sha: head,
            ref: `refs/pull/${pr}/merge`,
            environment: `preview/pr-${pr}`,
            image: image.ref,
            app: "",
          },
          {
            repository: FULL,
            repository_id: String(REPO_ID),
            repository_owner: OWNER,
            repository_owner_id: String(OWNER_ID),
            sha: head,
            ref: `refs/pull/${pr}/merge`,
            event_name: "pull_request",
            job_workflow_ref: `${FULL}/.github/workflows/paas.yml@refs/heads/main`,
            run_id: "1",
          },
        );
        if (r.status !== 0 && r.status < 500) return r.status;
        await sleep(200);
      }
      return 0;
    };
    await Promise.all(
      prs.map(async (pr, k) => {
        const pushes = 2 + (k % 2);
        for (let i = 0; i < pushes; i++) {
          const head = Array.from({ length: 40 }, () => "0123456789abcdef"[Math.floor(random() * 16)]).join(
            "",
          );
          w.github.setFile(FULL, head, ".paas.yml", config);
          w.github.setPull(FULL, {
            number: pr,
            state: "open",
            headSha: head,
            mergeSha: null,
            headRef: `f-${pr}`,
            baseRef: "main",
          });
          heads.set(pr, head);
          await w.deliver("pull_request", w.pullRequestPayload(i === 0 ? "opened" : "synchronize", pr, head));
          assert.equal(await handoffOnce(pr, head), 202);
          // Chosen moment: the first PR's second push is killed mid-deploy.
          if (k === 0 && i === 1) await w.app.restart();
          else if (random() < 0.3) await w.app.restart();
        }
      }),
    );
    const host = (pr: number) => `pr-${pr}-${name}.localhost`;
    const until = Date.now() + 120_000;
    let serving: string[] = [];
    while (Date.now() < until) {
      serving = await Promise.all(prs.map((pr) => browse(host(pr))));
      if (prs.every((pr, i) => serving[i] === heads.get(pr))) break;
      await sleep(1000);
    }
    // What GitHub was told about each preview that does not serve its newest commit: with the
    // App's log gone (a passing run keeps nothing), the deployments' statuses say why.
    const why = prs
      .filter((pr, i) => serving[i] !== heads.get(pr))
      .map((pr) =>
        w.github
          .deploymentsOf(FULL, `preview/pr-${pr}`)
          .map(
            (d) =>
              `pr-${pr} ${d.sha.slice(0, 7)}: ${d.statuses.map((s) => `${s.state} (${s.description})`).join(" > ")}`,
          )
          .join("; "),
      );
    assert.deepEqual(
      serving,
      prs.map((pr) => heads.get(pr)),
      `every open PR's preview serves its newest commit; deployments: ${why.join(" | ")}; the App's log ends:\n${w.app.logTail()}`,
    );

    // Close them all; kill the App right after the first close is delivered.
    for (const [i, pr] of prs.entries()) {
      w.github.setPull(FULL, {
        number: pr,
        state: "closed",
        headSha: heads.get(pr)!,
        mergeSha: null,
        headRef: "f",
        baseRef: "main",
      });
      await w.deliver("pull_request", w.pullRequestPayload("closed", pr, heads.get(pr)!));
      if (i === 0) await w.app.restart();
    }
    const left = async () => {
      const containers = (await parts.runtime.list()).filter((e) => e.appName === name).length;
      const routes =
        (
          await (await fetch(`${caddy.adminUrl}/config/`, { headers: adminHeaders(caddy.adminUrl) })).text()
        ).split(`${name}.localhost`).length - 1;
      const environments = w.github.environmentsOf(FULL).length;
      const unfinished = w.github
        .deploymentsOf(FULL)
        .filter((d) => !TERMINAL.has(d.statuses.at(-1)?.state ?? "")).length;
      return { containers, routes, environments, unfinished };
    };
    const deadline = Date.now() + 90_000;
    let state = await left();
    while (Date.now() < deadline && Object.values(state).some((n) => n > 0)) {
      await sleep(1000);
      state = await left();
    }
    console.log(
      `docker reliability: ${JSON.stringify({ lifecycles: prs.length, restarts: w.app.restarts, left: state })}`,
    );
    assert.deepEqual(state, { containers: 0, routes: 0, environments: 0, unfinished: 0 });
    for (const pr of prs) {
      assert.equal(w.github.commentsOf(FULL, pr).length, 1);
      assert.match(w.github.commentsOf(FULL, pr)[0]!.body, /removed/);
    }
    assert.deepEqual(w.github.violations, []);
  });
});
