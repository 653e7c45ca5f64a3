import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { CloudflareDns, type CloudflareOptions } from "../../src/dns/cloudflare.ts";
import { hostnameOwner, HostnameTakenError } from "../../src/core/ownership.ts";
import { DnsApiError, DnsRecordConflictError } from "../../src/dns/errors.ts";
import { RateLimiter, type Clock } from "../../src/dns/rate-limit.ts";
import { FakeCloudflare } from "../fakes/cloudflare-api.ts";

const shopProd = hostnameOwner(
  { owner: "octo", repo: "shop", app: "", environment: { kind: "named", name: "production" } },
  101,
);
const shopPr = hostnameOwner(
  { owner: "octo", repo: "shop", app: "", environment: { kind: "preview", pr: 7 } },
  101,
);
const other = hostnameOwner(
  { owner: "evil", repo: "copy", app: "web", environment: { kind: "preview", pr: 1 } },
  202,
);

describe("Cloudflare DNS provider against the fake Cloudflare API", () => {
  let cf: FakeCloudflare;
  const provider = (o: Partial<CloudflareOptions> = {}) =>
    new CloudflareDns({
      apiToken: cf.token,
      zoneId: cf.zoneId,
      target: "paas.example.net",
      baseURL: cf.baseURL,
      ...o,
    });

  before(async () => {
    cf = await new FakeCloudflare().start();
  });
  after(() => cf.stop());
  beforeEach(() => {
    cf.records.length = 0;
    cf.requests.length = 0;
    cf.faults.length = 0;
  });

  it("creates one proxied record with an ownership comment, then updates it in place", async () => {
    await provider().upsert("shop.example.com", shopProd);
    let recs = cf.recordsNamed("shop.example.com");
    assert.equal(recs.length, 1);
    assert.deepEqual(
      {
        type: recs[0]!.type,
        content: recs[0]!.content,
        proxied: recs[0]!.proxied,
        comment: recs[0]!.comment,
      },
      {
        type: "CNAME",
        content: "paas.example.net",
        proxied: true,
        comment: "paas:101/production octo/shop production",
      },
    );
    const id = recs[0]!.id;

    // Same desired state: nothing is written.
    const writesBefore = cf.requests.filter((r) => r.method !== "GET").length;
    await provider().upsert("shop.example.com", shopProd);
    assert.equal(cf.requests.filter((r) => r.method !== "GET").length, writesBefore);

    // New target: the same record is updated, no duplicate appears.
    await provider({ target: "edge.example.net" }).upsert("shop.example.com", shopProd);
    recs = cf.recordsNamed("shop.example.com");
    assert.equal(recs.length, 1);
    assert.equal(recs[0]!.id, id);
    assert.equal(recs[0]!.content, "edge.example.net");
  });

  it("uses an A record when the target is an IP address, replacing its earlier CNAME", async () => {
    await provider().upsert("shop.example.com", shopProd);
    await provider({ target: "203.0.113.7" }).upsert("shop.example.com", shopProd);
    const recs = cf.recordsNamed("shop.example.com");
    assert.deepEqual(
      recs.map((r) => [r.type, r.content, r.proxied]),
      [["A", "203.0.113.7", true]],
    );
  });

  it("deletes only its own record; a missing record is success", async () => {
    await provider().upsert("pr-7-shop.example.com", shopPr);
    const foreign = cf.seed({ name: "www.example.com", type: "CNAME", content: "elsewhere.example.org" });
    await provider().remove("pr-7-shop.example.com", shopPr);
    assert.deepEqual(cf.recordsNamed("pr-7-shop.example.com"), []);
    await provider().remove("pr-7-shop.example.com", shopPr);
    await provider().remove("www.example.com", shopPr);
    assert.deepEqual(cf.recordsNamed("www.example.com"), [foreign]);
  });

  it("never touches a record it did not create", async () => {
    const foreign = cf.seed({
      name: "shop.example.com",
      type: "A",
      content: "198.51.100.1",
      comment: "office router",
    });
    const snapshot = structuredClone(foreign);
    await assert.rejects(provider().upsert("shop.example.com", shopProd), (err: unknown) => {
      assert.ok(err instanceof DnsRecordConflictError);
      assert.match(err.message, /shop\.example\.com already has a DNS record not managed by paas \(A\)/);
      return true;
    });
    assert.deepEqual(cf.recordsNamed("shop.example.com"), [snapshot]);
  });

  it("refuses a hostname another repository owns and names its environment", async () => {
    await provider().upsert("pr-1-web.example.com", other);
    await assert.rejects(provider().upsert("pr-1-web.example.com", shopPr), (err: unknown) => {
      assert.ok(err instanceof HostnameTakenError);
      assert.equal(err.ownerDisplay, "evil/copy (web) preview/pr-1");
      assert.match(err.message, /already used by evil\/copy \(web\) preview\/pr-1/);
      return true;
    });
    // …and it does not delete it either.
    await provider().remove("pr-1-web.example.com", shopPr);
    assert.equal(cf.recordsNamed("pr-1-web.example.com").length, 1);
  });

  it("claim refuses another repository's hostname or a foreign record and writes nothing; its own passes", async () => {
    await provider().upsert("pr-1-web.example.com", other);
    cf.seed({ name: "office.example.com", type: "A", content: "198.51.100.1", comment: "office router" });
    const writes = () => cf.requests.filter((r) => r.method !== "GET").length;
    const before = writes();
    await assert.rejects(provider().claim("pr-1-web.example.com", shopPr), HostnameTakenError);
    await assert.rejects(provider().claim("office.example.com", shopPr), DnsRecordConflictError);
    await provider().claim("pr-1-web.example.com", other);
    await provider().claim("new.example.com", shopPr);
    assert.equal(writes(), before, "a claim only reads");
    assert.deepEqual(cf.recordsNamed("new.example.com"), []);
  });

  it("lets a repository move a hostname between its own environments", async () => {
    await provider().upsert("www.shop.example.com", shopPr);
    await provider().upsert("www.shop.example.com", shopProd);
    const recs = cf.recordsNamed("www.shop.example.com");
    assert.equal(recs.length, 1);
    assert.match(recs[0]!.comment!, /^paas:101\/production /);
  });

  it("retries 429 and 5xx answers", async () => {
    cf.inject({ status: 429, retryAfter: "0" });
    cf.inject({ status: 503, retryAfter: "0" });
    cf.inject({ status: 500 });
    await provider().upsert("shop.example.com", shopProd);
    assert.equal(cf.recordsNamed("shop.example.com").length, 1);
    assert.deepEqual(
      cf.requests.map((r) => `${r.method} ${r.outcome}`),
      ["GET 429", "GET 503", "GET 500", "GET 200", "POST 200"],
    );
  });

  it("retries a request that hangs past the timeout", async () => {
    cf.inject({ hang: true });
    await provider({ timeoutMs: 300 }).upsert("shop.example.com", shopProd);
    assert.equal(cf.recordsNamed("shop.example.com").length, 1);
    assert.equal(cf.requests[0]!.outcome, "hang");
  });

  it("gives up after its retries with an error that says what to check, without the token", async () => {
    await assert.rejects(
      provider({ apiToken: "wrong-token-value" }).upsert("shop.example.com", shopProd),
      (err: unknown) => {
        assert.ok(err instanceof DnsApiError);
        assert.equal(err.status, 401);
        assert.match(err.message, /CLOUDFLARE_API_TOKEN/);
        assert.doesNotMatch(err.message, /wrong-token-value/);
        return true;
      },
    );
    cf.inject({ status: 503, retryAfter: "0" }, 3);
    await assert.rejects(provider({ maxRetries: 2 }).upsert("shop.example.com", shopProd), /503/);
  });

  it("lists the records it manages across pages", async () => {
    for (let i = 0; i < 1100; i++)
      cf.seed({
        name: `pr-${i}-x.example.com`,
        type: "CNAME",
        content: "t.example.net",
        comment: `paas:9/pr-${i} o/x preview/pr-${i}`,
      });
    cf.seed({ name: "www.example.com", type: "CNAME", content: "t.example.net", comment: "managed by hand" });
    const listed = await provider().list();
    assert.equal(listed.length, 1100);
    assert.deepEqual(listed[5], { hostname: "pr-5-x.example.com", ownerKey: "9/pr-5" });
    assert.equal(cf.requests.length, 3);
  });

  it("keeps to its request budget, retries included", async () => {
    // A fake clock: sleeping advances time instantly, so the test measures the schedule, not the wall clock.
    let now = 0;
    const clock: Clock = { now: () => now, sleep: async (ms) => void (now += ms) };
    const sentAt: number[] = [];
    const spy: typeof fetch = (input, init) => {
      sentAt.push(now);
      return fetch(input, init);
    };
    const limiter = new RateLimiter({ limit: 3, windowMs: 1000 }, clock);
    cf.inject({ status: 429, retryAfter: "0" });
    const dns = provider({ limiter, fetch: spy });
    await dns.upsert("a.example.com", shopProd); // 429 + GET + POST
    await dns.upsert("b.example.com", shopProd); // GET + POST
    await dns.remove("a.example.com", shopProd); // GET + DELETE
    assert.equal(sentAt.length, 7);
    assert.equal(cf.requests.length, 7);
    for (const t of sentAt) {
      assert.ok(
        sentAt.filter((s) => s > t - 1000 && s <= t).length <= 3,
        `more than 3 requests in the window ending ${t}`,
      );
    }
    assert.deepEqual(sentAt, [0, 0, 0, 1000, 1000, 1000, 2000]);
  });
});
