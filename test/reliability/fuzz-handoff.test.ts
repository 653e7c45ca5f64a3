// 1,000 forged or malformed requests against the running App: hand-offs
// (wrong method, wrong content type, no or malformed bearer, tokens signed
// with an attacker's key or with alg "none"/HS256, the real issuer's tokens
// with the wrong audience, issuer or times, random claims, truncated, huge,
// binary and deeply nested bodies, schema violations) and webhook deliveries
// (bad, missing or foreign signatures, wrong content type or method, huge and
// truncated bodies, signed junk). None is accepted, nothing changes on GitHub
// or in the runtime, the process never crashes, and the server keeps
// answering: /healthz, then a genuine hand-off, succeed afterwards.
// FUZZ_SEED=<n> replays a run.
import assert from "node:assert/strict";
import { createHmac, randomUUID } from "node:crypto";
import { request } from "node:http";
import { after, before, describe, it } from "node:test";
import { generateKeyPair, SignJWT, type CryptoKey } from "jose";
import {
  AUDIENCE,
  FULL,
  handoffBody,
  REPO_ID,
  sha,
  startHarness,
  VALID_CONFIG,
  type Harness,
} from "../support/app-harness.ts";

const HANDOFFS = 500;
const WEBHOOKS = 500;
const MAX_BODY = 65536;
const MAX_WEBHOOK = 262144;

/** Small seeded PRNG (mulberry32): a failing run is replayed with its seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const hostile = [
    "",
    " ",
    "../../etc/passwd",
    "$(rm -rf /)",
    "`id`",
    "a\nb",
    "\u0000",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%00",
    "é".repeat(40),
    "x".repeat(5000),
    "refs/heads/main",
    "refs/pull/1/merge",
    "🚀",
    "\u202e",
    "null",
    "{}",
  ];
  const str = () =>
    next() < 0.5
      ? pick(hostile)
      : Array.from({ length: int(60) }, () => String.fromCharCode(int(0x2fff))).join("");
  const hex = (n: number) => Array.from({ length: n }, () => "0123456789abcdef"[int(16)]).join("");
  const junk = (depth = 0): unknown => {
    const k = int(depth > 3 ? 4 : 7);
    if (k === 0) return str();
    if (k === 1) return next() * 1e12 - 5e11;
    if (k === 2) return next() < 0.5;
    if (k === 3) return null;
    if (k === 4) return Array.from({ length: int(4) }, () => junk(depth + 1));
    return Object.fromEntries(Array.from({ length: int(6) }, () => [str().slice(0, 20), junk(depth + 1)]));
  };
  return { next, int, pick, str, hex, junk };
}

interface Answer {
  status: number;
  body: string;
  /** The connection was closed before an answer (a refused upload). */
  error?: string;
}

function send(
  base: string,
  path: string,
  o: { method?: string; headers?: Record<string, string>; body?: Buffer | string; chunked?: boolean },
): Promise<Answer> {
  const url = new URL(path, base);
  return new Promise((resolve) => {
    const body = o.body === undefined ? undefined : Buffer.from(o.body);
    // Only what can travel in an HTTP header (Node's client refuses the rest): tab, visible ASCII, obs-text.
    const headers: Record<string, string> = Object.fromEntries(
      Object.entries(o.headers ?? {}).map(([k, v]) => [k, v.replace(/[^\t\x20-\x7e\x80-\xff]/g, "")]),
    );
    if (body && !o.chunked) headers["content-length"] = String(body.length);
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname, method: o.method ?? "POST", headers },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on("error", (e) => resolve({ status: res.statusCode ?? 0, body: text, error: e.message }));
      },
    );
    req.on("error", (e) => resolve({ status: 0, body: "", error: e.message }));
    if (body) {
      // Large bodies go in pieces, as a client streaming an upload does.
      for (let i = 0; i < body.length; i += 65536) req.write(body.subarray(i, i + 65536));
    }
    req.end();
  });
}

describe("fuzzing the hand-off and webhook endpoints", () => {
  let h: Harness;
  const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const r = prng(seed);
  const crashes: string[] = [];
  const onCrash = (e: unknown) => crashes.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
  let attackerRsa: CryptoKey;
  let attackerEc: CryptoKey;
  const figures: Record<string, Record<string, number>> = {};
  const count = (kind: string, status: number | string) => {
    figures[kind] ??= {};
    figures[kind][String(status)] = (figures[kind][String(status)] ?? 0) + 1;
  };

  before(async () => {
    process.on("unhandledRejection", onCrash);
    process.on("uncaughtException", onCrash);
    h = await startHarness({
      PAAS_MAX_BODY_BYTES: String(MAX_BODY),
      PAAS_MAX_WEBHOOK_BYTES: String(MAX_WEBHOOK),
    });
    attackerRsa = (await generateKeyPair("RS256")).privateKey;
    attackerEc = (await generateKeyPair("ES256")).privateKey;
    // The repository really is installed and configured: only the forgery stands between a request and a deploy.
    h.github.setFile(FULL, sha(1), ".paas.yml", VALID_CONFIG);
  });
  after(async () => {
    process.off("unhandledRejection", onCrash);
    process.off("uncaughtException", onCrash);
    await h.close();
  });

  /** Claims that never describe a genuine run of the installed repository. */
  function randomClaims(): Record<string, unknown> {
    const base = h.claims() as Record<string, unknown>;
    const out: Record<string, unknown> = { ...base };
    for (const k of Object.keys(base)) {
      if (r.next() < 0.4) out[k] = r.next() < 0.5 ? r.str() : r.junk();
      else if (r.next() < 0.1) delete out[k];
    }
    // Always wrong somewhere that matters: another repository or another repository id.
    if (r.next() < 0.5) out.repository = `${r.hex(6)}/${r.hex(8)}`;
    else out.repository_id = String(REPO_ID + 1 + r.int(1e6));
    for (let i = 0; i < r.int(4); i++) out[r.str().slice(0, 12) || "x"] = r.junk();
    return out;
  }

  async function forgedToken(): Promise<string> {
    const claims = randomClaims();
    const k = r.int(7);
    const now = Math.floor(Date.now() / 1000);
    if (k === 0)
      return new SignJWT(claims)
        .setProtectedHeader({ alg: "RS256", kid: r.pick(["key-1", "attacker", r.hex(8)]) })
        .setIssuer(h.issuer.url)
        .setAudience(AUDIENCE)
        .setIssuedAt()
        .setExpirationTime("5m")
        .sign(attackerRsa);
    if (k === 1)
      return new SignJWT(claims)
        .setProtectedHeader({ alg: "ES256", kid: "key-1" })
        .setIssuer(h.issuer.url)
        .setAudience(AUDIENCE)
        .setIssuedAt()
        .setExpirationTime("5m")
        .sign(attackerEc);
    if (k === 2) {
      // alg "none": an unsigned token with the right claims.
      const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
      return `${enc({ alg: "none", typ: "JWT" })}.${enc({ ...h.claims(), iss: h.issuer.url, aud: AUDIENCE, iat: now, exp: now + 300 })}.`;
    }
    if (k === 3) {
      // HS256 keyed with the issuer's public key (algorithm confusion).
      const jwks = (await (await fetch(`${h.issuer.url}/.well-known/jwks`)).json()) as { keys: object[] };
      const secret = new TextEncoder().encode(JSON.stringify(jwks.keys[0]));
      return new SignJWT({ ...h.claims() })
        .setProtectedHeader({ alg: "HS256", kid: "key-1" })
        .setIssuer(h.issuer.url)
        .setAudience(AUDIENCE)
        .setIssuedAt()
        .setExpirationTime("5m")
        .sign(secret);
    }
    if (k === 4) {
      // The real issuer, the real repository, but the wrong audience, issuer or times.
      const which = r.int(3);
      return h.issuer.token(h.claims(), {
        audience: which === 0 ? `https://evil.example/${r.hex(4)}` : AUDIENCE,
        ...(which === 1 ? { expiresInSec: -3600 } : {}),
        ...(which === 2 ? { notBeforeSec: 3600 } : {}),
      });
    }
    if (k === 5) {
      // The real issuer, random claims.
      return h.issuer.token(claims as never, { audience: AUDIENCE });
    }
    // Garbage that looks like a JWT.
    return [r.hex(20), r.str(), r.hex(30)].map((s) => Buffer.from(s).toString("base64url")).join(".");
  }

  function body(): Record<string, unknown> {
    const b: Record<string, unknown> = handoffBody(sha(1));
    for (const k of Object.keys(b)) if (r.next() < 0.3) b[k] = r.next() < 0.5 ? r.str() : r.junk();
    return b;
  }

  async function handoffCase(i: number): Promise<void> {
    const k = i % 12;
    const path = "/paas/v1/deployments";
    const json = { "content-type": "application/json" };
    let a: Answer;
    let kind: string;
    if (k === 0) {
      kind = "wrong method";
      a = await send(h.app.url, path, {
        method: r.pick(["GET", "PUT", "DELETE", "PATCH", "OPTIONS"]),
        headers: json,
        body: JSON.stringify(body()),
      });
    } else if (k === 1) {
      kind = "wrong content type";
      a = await send(h.app.url, path, {
        headers: {
          "content-type": r.pick([
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/jsonx",
            "",
          ]),
          authorization: `Bearer ${await forgedToken()}`,
        },
        body: JSON.stringify(body()),
      });
    } else if (k === 2) {
      kind = "no or malformed bearer";
      const auth = r.pick([
        "",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        `Bearer ${r.str()}`,
        `bearer  ${"a".repeat(9000)}`,
      ]);
      a = await send(h.app.url, path, {
        headers: { ...json, ...(auth ? { authorization: auth } : {}) },
        body: JSON.stringify(handoffBody(sha(1))),
      });
    } else if (k <= 6) {
      kind = "forged token";
      a = await send(h.app.url, path, {
        headers: { ...json, authorization: `Bearer ${await forgedToken()}` },
        body: JSON.stringify(r.next() < 0.5 ? handoffBody(sha(1)) : body()),
      });
    } else if (k === 7) {
      kind = "truncated JSON";
      const text = JSON.stringify(handoffBody(sha(1)));
      a = await send(h.app.url, path, {
        headers: { ...json, authorization: `Bearer ${await forgedToken()}` },
        body: text.slice(0, 1 + r.int(text.length - 2)),
      });
    } else if (k === 8) {
      kind = "huge body";
      const size = MAX_BODY + 1 + r.int(3 * MAX_BODY);
      a = await send(h.app.url, path, {
        headers: { ...json, authorization: `Bearer ${await forgedToken()}` },
        body: `{"pad":"${"x".repeat(size)}"}`,
        chunked: r.next() < 0.5,
      });
    } else if (k === 9) {
      kind = "binary or deeply nested body";
      const deep = "[".repeat(5000 + r.int(20000)) + "]".repeat(r.int(3) === 0 ? 0 : 5000);
      const bin = Buffer.from(Array.from({ length: 1 + r.int(4000) }, () => r.int(256)));
      a = await send(h.app.url, path, {
        headers: { ...json, authorization: `Bearer ${await forgedToken()}` },
        body: r.next() < 0.5 ? deep : bin,
      });
    } else {
      kind = "schema violation with a genuine token";
      // A genuine token of the installed repository, with a body the schema must refuse.
      const token = await h.tokenFor(h.claims({ sha: sha(1) }));
      const b: Record<string, unknown> = handoffBody(sha(1));
      const field = r.pick(["sha", "image", "digest", "app", "repository", "environment", "runId"] as const);
      b[field] = {
        sha: r.pick([r.hex(39), r.hex(41), "A".repeat(40), `${sha(1)}\n`]),
        image: r.pick(["ghcr.io/x;rm -rf /", "UPPER/case", `${"a".repeat(600)}`, "ghcr.io/x@sha256:zz"]),
        digest: r.pick(["sha256:xyz", `sha512:${r.hex(128)}`, "", null]),
        app: r.pick(["Bad", "-x", "x".repeat(60), "a_b", "../x"]),
        repository: r.pick(["nope", "a/b/c", `${"x".repeat(40)}/y`, "octo-org/hello world"]),
        environment: r.pick([{ a: 1 }, "x".repeat(65), 12]),
        runId: r.pick([-1, 0, 1.5, "12"]),
      }[field];
      a = await send(h.app.url, path, {
        headers: { ...json, authorization: `Bearer ${token}` },
        body: JSON.stringify(b),
      });
    }
    count(`hand-off: ${kind}`, a.error ? "closed" : a.status);
    assert.ok(
      a.status < 200 || a.status >= 300,
      `${kind} was accepted (${a.status} ${a.body.slice(0, 300)})`,
    );
    if (a.status !== 0)
      assert.ok(a.status >= 400 && a.status < 500, `${kind}: ${a.status} ${a.body.slice(0, 300)}`);
  }

  async function webhookCase(i: number): Promise<void> {
    const k = i % 10;
    const path = h.settings.webhookPath;
    const event = r.pick(["push", "pull_request", "issue_comment", "check_run", "installation", r.hex(6)]);
    const payload =
      r.next() < 0.5
        ? h.pushPayload("refs/heads/main", sha(1))
        : h.pullRequestPayload(r.pick(["opened", "synchronize", "closed"] as const), 1 + r.int(50), sha(1));
    const text = JSON.stringify(payload);
    const sign = (s: string, secret = h.settings.webhookSecret) =>
      "sha256=" + createHmac("sha256", secret).update(s).digest("hex");
    const headers = (sig: string | undefined, type = "application/json") => ({
      "content-type": type,
      "x-github-event": event,
      "x-github-delivery": randomUUID(),
      ...(sig === undefined ? {} : { "x-hub-signature-256": sig }),
    });
    let a: Answer;
    let kind: string;
    let signed = false;
    if (k === 0) {
      kind = "bad signature";
      a = await send(h.app.url, path, { headers: headers(`sha256=${r.hex(64)}`), body: text });
    } else if (k === 1) {
      kind = "missing or malformed signature";
      a = await send(h.app.url, path, {
        headers: headers(r.pick([undefined, "", "sha1=abc", `sha256=${r.hex(10)}`, r.str()])),
        body: text,
      });
    } else if (k === 2) {
      kind = "signature of another body or secret";
      a = await send(h.app.url, path, {
        headers: headers(r.next() < 0.5 ? sign(text + " ") : sign(text, "not-the-secret")),
        body: text,
      });
    } else if (k === 3) {
      kind = "wrong content type";
      a = await send(h.app.url, path, {
        headers: headers(
          sign(text),
          r.pick(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]),
        ),
        body: text,
      });
    } else if (k === 4) {
      kind = "wrong method";
      a = await send(h.app.url, path, {
        method: r.pick(["GET", "PUT", "DELETE", "PATCH"]),
        headers: headers(sign(text)),
        body: text,
      });
    } else if (k === 5) {
      kind = "huge body";
      const big = JSON.stringify({ ...payload, pad: "x".repeat(MAX_WEBHOOK + r.int(3 * MAX_WEBHOOK)) });
      a = await send(h.app.url, path, {
        headers: headers(r.next() < 0.5 ? sign(big) : `sha256=${r.hex(64)}`),
        body: big,
        chunked: r.next() < 0.5,
      });
    } else if (k === 6) {
      kind = "truncated JSON, unsigned";
      const cut = text.slice(0, 1 + r.int(text.length - 2));
      a = await send(h.app.url, path, { headers: headers(sign(text)), body: cut });
    } else if (k === 7) {
      kind = "forged headers, random body";
      const junk = JSON.stringify(r.junk());
      a = await send(h.app.url, path, { headers: headers(`sha256=${r.hex(64)}`), body: junk });
    } else if (k === 8) {
      kind = "signed truncated JSON";
      signed = true;
      const cut = text.slice(0, 1 + r.int(text.length - 2));
      a = await send(h.app.url, path, { headers: headers(sign(cut)), body: cut });
    } else {
      kind = "signed junk payload";
      signed = true;
      const junk = JSON.stringify(r.junk());
      a = await send(h.app.url, path, { headers: headers(sign(junk)), body: junk });
    }
    count(`webhook: ${kind}`, a.error ? "closed" : a.status);
    // A forged delivery is never accepted; a signed one (from GitHub by definition) may be, but changes nothing.
    if (!signed)
      assert.ok(
        a.status < 200 || a.status >= 300,
        `${kind} was accepted (${a.status} ${a.body.slice(0, 200)})`,
      );
  }

  it(`refuses ${HANDOFFS} forged hand-offs and ${WEBHOOKS} forged deliveries, and keeps serving`, async () => {
    const cases = [
      ...Array.from({ length: HANDOFFS }, (_, i) => () => handoffCase(i)),
      ...Array.from({ length: WEBHOOKS }, (_, i) => () => webhookCase(i)),
    ];
    // Shuffled, eight at a time: the requests interleave as real traffic does.
    for (let i = cases.length - 1; i > 0; i--) {
      const j = r.int(i + 1);
      [cases[i], cases[j]] = [cases[j]!, cases[i]!];
    }
    let next = 0;
    const failures: string[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < cases.length) {
          const c = cases[next++]!;
          await c().catch((e: unknown) => failures.push((e as Error).message));
        }
      }),
    );
    console.log(`fuzz seed ${seed}: ${cases.length} requests\n${JSON.stringify(figures, null, 2)}`);
    assert.deepEqual(failures, [], `seed ${seed}`);
    await h.app.deployer.idle();
    assert.deepEqual(crashes, [], `seed ${seed}: the process had unhandled errors`);
    assert.equal(h.github.counts().writes, 0, "nothing was written to GitHub");
    assert.deepEqual(h.runtime.applied, [], "nothing was deployed");
    assert.deepEqual(h.github.deployments, []);

    // Still serving: health, and a genuine hand-off deploys.
    const health = await fetch(`${h.app.url}/healthz`);
    assert.equal(health.status, 200);
    const res = await h.handoff(handoffBody(sha(1)), await h.tokenFor(h.claims({ sha: sha(1) })));
    assert.equal(res.status, 202, JSON.stringify(res.json));
    await h.app.deployer.idle();
    assert.equal(h.github.deploymentsOf(FULL, "production").at(-1)!.statuses.at(-1)!.state, "success");
    assert.deepEqual(h.github.violations, []);
  });
});
