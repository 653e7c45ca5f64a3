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

  it("tolerates a double release", async () => {
    const lock = new InProcessLock();
    const r1 = await lock.acquire("k");
    r1();
    r1();
    const r2 = await lock.acquire("k");
    r2();
  });
});
