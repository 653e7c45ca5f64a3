// `paas start`: the App. On the embedded default (the Docker runtime) it
// manages its own Caddy and fills the local settings; without GitHub App
// credentials it runs Probot's setup flow, which registers the App from
// app.yml and writes them to .env.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseEnv } from "node:util";
import { PaasError } from "../errors.ts";
import { startApp } from "../server/start.ts";
import { SettingsError } from "../settings/errors.ts";
import { embeddedDefaults } from "../settings/platform.ts";
import { adminOrigin } from "../runtime/docker/caddy.ts";
import { defaultStateDir, ensureCaddy } from "../runtime/docker/caddy-daemon.ts";
import { withSealingKeyFile } from "../settings/sealing-key.ts";
import { createDockerRuntime, dockerSettingsFromEnv, PrereqError } from "../runtime/docker/index.ts";
import { args, type CliIO, type Command } from "./io.ts";
import { serveNextStep, setupNextStep } from "./next-step.ts";

type Env = Record<string, string | undefined>;

/** `.env` in the working folder (Probot's convention; its setup flow writes it). The process environment wins. */
async function withDotEnv(io: CliIO): Promise<Env> {
  const text = await readFile(join(io.cwd, ".env"), "utf8").catch(() => "");
  return { ...parseEnv(text), ...io.env };
}

/** Starts (or finds) Caddy and claims its HTTP port now, so a taken port is reported before serving. */
async function prepareDocker(env: Env, io: CliIO): Promise<(wakeUpstream: string) => Promise<number>> {
  const settings = dockerSettingsFromEnv(env);
  const state = await ensureCaddy({ adminUrl: settings.caddyAdmin, stateDir: env.PAAS_STATE_DIR });
  if (state === "started") io.err(`started Caddy (admin ${settings.caddyAdmin})`);
  const parts = createDockerRuntime(settings);
  await parts.check();
  const egress = await parts.egressProblem();
  if (egress)
    io.err(`warning: ${egress}. Until then, deploys of apps with network.egress none (the default) fail.`);
  // A Caddy paas did not start may let any web page open on this machine rewrite its routes.
  if (state === "running" && !(await parts.caddy.enforcesOrigin().catch(() => true)))
    io.err(
      `warning: Caddy's admin API at ${settings.caddyAdmin} accepts requests from other origins (any web page in a browser on this machine): ` +
        `set "admin": {"enforce_origin": true, "origins": ["${adminOrigin(settings.caddyAdmin)}"]} in its config (docs/SECURITY.md)`,
    );
  try {
    await parts.caddy.ensureServers();
  } catch (e) {
    const msg = (e as Error).message;
    const port = settings.httpListen.slice(settings.httpListen.lastIndexOf(":") + 1);
    if (/address already in use|permission denied|bind/i.test(msg)) {
      throw new PrereqError([
        `Caddy cannot listen on port ${port} (${/permission/i.test(msg) ? "ports below 1024 need root" : "another program uses it"}): ` +
          `set PAAS_HTTP_PORT to a free port such as 8080${/permission/i.test(msg) ? "" : `, or find the program with \`ss -ltnp 'sport = :${port}'\``}`,
      ]);
    }
    throw e;
  }
  return (wakeUpstream) => parts.runtime.restoreRoutes({ wakeUpstream });
}

function waitForSignal(io: CliIO): Promise<void> {
  return new Promise((resolve) => {
    if (io.signal?.aborted) return resolve();
    io.signal?.addEventListener("abort", () => resolve(), { once: true });
    process.once("SIGTERM", () => resolve());
  });
}

export const startCommand: Command = async (argv, io) => {
  args(argv, {});
  let env = embeddedDefaults(await withDotEnv(io));
  const docker = (env.PAAS_RUNTIME || "docker") === "docker";
  // One host: the sealing key is kept with Caddy's state, so a restart keeps its kid.
  if (docker) env = withSealingKeyFile(env, env.PAAS_STATE_DIR || defaultStateDir(env));
  const restore = docker ? await prepareDocker(env, io) : undefined;

  // In production (the App's image sets NODE_ENV) missing credentials are a settings error, not a setup page.
  if (env.NODE_ENV !== "production" && (!env.APP_ID || !(env.PRIVATE_KEY || env.PRIVATE_KEY_PATH))) {
    // Probot's setup flow: a page that registers the App from app.yml and writes .env.
    const { run } = await import("probot");
    const server = await run(() => {}, { env: { ...env, PORT: env.PORT || "3000" } as NodeJS.ProcessEnv });
    io.err(setupNextStep(server.port));
    await waitForSignal(io);
    await server.stop();
    return 0;
  }

  let server;
  try {
    server = await startApp(env, (line) => io.err(line));
  } catch (e) {
    if (e instanceof SettingsError) {
      io.err(`paas start: error: invalid settings:\n- ${e.problems.join("\n- ")}\nSee docs/settings.md.`);
      return 1;
    }
    if ((e as NodeJS.ErrnoException).code === "EADDRINUSE") {
      const port = env.PORT || "3000";
      throw new PaasError(
        "port_in_use",
        `port ${port} is in use: set PORT to a free port, or find the program with \`ss -ltnp 'sport = :${port}'\``,
      );
    }
    throw e;
  }
  if (restore) {
    // Sleeping environments' routes lead to the App's wake handler (PAAS_WAKE_ADDRESS, else its own port).
    const n = await restore(env.PAAS_WAKE_ADDRESS || `127.0.0.1:${new URL(server.url).port}`);
    if (n > 0) io.err(`restored ${n} route${n === 1 ? "" : "s"} from running containers`);
  }
  io.out(`paas is serving on ${server.url} (webhooks and POST /paas/v1/deployments)`);
  io.out(serveNextStep(env).join("\n"));
  await waitForSignal(io);
  await server.close();
  return 0;
};
