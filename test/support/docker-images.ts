// Small test images built with the real engine (dockerode + a tar context,
// from the local base image): a stdlib Python server that answers GET / with
// $PAAS_COMMIT_SHA, one that crashes at start, or one that prints its secrets
// in many encodings before crashing.
import type Docker from "dockerode";
import { pack } from "tar-stream";

export const BASE_IMAGE = "paas-base/python:bookworm";

const SERVER = `
import json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path == "/":
            body = os.environ.get("PAAS_COMMIT_SHA", "")
        elif self.path == "/healthz":
            body = "ok"
        elif self.path == "/info":
            tmp_ok = True
            try:
                open("/tmp/probe", "w").write("x")
            except OSError:
                tmp_ok = False
            try:
                open("/app/probe", "w").write("x")
                root_writable = True
            except OSError:
                root_writable = False
            body = json.dumps({"uid": os.getuid(), "tmp": tmp_ok, "rootWritable": root_writable,
                               "env": {k: v for k, v in os.environ.items() if k.startswith(("PAAS_", "APP_", "PORT", "DATABASE_"))}})
        elif self.path == "/leak":
            # An app that logs its secret while serving: the runtime's logs must mask it.
            print("db is " + os.environ.get("DATABASE_URL", "unset"), flush=True)
            body = "logged"
        else:
            self.send_response(404); self.send_header("content-length", "0"); self.end_headers(); return
        data = body.encode()
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *args):
        pass

print("listening on", os.environ["PORT"], flush=True)
ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()
`;

const CRASH = `
import os, sys
print("starting", flush=True)
print("secret is " + os.environ.get("DATABASE_URL", "unset"), flush=True)
print("error: cannot connect to the database", file=sys.stderr, flush=True)
sys.exit(3)
`;

// Prints each secret it was given (DATABASE_URL, APP_TOKEN, TLS_KEY) the ways apps leak them —
// base64, inside a base64 JSON blob, percent- and form-encoded, JSON-escaped, shell-quoted —
// then the PEM key whole and some of its lines with a log prefix, and crashes. At most 50
// lines, the log tail a rollout diagnosis shows.
const LEAK = `
import base64, json, os, shlex, sys, urllib.parse
print("starting", flush=True)
for name in ("DATABASE_URL", "APP_TOKEN", "TLS_KEY"):
    v = os.environ.get(name, "")
    b = v.encode()
    shell = shlex.quote(v) if "\\n" not in v else "$'" + v.replace("\\\\", "\\\\\\\\").replace("'", "\\\\'").replace("\\n", "\\\\n") + "'"
    print(name, "b64=" + base64.b64encode(b).decode(),
          "b64url=" + base64.urlsafe_b64encode(b).decode().rstrip("="),
          "blob=" + base64.b64encode(json.dumps({"k": v}).encode()).decode(),
          "url=" + urllib.parse.quote(v, safe=""),
          "form=" + urllib.parse.urlencode({"v": v}),
          "json=" + json.dumps(v),
          "sh=" + shell, flush=True)
print("secret is " + os.environ.get("DATABASE_URL", "unset"), flush=True)
key = os.environ.get("TLS_KEY", "")
print(key, flush=True)
for line in key.splitlines()[1:9]:
    print("tls | " + line, flush=True)
print("error: cannot connect to the database", file=sys.stderr, flush=True)
sys.exit(3)
`;

/** Builds an image tagged `<repo>:<tag>` and returns `<repo>@<image id>`, the local-image convention of the Docker runtime. */
export async function buildTestImage(
  docker: Docker,
  repo: string,
  tag: string,
  kind: "server" | "crash" | "leak" = "server",
  /** More files copied to /app (release steps, workers, scheduled jobs). */
  files: Record<string, string> = {},
): Promise<{ ref: string; id: string }> {
  const tar = pack();
  const script = { server: SERVER, crash: CRASH, leak: LEAK }[kind];
  // A label naming repo and tag keeps each image distinct (its own id, even across concurrent runs) while sharing base layers.
  tar.entry(
    { name: "Dockerfile" },
    `FROM ${BASE_IMAGE}\nCOPY app.py /app/app.py\n${Object.keys(files)
      .map((f) => `COPY ${f} /app/${f}\n`)
      .join("")}LABEL test.image=${repo}:${tag}\nCMD ["python3", "/app/app.py"]\n`,
  );
  tar.entry({ name: "app.py" }, script);
  for (const [name, text] of Object.entries(files)) tar.entry({ name }, text);
  tar.finalize();
  const stream = await docker.buildImage(tar as unknown as NodeJS.ReadableStream, {
    t: `${repo}:${tag}`,
    rm: true,
  });
  const events = await new Promise<{ aux?: { ID?: string }; error?: string }[]>((resolve, reject) =>
    docker.modem.followProgress(
      stream,
      (err: Error | null, res: { aux?: { ID?: string }; error?: string }[]) =>
        err ? reject(err) : resolve(res),
    ),
  );
  const failed = events.find((e) => e.error);
  if (failed) throw new Error(`docker build failed: ${failed.error}`);
  const id = (await docker.getImage(`${repo}:${tag}`).inspect()).Id;
  return { ref: `${repo}@${id}`, id };
}
