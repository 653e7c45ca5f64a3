import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Target } from "../../../src/names.ts";
import {
  FileSecretSource,
  SecretsError,
  parseEnvFile,
  secretsFile,
} from "../../../src/runtime/docker/secrets.ts";

const prod: Target = {
  owner: "Octo",
  repo: "Shop",
  app: "",
  environment: { kind: "named", name: "production" },
};
const preview: Target = { ...prod, environment: { kind: "preview", pr: 9 } };

describe("env file format", () => {
  it("reads plain, quoted and exported values literally", () => {
    const text = [
      "# database",
      "",
      "DATABASE_URL=postgres://u:p@db/x?a=b#frag",
      "export API_KEY = abc def ",
      "LITERAL='$HOME and \\n stay'  # comment",
      'MULTI="line1\\nline2 \\"q\\""',
    ].join("\n");
    assert.deepEqual(Object.fromEntries(parseEnvFile(text, "f.env")), {
      DATABASE_URL: "postgres://u:p@db/x?a=b#frag",
      API_KEY: "abc def",
      LITERAL: "$HOME and \\n stay",
      MULTI: 'line1\nline2 "q"',
    });
  });

  it("names the line of a mistake without showing the value", () => {
    assert.throws(
      () => parseEnvFile("A=1\nnot a pair hunter2\n", "s.env"),
      /^SecretsError: s\.env:2: expected NAME=value$/,
    );
    assert.throws(() => parseEnvFile("A=1\nA=2", "s.env"), /s\.env:2: A is set twice/);
    assert.throws(() => parseEnvFile("1A=x", "s.env"), /s\.env:1: "1A" is not a valid variable name/);
    assert.throws(
      () => parseEnvFile("A='hunter2", "s.env"),
      (e: unknown) => e instanceof SecretsError && !e.message.includes("hunter2"),
    );
  });
});

describe("file secret source", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "paas-secrets-"));
    await mkdir(join(dir, "octo", "shop"), { recursive: true });
    await writeFile(join(dir, "octo", "shop", "production.env"), "DB=prod-db\nTOKEN=prod-token\n", {
      mode: 0o600,
    });
    await writeFile(join(dir, "octo", "shop", "preview.env"), "DB=preview-db\n", { mode: 0o600 });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("gives each environment its own file, previews never production's", async () => {
    const s = new FileSecretSource({ dir });
    assert.deepEqual(await s.get(prod, ["DB", "TOKEN"]), { DB: "prod-db", TOKEN: "prod-token" });
    assert.deepEqual(await s.get(preview, ["DB"]), { DB: "preview-db" });
    await assert.rejects(s.get(preview, ["TOKEN"]), /preview\.env does not set TOKEN: add a NAME=value line/);
    assert.deepEqual(await s.get(preview, []), {});
  });

  it("tells how to create a missing file and refuses one others can read", async () => {
    const s = new FileSecretSource({ dir });
    await assert.rejects(
      s.get({ ...prod, environment: { kind: "named", name: "staging" } }, ["DB"]),
      /staging\.env does not exist: create it with NAME=value lines \(chmod 600\)/,
    );
    const file = join(dir, "octo", "shop", "production.env");
    await chmod(file, 0o644);
    await assert.rejects(s.get(prod, ["DB"]), new RegExp(`run \`chmod 600 ${file}\``));
    await chmod(file, 0o600);
  });

  it("keeps hostile names inside the folder", () => {
    assert.equal(secretsFile("/s", { ...preview, app: "api" }), "/s/octo/shop/api/preview.env");
    assert.throws(() => secretsFile("/s", { ...prod, repo: ".." }), /cannot name a secrets folder/);
    assert.throws(() => secretsFile("/s", { ...prod, owner: "a/b" }), /cannot name a secrets folder/);
  });
});
