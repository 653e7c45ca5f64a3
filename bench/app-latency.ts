// Hand-off-to-success latency with an instant runtime (the serving double:
// no container start, just the HTTP route), p50 and p99 over 500 deploys,
// against a baseline Probot app that only answers the same signed webhook.
// Both run in this process against the same fake GitHub.
// Run: node bench/app-latency.ts [count]
import { createHmac, randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createNodeMiddleware, createProbot } from "probot";
import { FULL, handoffBody, sha, startHarness, VALID_CONFIG } from "../test/support/app-harness.ts";

const count = Number(process.argv[2] ?? 500);
const h = await startHarness();

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

try {
  // Baseline: a Probot app whose handler does nothing, behind Probot's own middleware.
  const secret = "baseline-secret";
  const probot = createProbot({
    env: { APP_ID: "1", PRIVATE_KEY: h.settings.privateKey, WEBHOOK_SECRET: secret, LOG_LEVEL: "fatal" },
  });
  const middleware = await createNodeMiddleware(
    (app) => {
      app.on("pull_request", async () => {});
    },
    { probot },
  );
  const baseline = createServer((req, res) => void middleware(req, res, () => res.writeHead(404).end()));
  await new Promise<void>((r) => baseline.listen(0, "127.0.0.1", () => r()));
  const baselineUrl = `http://127.0.0.1:${(baseline.address() as AddressInfo).port}/api/github/webhooks`;
  const payload = JSON.stringify(h.pullRequestPayload("opened", 1, sha(1)));
  const signature = "sha256=" + createHmac("sha256", secret).update(payload).digest("hex");
  const baselineMs: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    const res = await fetch(baselineUrl, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-github-event": "pull_request",
        "x-github-delivery": randomUUID(),
        "x-hub-signature-256": signature,
      },
      body: payload,
    });
    await res.text();
    if (res.status !== 200) throw new Error(`baseline answered ${res.status}`);
    baselineMs.push(performance.now() - t);
  }
  baseline.close();

  // The App: hand-off → deployment status success (reported only after the URL serves the commit).
  const deployMs: number[] = [];
  for (let i = 0; i < count; i++) {
    const commit = sha(0x20000 + i);
    h.github.setFile(FULL, commit, ".paas.yml", VALID_CONFIG);
    const token = await h.tokenFor(h.claims({ sha: commit }));
    const t = performance.now();
    const res = await h.handoff(handoffBody(commit), token);
    if (res.status !== 202) throw new Error(JSON.stringify(res.json));
    const id = Number(res.json.deploymentId);
    await new Promise<void>((resolve, reject) => {
      const on = (e: { deploymentId: number; state: string }) => {
        if (e.deploymentId !== id || e.state === "in_progress" || e.state === "queued") return;
        h.github.events.off("deployment_status", on);
        if (e.state === "success") resolve();
        else reject(new Error(`deploy ${i} ended ${e.state}`));
      };
      h.github.events.on("deployment_status", on);
    });
    deployMs.push(performance.now() - t);
    await h.app.deployer.idle();
  }

  const b50 = percentile(baselineMs, 50);
  const b99 = percentile(baselineMs, 99);
  const d50 = percentile(deployMs, 50);
  const d99 = percentile(deployMs, 99);
  console.log(`${count} runs each (GitHub write spacing disabled: PAAS_GITHUB_WRITE_INTERVAL_MS=0)`);
  console.log(`baseline Probot webhook round trip   p50 ${b50.toFixed(1)} ms   p99 ${b99.toFixed(1)} ms`);
  console.log(`App hand-off → deployment success    p50 ${d50.toFixed(1)} ms   p99 ${d99.toFixed(1)} ms`);
  console.log(
    `ratio (App / baseline)               p50 ${(d50 / b50).toFixed(1)}×  p99 ${(d99 / b99).toFixed(1)}×`,
  );
  if (h.github.violations.length) console.log("OpenAPI violations:", h.github.violations.length);
} finally {
  await h.close();
}
