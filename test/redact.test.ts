// Secret values in a failed rollout's diagnosis are masked: the pure helper
// (verbatim, multi-line, base64, percent-, JSON- and shell-encoded forms, and
// the length policy), and the Kubernetes runtime against the fake API server
// with an app whose crash logs contain the value of a secret it was given.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { MASK, redactDiagnosis, redactError, redactLines, redactText } from "../src/redact.ts";
import { KubernetesRuntime } from "../src/runtime/kubernetes/runtime.ts";
import { crashLogLines, FakeKubernetesApi } from "./fakes/kubernetes-api.ts";
import { HTTPROUTE_SETTINGS, PREVIEW_YAML, specFor } from "./runtime/kubernetes/specs.ts";

test("redactLines masks every occurrence, longest value first, and ignores tiny values", () => {
  assert.deepEqual(
    redactLines(["url=postgres://u:pw-123@db pw-123", "ok", "a"], ["pw-123", "postgres://u:pw-123@db", "a"]),
    ["url=*** ***", "ok", "a"],
  );
  const d = redactDiagnosis(
    {
      summary: "exit 1: token tok-9999",
      events: ["pulled tok-9999"],
      state: "tok-9999",
      exitCode: 1,
      logs: ["x tok-9999"],
    },
    ["tok-9999"],
  );
  assert.deepEqual(d, {
    summary: "exit 1: token ***",
    events: ["pulled ***"],
    state: "***",
    exitCode: 1,
    logs: ["x ***"],
  });
});

test("the Kubernetes runtime masks a secret value its crashing app printed, in the rollout result and in diagnose()", async () => {
  const fake = await FakeKubernetesApi.start();
  try {
    // The secret's value is what the app prints in its crash logs (here: one of the fake's log lines).
    const printed = crashLogLines().at(-1)!.split(": ")[1]!;
    const runtime = new KubernetesRuntime({
      kubeConfig: fake.kubeConfig(),
      settings: HTTPROUTE_SETTINGS,
      pollIntervalMs: 10,
      retry: { minDelayMs: 5, maxDelayMs: 50 },
      secrets: { get: async (_t, names) => Object.fromEntries(names.map((n) => [n, printed])) },
    });
    const spec = specFor(PREVIEW_YAML, "preview/pr-77", {
      image: `ghcr.io/acme/shop@sha256:${"7".repeat(64)}`,
    });
    fake.setScenario(spec.image, "crash");
    const result = await runtime.apply(spec);
    assert.equal(result.ok, false);
    if (result.ok) return;
    const shown = [result.diagnosis.summary, ...result.diagnosis.events, ...result.diagnosis.logs].join("\n");
    assert.ok(!shown.includes(printed), shown);
    assert.equal(result.diagnosis.logs.at(-1), "RuntimeError: ***");
    assert.equal(result.diagnosis.logs.length, 50, "the other lines are kept");
    // Asked later (not during a rollout), the runtime masks the same values.
    const later = await runtime.diagnose(spec.target);
    assert.equal(later.logs.at(-1), "RuntimeError: ***", later.logs.join("\n"));
    assert.ok(![later.summary, ...later.events, ...later.logs].join("\n").includes(printed));
  } finally {
    await fake.close();
  }
});

const PEM = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  privateKeyEncoding: { type: "pkcs8", format: "pem" },
  publicKeyEncoding: { type: "spki", format: "pem" },
}).privateKey;
const PEM_LINES = PEM.trimEnd().split("\n");

/** The key's lines that are secret: everything between the armour lines. */
const pemBody = () => PEM_LINES.filter((l) => !l.startsWith("-----"));

test("a PEM key printed whole is masked, and so is each of its lines printed with a prefix", () => {
  const whole = redactLines(["starting", ...PEM.split("\n"), "done"], [PEM]);
  const prefixed = redactLines(
    PEM_LINES.map((l, i) => `app[${i}] ${l}`),
    [PEM],
  );
  const crlf = redactText(`key:\r\n${PEM.replace(/\n/g, "\r\n")}end`, [PEM]);
  for (const out of [whole.join("\n"), prefixed.join("\n"), crlf])
    for (const line of pemBody()) assert.ok(!out.includes(line), `${line} survives in:\n${out}`);
  assert.deepEqual(whole, ["starting", MASK, "done"], "the key, printed whole, becomes one mask");
  assert.equal(prefixed[1], `app[1] ${MASK}`);
});

test("a PEM key inside JSON, a URL query or a shell command is masked", () => {
  const forms = {
    json: JSON.stringify({ key: PEM }),
    "JSON without quotes": JSON.stringify(PEM).slice(1, -1),
    "Python json.dumps": JSON.stringify(PEM).replace(/\//g, "\\/"),
    encodeURIComponent: `https://x.example/?key=${encodeURIComponent(PEM)}`,
    "form encoding": new URLSearchParams({ key: PEM }).toString(),
    "shell single quotes": `echo '${PEM}'`,
    "bash $'…'": `printf %s $'${PEM.replace(/\n/g, "\\n")}'`,
  };
  for (const [what, text] of Object.entries(forms)) {
    const out = redactText(text, [PEM]);
    for (const line of pemBody()) assert.ok(!out.includes(line), `${what}: ${line} survives in ${out}`);
    assert.ok(out.includes(MASK), what);
  }
});

test("base64 of a value is masked: standard and URL-safe, padded or not, alone or inside a longer blob", () => {
  const token = "ghp_0123456789abcdefABCDEF/+?xyz"; // + and / make the two alphabets differ
  const bytes = Buffer.from(token);
  const texts = [
    bytes.toString("base64"),
    bytes.toString("base64url"),
    bytes.toString("base64").replace(/=+$/, ""),
    `Authorization: Basic ${Buffer.from(`user:${token}`).toString("base64")}`,
    Buffer.from(JSON.stringify({ auths: { "ghcr.io": { password: token } } })).toString("base64"),
  ];
  for (const text of texts) {
    const out = redactText(text, [token]);
    assert.ok(out.includes(MASK), `${text} was not masked`);
    assert.ok(!decodesTo(out, token), `${out} still decodes to the token`);
  }
  assert.ok(!redactText(Buffer.from(PEM).toString("base64"), [PEM]).includes(pemBody()[3]!.slice(0, 16)));
  // A multi-line value JSON-escaped, then base64-encoded: its lines are found one by one.
  const blob = redactText(Buffer.from(JSON.stringify({ tls: { key: PEM } })).toString("base64"), [PEM]);
  for (const line of pemBody()) assert.ok(!decodesTo(blob, line), `${line} decodes from ${blob}`);
});

/** True when some piece of `text` between masks, read as base64 from any offset, contains `value`. */
function decodesTo(text: string, value: string): boolean {
  for (const piece of text.split(MASK))
    for (let offset = 0; offset < 4; offset++)
      for (const alphabet of ["base64", "base64url"] as const)
        if (Buffer.from(piece.slice(offset), alphabet).includes(Buffer.from(value))) return true;
  return false;
}

test("property: no piece of a base64 blob holding the value at any byte alignment decodes to it", () => {
  fc.assert(
    fc.property(
      fc.string({ minLength: 8, maxLength: 40 }).filter((v) => v.trim().length >= 8),
      fc.uint8Array({ maxLength: 7 }),
      fc.uint8Array({ maxLength: 7 }),
      fc.constantFrom("base64" as const, "base64url" as const),
      (value, before, after, alphabet) => {
        const v = value.trim();
        const blob = Buffer.concat([before, Buffer.from(v), after]).toString(alphabet);
        return !decodesTo(redactText(blob, [value]), v);
      },
    ),
    { numRuns: 500 },
  );
});

test("percent-encoded forms are masked: encodeURIComponent, form encoding, lowercase hex", () => {
  const password = "p@ss w0rd/&=+?#é€😀";
  const encoded = [
    encodeURIComponent(password),
    new URLSearchParams({ password }).toString(),
    encodeURIComponent(password).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
    encodeURI(password),
  ];
  for (const e of encoded)
    assert.equal(redactText(`x ${e} y`, [password]).replace(/password=/, ""), `x ${MASK} y`, e);
});

test("JSON-escaped and shell-quoted forms are masked", () => {
  const value = `it's a "secret"\\path\twith\nlines and $HOME é`;
  const shellQuote = (v: string) => `'${v.replace(/'/g, `'"'"'`)}'`;
  const escapedQuote = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
  const backslashed = (v: string) => v.replace(/[ -/:-@[-`{-~]/g, (c) => `\\${c}`);
  const forms = [
    JSON.stringify(value).slice(1, -1),
    JSON.stringify(value).slice(1, -1).replace(/é/g, "\\u00e9"),
    shellQuote(value),
    escapedQuote(value),
    backslashed(value.replace(/[\n\t]/g, "")),
  ];
  for (const f of forms) {
    const out = redactText(`run ${f} now`, [value, value.replace(/[\n\t]/g, "")]);
    assert.match(out, /^run '?\*\*\*'? now$/, `${f} → ${out}`);
  }
});

test("length policy: under 4 characters not masked; under 8 only as whole tokens, verbatim; from 8 anywhere", () => {
  assert.equal(redactText("on: on", ["on"]), "on: on", "a 2-character value masks nothing");
  assert.equal(redactText("abc-abc", ["abc"]), "abc-abc");
  const short = "k3y-42"; // 6 characters
  assert.equal(redactText(`key=${short}; (${short})`, [short]), `key=${MASK}; (${MASK})`);
  assert.equal(
    redactText(`xk3y-42 k3y-42y k3y-421`, [short]),
    "xk3y-42 k3y-42y k3y-421",
    "not inside a word",
  );
  const b64 = Buffer.from(short).toString("base64");
  assert.equal(redactText(b64, [short]), b64, "a short value's encodings are not searched");
  const long = "k3y-4242"; // 8 characters
  assert.equal(redactText(`xk3y-4242y ${Buffer.from(long).toString("base64")}`, [long]), `x${MASK}y ${MASK}`);
  // Surrounding whitespace does not count: a value that is mostly spaces is short.
  assert.equal(redactText("a     b", ["      b  "]), "a     b");
});

test("property: a value of 8+ characters survives in none of its encodings", () => {
  const encodings: Record<string, (v: string) => string> = {
    verbatim: (v) => v,
    base64: (v) => Buffer.from(v).toString("base64"),
    base64url: (v) => Buffer.from(v).toString("base64url"),
    encodeURIComponent,
    form: (v) => new URLSearchParams({ v }).toString().slice(2),
    json: (v) => JSON.stringify(v).slice(1, -1),
    "shell quote": (v) => `'${v.replace(/'/g, `'"'"'`)}'`,
  };
  fc.assert(
    fc.property(
      fc
        .string({ unit: "grapheme", minLength: 8, maxLength: 30 })
        .filter((v) => v.trim() === v && v.length >= 8),
      fc.string({ maxLength: 20 }),
      fc.string({ maxLength: 20 }),
      fc.constantFrom(...Object.keys(encodings)),
      (value, before, after, encoding) => {
        const form = encodings[encoding]!(value);
        return !redactText(`${before}${form}${after}`, [value]).includes(form);
      },
    ),
    { numRuns: 300 },
  );
});

test("redactError masks the message, the stack and the causes, and keeps the error's class", () => {
  const value = "hunter2-hunter2";
  const cause = new Error(`API said: bad value ${Buffer.from(value).toString("base64")}`);
  const e = new TypeError(`cannot use ${encodeURIComponent(value)}`, { cause });
  const out = redactError(e, [value]) as TypeError;
  assert.equal(out, e);
  assert.ok(out instanceof TypeError);
  assert.equal(out.message, `cannot use ${MASK}`);
  assert.ok(!out.stack!.includes("hunter2"));
  assert.equal((out.cause as Error).message, `API said: bad value ${MASK}`);
});

test("the Kubernetes runtime masks a secret value an API refusal quotes, in the error and its causes", async () => {
  const fake = await FakeKubernetesApi.start();
  try {
    const value = "sk_live_0123456789abcdef";
    const runtime = new KubernetesRuntime({
      kubeConfig: fake.kubeConfig(),
      settings: HTTPROUTE_SETTINGS,
      pollIntervalMs: 10,
      retry: { minDelayMs: 5, maxDelayMs: 50 },
      secrets: { get: async (_t, names) => Object.fromEntries(names.map((n) => [n, value])) },
    });
    const spec = specFor(PREVIEW_YAML, "preview/pr-78", {
      image: `ghcr.io/acme/shop@sha256:${"8".repeat(64)}`,
    });
    assert.ok(spec.secrets.length > 0, "the app lists secrets");
    // An admission webhook that quotes the Secret it refuses: data values are base64.
    const quoted = `denied: data.STRIPE_TEST_KEY=${Buffer.from(value).toString("base64")} (${value})`;
    fake.injectFaults([{ status: 422, message: quoted }], { method: "PATCH", path: "/secrets/" });
    const err = await runtime.apply(spec).then(
      () => assert.fail("expected the refusal"),
      (e: unknown) => e as Error,
    );
    assert.match(err.message, /denied: data\.STRIPE_TEST_KEY=\*\*\* \(\*\*\*\)/);
    const chain: string[] = [];
    for (let e: unknown = err; e instanceof Error; e = e.cause) chain.push(e.message, e.stack ?? "");
    const text = chain.join("\n");
    assert.ok(!text.includes(value) && !text.includes(Buffer.from(value).toString("base64")), text);
  } finally {
    await fake.close();
  }
});
