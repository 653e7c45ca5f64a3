// The add-on services test app: a Python web app that keeps rows in Postgres
// (pg8000) and counts visits in Redis (redis-py), both installed from PyPI into
// the image, as a user's requirements would be. It connects to both as it
// starts and exits when one does not answer: deployed before its services are
// ready, it would fail its rollout. The same image holds the rest of a real
// app (issue #15's acceptance app): a migration for the release step
// (/app/migrate.py) and a worker that takes jobs from a Redis list and writes
// them to Postgres (/app/worker.py).
import type Docker from "dockerode";
import { pack } from "tar-stream";
import { BASE_IMAGE } from "./docker-images.ts";

/** Local stand-ins for the official images (scripts/base-images.sh). */
export const SERVICE_IMAGES = {
  postgres: "paas-base/postgres:bookworm",
  redis: "paas-base/redis:bookworm",
};

const APP = `
import json, os, sys, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import pg8000.native, redis

def db():
    u = urllib.parse.urlparse(os.environ["DATABASE_URL"])
    return pg8000.native.Connection(user=u.username, password=urllib.parse.unquote(u.password),
                                    host=u.hostname, port=u.port, database=u.path.lstrip("/"), timeout=5)

cache = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5)
# At start: a service that does not answer yet stops the app (and fails the rollout).
c = db()
c.run("CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, text text NOT NULL)")
c.close()
cache.ping()

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        if self.path == "/healthz":
            return self.answer(200, "ok")
        if self.path == "/":
            return self.answer(200, os.environ.get("PAAS_COMMIT_SHA", ""))
        if self.path == "/notes":
            c = db()
            rows = [r[0] for r in c.run("SELECT text FROM notes ORDER BY id")]
            c.close()
            return self.answer(200, json.dumps(rows))
        if self.path.startswith("/notes/add?text="):
            # The same as POST /notes, for clients that only GET (the cluster tests' gateway helper).
            return self.do_POST()
        if self.path.startswith("/jobs/add?text="):
            # Work for the worker: a job on the Redis list it consumes.
            text = urllib.parse.unquote(self.path.split("=", 1)[1])
            cache.rpush("jobs", text)
            return self.answer(202, json.dumps(text))
        if self.path == "/migrations":
            c = db()
            rows = c.run("SELECT version FROM schema_migrations ORDER BY version") if c.run(
                "SELECT to_regclass('schema_migrations') IS NOT NULL")[0][0] else []
            c.close()
            return self.answer(200, json.dumps([r[0] for r in rows]))
        if self.path == "/visits":
            return self.answer(200, json.dumps(cache.incr("visits")))
        self.answer(404, "null")
    def do_POST(self):
        if self.path.startswith(("/notes?text=", "/notes/add?text=")):
            text = urllib.parse.unquote(self.path.split("=", 1)[1])
            c = db()
            c.run("INSERT INTO notes (text) VALUES (:t)", t=text)
            c.close()
            return self.answer(201, json.dumps(text))
        self.answer(404, "null")
    def log_message(self, *args):
        pass

print("listening on", os.environ["PORT"], flush=True)
ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()
`;

// The release step's command: records its version in the environment's own database.
const MIGRATE = `
import os, sys, urllib.parse
import pg8000.native
u = urllib.parse.urlparse(os.environ["DATABASE_URL"])
c = pg8000.native.Connection(user=u.username, password=urllib.parse.unquote(u.password),
                             host=u.hostname, port=u.port, database=u.path.lstrip("/"), timeout=5)
c.run("CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY)")
c.run("INSERT INTO schema_migrations (version) VALUES (:v) ON CONFLICT DO NOTHING", v=sys.argv[1])
print("migrated to", sys.argv[1], flush=True)
`;

// The worker: moves jobs from Redis to Postgres rows ("job:<text>").
const WORKER = `
import os, urllib.parse
import pg8000.native, redis
cache = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=10)
u = urllib.parse.urlparse(os.environ["DATABASE_URL"])
def db():
    return pg8000.native.Connection(user=u.username, password=urllib.parse.unquote(u.password),
                                    host=u.hostname, port=u.port, database=u.path.lstrip("/"), timeout=5)
c = db()
c.run("CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, text text NOT NULL)")
c.close()
print("worker up", flush=True)
while True:
    job = cache.blpop("jobs", timeout=2)
    if job:
        c = db()
        c.run("INSERT INTO notes (text) VALUES (:t)", t="job:" + job[1].decode())
        c.close()
        print("done", job[1].decode(), flush=True)
`;

/** Builds the app as `<repo>:<tag>` (a label keeps each tag's image distinct); returns `<repo>@<image id>`. */
export async function buildServicesApp(docker: Docker, repo: string, tag: string): Promise<string> {
  const tar = pack();
  tar.entry(
    { name: "Dockerfile" },
    [
      `FROM ${BASE_IMAGE}`,
      "RUN python -m venv /venv && /venv/bin/pip install -q --no-cache-dir pg8000 redis",
      "COPY app.py migrate.py worker.py /app/",
      `LABEL test.image=${repo}:${tag}`,
      'CMD ["/venv/bin/python", "/app/app.py"]',
      "",
    ].join("\n"),
  );
  tar.entry({ name: "app.py" }, APP);
  tar.entry({ name: "migrate.py" }, MIGRATE);
  tar.entry({ name: "worker.py" }, WORKER);
  tar.finalize();
  const stream = await docker.buildImage(tar as unknown as NodeJS.ReadableStream, {
    t: `${repo}:${tag}`,
    rm: true,
  });
  const events = await new Promise<{ error?: string }[]>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, res: { error?: string }[]) =>
      err ? reject(err) : resolve(res),
    ),
  );
  const failed = events.find((e) => e.error);
  if (failed) throw new Error(`docker build failed: ${failed.error}`);
  return `${repo}@${(await docker.getImage(`${repo}:${tag}`).inspect()).Id}`;
}
