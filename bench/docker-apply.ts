// Benchmark: time from DockerRuntime.apply to the first correct answer
// through Caddy, per sample app (Python, Go, Rust; standard library only),
// against the baseline of `docker run` plus polling the container directly,
// in the same process. Prints the ratio. Run: node bench/docker-apply.ts [rounds]
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import Docker from "dockerode";
import { pack } from "tar-stream";
import { parseConfig, resolveApps } from "../src/config/load.ts";
import { planDeploy } from "../src/core/plan.ts";
import type { Target } from "../src/names.ts";
import { CaddyClient } from "../src/runtime/docker/caddy.ts";
import { DockerRuntime } from "../src/runtime/docker/runtime.ts";
import { startCaddy } from "../test/support/caddy.ts";

const rounds = Number(process.argv[2] ?? 3);
const docker = new Docker();
const run = randomBytes(3).toString("hex");

const APPS: Record<string, { dockerfile: string; files: Record<string, string> }> = {
  python: {
    dockerfile: `FROM paas-base/python:bookworm
COPY app.py /app/app.py
CMD ["python3", "/app/app.py"]
`,
    files: {
      "app.py": `import os
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        b = os.environ["PAAS_COMMIT_SHA"].encode()
        self.send_response(200); self.send_header("content-length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
HTTPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()`,
    },
  },
  go: {
    dockerfile: `FROM paas-base/go:bookworm AS build
COPY main.go /src/main.go
RUN cd /src && GOCACHE=/tmp/gocache CGO_ENABLED=0 go build -o /server main.go
FROM paas-base/runtime:bookworm
COPY --from=build /server /server
CMD ["/server"]
`,
    files: {
      "main.go": `package main

import (
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(os.Getenv("PAAS_COMMIT_SHA"))) })
	http.ListenAndServe(":"+os.Getenv("PORT"), nil)
}`,
    },
  },
  rust: {
    dockerfile: `FROM paas-base/rust:bookworm AS build
COPY main.rs /src/main.rs
RUN rustc -O -o /server /src/main.rs
FROM paas-base/runtime:bookworm
COPY --from=build /server /server
CMD ["/server"]
`,
    files: {
      "main.rs": `use std::io::{Read, Write};
use std::net::TcpListener;
fn main() {
    let sha = std::env::var("PAAS_COMMIT_SHA").unwrap_or_default();
    let l = TcpListener::bind(format!("0.0.0.0:{}", std::env::var("PORT").unwrap())).unwrap();
    for s in l.incoming() {
        if let Ok(mut s) = s {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(s, "HTTP/1.1 200 OK\\r\\ncontent-length: {}\\r\\nconnection: close\\r\\n\\r\\n{}", sha.len(), sha);
        }
    }
}
`,
    },
  },
};

async function build(
  name: string,
  app: { dockerfile: string; files: Record<string, string> },
): Promise<{ ref: string; id: string; tags: string[] }> {
  const tar = pack();
  tar.entry({ name: "Dockerfile" }, app.dockerfile);
  for (const [file, text] of Object.entries(app.files)) tar.entry({ name: file }, text);
  tar.finalize();
  const repo = `paas-bench/${name}-${run}`;
  const stream = await docker.buildImage(tar as unknown as NodeJS.ReadableStream, {
    t: `${repo}:v1`,
    rm: true,
  });
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, res: { error?: string }[]) => {
      const failed = err?.message ?? res.find((e) => e.error)?.error;
      if (failed) reject(new Error(failed));
      else resolve();
    }),
  );
  const id = (await docker.getImage(`${repo}:v1`).inspect()).Id;
  // A second tag keeps the image when the runtime prunes it after destroy, so every round starts equal.
  await docker.getImage(id).tag({ repo, tag: "keep" });
  return { ref: `${repo}@${id}`, id, tags: [`${repo}:v1`, `${repo}:keep`] };
}

function get(port: number, host: string | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path: "/", headers: host ? { host } : {}, timeout: 2000, agent: false },
      (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve(res.statusCode === 200 ? body : ""));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

async function until(fn: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (await fn().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error("no correct answer within 60 s");
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The baseline: `docker run -p 127.0.0.1::8080` and poll the published port until it answers with the sha. */
async function baseline(imageId: string, sha: string): Promise<number> {
  const t0 = performance.now();
  const c = await docker.createContainer({
    Image: imageId,
    Env: ["PORT=8080", `PAAS_COMMIT_SHA=${sha}`],
    ExposedPorts: { "8080/tcp": {} },
    HostConfig: { PortBindings: { "8080/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] } },
  });
  await c.start();
  const port = Number((await c.inspect()).NetworkSettings.Ports["8080/tcp"]![0]!.HostPort);
  await until(async () => (await get(port, undefined)) === sha);
  const ms = performance.now() - t0;
  await c.remove({ force: true });
  return ms;
}

const caddy = await startCaddy();
const runtime = new DockerRuntime({
  docker,
  caddy: new CaddyClient({ adminUrl: caddy.adminUrl, httpListen: caddy.httpListen }),
  drainMs: 0,
  stopTimeoutSeconds: 1,
});
const images: { id: string; tags: string[] }[] = [];
try {
  console.log(`rounds per app: ${rounds}`);
  console.log("app     baseline ms (docker run + poll)   paas ms (apply + Caddy answer)   ratio");
  for (const [name, app] of Object.entries(APPS)) {
    const image = await build(name, app);
    images.push(image);
    const [config] = resolveApps(parseConfig("run:\n  port: 8080\n"));
    const base: number[] = [];
    const paas: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const sha = randomBytes(20).toString("hex");
      base.push(await baseline(image.id, sha));
      const target: Target = {
        owner: "bench",
        repo: `${name}-${run}`,
        app: "",
        environment: { kind: "preview", pr: i + 1 },
      };
      const spec = planDeploy(
        { target, repositoryId: 1, config: config!.config, image: image.ref, sha },
        { baseDomain: "localhost", urlScheme: "http", urlPort: caddy.httpPort },
      );
      const t0 = performance.now();
      const result = await runtime.apply(spec);
      if (!result.ok) throw new Error(`${name}: ${result.reason}`);
      await until(async () => (await get(caddy.httpPort, spec.hostnames[0])) === sha);
      paas.push(performance.now() - t0);
      await runtime.destroy(target);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const b = median(base);
    const p = median(paas);
    console.log(
      `${name.padEnd(8)}${b.toFixed(0).padStart(10)}${p.toFixed(0).padStart(36)}${(p / b).toFixed(2).padStart(33)}x`,
    );
  }
} finally {
  for (const img of images) {
    for (const t of img.tags)
      await docker
        .getImage(t)
        .remove()
        .catch(() => undefined);
  }
  await caddy.stop();
}
