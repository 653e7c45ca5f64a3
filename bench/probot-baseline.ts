// The baseline of the App's latency and throughput benchmarks: a bare Probot
// app whose pull_request handler does nothing, behind Probot's own Node
// middleware, answering the same signed webhook the App gets. Not a benchmark
// itself (bench/run.ts skips it).
import { createHmac, randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createNodeMiddleware, createProbot } from "probot";

export interface ProbotBaseline {
  /** One signed delivery; its round-trip time in ms. */
  deliver(): Promise<number>;
  close(): void;
}

export async function startProbotBaseline(privateKey: string, payload: unknown): Promise<ProbotBaseline> {
  const secret = "baseline-secret";
  const probot = createProbot({
    env: { APP_ID: "1", PRIVATE_KEY: privateKey, WEBHOOK_SECRET: secret, LOG_LEVEL: "fatal" },
  });
  const middleware = await createNodeMiddleware(
    (app) => {
      app.on("pull_request", async () => {});
    },
    { probot },
  );
  const server = createServer((req, res) => void middleware(req, res, () => res.writeHead(404).end()));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/github/webhooks`;
  const body = JSON.stringify(payload);
  const signature = "sha256=" + createHmac("sha256", secret).update(body).digest("hex");
  return {
    async deliver() {
      const t = performance.now();
      const res = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-github-event": "pull_request",
          "x-github-delivery": randomUUID(),
          "x-hub-signature-256": signature,
        },
        body,
      });
      await res.text();
      if (res.status !== 200) throw new Error(`baseline answered ${res.status}`);
      return performance.now() - t;
    },
    close: () => void server.close(),
  };
}
