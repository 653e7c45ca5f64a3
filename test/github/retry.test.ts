// The retries that replace Bottleneck's in the App's Octokit (src/github/retry.ts):
// nothing waits when nothing fails, server errors are retried after 1, 4, 9 s
// as @octokit/plugin-retry does, and plugin-throttling's rate-limit retries
// still happen through its "failed" listener.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ProbotOctokit } from "probot";
import { RetryLimiter, retryPlugin, SERVER_ERROR_RETRIES } from "../../src/github/retry.ts";
import { githubThrottle } from "../../src/github/throttle.ts";

function recordingClock() {
  const sleeps: number[] = [];
  return { sleeps, sleep: async (ms: number) => void sleeps.push(ms) };
}

/** An Octokit with only our retries, whose fetch answers the given statuses in turn. */
function client(
  statuses: number[],
  clock: { sleep(ms: number): Promise<void> },
  throttle: Record<string, unknown> = { enabled: false },
) {
  const sent: number[] = [];
  const Octokit = ProbotOctokit.plugin(retryPlugin(clock)).defaults({ retry: { enabled: false }, throttle });
  const fetch = async () => {
    const status = statuses[Math.min(sent.length, statuses.length - 1)]!;
    sent.push(status);
    const message = status === 403 ? "You have exceeded a secondary rate limit" : `status ${status}`;
    return new Response(JSON.stringify({ id: 1, message }), {
      status,
      headers: { "content-type": "application/json", "retry-after": "2" },
    });
  };
  return { sent, octokit: new Octokit({ baseUrl: "http://github.test", request: { fetch } }) };
}

describe("GitHub request retries", () => {
  it("a successful request is sent once and nothing sleeps", async () => {
    const clock = recordingClock();
    const { sent, octokit } = client([200], clock);
    const { data } = await octokit.request("GET /repos/{owner}/{repo}", { owner: "o", repo: "r" });
    assert.equal((data as { id: number }).id, 1);
    assert.deepEqual(sent, [200]);
    assert.deepEqual(clock.sleeps, []);
  });

  it("retries a server error after 1 s, then 4 s, and answers the success", async () => {
    const clock = recordingClock();
    const { sent, octokit } = client([502, 500, 200], clock);
    await octokit.request("GET /repos/{owner}/{repo}", { owner: "o", repo: "r" });
    assert.deepEqual(sent, [502, 500, 200]);
    assert.deepEqual(clock.sleeps, [1000, 4000]);
  });

  it("gives up after three retries with the last error", async () => {
    const clock = recordingClock();
    const { sent, octokit } = client([503], clock);
    await assert.rejects(
      octokit.request("GET /repos/{owner}/{repo}", { owner: "o", repo: "r" }),
      (e: { status?: number }) => e.status === 503,
    );
    assert.equal(sent.length, SERVER_ERROR_RETRIES + 1);
    assert.deepEqual(clock.sleeps, [1000, 4000, 9000]);
  });

  it("does not retry a request GitHub refuses (404, 422)", async () => {
    for (const status of [404, 422]) {
      const clock = recordingClock();
      const { sent, octokit } = client([status, 200], clock);
      await assert.rejects(octokit.request("GET /repos/{owner}/{repo}", { owner: "o", repo: "r" }));
      assert.deepEqual(sent, [status]);
      assert.deepEqual(clock.sleeps, []);
    }
  });

  it("plugin-throttling retries a secondary rate limit through the App's retry limiter", async () => {
    const clock = recordingClock();
    const throttle = { ...githubThrottle(0), retryLimiter: new RetryLimiter(clock) };
    const { sent, octokit } = client([403, 200], clock, throttle);
    octokit.log.warn = () => {};
    await octokit.request("GET /repos/{owner}/{repo}", { owner: "o", repo: "r" });
    assert.deepEqual(sent, [403, 200]);
    // retry-after: 2 (seconds), waited by the limiter, not by the server-error retries.
    assert.deepEqual(clock.sleeps, [2000]);
  });

  it("the throttling retry limiter reruns a job when a listener answers a wait, else fails it", async () => {
    const clock = recordingClock();
    const limiter = new RetryLimiter(clock);
    const seen: number[] = [];
    limiter.on("failed", (_e, info) => {
      seen.push(info.retryCount);
      return info.retryCount < 2 ? 60_000 : undefined;
    });
    let runs = 0;
    const job = async (a: unknown, b: unknown) => {
      runs++;
      if (runs < 3) throw new Error("secondary rate limit");
      return `${String(a)}${String(b)}`;
    };
    assert.equal(await limiter.schedule(job, "x", "y"), "xy");
    assert.deepEqual(seen, [0, 1]);
    assert.deepEqual(clock.sleeps, [60_000, 60_000]);

    const failing = new RetryLimiter(clock);
    failing.on("failed", () => undefined);
    await assert.rejects(
      failing.schedule(async () => {
        throw new Error("boom");
      }),
      /boom/,
    );
  });
});
