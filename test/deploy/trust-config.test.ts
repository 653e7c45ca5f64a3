// The default branch's config cache: read by the branch's name in one request,
// kept with its ETag, made stale by a push to the default branch and rechecked
// after its TTL with a conditional read (304 while the file is unchanged).
import assert from "node:assert/strict";
import { it } from "node:test";
import { ConfigError } from "../../src/errors.ts";
import { TrustedConfigs, trustedApp } from "../../src/deploy/trust-config.ts";

const REPO = { owner: "o", repo: "r", installationId: 1, repositoryId: 42 };

/** A GitHub holding one file per branch; ETags name the content, a matching If-None-Match is a 304. */
function fakeGitHub() {
  const calls = { defaultBranch: 0, reads: [] as { ref: string; etag: string | undefined }[], unchanged: 0 };
  const state = { branch: "main", files: new Map<string, string>() };
  const github = {
    async defaultBranch() {
      calls.defaultBranch++;
      return state.branch;
    },
    async getFileIfChanged(_r: unknown, _path: string, ref: string, etag: string | undefined) {
      calls.reads.push({ ref, etag });
      const text = state.files.get(ref);
      const current = text === undefined ? undefined : `W/"${Buffer.from(text).toString("hex")}"`;
      if (etag !== undefined && etag === current) {
        calls.unchanged++;
        return "unchanged" as const;
      }
      return { text, etag: current };
    },
  };
  return { github, calls, state };
}

it("reads the default branch's .paas.yml by name once, and after its TTL asks only whether it changed", async () => {
  const { github, calls, state } = fakeGitHub();
  let now = 0;
  const t = new TrustedConfigs(github, () => now, 60_000);
  state.files.set("main", "environments:\n  staging: {}\n");
  const first = await t.get(REPO);
  assert.equal(first.defaultBranch, "main");
  assert.deepEqual(Object.keys(trustedApp(first, "")!.config.environments), ["staging"]);
  assert.deepEqual(calls.reads, [{ ref: "main", etag: undefined }]);
  // Within the TTL: no request at all.
  await t.get(REPO);
  assert.equal(calls.reads.length, 1);
  // After the TTL, an unchanged file is a 304 for the ETag it was read with.
  now = 61_000;
  assert.equal(await t.get(REPO), first);
  assert.deepEqual(calls.reads[1], { ref: "main", etag: first.etag });
  assert.equal(calls.unchanged, 1);
  // The 304 renewed it: within the TTL again, no request.
  now = 100_000;
  await t.get(REPO);
  assert.equal(calls.reads.length, 2);
  // A changed file is read again.
  now = 200_000;
  state.files.set("main", "environments:\n  qa: {}\n");
  assert.deepEqual(Object.keys(trustedApp(await t.get(REPO), "")!.config.environments), ["qa"]);
  assert.equal(calls.reads.length, 3);
  assert.equal(calls.unchanged, 1);
});

it("a push to the default branch makes the config stale at once; other branches do not", async () => {
  const { github, calls, state } = fakeGitHub();
  const t = new TrustedConfigs(github, () => 0, 60_000);
  state.files.set("main", "name: one\n");
  await t.get(REPO);
  t.pushed(REPO.repositoryId, "refs/heads/feature");
  await t.get(REPO);
  assert.equal(calls.reads.length, 1, "a push elsewhere keeps the entry");
  // A push that leaves .paas.yml as it was: one conditional read, answered 304.
  t.pushed(REPO.repositoryId, "refs/heads/main");
  assert.equal(trustedApp(await t.get(REPO), "")!.config.name, "one");
  assert.equal(calls.unchanged, 1);
  // A push that changes it: the new file.
  state.files.set("main", "name: two\n");
  t.pushed(REPO.repositoryId, "refs/heads/main");
  assert.equal(trustedApp(await t.get(REPO), "")!.config.name, "two");
  assert.equal(calls.reads.length, 3);
});

it("keeps an invalid default-branch config as its error, and an absent one as the defaults", async () => {
  const { github, state } = fakeGitHub();
  state.files.set("main", "environments: [1]\n");
  const t = new TrustedConfigs(github, () => 0);
  const bad = await t.get(REPO);
  assert.ok(bad.loaded instanceof ConfigError);
  assert.equal(trustedApp(bad, ""), undefined);
  t.forget(REPO.repositoryId);
  state.files.delete("main");
  const empty = await t.get(REPO);
  assert.equal(empty.etag, undefined);
  // No file: the schema's defaults (production from main).
  assert.deepEqual(Object.keys(trustedApp(empty, "")!.config.environments), ["production"]);
});

it("concurrent hand-offs share one read; a read overtaken by a default-branch push is not kept", async () => {
  const { github, calls, state } = fakeGitHub();
  let now = 0;
  const t = new TrustedConfigs(github, () => now, 60_000);
  state.files.set("main", "name: one\n");
  const all = await Promise.all([t.get(REPO), t.get(REPO), t.get(REPO)]);
  assert.equal(calls.reads.length, 1, "one read for three concurrent gets");
  assert.ok(all.every((c) => c === all[0]));

  // A push lands while a read is under way: that read answers its caller, but is not kept.
  t.forget(REPO.repositoryId);
  const slow = t.get(REPO);
  t.pushed(REPO.repositoryId, "refs/heads/main");
  assert.equal(trustedApp(await slow, "")!.config.name, "one");
  state.files.set("main", "name: two\n");
  assert.equal(trustedApp(await t.get(REPO), "")!.config.name, "two");

  // The same for a conditional read under way: its 304 does not renew the entry.
  now = 61_000;
  const checking = t.get(REPO);
  t.pushed(REPO.repositoryId, "refs/heads/main");
  await checking;
  state.files.set("main", "name: three\n");
  assert.equal(trustedApp(await t.get(REPO), "")!.config.name, "three");
});

it("takes the default branch's name from the webhook; a new name drops the other branch's config", async () => {
  const { github, calls, state } = fakeGitHub();
  const t = new TrustedConfigs(github, () => 0, 60_000);
  state.files.set("main", "name: main-config\n");
  t.noteDefaultBranch(REPO.repositoryId, "main");
  assert.equal((await t.get(REPO)).defaultBranch, "main");
  assert.equal(calls.defaultBranch, 0, "no read to learn the name");
  t.noteDefaultBranch(REPO.repositoryId, "main");
  await t.get(REPO);
  assert.equal(calls.reads.length, 1, "the same name keeps the entry");
  // Renamed (a webhook says so): the cached config was the old branch's, and its ETag is not sent.
  state.files.set("trunk", "name: trunk-config\n");
  t.noteDefaultBranch(REPO.repositoryId, "trunk");
  const renamed = await t.get(REPO);
  assert.equal(renamed.defaultBranch, "trunk");
  assert.equal(trustedApp(renamed, "")!.config.name, "trunk-config");
  assert.deepEqual(calls.reads.at(-1), { ref: "trunk", etag: undefined });
  t.forget(REPO.repositoryId);
  await t.get(REPO);
  assert.equal(calls.defaultBranch, 1, "forgotten: read again");
});
