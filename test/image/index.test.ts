// The builder as the CLI's `paas deploy` uses it: a folder in, a local image out.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import { buildApp, BuildFailure, ContextError, prepareBuild } from "../../src/image/index.ts";
import { PaasError } from "../../src/errors.ts";

const docker = new Docker();
const SHA = "0123456789abcdef0123456789abcdef01234567";

async function repo(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "paas-build-"));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
  return dir;
}

const pyMain = 'import os\nif __name__ == "__main__":\n    print(os.environ["PORT"])\n';

describe("prepareBuild", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("selects a monorepo app by folder or by key, and refuses unknown ones with the choices", async () => {
    const dir = await repo({
      ".paas.yml": "apps:\n  api:\n    path: services/api\n  web:\n    path: services/web\n",
      "services/api/requirements.txt": "",
      "services/api/main.py": pyMain,
      "services/web/go.mod": "module example.com/web\n\ngo 1.19\n",
      "services/web/main.go": "package main\n\nfunc main() {}\n",
    });
    dirs.push(dir);
    const api = await prepareBuild({ root: dir, app: "services/api" });
    assert.equal(api.app.key, "api");
    assert.equal(api.plan.language, "python");
    assert.equal(api.contextPath, "services/api");
    const web = await prepareBuild({ root: dir, app: "web" });
    assert.equal(web.plan.language, "go");
    assert.equal(web.dockerfile.path, undefined);
    await assert.rejects(prepareBuild({ root: dir, app: "worker" }), (e: unknown) => {
      assert.ok(e instanceof PaasError);
      assert.match(
        e.message,
        /no app "worker" in \.paas\.yml: set the path input to one of services\/api \(api\), services\/web \(web\)/,
      );
      return true;
    });
  });

  it("takes base images from .paas.yml, and the caller's choice over them", async () => {
    const dir = await repo({
      ".paas.yml":
        "build:\n  base:\n    builder: paas-base/python:bookworm\n    runtime: paas-base/python:bookworm\n",
      "requirements.txt": "",
      "main.py": pyMain,
    });
    dirs.push(dir);
    const fromConfig = await prepareBuild({ root: dir });
    assert.deepEqual(fromConfig.baseImages, {
      builder: "paas-base/python:bookworm",
      runtime: "paas-base/python:bookworm",
    });
    assert.match(fromConfig.dockerfile.text, /^FROM paas-base\/python:bookworm AS builder$/m);
    const fromInput = await prepareBuild({ root: dir, baseImages: { runtime: "registry.example.com/py:3" } });
    assert.deepEqual(fromInput.baseImages, {
      builder: "paas-base/python:bookworm",
      runtime: "registry.example.com/py:3",
    });
  });
});

describe("buildApp", { timeout: 300_000 }, () => {
  const dirs: string[] = [];
  const tags: string[] = [];
  const tag = () => {
    const t = `paas-test-build:${randomBytes(4).toString("hex")}`;
    tags.push(t);
    return t;
  };
  before(() => undefined);
  after(async () => {
    for (const t of tags)
      await docker
        .getImage(t)
        .remove({ force: true })
        .catch(() => undefined);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("builds the repository's Dockerfile with the configured build args, sha and source labels", async () => {
    const dir = await repo({
      ".paas.yml": "build:\n  dockerfile: deploy/Dockerfile\n  args:\n    GREETING: hello\n",
      "deploy/Dockerfile":
        'FROM paas-base/runtime:bookworm\nARG GREETING\nARG PAAS_COMMIT_SHA\nRUN echo "$GREETING $PAAS_COMMIT_SHA" > /built\nCMD ["cat", "/built"]\n',
    });
    dirs.push(dir);
    const t = tag();
    const { prepared, result } = await buildApp(docker, {
      root: dir,
      tags: [t],
      sha: SHA,
      sourceUrl: "https://github.com/o/r",
    });
    assert.equal(prepared.plan.language, "dockerfile");
    assert.equal(prepared.dockerfile.path, "deploy/Dockerfile");
    const info = await docker.getImage(t).inspect();
    assert.equal(info.Id, result.imageId);
    assert.equal(info.Config.Labels["org.opencontainers.image.revision"], SHA);
    assert.equal(info.Config.Labels["org.opencontainers.image.source"], "https://github.com/o/r");
    const container = await docker.createContainer({ Image: t });
    try {
      await container.start();
      await container.wait();
      const logs = (await container.logs({ stdout: true })).toString();
      assert.match(logs, new RegExp(`hello ${SHA}`));
    } finally {
      await container.remove({ force: true });
    }
  });

  it("annotates a failing step of the repository's Dockerfile at its line", async () => {
    const dir = await repo({
      ".paas.yml": "build:\n  dockerfile: Dockerfile\n",
      Dockerfile: "FROM paas-base/runtime:bookworm\n\n# install\nRUN echo step \\\n  && false\n",
    });
    dirs.push(dir);
    await assert.rejects(buildApp(docker, { root: dir, tags: [tag()], sha: SHA }), (e: unknown) => {
      assert.ok(e instanceof BuildFailure);
      assert.equal(e.annotation.file, "Dockerfile");
      assert.equal(e.annotation.line, 4);
      assert.match(e.annotation.title, /Dockerfile step failed: RUN echo step/);
      return true;
    });
  });

  it("falls back to the classic builder: the generated Dockerfile then has no cache mounts", async () => {
    const dir = await repo({
      ".paas.yml":
        "build:\n  base:\n    builder: paas-base/python:bookworm\n    runtime: paas-base/python:bookworm\n",
      "requirements.txt": "",
      "main.py": pyMain,
    });
    dirs.push(dir);
    const prepared = await prepareBuild({ root: dir });
    assert.match(prepared.dockerfile.text, /RUN --mount=type=cache/);
    const lines: string[] = [];
    const { result } = await buildApp(docker, {
      root: dir,
      tags: [tag()],
      sha: SHA,
      builder: "legacy",
      onLine: (l) => lines.push(l),
    });
    assert.equal(result.builder, "legacy");
    assert.ok(lines.some((l) => /^Step \d+\/\d+ : RUN pip install -r requirements\.txt$/.test(l)));
    assert.ok(!lines.some((l) => l.includes("--mount")));
    assert.ok(result.steps > 10);
  });

  it("stops with the context's refusal when a symlink leaves the repository", async () => {
    const dir = await repo({
      ".paas.yml": "build:\n  dockerfile: Dockerfile\n",
      Dockerfile: "FROM paas-base/runtime:bookworm\nCOPY . /x\n",
    });
    dirs.push(dir);
    await symlink("/etc/shadow", path.join(dir, "shadow"));
    await assert.rejects(buildApp(docker, { root: dir, tags: [tag()], sha: SHA }), (e: unknown) => {
      assert.ok(e instanceof ContextError);
      assert.match(e.message, /shadow is a symlink to "\/etc\/shadow", outside the build context/);
      return true;
    });
  });
});
