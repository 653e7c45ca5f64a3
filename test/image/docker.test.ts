// Build and push through the real Docker engine and a real registry.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import { streamContext } from "../../src/image/context.ts";
import {
  buildImage,
  BuildError,
  detectBuilder,
  pushFailure,
  pushImage,
  PushError,
  registryOf,
} from "../../src/image/docker.ts";
import { startRegistry, type TestRegistry } from "../support/registry.ts";

const docker = new Docker();

describe("buildImage and pushImage", { timeout: 300_000 }, () => {
  let dir: string;
  let registry: TestRegistry;
  const id = randomBytes(4).toString("hex");
  const tags: string[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "paas-docker-"));
    registry = await startRegistry();
  });
  after(async () => {
    for (const t of tags)
      await docker
        .getImage(t)
        .remove({ force: true })
        .catch(() => undefined);
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const build = (dockerfile: string, extra: Partial<Parameters<typeof buildImage>[1]> = {}) => {
    const tag = `paas-test-docker:${id}-${tags.length}`;
    tags.push(tag);
    const ctx = streamContext({
      root: dir,
      context: ".",
      extraFiles: [{ name: "Dockerfile", content: dockerfile }],
    });
    const lines: string[] = [];
    return buildImage(docker, {
      context: ctx.stream,
      dockerfile: "Dockerfile",
      tags: [tag],
      onLine: (l) => lines.push(l),
      ...extra,
    }).then((r) => ({ ...r, tag, lines }));
  };

  it("streams the log, counts cache hits on a rebuild (none with noCache), and returns the image id", async () => {
    const df = `FROM paas-base/runtime:bookworm\nRUN echo built-${id} > /marker\nLABEL x=1\n`;
    const first = await build(df);
    assert.match(first.imageId, /^sha256:[a-f0-9]{64}$/);
    assert.equal(first.steps, 3);
    assert.ok(first.lines.includes(`Step 2/3 : RUN echo built-${id} > /marker`));
    const second = await build(df);
    assert.equal(second.imageId, first.imageId);
    assert.equal(second.cacheHits, 2);
    const clean = await build(df, { noCache: true });
    assert.equal(clean.cacheHits, 0);
    assert.notEqual(clean.imageId, first.imageId);
  });

  it("fails on the engine's error event, with the failing step", async () => {
    await assert.rejects(
      build(`FROM paas-base/runtime:bookworm\nRUN echo about to fail\nRUN exit 3\n`),
      (e: unknown) => {
        assert.ok(e instanceof BuildError);
        assert.equal(e.code, "build_failed");
        assert.deepEqual(e.step, { index: 3, instruction: "RUN exit 3" });
        assert.match(e.message, /at step 3 \(RUN exit 3\).*returned a non-zero code: 3/);
        assert.ok(e.log.includes("The command '/bin/sh -c exit 3' returned a non-zero code: 3"));
        return true;
      },
    );
  });

  it("stops a build that hangs after the timeout, and the engine removes its container", async () => {
    const marker = `hang-${id}`;
    await assert.rejects(
      build(`FROM paas-base/runtime:bookworm\nRUN sleep 120 && echo ${marker}\n`, { timeoutMs: 2000 }),
      (e: unknown) => {
        assert.ok(e instanceof BuildError);
        assert.equal(e.code, "build_timeout");
        assert.match(e.message, /did not finish within 2 s.*step 2 \(RUN sleep 120/);
        return true;
      },
    );
    const deadline = Date.now() + 30_000;
    for (;;) {
      const left = (await docker.listContainers({ all: true })).filter((c) => c.Command.includes(marker));
      if (left.length === 0) break;
      assert.ok(Date.now() < deadline, "the build container is still there");
      await new Promise((r) => setTimeout(r, 500));
    }
  });

  it("pushes with credentials: the digest is the registry's and the engine lists it", async () => {
    await writeFile(path.join(dir, "payload.txt"), id);
    const built = await build(`FROM paas-base/runtime:bookworm\nCOPY payload.txt /\n`);
    const repository = `${registry.host}/team/pushed`;
    for (const t of ["sha-abc1234", "production"]) {
      await docker.getImage(built.tag).tag({ repo: repository, tag: t });
      tags.push(`${repository}:${t}`);
    }
    const pushed = await pushImage(docker, {
      repository,
      tags: ["sha-abc1234", "production"],
      auth: { username: registry.username, password: registry.password },
    });
    assert.match(pushed.digest, /^sha256:[a-f0-9]{64}$/);
    assert.equal(pushed.ref, `${repository}@${pushed.digest}`);
    assert.equal(await registry.digestOf("team/pushed", "sha-abc1234"), pushed.digest);
    assert.equal(await registry.digestOf("team/pushed", "production"), pushed.digest);
  });

  it("says which registry refused bad credentials and what to check", async () => {
    const built = await build(`FROM paas-base/runtime:bookworm\nLABEL denied=${id}\n`);
    const repository = `${registry.host}/team/denied`;
    await docker.getImage(built.tag).tag({ repo: repository, tag: "t" });
    tags.push(`${repository}:t`);
    for (const auth of [{ username: registry.username, password: "wrong" }, undefined]) {
      await assert.rejects(pushImage(docker, { repository, tags: ["t"], auth }), (e: unknown) => {
        assert.ok(e instanceof PushError);
        assert.equal(e.code, "push_denied", e.message);
        assert.equal(e.registry, registry.host);
        assert.match(
          e.message,
          new RegExp(`^registry ${registry.host.replace(/\./g, "\\.")} refused to store`),
        );
        assert.match(e.message, /check the username and password/);
        assert.ok(!e.message.includes(registry.password));
        return true;
      });
    }
    assert.equal(await registry.digestOf("team/denied", "t"), undefined);
  });
});

describe("push errors", () => {
  it("tell GHCR users the permission the workflow is missing", () => {
    const e = pushFailure("ghcr.io", "ghcr.io/o/r", "denied: permission_denied: write_package");
    assert.equal(e.code, "push_denied");
    assert.match(e.message, /^registry ghcr\.io refused to store ghcr\.io\/o\/r/);
    assert.match(e.message, /permissions: packages: write/);
  });

  it("keep other failures apart from refusals", () => {
    const e = pushFailure("r.example.com", "r.example.com/a", "dial tcp: connection refused");
    assert.equal(e.code, "push_failed");
    assert.match(e.message, /pushing r\.example\.com\/a to r\.example\.com failed: dial tcp/);
  });

  it("find the registry host of a repository the way Docker does", () => {
    assert.equal(registryOf("ghcr.io/o/r"), "ghcr.io");
    assert.equal(registryOf("127.0.0.1:5000/a/b"), "127.0.0.1:5000");
    assert.equal(registryOf("localhost/a"), "localhost");
    assert.equal(registryOf("library/python"), "docker.io");
    assert.equal(registryOf("python"), "docker.io");
  });
});

describe("buildImage with BuildKit", { timeout: 300_000 }, () => {
  let dir: string;
  const id = randomBytes(4).toString("hex");
  const tags: string[] = [];
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "paas-buildkit-"));
  });
  after(async () => {
    for (const t of tags)
      await docker
        .getImage(t)
        .remove({ force: true })
        .catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  const build = (dockerfile: string, extra: Partial<Parameters<typeof buildImage>[1]> = {}) => {
    const tag = `paas-test-buildkit:${id}-${tags.length}`;
    tags.push(tag);
    const ctx = streamContext({
      root: dir,
      context: ".",
      extraFiles: [{ name: "Dockerfile", content: dockerfile }],
    });
    return buildImage(docker, {
      context: ctx.stream,
      dockerfile: "Dockerfile",
      tags: [tag],
      builder: "buildkit",
      dockerfileText: dockerfile,
      ...extra,
    }).then((r) => ({ ...r, tag }));
  };

  it("is what this engine offers, and the classic builder when DOCKER_BUILDKIT=0", async () => {
    assert.equal(await detectBuilder(docker, {}), "buildkit");
    assert.equal(await detectBuilder(docker, { DOCKER_BUILDKIT: "0" }), "legacy");
  });

  it("counts the steps answered from the cache (CACHED), none with noCache", async () => {
    const df = `FROM paas-base/runtime:bookworm\nRUN echo kit-${id} > /marker\nRUN cat /marker > /copy\nLABEL x=1\n`;
    const first = await build(df);
    assert.equal(first.builder, "buildkit");
    assert.match(first.imageId, /^sha256:[a-f0-9]{64}$/);
    // The two RUNs; FROM and LABEL do not change the file system.
    assert.equal(first.steps, 2);
    assert.equal(first.cacheHits, 0);
    assert.ok(first.log.some((l) => /^#\d+ \[[^\]]*2\/3\] RUN echo kit-/.test(l)));
    const second = await build(df);
    assert.equal(second.cacheHits, 2);
    assert.equal(second.imageId, first.imageId);
    const clean = await build(df, { noCache: true });
    assert.equal(clean.cacheHits, 0);
  });

  it("keeps a cache mount's files between builds, out of the image", async () => {
    const cache = `--mount=type=cache,target=/cache,id=paas-test-${id}`;
    await build(`FROM paas-base/runtime:bookworm\nRUN ${cache} echo from-first-build > /cache/seen\n`);
    const second = await build(
      `FROM paas-base/runtime:bookworm\nRUN ${cache} cat /cache/seen > /seen && ls /cache > /listing\nCMD ["cat", "/seen"]\n`,
    );
    const container = await docker.createContainer({ Image: second.tag });
    try {
      await container.start();
      await container.wait();
      assert.match((await container.logs({ stdout: true })).toString(), /from-first-build/);
    } finally {
      await container.remove({ force: true });
    }
  });

  it("fails with the failing instruction numbered as in the Dockerfile, and its output last", async () => {
    await assert.rejects(
      build(
        `FROM paas-base/runtime:bookworm\n# a comment\nRUN echo about to fail ${id}\nRUN echo failing-output \\\n  && exit 3\n`,
      ),
      (e: unknown) => {
        assert.ok(e instanceof BuildError);
        assert.equal(e.code, "build_failed");
        assert.deepEqual(e.step, { index: 3, instruction: "RUN echo failing-output && exit 3" });
        assert.match(e.message, /at step 3 \(RUN echo failing-output && exit 3\): .*exit code: 3/);
        const at = e.log.findIndex((l) =>
          /^#\d+ \[.*\] RUN echo failing-output\s+&& exit 3 \(failed\)$/.test(l),
        );
        assert.ok(at > 0, e.log.join("\n"));
        assert.deepEqual(e.log.slice(at + 1), ["failing-output"]);
        return true;
      },
    );
  });
});

describe("detectBuilder", () => {
  const engine = (version: Record<string, unknown>) =>
    ({ version: async () => version }) as unknown as Docker;
  it("falls back to the classic builder where BuildKit is missing", async () => {
    assert.equal(await detectBuilder(engine({ Os: "linux", ApiVersion: "1.38" }), {}), "legacy");
    assert.equal(await detectBuilder(engine({ Os: "windows", ApiVersion: "1.41" }), {}), "legacy");
    assert.equal(
      await detectBuilder(
        engine({ Os: "linux", ApiVersion: "1.41", Components: [{ Name: "Podman Engine" }] }),
        {},
      ),
      "legacy",
    );
    assert.equal(await detectBuilder(engine({ Os: "linux", ApiVersion: "1.39" }), {}), "buildkit");
  });
});
