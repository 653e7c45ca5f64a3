// The request limiters (src/github/spacing.ts) with a clock the test drives:
// starts are spaced by minTime, at most maxConcurrent run at once, and nothing
// waits when nothing has to (the reason they replace Bottleneck's groups).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Spacer, SpacingGroup, type SpacingClock } from "../../src/github/spacing.ts";
import { githubThrottle } from "../../src/github/throttle.ts";

/** A clock whose sleeps are recorded and advance it at once. */
function steppedClock(): SpacingClock & { sleeps: number[] } {
  let now = 1_000;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
  };
}

describe("request spacing", () => {
  it("spaces starts by minTime, and the first request does not wait", async () => {
    const clock = steppedClock();
    const spacer = new Spacer({ maxConcurrent: 1, minTime: 1000 }, clock);
    const order: number[] = [];
    await Promise.all([1, 2, 3].map((n) => spacer.schedule({}, async () => order.push(n))));
    assert.deepEqual(order, [1, 2, 3]);
    assert.deepEqual(clock.sleeps, [1000, 1000]);
  });

  it("without spacing nothing sleeps, and the job's arguments and answer pass through", async () => {
    const clock = steppedClock();
    const spacer = new Spacer({ maxConcurrent: 10, minTime: 0 }, clock);
    const answers = await Promise.all(
      [1, 2, 3].map((n) => spacer.schedule<number>((a: number, b: number) => a + b, n, 10)),
    );
    assert.deepEqual(answers, [11, 12, 13]);
    assert.deepEqual(clock.sleeps, []);
  });

  it("runs at most maxConcurrent jobs at once, and a failed job frees its slot", async () => {
    const spacer = new Spacer({ maxConcurrent: 2, minTime: 0 }, steppedClock());
    let running = 0;
    let most = 0;
    const job = (fail: boolean) => async () => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setImmediate(r));
      running--;
      if (fail) throw new Error("boom");
      return "ok";
    };
    const results = await Promise.allSettled(
      [true, false, false, true, false].map((f) => spacer.schedule({}, job(f))),
    );
    assert.equal(most, 2);
    assert.deepEqual(
      results.map((r) => r.status),
      ["rejected", "fulfilled", "fulfilled", "rejected", "fulfilled"],
    );
    assert.equal(spacer.idle, true);
  });

  it("keeps one limiter per key (installation) and drops idle ones", () => {
    const group = new SpacingGroup({ maxConcurrent: 1, minTime: 0 }, steppedClock());
    const a = group.key("1");
    assert.equal(group.key("1"), a);
    assert.notEqual(group.key("2"), a);
  });

  it("the App's throttle spaces writes by the setting, notifications by three times it", async () => {
    const clock = steppedClock();
    const t = githubThrottle(500, clock);
    const noop = async () => undefined;
    await Promise.all([1, 2].map(() => t.write.key("7").schedule({}, noop)));
    await Promise.all([1, 2].map(() => t.notifications.key("7").schedule({}, noop)));
    await Promise.all([1, 2, 3].map(() => t.global.key("7").schedule({}, noop)));
    assert.deepEqual(clock.sleeps, [500, 1500]);
  });
});
