// One deploy with in-memory ports: the order of its writes (claim before the
// rollout, records after it, the success status last and the replaced
// deployment inactive after it), each way it fails, and the skips.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InProcessLock } from "../../src/app/lock.ts";
import { HostnameTakenError } from "../../src/core/ownership.ts";
import { newJob, type Job } from "../../src/deploy/common.ts";
import { LiveDeployments } from "../../src/deploy/live.ts";
import { Pipeline } from "../../src/deploy/pipeline.ts";
import { Reporter } from "../../src/deploy/reporter.ts";
import { DnsApiError } from "../../src/dns/errors.ts";
import {
  app,
  clock,
  MemoryGitHub,
  MemoryPlatform,
  OTHER_SHA,
  repo,
  SHA,
  silent,
  spec,
} from "../support/deploy-memory.ts";

function setUp() {
  const github = new MemoryGitHub();
  github.branches.set("main", SHA);
  const platform = new MemoryPlatform();
  const live = new LiveDeployments();
  const counted: string[] = [];
  const metrics = {
    deploys: { inc: (l: { result: string }) => counted.push(l.result) },
    deployPhaseSeconds: { observe: () => undefined },
  };
  const report = new Reporter({
    github,
    lock: new InProcessLock(),
    clock,
    githubWebUrl: "https://github.test",
  });
  const pipeline = new Pipeline({ github, report, live, clock, log: silent, metrics, ...platform });
  const production = async (o: { resumed?: boolean } = {}): Promise<Job> => {
    const s = spec({ kind: "named", name: "production" });
    const deploymentId = await github.createDeployment(repo, {
      sha: SHA,
      environment: "production",
      description: "",
      transient: false,
      production: true,
      payload: { sha: SHA },
    });
    const fields = {
      seq: 1,
      repo,
      spec: s,
      app: app(),
      environment: "production",
      deploymentId,
      reportSha: SHA,
    };
    return newJob({ ...fields, ...o }, 0);
  };
  return { github, platform, live, pipeline, production, counted };
}

describe("Pipeline", () => {
  it("claims, applies, writes records, probes, then reports live and retires the replaced deployment", async () => {
    const { github, platform, pipeline, production, counted } = setUp();
    const first = await production();
    await pipeline.run(first, undefined);
    const second = await production();
    github.writes.length = 0;
    platform.calls.length = 0;
    await pipeline.run(second, undefined);
    assert.deepEqual(platform.calls, [
      "claim shop.example.com",
      "claim shop.example.org",
      "apply aaaaaaa",
      "upsert shop.example.com",
      "upsert shop.example.org",
      `probe ${second.spec.url}`,
    ]);
    // No in_progress status on the deployment (#16): its first status is the outcome.
    assert.deepEqual(github.writes, [
      "check paas in_progress",
      "check paas success",
      `status ${second.deploymentId} success`,
      `status ${first.deploymentId} inactive`,
    ]);
    assert.equal(github.lastCheck()?.conclusion, "success");
    assert.deepEqual(counted, ["success", "success"]);
  });

  it("a failed rollout is a failure with no DNS record and no probe", async () => {
    const { github, platform, pipeline, production, counted } = setUp();
    platform.rollout = {
      ok: false,
      reason: "crash loop",
      diagnosis: { summary: "exited 1", events: [], state: "Exited", exitCode: 1, logs: [] },
      durationMs: 1,
    };
    const job = await production();
    await pipeline.run(job, undefined);
    assert.deepEqual(platform.calls, ["claim shop.example.com", "claim shop.example.org", "apply aaaaaaa"]);
    assert.match(github.deploymentList[0]!.statuses.at(-1)!.description ?? "", /rollout failed: exited 1/);
    assert.equal(github.deploymentList[0]!.statuses.at(-1)!.state, "failure");
    assert.equal(github.lastCheck()?.conclusion, "failure");
    assert.deepEqual(counted, ["failure"]);
  });

  it("what the runtime notes (a removed service's data kept) is under the success summary", async () => {
    const { github, platform, pipeline, production } = setUp();
    platform.rollout = {
      ok: true,
      url: "",
      replicas: 1,
      durationMs: 1,
      notes: ["service cache is no longer in .paas.yml: it is stopped and its data kept in volume x.cache"],
    };
    await pipeline.run(await production(), undefined);
    const check = github.lastCheck();
    assert.equal(check?.conclusion, "success");
    assert.match(
      check?.output?.summary ?? "",
      /\*\*Note:\*\* service cache is no longer in \.paas\.yml: it is stopped and its data kept in volume x\.cache/,
    );
  });

  it("a URL that does not answer is a failure, never live", async () => {
    const { github, platform, pipeline, production } = setUp();
    platform.probeOk = false;
    await pipeline.run(await production(), undefined);
    const last = github.deploymentList[0]!.statuses.at(-1)!;
    assert.equal(last.state, "failure");
    assert.match(last.description ?? "", /not reachable at .*HTTP 502/);
    assert.ok(!github.writes.some((w) => w.endsWith(" success")));
  });

  it("a hostname another owner holds fails before the rollout, without retrying", async () => {
    const { github, platform, pipeline, production, counted } = setUp();
    platform.claimError = new HostnameTakenError("shop.example.org", {
      key: "x",
      display: "octo/other production",
    });
    await assert.rejects(pipeline.run(await production(), undefined), HostnameTakenError);
    assert.deepEqual(platform.calls, ["claim shop.example.com"]);
    assert.match(github.deploymentList[0]!.statuses.at(-1)!.description ?? "", /deploy failed: hostname/);
    assert.deepEqual(counted, ["error"]);
  });

  it("retries a DNS API outage while claiming", async () => {
    const { platform, pipeline, production } = setUp();
    let outages = 1;
    const claim = platform.dns.claim;
    platform.dns.claim = async (h, o) => {
      if (outages-- > 0) throw new DnsApiError("503 from the DNS API", 503);
      return claim(h, o);
    };
    await pipeline.run(await production(), undefined);
    assert.ok(platform.calls.includes("apply aaaaaaa"));
  });

  it("skips a superseded job (the queue's word or the branch head) and one another process finished", async () => {
    const { github, platform, pipeline, production, counted } = setUp();
    const queued = await production();
    await pipeline.run(queued, "superseded by ccccccc");
    assert.equal(github.deploymentList[0]!.statuses.at(-1)!.state, "inactive");
    assert.equal(github.lastCheck()?.conclusion, "cancelled");
    github.branches.set("main", OTHER_SHA);
    await pipeline.run(await production(), undefined);
    assert.match(github.deploymentList[0]!.statuses.at(-1)!.description ?? "", /superseded by ccccccc/);
    github.branches.set("main", SHA);
    const finished = await production({ resumed: true });
    await github.createDeploymentStatus(repo, finished.deploymentId, { state: "success", description: "" });
    const before = github.writes.length;
    await pipeline.run(finished, undefined);
    assert.equal(github.writes.length, before, "nothing written for a deployment already finished");
    assert.deepEqual(platform.calls, []);
    assert.deepEqual(counted, ["cancelled", "cancelled"]);
  });
});
