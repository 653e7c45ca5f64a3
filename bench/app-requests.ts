// GitHub requests per preview deploy, counted from the fake GitHub's log
// (every request the App makes, validated against GitHub's OpenAPI description).
// Aim: at most 2 reads and 6 writes for the hand-off of a preview deploy
// (test/server/request-budget.test.ts asserts each phase's counts).
// Run: node bench/app-requests.ts
import { gitBlobSha } from "../src/contract/handoff.ts";
import { FULL, handoffBody, sha, startHarness, VALID_CONFIG } from "../test/support/app-harness.ts";
import { goal } from "./goals.ts";

/** The first preview hand-off before the request budget work (#16), measured by this script at 3c9f6d4. */
const BEFORE = { reads: 8, writes: 7 };

// No reconciler pass during the run: its reads are not a phase's.
const h = await startHarness({ PAAS_RECONCILE_INTERVAL: "0s" });
try {
  const rows: {
    phase: string;
    reads: number;
    writes: number;
    notModified: number;
    tokens: number;
    ops: string;
  }[] = [];
  const measure = async (phase: string, f: () => Promise<void>) => {
    const from = h.github.log.length;
    await f();
    const c = h.github.counts(from);
    rows.push({
      phase,
      reads: c.reads,
      writes: c.writes,
      notModified: c.notModified,
      tokens: c.tokens,
      ops: Object.entries(c.byOperation)
        .map(([k, v]) => `${k}×${v}`)
        .join(", "),
    });
  };
  const pr = 12;
  for (const [i, action] of (["opened", "synchronize"] as const).entries()) {
    const head = sha(0x1000 + i * 2);
    const merge = sha(0x1001 + i * 2);
    // actions/checkout builds the merge commit of a pull_request run: the hand-off names it.
    h.github.setFile(FULL, head, ".paas.yml", VALID_CONFIG);
    h.github.setFile(FULL, merge, ".paas.yml", VALID_CONFIG);
    h.github.setPull(FULL, {
      number: pr,
      state: "open",
      headSha: head,
      mergeSha: merge,
      headRef: "feature",
      baseRef: "main",
    });
    await measure(`webhook pull_request.${action}`, async () => {
      await h.webhook("pull_request", h.pullRequestPayload(action, pr, head));
    });
    const token = await h.tokenFor(
      h.claims({ event_name: "pull_request", ref: `refs/pull/${pr}/merge`, sha: merge }),
    );
    await measure(`hand-off → success (${i === 0 ? "first deploy" : "redeploy"})`, async () => {
      const res = await h.handoff(
        // As the Action sends it: the checked-out .paas.yml named by its git blob sha.
        handoffBody(merge, {
          ref: `refs/pull/${pr}/merge`,
          environment: `preview/pr-${pr}`,
          configBlob: gitBlobSha(VALID_CONFIG),
        }),
        token,
      );
      if (res.status !== 202) throw new Error(JSON.stringify(res.json));
      await h.app.deployer.idle();
    });
  }
  await measure("webhook pull_request.closed (teardown)", async () => {
    await h.webhook("pull_request", h.pullRequestPayload("closed", pr, sha(0x1002)));
  });
  console.log(
    "GitHub requests per preview deploy (installation token requests counted apart: cached ~1 h;\n" +
      "304: conditional reads answered Not Modified, not counted against GitHub's rate limit)\n",
  );
  console.log("phase".padEnd(42), "reads", "writes", " 304", "tokens", " operations");
  for (const r of rows) {
    console.log(
      r.phase.padEnd(42),
      String(r.reads).padStart(5),
      String(r.writes).padStart(6),
      String(r.notModified).padStart(4),
      String(r.tokens).padStart(6),
      "",
      r.ops,
    );
  }
  const first = rows[1]!;
  console.log(
    `\nhand-off of a first preview deploy: ${first.reads} reads, ${first.writes} writes (aim: ≤ 2 reads, ≤ 6 writes)`,
  );
  goal({
    figure: "GitHub requests, first preview hand-off",
    baseline: `${BEFORE.reads} reads, ${BEFORE.writes} writes (before, at 3c9f6d4)`,
    value: `${first.reads} reads, ${first.writes} writes (redeploy ${rows[3]!.reads}/${rows[3]!.writes})`,
    goal: "≤ 2 reads, ≤ 6 writes",
    met: first.reads <= 2 && first.writes <= 6,
  });
  if (h.github.violations.length) console.log("OpenAPI violations:", h.github.violations);
} finally {
  await h.close();
}
