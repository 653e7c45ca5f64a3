// What `paas start` tells the user once it is ready: the one thing to do next.
// Without credentials that is registering the App on the setup page; with
// them, pointing the App's webhook here and adding the Action to a repository.
// Pure functions of the settings, so the wording is tested without a server.

type Env = Record<string, string | undefined>;

/** Printed once Probot's setup page answers (no GitHub App credentials yet). */
export function setupNextStep(port: number): string {
  return (
    `No GitHub App credentials yet. Next step: open http://localhost:${port}/ to register the App from app.yml;` +
    " it writes APP_ID, PRIVATE_KEY and WEBHOOK_SECRET to .env. Then run this command again."
  );
}

/** A URL GitHub cannot reach: the loopback address or a *.localhost name. */
function isLocal(url: URL): boolean {
  const host = url.hostname;
  return (
    host === "localhost" ||
    host.endsWith(".localhost") ||
    host === "[::1]" ||
    host === "0.0.0.0" ||
    /^127\./.test(host)
  );
}

/** Printed once the App serves webhooks and hand-offs. `env` is the settings `paas start` ran with. */
export function serveNextStep(env: Env): string[] {
  const publicUrl = (env.PAAS_PUBLIC_URL ?? "").replace(/\/+$/, "");
  const webhook = `${publicUrl}${env.WEBHOOK_PATH || "/api/github/webhooks"}`;
  const lines = [
    "Next step: point the App's webhook here and add the Action to a repository:",
    `  1. Webhook URL: ${webhook} (on GitHub: Settings → Developer settings → GitHub Apps → the App → General)`,
    "  2. In a repository the App is installed on: copy examples/python/.github/workflows/paas.yml to" +
      ` .github/workflows/paas.yml and set the Actions variable PAAS_APP_URL to ${publicUrl}` +
      " (Settings → Secrets and variables → Actions → Variables); see docs/install.md, section 5.",
  ];
  let local = false;
  try {
    local = isLocal(new URL(publicUrl));
  } catch {
    // Settings validated PAAS_PUBLIC_URL before the App started; nothing to add for an odd value.
  }
  if (local) {
    lines.push(
      `  GitHub cannot reach ${publicUrl}: publish this App over HTTPS (a tunnel or a reverse proxy)` +
        ' and set PAAS_PUBLIC_URL to that address first (docs/install.md, "A public Docker host").',
    );
  }
  return lines;
}
