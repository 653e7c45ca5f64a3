// The Go and Rust examples on a runtime image without a shell
// (paas-base/noshell, distroless-like), deployed by the Docker runtime with
// their detected start command: they start (exec form, no /bin/sh) and answer
// through Caddy with their commit. A start command that needs a shell fails on
// the same image, which shows the image really has none.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import type { Target } from "../../../src/names.ts";
import type { DockerRuntime } from "../../../src/runtime/docker/runtime.ts";
import type { TestCaddy } from "../../support/caddy.ts";
import { removeImages, startCaddyRuntime } from "../../support/docker-app.ts";
import {
  buildShellLessExample,
  exampleSpec,
  SHELL_LESS_EXAMPLES,
  type BuiltExample,
} from "../../support/shell-less-examples.ts";

const docker = new Docker();
const run = randomBytes(3).toString("hex");
const repo = `noshell-${run}`;

function get(port: number, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path: "/", headers: { host }, agent: false, timeout: 10_000 },
      (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

describe(
  "Docker runtime: Go and Rust examples on a runtime image without a shell",
  { timeout: 900_000 },
  () => {
    let caddy: TestCaddy;
    let runtime: DockerRuntime;
    const built = new Map<string, BuiltExample>();
    const targets: Target[] = [];

    before(async () => {
      ({ caddy, runtime } = await startCaddyRuntime(docker, {
        secrets: { get: async () => ({}) },
        drainMs: 500,
        stopTimeoutSeconds: 2,
      }));
      // One after the other: each build already uses every core.
      for (const name of SHELL_LESS_EXAMPLES) {
        const sha = randomBytes(20).toString("hex");
        built.set(name, await buildShellLessExample(docker, name, `paas-test/${repo}-${name}:e2e`, sha));
      }
    });

    after(async () => {
      for (const t of targets) await runtime.destroy(t).catch(() => undefined);
      await removeImages(
        docker,
        [...built.values()].map((b) => b.id),
      );
      await caddy.stop();
    });

    const specOf = (name: string, pr: number, command?: string) => {
      const b = built.get(name)!;
      const spec = exampleSpec(
        {
          image: `paas-test/${repo}-${name}@${b.id}`,
          repo: `${repo}-${name}`,
          environment: `preview/pr-${pr}`,
          sha: b.sha,
          start: command ?? b.start,
        },
        { baseDomain: "localhost", urlScheme: "http", urlPort: caddy.httpPort },
      );
      targets.push(spec.target);
      return spec;
    };

    for (const [i, name] of SHELL_LESS_EXAMPLES.entries()) {
      it(`the ${name} example starts with its detected command and answers with its commit`, async () => {
        const spec = specOf(name, 1 + i);
        assert.match(spec.command ?? "", /^\.\/\w+$/, "the detected start command is a plain argv");
        const result = await runtime.apply(spec);
        assert.equal(result.ok, true, JSON.stringify(result));
        const res = await get(caddy.httpPort, spec.hostnames[0]!);
        assert.deepEqual(res, { status: 200, body: `${spec.sha}\n` });
      });
    }

    it("a start command that needs a shell fails on this image: it has no /bin/sh", async () => {
      const spec = specOf("go", 9, "./hello; exit 0");
      const result = await runtime.apply(spec);
      assert.equal(result.ok, false);
      if (result.ok) return;
      assert.match(
        [result.diagnosis.summary, ...result.diagnosis.logs, ...result.diagnosis.events].join("\n"),
        /\/bin\/sh/,
      );
    });
  },
);
