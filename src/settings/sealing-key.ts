// The App's sealing key: an X25519 key pair, separate from the GitHub App's
// private key, to which the Action seals the GitHub Environment secrets it
// hands off (src/contract/sealing.ts). The operator provides it, or the App
// generates it once and keeps it:
//
//   PAAS_SEALING_KEY        the PEM (PKCS#8) private key itself (Kubernetes: from a Secret)
//   PAAS_SEALING_KEY_PATH   a file holding it, mode 0600; created (0600) with a new key when missing
//   neither                 `paas start` on the Docker runtime keeps it in its state folder
//                           (PAAS_STATE_DIR/sealing-key.pem, withSealingKeyFile); otherwise a key generated at each start (a warning says so): a hand-off sealed
//                           just before a restart is refused with check `secrets` and is retried
//                           by re-running the job
import { createPrivateKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sealingKeyAnswer, type SealingKeyAnswer } from "../contract/sealing.ts";

export interface SealingKey {
  kid: string;
  /** Never logged; the redaction of GitHub requests masks its PEM too. */
  privateKey: KeyObject;
  /** What GET /paas/v1/sealing-key answers. */
  answer: SealingKeyAnswer;
  /** Where it came from, for the start log. */
  source: "PAAS_SEALING_KEY" | "PAAS_SEALING_KEY_PATH" | "generated";
}

function fromPem(pem: string, what: string, problems: string[]): KeyObject | undefined {
  try {
    const key = createPrivateKey(
      pem.includes("-----BEGIN") ? pem.replace(/\\n/g, "\n") : Buffer.from(pem, "base64"),
    );
    if (key.asymmetricKeyType === "x25519") return key;
  } catch {
    // reported below, without the value
  }
  problems.push(
    `${what} must be an X25519 private key in PEM (PKCS#8): generate one with \`openssl genpkey -algorithm X25519\``,
  );
  return undefined;
}

function fromFile(path: string, problems: string[]): KeyObject | undefined {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch {
    const key = generateKeyPairSync("x25519").privateKey;
    try {
      // "wx": never over a file another process created meanwhile.
      writeFileSync(path, key.export({ format: "pem", type: "pkcs8" }), { mode: 0o600, flag: "wx" });
      return key;
    } catch (e) {
      problems.push(
        `PAAS_SEALING_KEY_PATH ${path} does not exist and cannot be created (${(e as NodeJS.ErrnoException).code ?? "error"}): point it at a writable folder`,
      );
      return undefined;
    }
  }
  if ((mode & 0o077) !== 0) {
    problems.push(`PAAS_SEALING_KEY_PATH ${path} is readable by other users: run \`chmod 600 ${path}\``);
    return undefined;
  }
  return fromPem(readFileSync(path, "utf8"), "PAAS_SEALING_KEY_PATH", problems);
}

/**
 * The settings with PAAS_SEALING_KEY_PATH defaulted to `<stateDir>/sealing-key.pem` (the folder
 * created 0700) when the operator set neither variable: a single host keeps its key across restarts.
 */
export function withSealingKeyFile(
  env: Record<string, string | undefined>,
  stateDir: string,
): Record<string, string | undefined> {
  if (env.PAAS_SEALING_KEY?.trim() || env.PAAS_SEALING_KEY_PATH?.trim()) return env;
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  return { ...env, PAAS_SEALING_KEY_PATH: join(stateDir, "sealing-key.pem") };
}

/** Reads (or creates) the sealing key; problems are pushed, naming the variable and the fix. */
export function loadSealingKey(
  env: Record<string, string | undefined>,
  problems: string[],
): SealingKey | undefined {
  const pem = env.PAAS_SEALING_KEY?.trim();
  const path = env.PAAS_SEALING_KEY_PATH?.trim();
  if (pem && path) {
    problems.push("set PAAS_SEALING_KEY or PAAS_SEALING_KEY_PATH, not both");
    return undefined;
  }
  const source = pem ? "PAAS_SEALING_KEY" : path ? "PAAS_SEALING_KEY_PATH" : "generated";
  const key = pem
    ? fromPem(pem, "PAAS_SEALING_KEY", problems)
    : path
      ? fromFile(path, problems)
      : generateKeyPairSync("x25519").privateKey;
  if (!key) return undefined;
  const answer = sealingKeyAnswer(key);
  return { kid: answer.kid, privateKey: key, answer, source };
}
