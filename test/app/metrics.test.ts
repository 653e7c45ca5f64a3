// GET /metrics after real deploys through the App (signed webhooks, OIDC
// hand-offs, the validating fake GitHub behind a proxy that adds GitHub's
// rate-limit headers): what an operator's Prometheus scrapes, parsed from the
// exposition text.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { DeploySpec, Runtime } from "../../src/runtime/types.ts";
import {
  FULL,
  handoffBody,
  INSTALLATION_ID,
  REPO,
  sha,
  startHarness,
  VALID_CONFIG,
  type Harness,
} from "../support/app-harness.ts";
import { RateLimitProxy } from "../support/github-rate-limit-proxy.ts";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition format 0.0.4 (samples only). */
function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches ${found.length} series`);
  return found[0]?.value;
}

describe("GET /metrics", () => {
  let h: Harness;
  let proxy: RateLimitProxy;
  let failApply: Error | undefined;

  before(async () => {
    proxy = new RateLimitProxy();
    await proxy.start();
    // The harness's serving runtime, with an engine that can fail (platform errors, not rollouts).
    const serving = (): Runtime => h.runtime;
    const runtime: Runtime = {
      kind: "docker",
      apply: (spec: DeploySpec, o) => {
        if (failApply) return Promise.reject(failApply);
        return serving().apply(spec, o);
      },
      destroy: (t) => serving().destroy(t),
      diagnose: (t) => serving().diagnose(t),
      list: () => serving().list(),
      logs: (t, o) => serving().logs(t, o),
    };
    h = await startHarness({ GHE_HOST: proxy.host }, { runtime });
    proxy.target = h.github.host;
  });
  after(async () => {
    await h.close();
    await proxy.stop();
  });

  async function scrape(): Promise<{ text: string; samples: Sample[] }> {
    const res = await fetch(`${h.app.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    return { text, samples: parseExposition(text) };
  }

  async function previewDeploy(pr: number, n: number): Promise<void> {
    const head = sha(n);
    const merge = sha(n + 1);
    h.github.setFile(FULL, head, ".paas.yml", VALID_CONFIG);
    h.github.setPull(FULL, {
      number: pr,
      state: "open",
      headSha: head,
      mergeSha: merge,
      headRef: `f-${pr}`,
      baseRef: "main",
    });
    assert.equal(await h.webhook("pull_request", h.pullRequestPayload("opened", pr, head)), 200);
    const res = await h.handoff(
      handoffBody(head, { ref: `refs/pull/${pr}/merge`, environment: `preview/pr-${pr}` }),
      await h.tokenFor(h.claims({ event_name: "pull_request", ref: `refs/pull/${pr}/merge`, sha: merge })),
    );
    assert.equal(res.status, 202, JSON.stringify(res.json));
    await h.app.deployer.idle();
  }

  async function productionDeploy(commit: string): Promise<void> {
    h.github.setFile(FULL, commit, ".paas.yml", VALID_CONFIG);
    const res = await h.handoff(handoffBody(commit), await h.tokenFor(h.claims({ sha: commit })));
    assert.equal(res.status, 202, JSON.stringify(res.json));
    await h.app.deployer.idle();
  }

  it("starts with zeroed deploy and reconcile counters", async () => {
    const { samples } = await scrape();
    for (const result of ["success", "failure", "error", "cancelled"])
      for (const environment of ["preview", "named"])
        assert.equal(value(samples, "paas_deploys_total", { result, environment }), 0);
    assert.equal(value(samples, "paas_reconcile_runs_total", { result: "success" }), 0);
    assert.equal(value(samples, "paas_reconcile_runs_total", { result: "failure" }), 0);
    assert.ok(value(samples, "paas_process_cpu_user_seconds_total") !== undefined, "process metrics");
  });

  it("counts deploys by result and environment kind, with phase durations, rate limits and hand-offs", async () => {
    // Production live (the first hand-off finds the installation with the App's JWT),
    // a preview live, a preview whose rollout fails, production with the engine down.
    await productionDeploy(sha(0x4300));
    await previewDeploy(41, 0x4100);
    assert.equal(h.github.deploymentsOf(FULL, "preview/pr-41")[0]!.statuses.at(-1)!.state, "success");
    h.runtime.failNext({
      summary: "container exited with code 1",
      events: [],
      state: "Exited",
      exitCode: 1,
      logs: [],
    });
    await previewDeploy(42, 0x4200);
    assert.equal(h.github.deploymentsOf(FULL, "preview/pr-42")[0]!.statuses.at(-1)!.state, "failure");
    failApply = new Error("connect ENOENT /var/run/docker.sock");
    await productionDeploy(sha(0x4400));
    failApply = undefined;
    assert.equal(h.github.deploymentsOf(FULL, "production").at(-1)!.statuses.at(-1)!.state, "failure");
    // A token for another audience is refused before anything happens.
    const forged = await h.handoff(
      handoffBody(sha(0x4500)),
      await h.tokenFor(h.claims({ sha: sha(0x4500) }), { audience: "https://elsewhere.example" }),
    );
    assert.equal(forged.status, 401);

    const { text, samples } = await scrape();
    const deploys = (result: string, environment: string) =>
      value(samples, "paas_deploys_total", { result, environment });
    assert.equal(deploys("success", "preview"), 1);
    assert.equal(deploys("failure", "preview"), 1);
    assert.equal(deploys("success", "named"), 1);
    assert.equal(deploys("error", "named"), 1);
    assert.equal(deploys("failure", "named"), 0);
    assert.equal(deploys("cancelled", "preview"), 0);

    const count = (phase: string, environment: string) =>
      value(samples, "paas_deploy_phase_seconds_count", { phase, environment });
    // Both previews were planned, rolled out and finished; only the live one got DNS and a probe.
    assert.equal(count("plan", "preview"), 2);
    assert.equal(count("rollout", "preview"), 2);
    assert.equal(count("dns", "preview"), 1);
    assert.equal(count("probe", "preview"), 1);
    assert.equal(count("total", "preview"), 2);
    // Production: the engine error stopped the second deploy before its rollout was measured.
    assert.equal(count("rollout", "named"), 1);
    assert.equal(count("total", "named"), 2);
    const sum = value(samples, "paas_deploy_phase_seconds_sum", { phase: "total", environment: "preview" })!;
    assert.ok(sum > 0);
    const inf = value(samples, "paas_deploy_phase_seconds_bucket", {
      phase: "total",
      environment: "preview",
      le: "+Inf",
    });
    assert.equal(inf, 2);

    assert.equal(value(samples, "paas_runtime_errors_total", { runtime: "docker", operation: "apply" }), 1);

    // The last count GitHub reported for the installation's token and for the App's JWT.
    const token = proxy.tokens.get(INSTALLATION_ID)!;
    assert.ok(token);
    const installationLeft = value(samples, "paas_github_rate_limit_remaining", {
      installation: String(INSTALLATION_ID),
      resource: "core",
    });
    assert.equal(installationLeft, proxy.remaining.get(token));
    assert.ok(installationLeft! < 5000);
    // The App's JWT: the installation look-up (token creation goes through Probot's auth, not the API client).
    const lastAppCall = proxy.sent
      .filter((x) => x.bucket === "app" && !x.path.endsWith("/access_tokens"))
      .at(-1);
    assert.ok(lastAppCall, "the App looked its installation up with its JWT");
    assert.equal(
      value(samples, "paas_github_rate_limit_remaining", { installation: "app", resource: "core" }),
      lastAppCall.remaining,
    );

    assert.equal(value(samples, "paas_handoffs_total", { status: "202", check: "accepted" }), 4);
    assert.equal(value(samples, "paas_handoffs_total", { status: "401", check: "audience" }), 1);

    // Labels carry fixed values and ids only: no secret, token, repository, commit or URL.
    for (const secretish of [
      token,
      h.settings.webhookSecret,
      "BEGIN",
      REPO,
      sha(0x4100),
      "localhost",
      "ENOENT",
    ])
      assert.ok(!text.includes(secretish), `the exposition contains ${secretish.slice(0, 12)}`);
  });

  it("made only documented GitHub requests", () => {
    assert.deepEqual(h.github.violations, []);
  });

  it("answers /healthz and /readyz while serving", async () => {
    const health = await fetch(`${h.app.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: "ok" });
    const ready = await fetch(`${h.app.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: "ready" });
    assert.equal((await fetch(`${h.app.url}/metrics`, { method: "POST" })).status, 404);
  });
});
