// The pure day-two core: commands parsed from comments, and the plans an
// environment's recorded history gives for each.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  parseOpCommand,
  planPromote,
  planRedeploy,
  planRollback,
  specConfigDigest,
  type HistoryEntry,
} from "../../src/core/operations.ts";
import { planDeploy } from "../../src/core/plan.ts";
import { parseConfig, resolveApps } from "../../src/config/load.ts";

function entry(id: number, n: number, state: string, wasLive = state === "success"): HistoryEntry {
  const sha = `${n}`.padStart(2, "c").padEnd(40, "0");
  const digest = `sha256:${String(n).padStart(64, "0")}`;
  return {
    id,
    environment: "staging",
    ref: sha,
    sha,
    image: `ghcr.io/o/r@${digest}`,
    digest,
    app: "",
    configDigest: undefined,
    state,
    wasLive,
  };
}

const facts = (history: HistoryEntry[], isProtected = false) => ({
  environment: "staging",
  history,
  isProtected,
});

describe("parseOpCommand", () => {
  it("--cluster (repeatable, anywhere after the command) narrows redeploy, rollback and promote to those clusters", () => {
    assert.deepEqual(parseOpCommand("/paas rollback production --cluster aceh to abc1234 --cluster=bali"), {
      op: "rollback",
      env: "production",
      to: "abc1234",
      clusters: ["aceh", "bali"],
    });
    assert.deepEqual(parseOpCommand("/paas redeploy --cluster papua"), {
      op: "redeploy",
      env: undefined,
      clusters: ["papua"],
    });
    assert.deepEqual(parseOpCommand("/paas promote staging to production --cluster aceh --cluster aceh"), {
      op: "promote",
      from: "staging",
      to: "production",
      clusters: ["aceh"],
    });
    assert.deepEqual(parseOpCommand("/paas logs --cluster aceh"), {
      op: "help",
      problem: "`--cluster` goes with redeploy, rollback and promote",
    });
    assert.equal(parseOpCommand("/paas redeploy --cluster Not_A_Name")?.op, "help");
  });

  it("reads each command from the first line; /paas deploy and other comments are not day-two commands", () => {
    assert.deepEqual(parseOpCommand("/paas redeploy"), { op: "redeploy", env: undefined });
    assert.deepEqual(parseOpCommand("  /PAAS  Rollback production to abc1234\nthanks"), {
      op: "rollback",
      env: "production",
      to: "abc1234",
    });
    assert.deepEqual(parseOpCommand("/paas rollback to 1234"), {
      op: "rollback",
      env: undefined,
      to: "1234",
    });
    assert.deepEqual(parseOpCommand("/paas promote pr-4 to staging"), {
      op: "promote",
      from: "pr-4",
      to: "staging",
    });
    assert.deepEqual(parseOpCommand("/paas destroy"), { op: "destroy", env: undefined });
    assert.deepEqual(parseOpCommand("/paas logs staging/api"), { op: "logs", env: "staging/api" });
    assert.deepEqual(parseOpCommand("/paas"), { op: "help", problem: undefined });
    assert.equal(parseOpCommand("/paas deploy abc1234"), undefined);
    assert.equal(parseOpCommand("please /paas redeploy"), undefined);
    assert.equal(parseOpCommand("/paasredeploy"), undefined);
  });

  it("answers anything else after /paas with help naming it, backticks removed", () => {
    const c = parseOpCommand("/paas rollback `rm -rf` now");
    assert.equal(c?.op, "help");
    assert.ok(c?.op === "help" && c.problem && !c.problem.slice(1, -1).includes("`rm"));
    assert.equal(parseOpCommand("/paas promote staging")?.op, "help");
    assert.equal(parseOpCommand("/paas rollback to zzzzzzz")?.op, "help");
  });
});

describe("plans", () => {
  const history = [entry(1, 1, "inactive", true), entry(2, 2, "failure"), entry(3, 3, "success")];

  it("redeploys the live image; refuses when nothing is live", () => {
    const p = planRedeploy(facts(history));
    assert.equal(p.kind, "deploy");
    assert.equal(p.kind === "deploy" && p.entry.id, 3);
    assert.equal(planRedeploy(facts([entry(1, 1, "failure")])).kind, "refuse");
  });

  it("rolls back to the newest earlier deploy that was live with another image, skipping failures", () => {
    const p = planRollback(facts(history), undefined);
    assert.equal(p.kind === "deploy" && p.entry.id, 1);
    // A redeploy of the live image is not a rollback target.
    const redeployed = [...history, entry(4, 3, "success")];
    redeployed[2] = { ...redeployed[2]!, state: "inactive" };
    assert.equal(planRollback(facts(redeployed), undefined).kind === "deploy", true);
    assert.equal((planRollback(facts(redeployed), undefined) as { entry: HistoryEntry }).entry.id, 1);
    assert.equal(planRollback(facts([entry(3, 3, "success")]), undefined).kind, "refuse");
  });

  it("rolls back to a named commit or deployment id that was live, never to a failed one", () => {
    const bySha = planRollback(facts(history), entry(1, 1, "x").sha.slice(0, 8));
    assert.equal(bySha.kind === "deploy" && bySha.entry.id, 1);
    const byId = planRollback(facts(history), "1");
    assert.equal(byId.kind === "deploy" && byId.entry.id, 1);
    assert.equal(planRollback(facts(history), "2").kind, "refuse", "deployment 2 failed");
    assert.equal(planRollback(facts(history), "3").kind, "refuse", "already live");
  });

  it("dispatches instead of deploying a protected environment", () => {
    const p = planRollback(facts(history, true), undefined);
    assert.equal(p.kind, "dispatch");
    assert.match(p.kind === "dispatch" ? p.summary : "", /protected/);
  });

  it("promotes the live image of one environment into another, unless it is live there already", () => {
    const to = { environment: "production", history: [entry(9, 1, "success")], isProtected: false };
    const p = planPromote(facts(history), to);
    assert.equal(p.kind === "deploy" && p.entry.id, 3);
    assert.equal(p.kind === "deploy" && p.environment, "production");
    const same = { ...to, history: [entry(9, 3, "success")] };
    assert.equal(planPromote(facts(history), same).kind, "refuse");
    assert.equal(planPromote(facts([]), to).kind, "refuse");
  });
});

describe("specConfigDigest", () => {
  it("changes with the config, not with the image or commit", () => {
    const [app] = resolveApps(parseConfig("name: hello\nrun:\n  port: 8080\n"));
    const plan = (config: NonNullable<typeof app>["config"], image: string, sha: string) =>
      planDeploy(
        {
          target: { owner: "o", repo: "r", app: "", environment: { kind: "named", name: "production" } },
          repositoryId: 1,
          config,
          image,
          sha,
        },
        { baseDomain: "example.com", urlScheme: "https", urlPort: undefined, limits: {} } as never,
      );
    const img = (n: number) => `ghcr.io/o/r@sha256:${String(n).padStart(64, "0")}`;
    const a = specConfigDigest(plan(app!.config, img(1), "a".repeat(40)));
    const b = specConfigDigest(plan(app!.config, img(2), "b".repeat(40)));
    assert.equal(a, b);
    const c = specConfigDigest(plan({ ...app!.config, env: { MODE: "x" } }, img(1), "a".repeat(40)));
    assert.notEqual(a, c);
  });
});
