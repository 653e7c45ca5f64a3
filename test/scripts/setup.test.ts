// scripts/setup.sh decides as on a fresh machine: what is missing, said in one
// line; installed as root or with passwordless sudo on Debian or Ubuntu; a stop
// with the exact commands without root or on another OS; a part that fails is
// named with its command. The machine is simulated: PATH holds only fake
// apt-get, sudo, id, docker, dockerd, systemctl and uname (each logs its calls)
// plus the few real tools the script uses, and PAAS_SETUP_SYSROOT stands in for
// /etc/os-release and systemd. The last test runs it for real on this machine,
// where everything is present: it must install nothing and return at once.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const script = join(root, "scripts/setup.sh");
// Real tools setup.sh runs besides the faked ones (found on this machine's PATH).
const REAL = [
  "bash",
  "env",
  "sed",
  "awk",
  "tr",
  "mkdir",
  "rm",
  "mktemp",
  "tail",
  "date",
  "seq",
  "sleep",
  "setsid",
  "dirname",
  "chmod",
  "touch",
  "cat",
  "cp",
  "true",
];

let base: string;
before(async () => {
  base = await mkdtemp(join(tmpdir(), "paas-setup-test-"));
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

// Fakes. $FAKE is the machine's state folder; every call is appended to $FAKE/calls.
const FAKES: Record<string, string> = {
  id: `[ "$1" = -u ] && echo "\${FAKE_UID:-0}"`,
  whoami: `echo dev`,
  uname: `case "$1" in -m) echo x86_64 ;; *) echo "\${FAKE_UNAME:-Linux}" ;; esac`,
  sudo: `
    echo "sudo $*" >>"$FAKE/calls"
    [ "\${FAKE_SUDO:-}" = passwordless ] || { echo "sudo: a password is required" >&2; exit 1; }
    [ "$1" = -n ] && shift
    exec "$@"`,
  "apt-get": `
    echo "apt-get $*" >>"$FAKE/calls"
    [ "$1" = install ] || exit 0
    for pkg in "$@"; do
      case "$pkg" in -*|install) continue ;; esac
      if [ "$pkg" = "\${FAKE_APT_FAIL:-}" ]; then echo "E: Unable to locate package $pkg" >&2; exit 100; fi
      case "$pkg" in
        docker.io) bins="docker dockerd" ;;
        apache2-utils) bins=htpasswd ;;
        *) bins="$pkg" ;;
      esac
      for b in $bins; do cp "$FAKE/lib/$b" "$FAKE/bin/$b"; done
    done`,
  systemctl: `
    # Packaged services are stopped here: is-active answers "inactive", unlogged.
    [ "$1" = is-active ] && exit 3
    echo "systemctl $*" >>"$FAKE/calls"
    [ "$*" = "start docker" ] && touch "$FAKE/engine-running"
    exit 0`,
  usermod: `echo "usermod $*" >>"$FAKE/calls"`,
};
// Installed by the fake apt-get (copied from lib/ to bin/), or present from the start.
const PACKAGED: Record<string, string> = {
  docker: `
    case "$1" in
      version)
        [ -f "$FAKE/engine-running" ] && { echo 24.0.0; exit 0; }
        [ -f "$FAKE/engine-denied" ] && { echo "permission denied while trying to connect to the Docker daemon socket" >&2; exit 1; }
        echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock" >&2; exit 1 ;;
      image) [ -f "$FAKE/images" ] ;;
    esac`,
  // Stays up a little, as a daemon does: setup.sh watches that it has not exited.
  dockerd: `
    echo "dockerd $*" >>"$FAKE/calls"
    [ "$FAKE_STARTS" = fails ] && { echo "failed to start daemon: iptables failed" >&2; exit 1; }
    touch "$FAKE/engine-$FAKE_STARTS"
    sleep 3`,
  caddy: `exit 0`,
  "docker-registry": `exit 0`,
  htpasswd: `exit 0`,
  debootstrap: `exit 0`,
};

interface Machine {
  /** Tools present before the run (from PACKAGED). */
  installed?: string[];
  engineRunning?: boolean;
  engineDenied?: boolean;
  images?: boolean;
  os?: string; // os-release content; undefined: none
  systemd?: boolean;
  uid?: number;
  sudo?: "passwordless" | "password" | "none";
  uname?: string;
  aptFail?: string;
  /** What dockerd leads to: "denied" when it runs but this user may not use its socket. */
  starts?: "running" | "denied" | "fails";
}

const DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n';
const UBUNTU = 'PRETTY_NAME="Ubuntu 24.04 LTS"\nID=ubuntu\nID_LIKE=debian\n';
const FEDORA = 'PRETTY_NAME="Fedora Linux 40 (Server Edition)"\nID=fedora\n';

let n = 0;
async function machine(m: Machine): Promise<{ fake: string; env: Record<string, string> }> {
  const fake = join(base, `m${n++}`);
  const bin = join(fake, "bin");
  const lib = join(fake, "lib");
  await mkdir(bin, { recursive: true });
  await mkdir(lib);
  await mkdir(join(fake, "sysroot/etc"), { recursive: true });
  await writeFile(join(fake, "calls"), "");
  const which = (await import("node:child_process")).execFileSync;
  for (const tool of REAL) {
    const path = which("bash", ["-c", `type -P ${tool}`], { encoding: "utf8" }).trim();
    await symlink(path, join(bin, tool));
  }
  const write = async (path: string, body: string) => {
    await writeFile(path, `#!/bin/bash\n${body}\n`);
    await chmod(path, 0o755);
  };
  for (const [name, body] of Object.entries(FAKES)) {
    if (name === "sudo" && m.sudo === "none") continue;
    await write(join(bin, name), body);
  }
  for (const [name, body] of Object.entries(PACKAGED)) {
    await write(join(lib, name), body);
    if (m.installed?.includes(name)) await write(join(bin, name), body);
  }
  if (m.engineRunning) await writeFile(join(fake, "engine-running"), "");
  if (m.engineDenied) await writeFile(join(fake, "engine-denied"), "");
  if (m.images) await writeFile(join(fake, "images"), "");
  if (m.os !== undefined) await writeFile(join(fake, "sysroot/etc/os-release"), m.os);
  if (m.systemd) await mkdir(join(fake, "sysroot/run/systemd/system"), { recursive: true });
  const env: Record<string, string> = {
    PATH: bin,
    FAKE: fake,
    TMPDIR: fake,
    PAAS_SETUP_SYSROOT: join(fake, "sysroot"),
    // No cluster in the fake machine: its state and pid files would be read from here.
    PAAS_CLUSTER_RUN: join(fake, "run/paas-cluster"),
    PAAS_CLUSTER_STATE: join(fake, "var/lib/paas-cluster"),
    PAAS_PLANES_STATE: join(fake, "var/lib/paas-cluster-planes"),
    FAKE_UID: String(m.uid ?? 0),
    FAKE_SUDO: m.sudo ?? "none",
    FAKE_UNAME: m.uname ?? "Linux",
    FAKE_APT_FAIL: m.aptFail ?? "",
    FAKE_STARTS: m.starts ?? "running",
  };
  return { fake, env };
}

function setup(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("/bin/bash", [script, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const calls = async (fake: string) =>
  (await readFile(join(fake, "calls"), "utf8"))
    .split("\n")
    .map((l) => l.trimEnd())
    .filter(Boolean);

test("root on Debian, nothing installed: one line says what, apt installs it, the engine starts; a second run installs nothing", async () => {
  const { fake, env } = await machine({ os: DEBIAN, uid: 0 });
  const first = await setup(["engine", "caddy"], env);
  assert.equal(first.code, 0, first.stderr);
  const lines = first.stdout.trim().split("\n");
  assert.equal(
    lines[0],
    "paas setup: installing engine: docker.io (apt), start the Docker engine; caddy: caddy (apt)",
  );
  assert.match(lines.at(-1)!, /^paas setup: ready in \d+ s: engine caddy$/);
  assert.deepEqual(await calls(fake), [
    "apt-get update -qq",
    "apt-get install -y -qq --no-install-recommends docker.io",
    "apt-get install -y -qq --no-install-recommends caddy",
    "dockerd",
  ]);

  await writeFile(join(fake, "calls"), "");
  const second = await setup(["engine", "caddy"], env);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.stdout, "paas setup: ready: engine caddy\n");
  assert.deepEqual(await calls(fake), []);
});

test("passwordless sudo on Ubuntu: the same, through sudo -n", async () => {
  const { fake, env } = await machine({ os: UBUNTU, uid: 1000, sudo: "passwordless" });
  const r = await setup(["engine", "caddy", "registry"], env);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await calls(fake), [
    "sudo -n true",
    "sudo -n apt-get update -qq",
    "apt-get update -qq",
    "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io",
    "apt-get install -y -qq --no-install-recommends docker.io",
    "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends caddy",
    "apt-get install -y -qq --no-install-recommends caddy",
    "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry apache2-utils",
    "apt-get install -y -qq --no-install-recommends docker-registry apache2-utils",
    "sudo -n dockerd",
    "dockerd",
  ]);
});

for (const sudo of ["password", "none"] as const) {
  test(`no root, sudo ${sudo === "none" ? "missing" : "asks a password"}: stops before changing anything, with the exact commands`, async () => {
    const { fake, env } = await machine({ os: DEBIAN, uid: 1000, sudo, installed: ["docker", "dockerd"] });
    const r = await setup(["engine", "caddy"], env);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.equal(
      r.stderr,
      [
        "paas setup: missing: engine: start the Docker engine; caddy: caddy (apt)",
        "paas setup: error: installing this needs root; this user (dev) is not root and has no passwordless sudo. Run:",
        "  sudo apt-get update && sudo apt-get install -y --no-install-recommends caddy",
        `  sudo setsid dockerd >${fake}/paas-dockerd.log 2>&1 &`,
        "then run this command again: it installs the rest itself.",
        "",
      ].join("\n"),
    );
    assert.deepEqual(
      (await calls(fake)).filter((c) => !c.startsWith("sudo -n true")),
      [],
    );
  });
}

test("no root with systemd: the commands use the services, and the packaged Caddy is stopped", async () => {
  const { env } = await machine({ os: DEBIAN, uid: 1000, sudo: "password", systemd: true });
  const r = await setup(["engine", "caddy"], env);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /\n {2}sudo apt-get update && sudo apt-get install -y --no-install-recommends docker\.io caddy\n {2}sudo systemctl disable --now caddy\n {2}sudo systemctl start docker\n/,
  );
});

test("root with systemd: the engine starts as a service, the packaged Caddy and registry services are stopped", async () => {
  const { fake, env } = await machine({ os: DEBIAN, uid: 0, systemd: true });
  const r = await setup(["engine", "caddy", "registry"], env);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(
    (await calls(fake)).filter((c) => !c.startsWith("apt-get")),
    ["systemctl disable --now caddy", "systemctl disable --now docker-registry", "systemctl start docker"],
  );
});

test("another Linux, even as root: stops naming what to install, installs nothing", async () => {
  const { fake, env } = await machine({ os: FEDORA, uid: 0 });
  const r = await setup(["engine", "caddy"], env);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /error: this machine runs Fedora Linux 40 \(Server Edition\); paas setup installs system packages on Debian and Ubuntu only/,
  );
  assert.match(
    r.stderr,
    /\n {2}engine: the Docker engine, dockerd and docker \(https:\/\/docs\.docker\.com\/engine\/install\/\), started\n/,
  );
  assert.match(r.stderr, /\n {2}caddy: Caddy 2 \(https:\/\/caddyserver\.com\/docs\/install\)\n/);
  assert.deepEqual(await calls(fake), []);
});

test("macOS: the Homebrew commands", async () => {
  const { env } = await machine({ uname: "Darwin", uid: 501, sudo: "password" });
  const r = await setup(["engine", "caddy"], env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /this machine runs Darwin;/);
  assert.match(r.stderr, /\n {2}engine: Docker Desktop .*, or: brew install colima docker && colima start\n/);
  assert.match(r.stderr, /\n {2}caddy: brew install caddy\n/);
});

test("a package that cannot be installed fails at once, naming the part and the command", async () => {
  const { fake, env } = await machine({ os: DEBIAN, uid: 0, aptFail: "caddy" });
  const r = await setup(["engine", "caddy", "registry"], env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /E: Unable to locate package caddy\n/);
  assert.match(
    r.stderr,
    /paas setup: error: part caddy could not be installed: `apt-get install -y --no-install-recommends caddy` failed \(exit 100\)\n$/,
  );
  // Nothing after the failing part was attempted.
  assert.ok(!(await calls(fake)).some((c) => c.includes("docker-registry") || c.startsWith("dockerd")));
});

test("the engine runs but this user may not use it: added to the group docker, then told to log in again", async () => {
  const { fake, env } = await machine({
    os: DEBIAN,
    uid: 1000,
    sudo: "passwordless",
    installed: ["docker", "dockerd"],
    engineDenied: true,
  });
  const r = await setup(["engine"], env);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /installing engine: let dev use the Docker engine \(group docker\)/);
  assert.ok((await calls(fake)).includes("sudo -n usermod -aG docker dev"));
  assert.match(
    r.stderr,
    /added dev to the group docker, which counts from the next login: .*`newgrp docker`/,
  );
});

test("sudo starts the engine, which this user may not use yet: added to the group, told to log in again", async () => {
  const { fake, env } = await machine({
    os: DEBIAN,
    uid: 1000,
    sudo: "passwordless",
    installed: ["docker", "dockerd"],
    starts: "denied",
  });
  const r = await setup(["engine"], env);
  assert.equal(r.code, 1);
  assert.deepEqual(
    (await calls(fake)).filter((c) => !c.startsWith("sudo -n true")),
    ["sudo -n dockerd", "dockerd", "sudo -n usermod -aG docker dev", "usermod -aG docker dev"],
  );
  assert.match(r.stderr, /added dev to the group docker, which counts from the next login/);
});

test("an engine that cannot start fails at once with its log, naming the part and the command", async () => {
  const { fake, env } = await machine({
    os: DEBIAN,
    uid: 0,
    installed: ["docker", "dockerd"],
    starts: "fails",
  });
  const r = await setup(["engine"], env);
  assert.equal(r.code, 1);
  // "dockerd exited" (not "did not answer within 60 s"): it stopped waiting when the engine died.
  assert.match(r.stderr, /failed to start daemon: iptables failed\ndockerd exited \(log: /);
  assert.match(
    r.stderr,
    new RegExp(
      `part engine could not be installed: \`setsid dockerd >${fake}/paas-dockerd.log 2>&1 &\` failed \\(exit 1\\)`,
    ),
  );
});

test("--print-plan: each part's state and the decision, changing nothing", async () => {
  const { fake, env } = await machine({
    os: DEBIAN,
    uid: 1000,
    sudo: "password",
    installed: ["docker", "dockerd", "caddy"],
    engineRunning: true,
  });
  const r = await setup(["--print-plan", "engine", "caddy", "registry", "base-images"], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      "engine       ready",
      "caddy        ready",
      "registry     missing: apt: docker-registry apache2-utils",
      "base-images  missing: apt: debootstrap; build the base images paas-base/{runtime,python,go,rust,noshell,postgres,redis}:bookworm with debootstrap (minutes, once)",
      "decision: no-root",
      "  sudo apt-get update && sudo apt-get install -y --no-install-recommends docker-registry apache2-utils debootstrap",
      "  sudo bash scripts/base-images.sh",
      "",
    ].join("\n"),
  );
  assert.deepEqual(
    (await calls(fake)).filter((c) => !c.startsWith("sudo -n true")),
    [],
  );
});

test("an unknown part is refused with the list", async () => {
  const { env } = await machine({ os: DEBIAN });
  const r = await setup(["clusterr"], env);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /unknown part or profile 'clusterr' \(profiles: quickstart, test; parts: node deps engine caddy registry base-images shellcheck cluster\)/,
  );
});

test("npm test stops at once, before the type check, naming what to run", async () => {
  const { env } = await machine({
    os: DEBIAN,
    uid: 1000,
    sudo: "password",
    installed: ["docker", "dockerd"],
    engineRunning: true,
    images: true,
  });
  await symlink(process.execPath, join(env.FAKE!, "bin", "node"));
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile("/bin/bash", [join(root, "scripts/test.sh")], { env, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    // The fake engine's images carry no toolchain label: the builders and service images count as out of date.
    /^paas setup: missing: caddy: caddy \(apt\); registry: docker-registry apache2-utils \(apt\); base-images: debootstrap \(apt\), build the base images paas-base\/\{python,go,rust,postgres,redis\}:bookworm with debootstrap \(minutes, once\); shellcheck: shellcheck \(apt\); cluster: the local Kubernetes cluster and two more control planes \(bash scripts\/cluster.sh up && bash scripts\/cluster.sh planes up; the first build takes a while\)\n/,
  );
  assert.match(
    r.stderr,
    /\n {2}sudo apt-get update && sudo apt-get install -y --no-install-recommends caddy docker-registry apache2-utils debootstrap shellcheck\n {2}sudo bash scripts\/base-images.sh\n {2}sudo bash scripts\/cluster.sh up && sudo bash scripts\/cluster.sh planes up\n/,
  );
  assert.doesNotMatch(r.stdout, /== type check/);
});

test("on this machine, set up already: `test` installs nothing and returns at once", async () => {
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile("bash", [script, "test"], { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? 1 : 0, stdout, stderr }),
    );
  });
  assert.equal(r.code, 0, r.stderr);
  // "ready" is printed only when every part's check passed, so nothing was installed or started.
  assert.equal(
    r.stdout,
    "paas setup: ready: node deps engine caddy registry base-images shellcheck cluster\n",
  );
});
