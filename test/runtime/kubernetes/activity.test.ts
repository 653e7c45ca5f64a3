// Request activity from a Gateway's Prometheus counter: the text-format parser
// and the scrape-to-scrape comparison that says which namespaces had requests.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ActivityScraper, backendMatcher, parseMetrics } from "../../../src/runtime/kubernetes/activity.ts";
import type { SleepSettings } from "../../../src/runtime/kubernetes/settings.ts";

test("parses samples: labels with escapes, timestamps, exemplars, special values; skips odd lines", () => {
  const text = [
    "# HELP traefik_service_requests_total How many HTTP requests processed on a service.",
    "# TYPE traefik_service_requests_total counter",
    'traefik_service_requests_total{code="200",method="GET",protocol="http",service="shop-web-http-80@kubernetesgateway"} 12',
    'traefik_service_requests_total{service="a\\"b\\\\c\\nd",} 3 1712345678000',
    'http_requests_total{path="/x"} 1.5e3 # {trace_id="abc"} 1.0',
    "up 1",
    'go_gc_duration_seconds{quantile="1"} NaN',
    "limit +Inf",
    "not a sample",
    'broken{service="unterminated} 1',
    "",
  ].join("\n");
  const { samples, malformed } = parseMetrics(text);
  assert.equal(malformed, 2);
  assert.deepEqual(samples.slice(0, 4), [
    {
      name: "traefik_service_requests_total",
      labels: { code: "200", method: "GET", protocol: "http", service: "shop-web-http-80@kubernetesgateway" },
      value: 12,
    },
    { name: "traefik_service_requests_total", labels: { service: 'a"b\\c\nd' }, value: 3 },
    { name: "http_requests_total", labels: { path: "/x" }, value: 1500 },
    { name: "up", labels: {}, value: 1 },
  ]);
  assert.ok(Number.isNaN(samples[4]!.value));
  assert.equal(samples[5]!.value, Infinity);
});

test("the label pattern matches a whole value: a namespace that prefixes another is not confused", () => {
  const m = backendMatcher("{namespace}-web-http-80@*", "shop-pr-1-abc");
  assert.ok(m.test("shop-pr-1-abc-web-http-80@kubernetesgateway"));
  assert.ok(!m.test("shop-pr-1-abcd-web-http-80@kubernetesgateway"));
  assert.ok(!m.test("x-shop-pr-1-abc-web-http-80@kubernetesgateway"));
  // Regular-expression characters in the pattern are literal.
  assert.ok(!backendMatcher("{namespace}.web", "a").test("a-web"));
  assert.ok(backendMatcher("httproute/{namespace}/web/*", "a").test("httproute/a/web/rule/0"));
});

const SETTINGS: SleepSettings = {
  metricsUrl: "http://user:hunter2@metrics.test:9100/metrics",
  counter: "traefik_service_requests_total",
  label: "service",
  pattern: "{namespace}-web-http-80@*",
  wakeService: { namespace: "paas-system", name: "paas", port: 80 },
};

function series(values: Record<string, number>): string {
  return Object.entries(values)
    .map(
      ([ns, v]) =>
        `traefik_service_requests_total{code="200",service="${ns}-web-http-80@kubernetesgateway"} ${v}\n` +
        // Another counter of the same backend never counts.
        `traefik_service_open_connections{service="${ns}-web-http-80@kubernetesgateway"} ${v * 7}\n`,
    )
    .join("");
}

function scraper(pages: string[]): { s: ActivityScraper; calls: string[] } {
  const calls: string[] = [];
  const fetchImpl = (async (url: URL, init: RequestInit) => {
    // As fetch does: a URL with credentials is refused, they come as basic authentication.
    assert.equal(url.username + url.password, "");
    assert.equal((init.headers as Record<string, string>).authorization, `Basic ${btoa("user:hunter2")}`);
    calls.push(String(url));
    return new Response(pages.shift() ?? "", { status: 200 });
  }) as unknown as typeof fetch;
  return { s: new ActivityScraper(SETTINGS, fetchImpl), calls };
}

test("counter growth since the previous scrape is activity; the first scrape is a baseline", async () => {
  const { s, calls } = scraper([
    series({ a: 5, b: 2 }),
    series({ a: 5, b: 3 }),
    // c appears with requests; a was reset (the Gateway restarted) and had one since.
    series({ a: 1, b: 3, c: 4 }),
    // a reset to zero: no request since.
    series({ a: 0, b: 3, c: 4 }),
  ]);
  const ns = ["a", "b", "c"];
  assert.deepEqual([...(await s.active(ns))], []);
  assert.deepEqual([...(await s.active(ns))], ["b"]);
  assert.deepEqual([...(await s.active(ns))].sort(), ["a", "c"]);
  assert.deepEqual([...(await s.active(ns))], []);
  assert.equal(calls.length, 4);
});

test("several series of one backend are summed: growth in any of them counts", async () => {
  const line = (code: number, v: number) =>
    `traefik_service_requests_total{code="${code}",service="a-web-http-80@kubernetesgateway"} ${v}\n`;
  const { s } = scraper([line(200, 3) + line(404, 1), line(200, 3) + line(404, 2)]);
  await s.active(["a"]);
  assert.deepEqual([...(await s.active(["a"]))], ["a"]);
});

test("an unreachable or failing metrics URL is a typed error without the URL's credentials", async () => {
  const failing = new ActivityScraper(
    SETTINGS,
    (async () => new Response("nope", { status: 503 })) as unknown as typeof fetch,
  );
  await assert.rejects(failing.active(["a"]), (e: Error & { code?: string }) => {
    assert.equal(e.code, "activity_unavailable");
    assert.match(e.message, /HTTP 503/);
    assert.match(e.message, /http:\/\/metrics\.test:9100\/metrics/);
    assert.doesNotMatch(e.message, /hunter2/);
    return true;
  });
  const down = new ActivityScraper(SETTINGS, (async () => {
    throw new TypeError("fetch failed");
  }) as unknown as typeof fetch);
  await assert.rejects(
    down.active(["a"]),
    (e: Error) =>
      /fetch failed; check that the Gateway's metrics/.test(e.message) && !/hunter2/.test(e.message),
  );
});
