// Which value each secret gets, for both runtimes (src/runtime/secret-values.ts):
// delivered now > delivered earlier to this environment > the operator's source.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Target } from "../../src/names.ts";
import {
  formatDeliveredNames,
  parseDeliveredNames,
  resolveSecretValues,
  SecretsMissingError,
} from "../../src/runtime/secret-values.ts";
import type { SecretSource } from "../../src/runtime/types.ts";

const target: Target = {
  owner: "acme",
  repo: "shop",
  app: "",
  environment: { kind: "named", name: "production" },
};

/** The operator's values, counting which names each deploy asks for. */
function operator(values: Record<string, string>): SecretSource & { asked: string[][] } {
  const asked: string[][] = [];
  return {
    asked,
    get: async (_t, names) => {
      asked.push([...names]);
      return Object.fromEntries(names.map((n) => [n, values[n]!]));
    },
  };
}

test("delivered now wins over delivered earlier, which wins over the operator's", async () => {
  const source = operator({ A: "op-a", B: "op-b", C: "op-c" });
  const got = await resolveSecretValues(target, ["A", "B", "C"], {
    delivered: { A: "now-a" },
    kept: { A: "kept-a", B: "kept-b" },
    source,
    setting: "PAAS_SECRETS_DIR",
  });
  assert.deepEqual(got.values, { A: "now-a", B: "kept-b", C: "op-c" });
  assert.deepEqual(got.delivered, ["A", "B"], "the operator's name is not recorded as delivered");
  assert.deepEqual(source.asked, [["C"]], "the operator is asked only for what no hand-off delivered");
});

test("without a hand-off the kept values serve; an operator's name is read again each deploy", async () => {
  const values = { DATABASE_URL: "op-db", SESSION_KEY: "op-session" };
  const source = operator(values);
  const first = await resolveSecretValues(target, ["DATABASE_URL", "SESSION_KEY"], {
    delivered: undefined,
    kept: { DATABASE_URL: "from-github" },
    source,
    setting: "PAAS_SECRETS_DIR",
  });
  assert.deepEqual(first.values, { DATABASE_URL: "from-github", SESSION_KEY: "op-session" });
  values.SESSION_KEY = "op-rotated";
  const second = await resolveSecretValues(target, ["DATABASE_URL", "SESSION_KEY"], {
    delivered: undefined,
    kept: { DATABASE_URL: "from-github" },
    source,
    setting: "PAAS_SECRETS_DIR",
  });
  assert.equal(second.values.SESSION_KEY, "op-rotated");
  assert.deepEqual(second.delivered, ["DATABASE_URL"]);
});

test("a kept value for a name the spec no longer lists is not used", async () => {
  const got = await resolveSecretValues(target, ["A"], {
    delivered: undefined,
    kept: { A: "kept-a", DROPPED: "kept-dropped" },
    source: undefined,
    setting: "PAAS_SECRETS_DIR",
  });
  assert.deepEqual(got, { values: { A: "kept-a" }, delivered: ["A"] });
});

test("own keys only: __proto__ and toString are names like any other", async () => {
  const kept = Object.fromEntries([["__proto__", "kept-proto"]]);
  const got = await resolveSecretValues(target, ["__proto__", "toString"], {
    delivered: undefined,
    kept,
    source: operator({ toString: "op-tostring" }),
    setting: "PAAS_SECRETS_DIR",
  });
  assert.equal(Object.hasOwn(got.values, "__proto__"), true);
  assert.equal(got.values["__proto__"], "kept-proto");
  assert.equal(got.values.toString, "op-tostring");
  assert.deepEqual(got.delivered, ["__proto__"]);
});

test("a name in no source fails naming the GitHub environment and the setting, never a value", async () => {
  await assert.rejects(
    resolveSecretValues(target, ["A", "B"], {
      delivered: { A: "now-a-value" },
      kept: {},
      source: undefined,
      setting: "PAAS_K8S_SECRETS_NAMESPACE",
    }),
    (e: unknown) => {
      assert.ok(e instanceof SecretsMissingError);
      assert.match(e.message, /secrets B are named/);
      assert.match(e.message, /GitHub environment "production"/);
      assert.match(e.message, /PAAS_K8S_SECRETS_NAMESPACE/);
      assert.match(e.message, /delivered to this same environment before/);
      assert.doesNotMatch(e.message, /now-a-value/);
      return true;
    },
  );
});

test("the record of delivered names: sorted, unique, and only variable names read back", () => {
  assert.equal(formatDeliveredNames(["B", "A", "B"]), "A,B");
  assert.deepEqual(parseDeliveredNames("A,B"), ["A", "B"]);
  assert.deepEqual(parseDeliveredNames(undefined), []);
  assert.deepEqual(parseDeliveredNames(""), []);
  assert.deepEqual(parseDeliveredNames("A,,1X,B=c,_ok"), ["A", "_ok"]);
});
