// The App's JWT (src/github/app-jwt.ts): a valid RS256 token GitHub accepts,
// signed once and reused until a minute before it expires, re-signed for a new
// clock offset, and the private key replaced by it in Octokit's auth options.
import assert from "node:assert/strict";
import { createVerify, generateKeyPairSync } from "node:crypto";
import { it } from "node:test";
import { cachedAppJwt, withCachedJwt } from "../../src/github/app-jwt.ts";

const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();

function decode(jwt: string) {
  const [h, p, s] = jwt.split(".");
  const valid = createVerify("RSA-SHA256")
    .update(`${h}.${p}`)
    .verify(publicKey, Buffer.from(s!, "base64url"));
  return {
    valid,
    header: JSON.parse(Buffer.from(h!, "base64url").toString()),
    claims: JSON.parse(Buffer.from(p!, "base64url").toString()),
  };
}

it("signs an RS256 JWT for the App: iat 30 s back, 10 minutes of life", async () => {
  const { jwt, expiresAt } = await cachedAppJwt(pem, () => 1_000_000)(4242);
  const { valid, header, claims } = decode(jwt);
  assert.equal(valid, true);
  assert.deepEqual(header, { alg: "RS256", typ: "JWT" });
  assert.deepEqual(claims, { iat: 999_970, exp: 1_000_570, iss: 4242 });
  assert.equal(expiresAt, new Date(1_000_570_000).toISOString());
});

it("reuses the token until a minute before it expires, and re-signs for a new clock offset", async () => {
  let now = 1_000_000;
  const createJwt = cachedAppJwt(pem.replace(/\n/g, "\\n"), () => now);
  const first = (await createJwt(4242)).jwt;
  now += 500; // 70 s left
  assert.equal((await createJwt(4242)).jwt, first);
  now += 20; // 50 s left
  const renewed = (await createJwt(4242)).jwt;
  assert.notEqual(renewed, first);
  const skewed = await createJwt(4242, 120);
  assert.notEqual(skewed.jwt, renewed);
  assert.equal(decode(skewed.jwt).claims.iat, now + 120 - 30);
});

it("replaces the private key by createJwt in App auth options, and leaves others alone", () => {
  const createJwt = cachedAppJwt(pem);
  assert.deepEqual(withCachedJwt({ appId: 1, privateKey: pem, installationId: 7 }, createJwt), {
    appId: 1,
    installationId: 7,
    createJwt,
  });
  assert.equal(withCachedJwt("token", createJwt), "token");
  const noKey = { appId: 1, createJwt };
  assert.equal(withCachedJwt(noKey, createJwt), noKey);
});
