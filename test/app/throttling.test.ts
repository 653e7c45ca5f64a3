// GitHub's limits, through the App as wired with the pinned Probot: a 403
// secondary rate limit with retry-after is waited out and retried, a 5xx is
// retried, and installation tokens are reused until shortly before they expire.
import assert from "node:assert/strict";
import { after, before, describe, it, mock } from "node:test";
import {
  FULL,
  INSTALLATION_ID,
  sha,
  startHarness,
  VALID_CONFIG,
  type Harness,
} from "../support/app-harness.ts";
import { GitHubFaultProxy } from "../support/github-fault-proxy.ts";

const CHECK_RUNS = `/api/v3/repos/${FULL}/check-runs`;
const CONTENTS = new RegExp(`^/api/v3/repos/${FULL}/contents/`);

describe("GitHub throttling and retries", () => {
  let h: Harness;
  const proxy = new GitHubFaultProxy();
  before(async () => {
    await proxy.start();
    h = await startHarness({ GHE_HOST: proxy.host });
    proxy.target = h.github.host;
  });
  after(async () => {
    await h.close();
    await proxy.stop();
  });

  it("waits out a 403 secondary rate limit (retry-after) and retries the request", async () => {
    const commit = sha(0x701);
    h.github.setFile(FULL, commit, ".paas.yml", VALID_CONFIG);
    let faults = 0;
    proxy.fault = (method, path) =>
      method === "POST" && path === CHECK_RUNS && faults++ === 0
        ? GitHubFaultProxy.secondaryLimit(1)
        : undefined;
    assert.equal(await h.webhook("push", h.pushPayload("refs/heads/main", commit)), 200);
    const posts = proxy.exchanges.filter((e) => e.method === "POST" && e.url === CHECK_RUNS);
    assert.deepEqual(
      posts.map((e) => e.status),
      [403, 201],
    );
    const [check, ...more] = h.github.checkRunsOf(FULL, commit);
    assert.equal(more.length, 0, "the retried request created one check run");
    assert.equal(check!.status, "queued");
  });

  it("waits out an exhausted primary rate limit (x-ratelimit-reset) and a 429 secondary limit", async () => {
    const commit = sha(0x703);
    h.github.setFile(FULL, commit, ".paas.yml", VALID_CONFIG);
    let n = 0;
    proxy.fault = (method, path) => {
      if (method !== "POST" || path !== CHECK_RUNS) return undefined;
      n++;
      if (n === 1)
        return {
          status: 403,
          headers: {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": String(Math.ceil(Date.now() / 1000) + 1),
          },
          body: { message: "API rate limit exceeded for installation ID 777." },
        };
      if (n === 2) return { ...GitHubFaultProxy.secondaryLimit(1), status: 429 };
      return undefined;
    };
    assert.equal(await h.webhook("push", h.pushPayload("refs/heads/main", commit)), 200);
    const posts = proxy.exchanges.filter((e) => e.method === "POST" && e.url === CHECK_RUNS).slice(-3);
    assert.deepEqual(
      posts.map((e) => e.status),
      [403, 429, 201],
    );
    assert.equal(h.github.checkRunsOf(FULL, commit).length, 1);
    proxy.fault = undefined;
  });

  it("retries a 5xx answer", async () => {
    const commit = sha(0x702);
    h.github.setFile(FULL, commit, ".paas.yml", VALID_CONFIG);
    let faults = 0;
    proxy.fault = (method, path) =>
      method === "GET" && CONTENTS.test(path) && faults++ === 0
        ? { status: 502, body: { message: "Server Error" } }
        : undefined;
    assert.equal(await h.webhook("push", h.pushPayload("refs/heads/main", commit)), 200);
    // The pushed commit's .paas.yml (the default branch's is read too, for which branches deploy).
    const reads = proxy.exchanges.filter(
      (e) => e.method === "GET" && CONTENTS.test(e.url.split("?")[0]!) && e.url.includes(`ref=${commit}`),
    );
    assert.deepEqual(
      reads.slice(-2).map((e) => e.status),
      [502, 200],
    );
    assert.equal(h.github.checkRunsOf(FULL, commit)[0]?.status, "queued");
    proxy.fault = undefined;
    assert.deepEqual(h.github.violations, []);
  });
});

describe("installation tokens", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    mock.timers.reset();
    await h.close();
  });

  it("are cached across deliveries and renewed only near their one-hour expiry", async () => {
    const tokenRequests = () =>
      h.github.log.filter(
        (r) => r.url === `/app/installations/${INSTALLATION_ID}/access_tokens` && r.method === "POST",
      ).length;
    for (let i = 0; i < 5; i++) {
      const commit = sha(0x710 + i);
      h.github.setFile(FULL, commit, ".paas.yml", VALID_CONFIG);
      assert.equal(await h.webhook("push", h.pushPayload("refs/heads/main", commit)), 200);
    }
    assert.equal(tokenRequests(), 1, "one token for five deliveries");
    const requests = h.github.log.filter((r) => r.auth === "installation").length;
    assert.ok(requests >= 10, `the token served ${requests} requests`);

    // Only the clock moves: 55 minutes on, the cached token is still used…
    mock.timers.enable({ apis: ["Date"], now: Date.now() });
    mock.timers.tick(55 * 60_000);
    const c1 = sha(0x720);
    h.github.setFile(FULL, c1, ".paas.yml", VALID_CONFIG);
    assert.equal(await h.webhook("push", h.pushPayload("refs/heads/main", c1)), 200);
    assert.equal(tokenRequests(), 1);
    // …and past 59 minutes (one before GitHub expires it) a new one is requested.
    mock.timers.tick(5 * 60_000);
    const c2 = sha(0x721);
    h.github.setFile(FULL, c2, ".paas.yml", VALID_CONFIG);
    assert.equal(await h.webhook("push", h.pushPayload("refs/heads/main", c2)), 200);
    assert.equal(tokenRequests(), 2);
    assert.equal(h.github.checkRunsOf(FULL, c2)[0]?.status, "queued");
    mock.timers.reset();
    assert.deepEqual(h.github.violations, []);
  });
});
