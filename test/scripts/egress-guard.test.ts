// scripts/egress-guard.sh, which scripts/quickstart.sh runs for a user who is not root: the
// host firewall rule of network.egress none put in place with sudo, exactly as
// src/runtime/docker/egress.ts defines it, checked first so it is never added twice; "operator"
// printed when it is in place (quickstart then starts paas with PAAS_DOCKER_EGRESS_GUARD=operator),
// nothing when root keeps it, the operator chose, or sudo refuses. The machine is simulated:
// PATH holds fake id, uname, sudo and iptables (each logs its calls) and the real node and bash.
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { GUARD_RULE } from "../../src/runtime/docker/egress.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const script = join(root, "scripts/egress-guard.sh");
const REAL = ["bash", "node", "dirname", "cat", "cp"];

const FAKES: Record<string, string> = {
  id: `[ "$1" = -u ] && echo "$FAKE_UID"`,
  uname: `echo "$FAKE_UNAME"`,
  sudo: `
    echo "sudo $*" >>"$FAKE/calls"
    if [ "$1" = -n ]; then shift; [ "$FAKE_SUDO" = passwordless ] || { echo "sudo: a password is required" >&2; exit 1; }; fi
    [ "$FAKE_SUDO" != refuses ] || { echo "sudo: 3 incorrect password attempts" >&2; exit 1; }
    exec "$@"`,
  // The rule's state is a file holding the arguments it was added with.
  iptables: `
    printf '%s\\0' "$@" >"$FAKE/last-args"
    case "$2" in
      -C) [ -f "$FAKE/rule" ] ;;
      -I) cp "$FAKE/last-args" "$FAKE/rule" ;;
      *) exit 2 ;;
    esac`,
};

let base: string;
let n = 0;
before(async () => {
  base = await mkdtemp(join(tmpdir(), "paas-egress-guard-"));
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

interface Machine {
  uid: number;
  sudo: "passwordless" | "password" | "refuses" | "none";
  rule?: boolean;
  env?: Record<string, string>;
}

async function run(m: Machine): Promise<{ code: number; stdout: string; calls: string[]; rule: string[] }> {
  const fake = join(base, `m${n++}`);
  const bin = join(fake, "bin");
  await mkdir(bin, { recursive: true });
  await writeFile(join(fake, "calls"), "");
  for (const tool of REAL) {
    await symlink(
      execFileSync("bash", ["-c", `type -P ${tool}`], { encoding: "utf8" }).trim(),
      join(bin, tool),
    );
  }
  for (const [name, body] of Object.entries(FAKES)) {
    if (name === "sudo" && m.sudo === "none") continue;
    await writeFile(join(bin, name), `#!/bin/bash\n${body}\n`);
    await chmod(join(bin, name), 0o755);
  }
  const args = (a: string[]) => `${a.join("\0")}\0`;
  if (m.rule) await writeFile(join(fake, "rule"), args(["-w", "-I", "INPUT", "1", ...GUARD_RULE]));
  const env = {
    PATH: bin,
    FAKE: fake,
    FAKE_UID: String(m.uid),
    FAKE_UNAME: "Linux",
    FAKE_SUDO: m.sudo,
    ...m.env,
  };
  const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) =>
    execFile("/bin/bash", [script], { env, timeout: 60_000 }, (err, stdout) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout }),
    ),
  );
  const calls = (await readFile(join(fake, "calls"), "utf8")).split("\n").filter(Boolean);
  const rule = (await readFile(join(fake, "rule"), "utf8").catch(() => "")).split("\0").filter(Boolean);
  return { code, stdout: stdout.trim(), calls, rule };
}

test("not root, passwordless sudo, no rule yet: added once with exactly egress.ts's rule; operator", async () => {
  const r = await run({ uid: 1000, sudo: "passwordless" });
  assert.equal(r.code, 0);
  assert.equal(r.stdout, "operator");
  assert.deepEqual(r.rule, ["-w", "-I", "INPUT", "1", ...GUARD_RULE]);
  assert.equal(r.calls.filter((c) => c.includes(" -I ")).length, 1);
});

test("not root, the rule in place: only checked, never added twice; operator", async () => {
  const r = await run({ uid: 1000, sudo: "passwordless", rule: true });
  assert.equal(r.stdout, "operator");
  assert.deepEqual(r.calls, [`sudo -n iptables -w -C INPUT ${GUARD_RULE.join(" ")}`]);
});

test("not root, sudo asks a password: asked, then checked before adding; operator", async () => {
  const present = await run({ uid: 1000, sudo: "password", rule: true });
  assert.equal(present.stdout, "operator");
  assert.equal(
    present.calls.filter((c) => c.includes(" -I ")).length,
    0,
    "the rule was there: not added again",
  );
  const absent = await run({ uid: 1000, sudo: "password" });
  assert.equal(absent.stdout, "operator");
  assert.deepEqual(absent.rule, ["-w", "-I", "INPUT", "1", ...GUARD_RULE]);
});

test("nothing to do or nothing possible: root, a guard or an engine chosen by the operator, no sudo, sudo refused", async () => {
  for (const m of [
    { uid: 0, sudo: "passwordless" },
    { uid: 1000, sudo: "passwordless", env: { PAAS_DOCKER_EGRESS_GUARD: "off" } },
    { uid: 1000, sudo: "passwordless", env: { PAAS_DOCKER_HOST: "tcp://builder:2375" } },
    { uid: 1000, sudo: "none" },
  ] as Machine[]) {
    const r = await run(m);
    assert.equal(r.code, 0, JSON.stringify(m));
    assert.equal(r.stdout, "", JSON.stringify(m));
    assert.deepEqual(r.calls, [], JSON.stringify(m));
  }
  const refused = await run({ uid: 1000, sudo: "refuses" });
  assert.equal(refused.code, 0);
  assert.equal(refused.stdout, "");
  assert.deepEqual(refused.rule, []);
});
