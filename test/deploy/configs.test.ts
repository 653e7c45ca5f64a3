// A commit's .paas.yml, read once per commit and found again by its content's
// git blob sha: a hand-off naming the blob of a file read before reads nothing,
// any other name (unknown, another repository's, an absent file) reads the commit.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { it } from "node:test";
import { gitBlobSha } from "../../src/contract/handoff.ts";
import { CommitConfigs } from "../../src/deploy/configs.ts";
import { ConfigError } from "../../src/errors.ts";
import type { RepoRef } from "../../src/github/port.ts";
import { repo } from "../support/deploy-memory.ts";

const HEAD = "1".repeat(40);
const MERGE = "2".repeat(40);
const A = "name: a\n";
const B = "name: b\n";

function counting(files: Record<string, string>) {
  const reads: string[] = [];
  const github = {
    async getFile(_r: RepoRef, _path: string, ref: string): Promise<string | undefined> {
      reads.push(ref);
      return files[ref];
    },
  };
  return { reads, configs: new CommitConfigs(github) };
}

it("names content as git does (git hash-object)", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "paas-blob-"));
  const file = path.join(dir, ".paas.yml");
  const text = "apps:\n  web: {}\n# é\n";
  writeFileSync(file, text);
  const git = execFileSync("git", ["hash-object", file], { encoding: "utf8" }).trim();
  assert.equal(gitBlobSha(text), git);
  assert.equal(gitBlobSha(Buffer.from(text)), git);
});

it("a commit whose file has a known blob sha is answered without a read", async () => {
  const { reads, configs } = counting({ [HEAD]: A, [MERGE]: A });
  const head = await configs.get(repo, HEAD);
  assert.ok(!(head instanceof ConfigError));
  const merge = await configs.get(repo, MERGE, gitBlobSha(A));
  assert.equal(merge, head);
  assert.deepEqual(reads, [HEAD]);
  // The commit is then known by its sha too.
  assert.equal(await configs.get(repo, MERGE), head);
  assert.deepEqual(reads, [HEAD]);
});

it("a read file whose content was parsed before is not parsed again", async () => {
  const NEXT = "3".repeat(40);
  const { reads, configs } = counting({ [HEAD]: A, [NEXT]: A, [MERGE]: B });
  const head = await configs.get(repo, HEAD);
  // A new commit with the same .paas.yml: read (the commit is unknown), the parse reused.
  assert.equal(await configs.get(repo, NEXT), head);
  const other = await configs.get(repo, MERGE);
  assert.notEqual(other, head);
  assert.deepEqual(reads, [HEAD, NEXT, MERGE]);
});

it("an unknown blob sha, or one read in another repository, reads the commit's file", async () => {
  const { reads, configs } = counting({ [HEAD]: A, [MERGE]: B });
  await configs.get(repo, HEAD);
  const merge = await configs.get(repo, MERGE, gitBlobSha(B));
  assert.ok(!(merge instanceof ConfigError));
  assert.equal(merge.raw.name, "b");
  assert.deepEqual(reads, [HEAD, MERGE]);

  const other = { ...repo, repositoryId: repo.repositoryId + 1 };
  await configs.get(other, "3".repeat(40), gitBlobSha(A));
  assert.deepEqual(reads, [HEAD, MERGE, "3".repeat(40)]);
});

it("an invalid file is found by its blob sha as its error; an absent one is read per commit", async () => {
  const bad = "apps: [1]\n";
  const { reads, configs } = counting({ [HEAD]: bad });
  const first = await configs.get(repo, HEAD);
  assert.ok(first instanceof ConfigError);
  assert.equal(await configs.get(repo, MERGE, gitBlobSha(bad)), first);
  assert.deepEqual(reads, [HEAD]);

  const absent = counting({});
  await absent.configs.get(repo, HEAD);
  await absent.configs.get(repo, MERGE, gitBlobSha(""));
  assert.deepEqual(absent.reads, [HEAD, MERGE]);
});
