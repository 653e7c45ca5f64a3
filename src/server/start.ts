// `paas start`: settings from the environment, the platform they name, the server.
import { describeSettings, loadSettings } from "../settings/app.ts";
import { createPlatform } from "./platform.ts";
import { startServer, type RunningServer } from "./server.ts";

/**
 * Validates every setting, checks the runtime's prerequisites, then serves
 * webhooks and hand-offs. Throws SettingsError or the runtime's PrereqError
 * (each message names the fix) before listening.
 */
export async function startApp(
  env: Record<string, string | undefined> = process.env,
  log: (line: string) => void = (l) => console.error(l),
): Promise<RunningServer> {
  const settings = loadSettings(env);
  const platform = createPlatform(settings, env);
  await platform.check();
  const server = await startServer(settings, {
    runtime: platform.runtime,
    dns: platform.dns,
    ...(platform.lock ? { lock: platform.lock } : {}),
  });
  log(`paas App listening on ${server.url} (${JSON.stringify(describeSettings(settings))})`);
  if (settings.sealing.source === "generated")
    log(
      "warning: the sealing key for GitHub Environment secrets was generated for this start only: set PAAS_SEALING_KEY_PATH (or PAAS_SEALING_KEY) so a restart or another replica keeps it (docs/secrets.md)",
    );
  const background = platform.background;
  if (!background) return server;
  background.start();
  const close = server.close.bind(server);
  server.close = async () => {
    await background.stop();
    await close();
  };
  return server;
}
