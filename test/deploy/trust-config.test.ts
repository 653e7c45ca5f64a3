// The default branch's config cache: read at the branch head, cached by that
// sha, dropped by a push to the default branch, rechecked after its TTL.
import assert from "node:assert/strict";
import { it } from "node:test";
import { ConfigError } from "../../src/errors.ts";
import { TrustedConfigs, trustedApp } from "../../src/deploy/trust-config.ts";

const REPO = { owner: "o", repo: "r", installationId: 1, repositoryId: 42 };

function fakeGitHub() {
  const calls = { defaultBranch: 0, branchHead: 0, getFile: [] as string[] };
  const state = {
    branch: "main",
    head: "a".repeat(40) as string | undefined,
    files: new Map<string, string>(),
  };
  const github = {
    async defaultBranch() {
      calls.defaultBranch++;
      return state.branch;
    },
    async branchHead() {
      calls.branchHead++;
      return state.head;
    },
    async getFile(_r: unknown, _path: string, ref: string) {
      calls.getFile.push(ref);
      return state.files.get(ref);
    },
  };
  return { github, calls, state };
}

it("reads the default branch's .paas.yml at its head sha and caches it by that sha", async () => {
  const { github, calls, state } = fakeGitHub();
  let now = 0;
  const t = new TrustedConfigs(github, () => now, 60_000);
  state.files.set(state.head!, "environments:\n  staging: {}\n");
  const first = await t.get(REPO);
  assert.equal(first.defaultBranch, "main");
  assert.deepEqual(Object.keys(trustedApp(first, "")!.config.environments), ["staging"]);
  assert.deepEqual(calls.getFile, [state.head]);
  // Within the TTL: no request at all.
  await t.get(REPO);
  assert.equal(calls.branchHead, 1);
  // After the TTL, an unchanged head is not read again.
  now = 61_000;
  await t.get(REPO);
  assert.equal(calls.branchHead, 2);
  assert.equal(calls.getFile.length, 1);
  // A moved head is read again.
  now = 122_000;
  const next = "b".repeat(40);
  state.head = next;
  state.files.set(next, "environments:\n  qa: {}\n");
  assert.deepEqual(Object.keys(trustedApp(await t.get(REPO), "")!.config.environments), ["qa"]);
  assert.deepEqual(calls.getFile, ["a".repeat(40), next]);
});

it("a push to the default branch drops the cached config at once; other branches do not", async () => {
  const { github, calls, state } = fakeGitHub();
  const t = new TrustedConfigs(github, () => 0, 60_000);
  state.files.set(state.head!, "name: one\n");
  await t.get(REPO);
  t.pushed(REPO.repositoryId, "refs/heads/feature", "c".repeat(40));
  await t.get(REPO);
  assert.equal(calls.getFile.length, 1, "a push elsewhere keeps the entry");
  const next = "d".repeat(40);
  state.head = next;
  state.files.set(next, "name: two\n");
  t.pushed(REPO.repositoryId, "refs/heads/main", next);
  assert.equal(trustedApp(await t.get(REPO), "")!.config.name, "two");
});

it("keeps an invalid default-branch config as its error, and reads an empty repository at the branch name", async () => {
  const { github, calls, state } = fakeGitHub();
  state.files.set(state.head!, "environments: [1]\n");
  const t = new TrustedConfigs(github, () => 0);
  const bad = await t.get(REPO);
  assert.ok(bad.loaded instanceof ConfigError);
  assert.equal(trustedApp(bad, ""), undefined);
  t.forget(REPO.repositoryId);
  state.head = undefined;
  const empty = await t.get(REPO);
  assert.equal(calls.getFile.at(-1), "main");
  // No file: the schema's defaults (production from main).
  assert.deepEqual(Object.keys(trustedApp(empty, "")!.config.environments), ["production"]);
});

it("concurrent hand-offs share one read; a read overtaken by a default-branch push is not cached", async () => {
  const { github, calls, state } = fakeGitHub();
  const t = new TrustedConfigs(github, () => 0, 60_000);
  state.files.set(state.head!, "name: one\n");
  const all = await Promise.all([t.get(REPO), t.get(REPO), t.get(REPO)]);
  assert.equal(calls.getFile.length, 1, "one read for three concurrent gets");
  assert.ok(all.every((c) => c === all[0]));

  // A push lands while a read is under way: that read answers its caller, but is not kept.
  t.forget(REPO.repositoryId);
  const slow = t.get(REPO);
  const next = "e".repeat(40);
  t.pushed(REPO.repositoryId, "refs/heads/main", next);
  assert.equal(trustedApp(await slow, "")!.config.name, "one");
  state.head = next;
  state.files.set(next, "name: two\n");
  assert.equal(trustedApp(await t.get(REPO), "")!.config.name, "two");
});

it("takes the default branch's name from the webhook; a new name drops the other branch's config", async () => {
  const { github, calls, state } = fakeGitHub();
  const t = new TrustedConfigs(github, () => 0, 60_000);
  state.files.set(state.head!, "name: main-config\n");
  t.noteDefaultBranch(REPO.repositoryId, "main");
  assert.equal((await t.get(REPO)).defaultBranch, "main");
  assert.equal(calls.defaultBranch, 0, "no read to learn the name");
  t.noteDefaultBranch(REPO.repositoryId, "main");
  await t.get(REPO);
  assert.equal(calls.getFile.length, 1, "the same name keeps the entry");
  // Renamed (a webhook says so): the cached config was the old branch's.
  const trunk = "e".repeat(40);
  state.head = trunk;
  state.files.set(trunk, "name: trunk-config\n");
  t.noteDefaultBranch(REPO.repositoryId, "trunk");
  const renamed = await t.get(REPO);
  assert.equal(renamed.defaultBranch, "trunk");
  assert.equal(trustedApp(renamed, "")!.config.name, "trunk-config");
  t.forget(REPO.repositoryId);
  await t.get(REPO);
  assert.equal(calls.defaultBranch, 1, "forgotten: read again");
});
