// Sealed secrets: the values of a GitHub Environment's secrets travel with the
// hand-off encrypted to the App's sealing key, so neither a proxy that
// terminates TLS, nor a log of the request body, nor the App's own request
// logging sees them. Both the Action (seal) and the App (open) import this file.
//
// Scheme (Node's crypto only, no library): an ephemeral X25519 key pair per
// hand-off; HKDF-SHA256 over the shared secret (salt = both public keys)
// gives an AES-256-GCM key; the additional data binds the ciphertext to the
// one hand-off it was made for (repository id, environment, app, commit and
// the OIDC token's jti), so a sealed blob copied into another deploy — another
// repository, environment, commit, or a fresh token — does not open.
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  type KeyObject,
} from "node:crypto";
import { z } from "zod";

/** Where the App publishes its sealing public key (GET, relative to its public URL). */
export const SEALING_KEY_PATH = "/paas/v1/sealing-key";
export const SEALING_ALG = "X25519-HKDF-SHA256-A256GCM";
const INFO = Buffer.from("paas sealed secrets v1");

const b64url = (bytes: number, what: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, `${what}, base64url`)
    .refine((s) => Buffer.from(s, "base64url").length === bytes, `${what}: ${bytes} bytes`);

/** The App's answer to GET SEALING_KEY_PATH. */
export const sealingKeyAnswerSchema = z.strictObject({
  /** Names the key pair: a sealed blob names the key it was sealed to. */
  kid: z.string().regex(/^[a-f0-9]{16}$/),
  alg: z.literal(SEALING_ALG),
  /** The raw X25519 public key, base64url. */
  key: b64url(32, "an X25519 public key"),
});
export type SealingKeyAnswer = z.output<typeof sealingKeyAnswerSchema>;

/** At most this much ciphertext: the hand-off's body limit (PAAS_MAX_BODY_BYTES) applies too. */
export const MAX_SEALED_CHARS = 48 * 1024;

/** The hand-off's `secrets` field. */
export const sealedSecretsSchema = z.strictObject({
  kid: z.string().regex(/^[a-f0-9]{16}$/, "the kid of the App's sealing key"),
  /** The sender's ephemeral X25519 public key. */
  epk: b64url(32, "an ephemeral X25519 public key"),
  iv: b64url(12, "a 12-byte nonce"),
  /** AES-256-GCM ciphertext followed by its 16-byte tag. */
  ct: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, "base64url")
    .min(22)
    .max(MAX_SEALED_CHARS, `at most ${MAX_SEALED_CHARS} characters of sealed secrets`),
});
export type SealedSecrets = z.output<typeof sealedSecretsSchema>;

/** An environment variable name a secret may have (the same rule as .paas.yml's names). */
export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** What a sealed blob is bound to: the hand-off it travels with. */
export interface SealBinding {
  /** The OIDC token's repository_id claim. */
  repositoryId: string;
  /** The hand-off's environment field as sent ("" when absent). */
  environment: string;
  /** The hand-off's app field ("" for a single-app repository). */
  app: string;
  sha: string;
  /** The OIDC token's jti claim: one token, one hand-off. */
  jti: string;
}

function aad(b: SealBinding): Buffer {
  // JSON of a fixed-order array: no field can run into the next.
  return Buffer.from(JSON.stringify(["paas-sealed-v1", b.repositoryId, b.environment, b.app, b.sha, b.jti]));
}

function rawPublic(key: KeyObject): Buffer {
  return Buffer.from(key.export({ format: "jwk" }).x!, "base64url");
}

function x25519Public(raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: "OKP", crv: "X25519", x: raw.toString("base64url") }, format: "jwk" });
}

function derive(shared: Buffer, epk: Buffer, recipient: Buffer): Buffer {
  return Buffer.from(hkdfSync("sha256", shared, Buffer.concat([epk, recipient]), INFO, 32));
}

/** The kid of a public key: the first 16 hex digits of the SHA-256 of its raw bytes. */
export function sealingKid(publicKey: KeyObject): string {
  return createHash("sha256").update(rawPublic(publicKey)).digest("hex").slice(0, 16);
}

/** The public half of a private sealing key, as the App publishes it. */
export function sealingKeyAnswer(privateKey: KeyObject): SealingKeyAnswer {
  const pub = createPublicKey(privateKey);
  return { kid: sealingKid(pub), alg: SEALING_ALG, key: rawPublic(pub).toString("base64url") };
}

/** Seals name → value pairs to the App's published key for one hand-off. */
export function sealSecrets(
  values: Record<string, string>,
  key: SealingKeyAnswer,
  binding: SealBinding,
): SealedSecrets {
  const recipient = Buffer.from(key.key, "base64url");
  const eph = generateKeyPairSync("x25519");
  const epk = rawPublic(eph.publicKey);
  const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: x25519Public(recipient) });
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", derive(shared, epk, recipient), iv);
  cipher.setAAD(aad(binding));
  const ct = Buffer.concat([
    cipher.update(JSON.stringify(values), "utf8"),
    cipher.final(),
    cipher.getAuthTag(),
  ]);
  return {
    kid: key.kid,
    epk: epk.toString("base64url"),
    iv: iv.toString("base64url"),
    ct: ct.toString("base64url"),
  };
}

/** Why a sealed blob did not open; the message never holds a value. */
export class UnsealError extends Error {
  readonly reason: "kid" | "binding" | "names";
  constructor(reason: "kid" | "binding" | "names", message: string) {
    super(message);
    this.name = "UnsealError";
    this.reason = reason;
  }
}

/**
 * Opens a sealed blob with the App's private key for exactly this hand-off.
 * Throws UnsealError: another key, another hand-off (or a tampered blob), or names that are not variable names.
 */
export function openSealed(
  sealed: SealedSecrets,
  key: { kid: string; privateKey: KeyObject },
  binding: SealBinding,
): Map<string, string> {
  if (sealed.kid !== key.kid)
    throw new UnsealError(
      "kid",
      `the secrets are sealed to key ${sealed.kid}, not this App's key ${key.kid}: fetch the key again (GET ${SEALING_KEY_PATH})`,
    );
  const epk = Buffer.from(sealed.epk, "base64url");
  const recipient = rawPublic(createPublicKey(key.privateKey));
  let text: string;
  try {
    const shared = diffieHellman({ privateKey: key.privateKey, publicKey: x25519Public(epk) });
    const ct = Buffer.from(sealed.ct, "base64url");
    const decipher = createDecipheriv(
      "aes-256-gcm",
      derive(shared, epk, recipient),
      Buffer.from(sealed.iv, "base64url"),
    );
    decipher.setAAD(aad(binding));
    decipher.setAuthTag(ct.subarray(ct.length - 16));
    text = Buffer.concat([decipher.update(ct.subarray(0, ct.length - 16)), decipher.final()]).toString(
      "utf8",
    );
  } catch {
    throw new UnsealError(
      "binding",
      "the sealed secrets do not open for this hand-off (sealed for another repository, environment, app, commit or token, or altered)",
    );
  }
  // JSON.parse makes own properties (even "__proto__"); read them as entries, never through a schema
  // that would copy them into a plain object.
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const notObject = typeof parsed !== "object" || parsed === null || Array.isArray(parsed);
  if (notObject || Object.values(parsed as object).some((v) => typeof v !== "string"))
    throw new UnsealError("names", "the sealed secrets are not a JSON object of names to string values");
  const entries = Object.entries(parsed as Record<string, string>);
  // A Map: a secret named __proto__ or constructor is a name like any other.
  const out = new Map<string, string>();
  const bad = entries.map(([n]) => n).filter((n) => !SECRET_NAME.test(n));
  if (bad.length > 0)
    throw new UnsealError(
      "names",
      `sealed secret names must be environment variable names (letters, digits, _; not starting with a digit): ${bad.map((n) => JSON.stringify(n.slice(0, 64))).join(", ")}`,
    );
  for (const [n, v] of entries) {
    if (v.includes("\0")) throw new UnsealError("names", `the value of ${n} contains a NUL byte`);
    out.set(n, v);
  }
  return out;
}
