// The example apps with real dependency trees (PyPI with uv and Poetry, the Go module proxy,
// crates.io), built by the builder the Action uses (BuildKit, cache mounts)
// and answering: then a one-line change rebuilds with the dependency step
// answered from the cache. Counts steps, never durations.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import Docker from "dockerode";
import { buildApp } from "../../src/image/index.ts";

const docker = new Docker();
const examples = path.join(import.meta.dirname, "..", "..", "examples");

interface Example {
  dir: string;
  builder: string;
  runtime: string;
  /** The step that installs or compiles the dependencies. */
  dependencyStep: RegExp;
  source: string;
  /** A one-line change that makes /healthz answer `answer`. */
  change: (text: string, answer: string) => string;
}

const EXAMPLES: Example[] = [
  {
    dir: "fastapi",
    builder: "paas-base/python:bookworm",
    runtime: "paas-base/python:bookworm",
    dependencyStep: /uv sync --frozen --no-dev --no-install-project$/,
    source: "main.py",
    change: (t, answer) => t.replace('return "ok\\n"', `return "${answer}\\n"`),
  },
  {
    dir: "django-poetry",
    builder: "paas-base/python:bookworm",
    runtime: "paas-base/python:bookworm",
    dependencyStep: /poetry install --only main --no-root --no-interaction$/,
    source: "hello/urls.py",
    change: (t, answer) => t.replace('HttpResponse("ok\\n"', `HttpResponse("${answer}\\n"`),
  },
  {
    dir: "go-chi",
    builder: "paas-base/go:bookworm",
    runtime: "paas-base/runtime:bookworm",
    dependencyStep: /go mod download$/,
    source: "main.go",
    change: (t, answer) => t.replace('fmt.Fprintln(w, "ok")', `fmt.Fprintln(w, "${answer}")`),
  },
  {
    dir: "rust-axum",
    builder: "paas-base/rust:bookworm",
    runtime: "paas-base/runtime:bookworm",
    dependencyStep: /cargo build --release --bin hello-axum \|\| true\) && rm -rf src$/,
    source: "src/main.rs",
    change: (t, answer) => t.replace('"ok\\n"', `"${answer}\\n"`),
  },
];

/** Starts the image and answers GET for each path, then removes the container. */
async function answers(image: string, paths: string[]): Promise<{ status: number; body: string }[]> {
  const container = await docker.createContainer({
    Image: image,
    ExposedPorts: { "8080/tcp": {} },
    HostConfig: { PortBindings: { "8080/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] } },
  });
  try {
    await container.start();
    const port = (await container.inspect()).NetworkSettings.Ports["8080/tcp"]?.[0]?.HostPort;
    const out: { status: number; body: string }[] = [];
    for (const p of paths) {
      const deadline = Date.now() + 30_000;
      for (;;) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}${p}`);
          out.push({ status: res.status, body: (await res.text()).trim() });
          break;
        } catch (e) {
          if (Date.now() > deadline) {
            const logs = (await container.logs({ stdout: true, stderr: true })).toString();
            throw new Error(`${image} did not answer ${p}: ${(e as Error).message}\n${logs}`, { cause: e });
          }
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    }
    return out;
  } finally {
    await container.remove({ force: true });
  }
}

for (const ex of EXAMPLES) {
  describe(`example ${ex.dir}`, { timeout: 900_000 }, () => {
    const id = randomBytes(4).toString("hex");
    const tag = `paas-test-example-${ex.dir}:${id}`;
    let dir: string;
    after(async () => {
      await docker
        .getImage(tag)
        .remove({ noprune: true })
        .catch(() => undefined);
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it("builds with its locked dependencies, answers, and rebuilds a one-line change from the dependency cache", async () => {
      dir = await mkdtemp(path.join(tmpdir(), `paas-example-${ex.dir}-`));
      await cp(path.join(examples, ex.dir), dir, { recursive: true });
      await writeFile(
        path.join(dir, ".paas.yml"),
        `build:\n  base:\n    builder: ${ex.builder}\n    runtime: ${ex.runtime}\n`,
      );
      // A file unique to this run: the source steps run (a build answered wholly from
      // an earlier run's cache would not show what a one-line change reuses).
      await writeFile(path.join(dir, "run-id.txt"), `${id}\n`);
      const sha = randomBytes(20).toString("hex");
      const first = await buildApp(docker, { root: dir, tags: [tag], sha });
      assert.equal(first.result.builder, "buildkit");
      const [root, item, health] = await answers(tag, ["/", "/items/21", "/healthz"]);
      assert.deepEqual(root, { status: 200, body: sha });
      assert.equal(item!.status, 200);
      assert.deepEqual(
        (({ id: i, double }) => ({ id: i, double }))(
          JSON.parse(item!.body) as { id: number; double: number },
        ),
        { id: 21, double: 42 },
      );
      assert.equal(health!.body, "ok");

      const file = path.join(dir, ex.source);
      const before = await readFile(file, "utf8");
      const after = ex.change(before, `ok-${id}`);
      assert.notEqual(after, before, "the one-line change applies");
      await writeFile(file, after);
      const second = await buildApp(docker, { root: dir, tags: [tag], sha });
      const log = second.result.log;
      const header = log.findIndex(
        (l) => /^#\d+ \[builder \d+\/\d+\] RUN /.test(l) && ex.dependencyStep.test(l),
      );
      assert.ok(header >= 0, log.join("\n"));
      const n = /^#(\d+) /.exec(log[header]!)![1];
      assert.ok(log.includes(`#${n} CACHED`), `dependency step not cached:\n${log.join("\n")}`);
      assert.ok(second.result.cacheHits >= 3, `${second.result.cacheHits}/${second.result.steps}`);
      assert.ok(second.result.cacheHits < second.result.steps);
      const [health2] = await answers(tag, ["/healthz"]);
      assert.equal(health2!.body, `ok-${id}`);
    });
  });
}
