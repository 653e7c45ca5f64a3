// The streamed build context against Docker's own: the same tree is built
// once by the Docker CLI and once from streamContext, and the files that land
// in the two images must be identical.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import Docker from "dockerode";
import { extract } from "tar-stream";
import { ContextError, streamContext } from "../../src/image/context.ts";
import { buildImage } from "../../src/image/docker.ts";

const run = promisify(execFile);
const docker = new Docker();

const DOCKERIGNORE = [
  "# comments and blank lines are not patterns",
  "",
  "*.log",
  "build/",
  "!build/keep.txt",
  "**/secret*",
  "docs/**/*.md",
  "!docs/README.md",
  "/root-only.txt",
  "temp?",
  ".git",
  "Dockerfile",
].join("\n");

async function tree(dir: string): Promise<void> {
  const files: Record<string, string> = {
    "app.py": "print('hi')\n",
    "a.log": "log\n",
    "sub/b.log": "log\n",
    "build/out.bin": "bin\n",
    "build/keep.txt": "keep\n",
    "sub/secret.key": "k\n",
    "secret.txt": "s\n",
    "docs/README.md": "readme\n",
    "docs/x/guide.md": "guide\n",
    "docs/x/img.png": "png\n",
    "root-only.txt": "r\n",
    "sub/root-only.txt": "kept: the pattern is anchored at the root\n",
    temp1: "t\n",
    temp12: "kept: ? matches one character\n",
    ".git/HEAD": "ref: refs/heads/main\n",
    "exec.sh": "#!/bin/sh\necho hi\n",
    "big.bin": randomBytes(3 * 1024 * 1024).toString("base64"),
    ".dockerignore": DOCKERIGNORE,
    Dockerfile: "FROM paas-base/runtime:bookworm\nCOPY . /ctx\n",
  };
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
  await chmod(path.join(dir, "exec.sh"), 0o755);
  await mkdir(path.join(dir, "empty-dir"));
  await symlink("app.py", path.join(dir, "link-inside"));
  await symlink("../app.py", path.join(dir, "sub", "link-up-inside"));
}

/** name → type, mode and content hash of everything under /ctx in the image. */
async function listing(image: string): Promise<Map<string, string>> {
  const container = await docker.createContainer({ Image: image, Cmd: ["true"] });
  const out = new Map<string, string>();
  try {
    const archive = (await container.getArchive({ path: "/ctx" })) as unknown as NodeJS.ReadableStream;
    const ex = extract();
    ex.on("entry", (header, stream, next) => {
      const hash = createHash("sha256");
      stream.on("data", (d) => hash.update(d as Buffer));
      stream.on("end", () => {
        const kind = header.type === "symlink" ? `symlink→${header.linkname}` : header.type;
        const mode = header.type === "file" ? (header.mode & 0o777).toString(8) : "";
        out.set(
          header.name,
          `${kind} ${mode} ${header.type === "file" ? hash.digest("hex").slice(0, 16) : ""}`,
        );
        next();
      });
      stream.resume();
    });
    await new Promise<void>((resolve, reject) => {
      ex.on("finish", resolve);
      ex.on("error", reject);
      archive.pipe(ex as unknown as NodeJS.WritableStream);
    });
  } finally {
    await container.remove({ force: true });
  }
  return out;
}

describe("streamContext", { timeout: 300_000 }, () => {
  let root: string;
  const tags: string[] = [];
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), "paas-context-"));
  });
  after(async () => {
    for (const t of tags)
      await docker
        .getImage(t)
        .remove({ force: true })
        .catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  });

  it("sends exactly the files the Docker CLI sends for the same .dockerignore", async () => {
    const dir = path.join(root, "same");
    await mkdir(dir);
    await tree(dir);
    const id = randomBytes(4).toString("hex");
    const cliTag = `paas-test-context:cli-${id}`;
    const oursTag = `paas-test-context:ours-${id}`;
    tags.push(cliTag, oursTag);

    await run("docker", ["build", "--no-cache", "-q", "-t", cliTag, dir], {
      env: { ...process.env, DOCKER_BUILDKIT: "0" },
    });
    // Like the CLI (and the builder), the Dockerfile is sent even though .dockerignore excludes it.
    const dockerfile = await readFile(path.join(dir, "Dockerfile"), "utf8");
    const ctx = streamContext({
      root: dir,
      context: ".",
      extraFiles: [{ name: "Dockerfile", content: dockerfile }],
    });
    await buildImage(docker, { context: ctx.stream, dockerfile: "Dockerfile", tags: [oursTag] });
    const stats = await ctx.done;

    const expected = await listing(cliTag);
    const actual = await listing(oursTag);
    assert.deepEqual([...actual.entries()].sort(), [...expected.entries()].sort());
    // The cases the patterns were written for, spelled out.
    assert.ok(actual.has("ctx/build/keep.txt") && !actual.has("ctx/build/out.bin"));
    assert.ok(
      actual.has("ctx/docs/README.md") &&
        !actual.has("ctx/docs/x/guide.md") &&
        actual.has("ctx/docs/x/img.png"),
    );
    assert.ok(!actual.has("ctx/root-only.txt") && actual.has("ctx/sub/root-only.txt"));
    assert.ok(
      !actual.has("ctx/sub/secret.key") && !actual.has("ctx/secret.txt") && !actual.has("ctx/.git/HEAD"),
    );
    assert.ok(!actual.has("ctx/temp1") && actual.has("ctx/temp12"));
    assert.match(actual.get("ctx/exec.sh")!, /^file 755 /);
    assert.equal(actual.get("ctx/link-inside")?.trim(), "symlink→app.py");
    assert.ok(actual.has("ctx/empty-dir/"), [...actual.keys()].join(" "));
    assert.ok(stats.ignored >= 8);
  });

  it("adds extra entries (the generated Dockerfile) in place of same-named files", async () => {
    const dir = path.join(root, "extra");
    await mkdir(dir);
    await writeFile(path.join(dir, "a.txt"), "a\n");
    await writeFile(path.join(dir, ".paas.Dockerfile"), "from the repository\n");
    const names = new Map<string, string>();
    const ctx = streamContext({
      root: dir,
      context: ".",
      extraFiles: [{ name: ".paas.Dockerfile", content: "FROM x\n" }],
    });
    const ex = extract();
    ex.on("entry", (header, stream, next) => {
      let s = "";
      stream.on("data", (d) => (s += (d as Buffer).toString()));
      stream.on("end", () => {
        names.set(header.name, s);
        next();
      });
    });
    await new Promise<void>((resolve, reject) => {
      ex.on("finish", resolve);
      ex.on("error", reject);
      ctx.stream.pipe(ex as unknown as NodeJS.WritableStream);
    });
    assert.deepEqual([...names.keys()].sort(), [".paas.Dockerfile", "a.txt"]);
    assert.equal(names.get(".paas.Dockerfile"), "FROM x\n");
  });

  it("refuses a symlink that leaves the context, naming it and the fix", async () => {
    const dir = path.join(root, "escape");
    await mkdir(path.join(dir, "app", "conf"), { recursive: true });
    await writeFile(path.join(dir, "outside.txt"), "x");
    await symlink("../../outside.txt", path.join(dir, "app", "conf", "link"));
    const ctx = streamContext({ root: dir, context: "app" });
    ctx.stream.resume();
    await assert.rejects(ctx.done, (e: unknown) => {
      assert.ok(e instanceof ContextError);
      assert.match(
        e.message,
        /app\/conf\/link is a symlink to "\.\.\/\.\.\/outside\.txt", outside the build context/,
      );
      assert.match(e.message, /add it to \.dockerignore/);
      return true;
    });
  });

  it("refuses an absolute symlink, unless .dockerignore excludes it", async () => {
    const dir = path.join(root, "absolute");
    await mkdir(dir);
    await symlink("/etc/passwd", path.join(dir, "passwd"));
    const refused = streamContext({ root: dir, context: "." });
    refused.stream.resume();
    await assert.rejects(refused.done, /passwd is a symlink to "\/etc\/passwd"/);

    await writeFile(path.join(dir, ".dockerignore"), "passwd\n");
    const ok = streamContext({ root: dir, context: "." });
    ok.stream.resume();
    assert.deepEqual(await ok.done, { files: 1, bytes: 7, ignored: 1 });
  });

  it("refuses a context outside the repository, directly or through a symlink", async () => {
    const dir = path.join(root, "ctxout");
    await mkdir(dir);
    await symlink(tmpdir(), path.join(dir, "tmp-link"));
    for (const context of ["../", "tmp-link", "missing"]) {
      const ctx = streamContext({ root: dir, context });
      ctx.stream.resume();
      await assert.rejects(ctx.done, ContextError);
    }
  });
});
