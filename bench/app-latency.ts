// Hand-off-to-success latency with an instant runtime (the serving double:
// no container start, just the HTTP route), p50 and p99 over 500 deploys,
// against a baseline Probot app that only answers the same signed webhook.
// Both run in this process against the same fake GitHub. The App's time is
// broken down: what it awaits (each GitHub request, the fake's time answering
// it, per operation; the runtime's apply; the probe through the public route)
// and the App's own work, the rest of hand-off → success (token verification,
// config, plan, the HTTP server and clients, Octokit), with its pure steps
// timed on their own beside it.
// Run: node bench/app-latency.ts [count]
import { startProbotBaseline } from "./probot-baseline.ts";
import { OidcVerifier } from "../src/app/handoff.ts";
import { HttpProber, type Prober } from "../src/app/probe.ts";
import { parseConfig, resolveApps } from "../src/config/load.ts";
import { planDeploy } from "../src/core/plan.ts";
import type { LoggedRequest } from "../test/fakes/github/server.ts";
import {
  AUDIENCE,
  FULL,
  handoffBody,
  IMAGE,
  DIGEST,
  sha,
  startHarness,
  VALID_CONFIG,
} from "../test/support/app-harness.ts";
import { goal } from "./goals.ts";

const count = Number(process.argv[2] ?? 500);
/** What the App awaited outside itself: the runtime's apply and the probe, as [start, end] spans. */
const awaited: { what: "runtime" | "probe"; at: number; doneAt: number }[] = [];
async function timed<T>(what: "runtime" | "probe", f: () => Promise<T>): Promise<T> {
  const at = performance.now();
  try {
    return await f();
  } finally {
    awaited.push({ what, at, doneAt: performance.now() });
  }
}
// The App's own prober, timed (its address is the runtime double's, known once the harness runs).
let prober: Prober | undefined;
const h = await startHarness(
  { PAAS_RECONCILE_INTERVAL: "0s" },
  {
    prober: {
      probe: (...a) => timed("probe", () => (prober ??= new HttpProber(h.settings.probeAddress)).probe(...a)),
    },
  },
);
const apply = h.runtime.apply.bind(h.runtime);
h.runtime.apply = (...a) => timed("runtime", () => apply(...a));

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

try {
  // Baseline: a Probot app whose handler does nothing, behind Probot's own middleware.
  const baseline = await startProbotBaseline(
    h.settings.privateKey,
    h.pullRequestPayload("opened", 1, sha(1)),
  );
  const baselineMs: number[] = [];
  for (let i = 0; i < count; i++) baselineMs.push(await baseline.deliver());
  baseline.close();

  // The App: hand-off → deployment status success (reported only after the URL serves the commit).
  const deployMs: number[] = [];
  const githubMs: number[] = [];
  const runtimeMs: number[] = [];
  const probeMs: number[] = [];
  const ownMs: number[] = [];
  const byOperation = new Map<string, number[]>();
  let requests = 0;
  for (let i = 0; i < count; i++) {
    const from = h.github.log.length;
    awaited.length = 0;
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
    const total = performance.now() - t;
    deployMs.push(total);
    await h.app.deployer.idle();
    const inGitHub = h.github.log.slice(from).filter((r) => r.at >= t && (r.doneAt ?? Infinity) <= t + total);
    requests += inGitHub.length;
    githubMs.push(covered(inGitHub));
    const spans = awaited.filter((a) => a.at >= t && a.doneAt <= t + total);
    runtimeMs.push(covered(spans.filter((a) => a.what === "runtime")));
    probeMs.push(covered(spans.filter((a) => a.what === "probe")));
    // The App's own work: the hand-off → success time when nothing outside it was being awaited.
    ownMs.push(total - covered([...inGitHub, ...spans]));
    for (const r of inGitHub) {
      const key = `${r.method} ${r.operationId ?? "?"}`;
      byOperation.set(key, [...(byOperation.get(key) ?? []), r.doneAt! - r.at]);
    }
  }
  const steps = await pureSteps();

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
  const own50 = percentile(ownMs, 50);
  const own99 = percentile(ownMs, 99);
  const ms = (xs: number[]) => `${percentile(xs, 50).toFixed(2)} ms`.padStart(9);
  console.log(
    `\nbreakdown of a hand-off → success (p50 over ${count}; ${(requests / count).toFixed(1)} GitHub requests each)`,
  );
  console.log(`  awaited outside the App`);
  console.log(`    GitHub (the fake answering, any request in flight)  ${ms(githubMs)}`);
  for (const [op, xs] of [...byOperation].sort(
    (a, b) => percentile(b[1], 50) * b[1].length - percentile(a[1], 50) * a[1].length,
  ))
    console.log(`      ${op.padEnd(44)} ×${(xs.length / count).toFixed(1)} ${ms(xs)}`);
  console.log(`    the runtime's apply (instant double)               ${ms(runtimeMs)}`);
  console.log(`    the probe through the public route                 ${ms(probeMs)}`);
  console.log(
    `  the App's own work (the rest)                        ${ms(ownMs)}   p99 ${own99.toFixed(2)} ms`,
  );
  for (const [name, x] of steps) console.log(`    ${name.padEnd(50)} ${x.toFixed(2).padStart(6)} ms`);
  // What the pure steps do not explain: the HTTP server and clients, Octokit's hooks, scheduling.
  const pure = steps.reduce((sum, [, x]) => sum + x, 0);
  console.log(
    `    HTTP server and clients, Octokit around ${(requests / count).toFixed(1)} requests  ${(own50 - pure).toFixed(2).padStart(6)} ms`,
  );
  goal({
    figure: "App's own work per hand-off (hand-off → success, instant runtime, p50)",
    baseline: `bare Probot webhook round trip p50 ${b50.toFixed(1)} ms`,
    value: `${own50.toFixed(1)} ms, p99 ${own99.toFixed(1)} ms (whole hand-off → success p50 ${d50.toFixed(1)} ms: GitHub ${percentile(githubMs, 50).toFixed(1)} ms, probe ${percentile(probeMs, 50).toFixed(1)} ms)`,
    goal: "≤ 10 ms p50",
    met: own50 <= 10,
  });
  if (h.github.violations.length) console.log("OpenAPI violations:", h.github.violations.length);
} finally {
  await h.close();
}

/** Milliseconds during which at least one of the spans (GitHub requests, awaited calls) was in flight. */
function covered(requests: readonly Pick<LoggedRequest, "at" | "doneAt">[]): number {
  const spans = requests.map((r) => [r.at, r.doneAt!] as const).sort((a, b) => a[0] - b[0]);
  let sum = 0;
  let end = -Infinity;
  for (const [a, b] of spans) {
    if (b <= end) continue;
    sum += b - Math.max(a, end);
    end = b;
  }
  return sum;
}

/** The App's pure steps of a hand-off, timed on their own (p50 of 200, warm). */
async function pureSteps(): Promise<[string, number][]> {
  const p50 = async (f: () => unknown) => {
    const xs: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      await f();
      xs.push(performance.now() - t);
    }
    return percentile(xs, 50);
  };
  const verifier = new OidcVerifier({ issuer: h.settings.oidcIssuer, audience: AUDIENCE });
  const token = await h.tokenFor(h.claims({ sha: sha(1) }));
  const app = resolveApps(parseConfig(VALID_CONFIG))[0]!;
  const target = {
    owner: "octo-org",
    repo: "hello-world",
    app: "",
    environment: { kind: "named", name: "production" },
  } as const;
  return [
    ["token verification (OIDC signature, claims)", await p50(() => verifier.verify(token))],
    [".paas.yml parse and validation", await p50(() => parseConfig(VALID_CONFIG))],
    [
      "plan (config → DeploySpec)",
      await p50(() =>
        planDeploy(
          { target, repositoryId: 1, config: app.config, image: `${IMAGE}@${DIGEST}`, sha: sha(1) },
          h.settings.platform,
        ),
      ),
    ],
  ];
}
