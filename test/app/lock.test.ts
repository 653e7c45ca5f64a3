import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InProcessLock } from "../../src/app/lock.ts";

describe("InProcessLock", () => {
  it("runs holders of one key one at a time, in arrival order, and other keys in parallel", async () => {
    const lock = new InProcessLock();
    const events: string[] = [];
    const hold = async (key: string, name: string, ms: number) => {
      const release = await lock.acquire(key);
      events.push(`start ${name}`);
      await new Promise((r) => setTimeout(r, ms));
      events.push(`end ${name}`);
      release();
    };
    await Promise.all([hold("a", "a1", 30), hold("a", "a2", 5), hold("b", "b1", 5), hold("a", "a3", 1)]);
    const a = events.filter((e) => e.endsWith("a1") || e.endsWith("a2") || e.endsWith("a3"));
    assert.deepEqual(a, ["start a1", "end a1", "start a2", "end a2", "start a3", "end a3"]);
    assert.ok(events.indexOf("end b1") < events.indexOf("end a1"), "another key does not wait");
  });

  it("a stale release (called again after the lock passed on) does not free the lock another holder has", async () => {
    const lock = new InProcessLock();
    const r1 = await lock.acquire("k");
    r1();
    const r2 = await lock.acquire("k");
    // The first holder's release runs again (a retry path, a finally after a catch) while r2 holds the lock.
    r1();
    let third = false;
    const p3 = lock.acquire("k").then((r) => {
      third = true;
      return r;
    });
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    assert.equal(third, false, "the second holder still has the lock");
    r2();
    const r3 = await p3;
    assert.equal(third, true, "the lock passes on when its holder releases it");
    // And a stale release of r2 while r3 holds it changes nothing either.
    r2();
    let fourth = false;
    const p4 = lock.acquire("k").then((r) => {
      fourth = true;
      return r;
    });
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    assert.equal(fourth, false);
    r3();
    (await p4)();
  });
});
