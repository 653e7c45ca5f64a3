// Fuzzing the `.paas.yml` loader: 10,000 mutated files. None may crash the
// loader; each is either valid or rejected with positioned issues.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { parseConfig } from "../../src/config/load.ts";
import { ConfigError } from "../../src/errors.ts";

const SEEDS = [
  "name: shop\nlanguage: python\nrun:\n  port: 8000\n  healthcheck: { path: /healthz }\n",
  "environments:\n  production:\n    branch: main\n    domains: [shop.example.org]\n  staging: { branch: develop }\n",
  "scale:\n  autoscale: { min: 2, max: 10, targetCPU: 60 }\nresources:\n  limits: { cpu: '2', memory: 1Gi }\n",
  "apps:\n  api: { path: services/api, language: go }\n  web: { path: web, env: { A: b } }\n",
  "previews:\n  forks: approve\n  ttl: 3d\n  secrets: [TOKEN]\nenv:\n  LOG: info\n",
  "build:\n  args: { V: 1 }\n  base: { builder: 'golang:1.23', runtime: 'gcr.io/distroless/static' }\n  go: { package: ./cmd/api }\n",
];
const FRAGMENTS = [
  ":",
  "- ",
  "{",
  "}",
  "[",
  "]",
  "&a",
  "*a",
  "!!str",
  "\t",
  "  ",
  "\n",
  "#",
  "'",
  '"',
  "|",
  ">",
  "?",
  "%",
  "@",
  "`",
  "\u0000",
  "é",
  "🙂",
  "<<: *a",
  "~",
  "null",
  "1e999",
  "-1",
  "0x10",
];

const mutation = fc.oneof(
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat(),
    text: fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ maxLength: 8 })),
  }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ kind: fc.constant("swap" as const), at: fc.nat(), other: fc.nat() }),
);

function mutate(
  seed: string,
  ms: { kind: string; at: number; text?: string; len?: number; other?: number }[],
): string {
  let s = seed;
  for (const m of ms) {
    const at = s.length ? m.at % (s.length + 1) : 0;
    if (m.kind === "insert") s = s.slice(0, at) + m.text + s.slice(at);
    else if (m.kind === "delete") s = s.slice(0, at) + s.slice(at + (m.len ?? 1));
    else if (s.length > 1) {
      const o = (m.other ?? 0) % s.length;
      const a = Math.min(at, s.length - 1);
      const chars = [...s];
      [chars[a], chars[o]] = [chars[o]!, chars[a]!];
      s = chars.join("");
    }
  }
  return s;
}

test("10,000 mutated .paas.yml files: valid, or an error with a position; never a crash", () => {
  let valid = 0;
  let rejected = 0;
  fc.assert(
    fc.property(fc.constantFrom(...SEEDS), fc.array(mutation, { minLength: 1, maxLength: 6 }), (seed, ms) => {
      const text = mutate(seed, ms);
      try {
        parseConfig(text);
        valid++;
      } catch (e) {
        assert.ok(
          e instanceof ConfigError,
          `not a ConfigError for ${JSON.stringify(text)}: ${(e as Error).stack}`,
        );
        assert.ok(e.issues.length > 0);
        const lines = text.split("\n").length;
        for (const i of e.issues) {
          assert.ok(
            i.line >= 1 && i.line <= lines + 1 && i.column >= 1,
            `bad position ${i.line}:${i.column}`,
          );
          assert.match(e.message, /^\.paas\.yml:\d+:\d+: error: /m);
        }
        rejected++;
      }
    }),
    { numRuns: 10_000, seed: 20261122 },
  );
  console.log(`fuzz: ${valid} valid, ${rejected} rejected with positions, 0 crashes`);
  assert.ok(valid > 0 && rejected > 0, "the mutations should produce both valid and invalid files");
});
