// Throughput and memory: 1,000 repositories, each in its own installation,
// hand off at once to the App (instant runtime double, fake GitHub, write
// spacing off as in the other App benches). Two rounds: the first hand-off of
// every repository (cold: the App looks up each installation and gets its
// token) and a second push of each (warm). Printed per round: hand-offs per
// second sustained (N / first POST to last success status), p50/p99 POST →
// success, peak RSS; then the memory each active environment costs (RSS and
// heap after GC with N environments live, minus before, / N). Baseline from
// the same run: N signed webhook deliveries at once to a bare Probot app
// (requests per second, p50/p99, peak RSS, memory per request after GC).
// The fake GitHub, the OIDC issuer and the runtime double live in this
// process too: their state is part of the memory figures (an upper bound).
// Run: node bench/app-throughput.ts [repositories]
import { startProbotBaseline } from "./probot-baseline.ts";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { handoffBody, sha, startHarness, VALID_CONFIG } from "../test/support/app-harness.ts";

const N = Number(process.argv[2] ?? 1000);
// A full GC before each memory reading, without a command-line flag (bench/run.ts starts scripts bare).
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const MiB = 2 ** 20;
function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}
async function settled(): Promise<{ rss: number; heap: number }> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed };
}
/** Runs `f` while sampling RSS every 20 ms; answers its result and the highest RSS seen. */
async function peakRss<T>(f: () => Promise<T>): Promise<{ result: T; peak: number }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  try {
    const result = await f();
    return { result, peak: Math.max(peak, process.memoryUsage.rss()) };
  } finally {
    clearInterval(timer);
  }
}
const fmt = (ms: number[]) =>
  `p50 ${percentile(ms, 50).toFixed(0)} ms  p99 ${percentile(ms, 99).toFixed(0)} ms`;
const rows: string[] = [];
const row = (what: string, perSecond: number, ms: number[], peak: number) =>
  rows.push(
    `${what.padEnd(44)} ${perSecond.toFixed(0).padStart(6)}/s   ${fmt(ms).padEnd(24)}  peak RSS ${(peak / MiB).toFixed(0)} MiB`,
  );

// ---------- baseline: N signed webhooks at once to a bare Probot app ----------
const h = await startHarness({ PAAS_RECONCILE_INTERVAL: "0s" });
try {
  const baseline = await startProbotBaseline(
    h.settings.privateKey,
    h.pullRequestPayload("opened", 1, sha(1)),
  );
  const deliver = () => baseline.deliver();
  await Promise.all(Array.from({ length: 50 }, deliver)); // warm: JIT and sockets
  const before = await settled();
  const started = performance.now();
  const { result: baselineMs, peak: baselinePeak } = await peakRss(() =>
    Promise.all(Array.from({ length: N }, deliver)),
  );
  const baselineSeconds = (performance.now() - started) / 1000;
  const after = await settled();
  baseline.close();
  row(`baseline: bare Probot, ${N} webhooks at once`, N / baselineSeconds, baselineMs, baselinePeak);

  // ---------- the App: N repositories, one installation each ----------
  const repos = Array.from({ length: N }, (_, i) => ({
    installationId: 50_000 + i,
    owner: `org-${i}`,
    ownerId: 60_000 + i,
    name: "app",
    id: 700_000 + i,
  }));
  for (const r of repos) {
    h.github.addInstallation(r.installationId, r.owner, r.ownerId);
    h.github.addRepository({ ...r, installationId: r.installationId });
  }
  const successAt = new Map<number, number>();
  const failed: string[] = [];
  h.github.events.on("deployment_status", (e: { deploymentId: number; state: string }) => {
    if (e.state === "success") successAt.set(e.deploymentId, performance.now());
    else if (e.state === "failure" || e.state === "error") failed.push(`${e.deploymentId} ${e.state}`);
  });
  const round = async (n: number) => {
    // Tokens are signed before the clock starts: the Action brings its own.
    const ready = await Promise.all(
      repos.map(async (r, i) => {
        const full = `${r.owner}/${r.name}`;
        const commit = sha(0x100000 * n + i);
        // Each its own name: hostnames are unique per environment.
        h.github.setFile(full, commit, ".paas.yml", VALID_CONFIG.replace("name: hello", `name: app-${i}`));
        const workflow = `${full}/.github/workflows/paas.yml@refs/heads/main`;
        const token = await h.tokenFor(
          h.claims({
            repository: full,
            repository_id: String(r.id),
            repository_owner: r.owner,
            repository_owner_id: String(r.ownerId),
            sha: commit,
            job_workflow_ref: workflow,
            workflow_ref: workflow,
          }),
        );
        return { body: handoffBody(commit, { repository: full, image: `ghcr.io/${full}` }), token };
      }),
    );
    const from = h.github.log.length;
    const started = performance.now();
    const { result: ms, peak } = await peakRss(async () => {
      const accepted = await Promise.all(
        ready.map(async ({ body, token }) => {
          const t = performance.now();
          const res = await h.handoff(body, token);
          if (res.status !== 202) throw new Error(`hand-off refused: ${JSON.stringify(res.json)}`);
          return { id: Number(res.json.deploymentId), t };
        }),
      );
      await h.app.deployer.idle();
      if (failed.length) throw new Error(`deploys failed: ${failed.slice(0, 5).join(", ")}`);
      return accepted.map(({ id, t }) => {
        const at = successAt.get(id);
        if (at === undefined) throw new Error(`deployment ${id} has no success status`);
        return at - t;
      });
    });
    const seconds = (Math.max(...successAt.values()) - started) / 1000;
    successAt.clear();
    const c = h.github.counts(from);
    const requests = `${(c.reads / N).toFixed(1)} reads, ${(c.writes / N).toFixed(1)} writes, ${(c.tokens / N).toFixed(1)} tokens per hand-off`;
    return { ms, peak, seconds, requests };
  };

  const idle = await settled();
  const cold = await round(1);
  row(`App: first hand-off of ${N} repositories`, N / cold.seconds, cold.ms, cold.peak);
  rows.push(`  GitHub: ${cold.requests}`);
  const warm = await round(2);
  row(`App: next push of the same ${N}`, N / warm.seconds, warm.ms, warm.peak);
  rows.push(`  GitHub: ${warm.requests}`);
  const live = await settled();
  const environments = (await h.runtime.list()).length;
  if (environments !== N) throw new Error(`${environments} environments live, expected ${N}`);

  console.log(`${N} at once (GitHub write spacing disabled: PAAS_GITHUB_WRITE_INTERVAL_MS=0)`);
  console.log(`${"".padEnd(44)} sustained   POST → answer/success        memory`);
  for (const r of rows) console.log(r);
  const per = (a: number, b: number) => `${((a - b) / N / 1024).toFixed(1)} KiB`;
  console.log(
    `\nmemory after GC, per webhook request (baseline)   RSS ${per(after.rss, before.rss)}   heap ${per(after.heap, before.heap)}`,
  );
  console.log(
    `memory after GC, per active environment (App)     RSS ${per(live.rss, idle.rss)}   heap ${per(live.heap, idle.heap)}`,
  );
  console.log(
    `  (${N} environments, ${N} installations and their clients and tokens; the fake GitHub's and the runtime double's state included)`,
  );
  if (h.github.violations.length) console.log("OpenAPI violations:", h.github.violations.length);
} finally {
  await h.close();
}
