// The Action's side of GitHub Environment secrets, without a build: the input
// is masked value by value before anything else, only the names .paas.yml
// lists are kept, and nothing is sent from a job outside any environment.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  namedSecrets,
  pickSecrets,
  readSecretsInput,
  sealedSecretsFor,
  SecretsInputError,
  tokenBinding,
} from "../../action/src/secrets.ts";
import { parseConfig, resolveApps } from "../../src/config/load.ts";

/** Runs f and returns what it wrote to stdout (the runner's workflow commands). */
async function stdoutOf(f: () => unknown): Promise<string> {
  const write = process.stdout.write.bind(process.stdout);
  let out = "";
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    await f();
  } finally {
    process.stdout.write = write;
  }
  return out;
}

const jwt = (claims: Record<string, unknown>) =>
  `e30.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.sig`;

describe("the Action's secrets input", () => {
  it("masks every value (multi-line too) and keeps names as given", async () => {
    let got = new Map<string, string>();
    const out = await stdoutOf(() => {
      got = readSecretsInput(
        JSON.stringify({ DATABASE_URL: "postgres://pw", KEY: "line1\nline2", EMPTY: "" }),
      );
    });
    assert.match(out, /::add-mask::postgres:\/\/pw/);
    assert.match(out, /::add-mask::line1%0Aline2/);
    assert.deepEqual([...got.keys()], ["DATABASE_URL", "KEY", "EMPTY"]);
    assert.equal(readSecretsInput("  ").size, 0);
  });

  it("a value that is not a JSON object is refused without quoting it", () => {
    for (const bad of ['{"A": hunter2-value', "[1,2]", '"hunter2-value"', "null"])
      assert.throws(
        () => readSecretsInput(bad),
        (e: unknown) =>
          e instanceof SecretsInputError &&
          /toJSON\(secrets\)/.test(e.message) &&
          !e.message.includes("hunter2"),
      );
  });

  it("sends only the names .paas.yml lists, anywhere in it", () => {
    const [app] = resolveApps(
      parseConfig(
        "secrets: [A]\nenvironments:\n  production: { branch: main, secrets: [B] }\npreviews:\n  secrets: [C]\n",
      ),
    );
    const names = namedSecrets(app!.config);
    assert.deepEqual(names, ["A", "B", "C"]);
    assert.deepEqual(
      pickSecrets(
        new Map([
          ["A", "1"],
          ["C", "3"],
          ["github_token", "t"],
        ]),
        names,
      ),
      {
        values: { A: "1", C: "3" },
        missing: ["B"],
      },
    );
  });

  it("reads the binding from the job's token, and sends nothing from a job in no environment", async () => {
    assert.deepEqual(tokenBinding(jwt({ repository_id: 77, jti: "j", environment: "preview" })), {
      repositoryId: "77",
      jti: "j",
      job: "preview",
    });
    assert.throws(() => tokenBinding("not-a-jwt"), SecretsInputError);
    let sealed: unknown = "unset";
    const out = await stdoutOf(async () => {
      sealed = await sealedSecretsFor({
        // Never contacted: nothing is sealed.
        appUrl: "http://127.0.0.1:9",
        token: jwt({ repository_id: 77, jti: "j" }),
        available: new Map([["A", "value-a"]]),
        names: ["A"],
        target: { environment: "preview/pr-1", app: "", sha: "a".repeat(40) },
      });
    });
    assert.equal(sealed, undefined);
    assert.match(out, /::notice::secrets A are not sent: this job runs in no GitHub environment/);
  });
});
