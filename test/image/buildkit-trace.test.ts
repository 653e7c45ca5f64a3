// The BuildKit progress decoder, on messages encoded here field by field (the
// wire format of moby.buildkit.v1.StatusResponse), and on one the engine sent.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeTrace, STEP_VERTEX } from "../../src/image/buildkit-trace.ts";

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}
const bytes = (field: number, value: Buffer | string) => {
  const b = typeof value === "string" ? Buffer.from(value) : value;
  return Buffer.concat([varint((field << 3) | 2), varint(b.length), b]);
};
const bool = (field: number, v: boolean) => Buffer.concat([varint(field << 3), varint(v ? 1 : 0)]);
const fixed64 = (field: number) => Buffer.concat([varint((field << 3) | 1), Buffer.alloc(8, 7)]);
const timestamp = bytes(1, Buffer.concat([varint(1 << 3), varint(1_700_000_000)]));

describe("decodeTrace", () => {
  it("reads vertexes (name, cached, completed, error) and logs, skipping other fields", () => {
    const cached = bytes(
      1,
      Buffer.concat([
        bytes(1, "sha256:aaa"),
        bytes(2, "sha256:input"),
        bytes(3, "[builder 3/7] RUN go mod download"),
        bool(4, true),
        bytes(6, timestamp),
      ]),
    );
    const failed = bytes(
      1,
      Buffer.concat([
        bytes(1, "sha256:bbb"),
        bytes(3, "[builder 6/7] RUN go build ."),
        fixed64(9),
        bytes(7, "process did not complete successfully: exit code: 1"),
      ]),
    );
    const log = bytes(
      3,
      Buffer.concat([
        bytes(1, "sha256:bbb"),
        bytes(2, timestamp),
        varint(3 << 3),
        varint(2),
        bytes(4, "./main.go:9:2: undefined: x\n"),
      ]),
    );
    const status = bytes(2, Buffer.concat([bytes(1, "extracting"), bytes(2, "sha256:aaa")]));
    const update = decodeTrace(Buffer.concat([cached, status, failed, log]).toString("base64"));
    assert.deepEqual(update.vertexes, [
      {
        digest: "sha256:aaa",
        name: "[builder 3/7] RUN go mod download",
        cached: true,
        completed: true,
        error: undefined,
      },
      {
        digest: "sha256:bbb",
        name: "[builder 6/7] RUN go build .",
        cached: false,
        completed: false,
        error: "process did not complete successfully: exit code: 1",
      },
    ]);
    assert.deepEqual(update.logs, [{ vertex: "sha256:bbb", text: "./main.go:9:2: undefined: x\n" }]);
  });

  it("refuses truncated bytes instead of inventing fields", () => {
    const whole = bytes(1, Buffer.concat([bytes(1, "sha256:aaa"), bytes(3, "[stage-0 1/2] FROM x")]));
    assert.throws(() => decodeTrace(whole.subarray(0, whole.length - 3).toString("base64")), /truncated/);
  });

  it("decodes a message as Docker 20.10 sent it", () => {
    // From a real `/build?version=2` stream: the "[internal] load remote build context" vertex, completed.
    const real =
      "CokBCkdzaGEyNTY6ZDBiZTBmMjk2NDBjYjg4YWRiOTZjZWNkMTI2YTNlYWMwM2RmZmFhMjljYTBlY2JmY2FjMjRlZGRlYjk1ZDJmMhokW2ludGVybmFsXSBsb2FkIHJlbW90ZSBidWlsZCBjb250ZXh0KgsIkJHM2AYQ7a+8DDILCJCRzNgGENjovR4=";
    const [v] = decodeTrace(real).vertexes;
    assert.equal(v!.name, "[internal] load remote build context");
    assert.equal(v!.completed, true);
    assert.equal(v!.cached, false);
    assert.match(v!.digest, /^sha256:[0-9a-f]{64}$/);
  });
});

describe("STEP_VERTEX", () => {
  it("matches Dockerfile steps, not BuildKit's internal work", () => {
    assert.ok(STEP_VERTEX.test("[builder 3/7] RUN go mod download"));
    assert.ok(STEP_VERTEX.test("[stage-0 1/3] FROM docker.io/paas-base/runtime:bookworm"));
    assert.ok(STEP_VERTEX.test("[2/2] COPY a /a"));
    assert.ok(!STEP_VERTEX.test("[internal] load build definition from .paas.Dockerfile"));
    assert.ok(!STEP_VERTEX.test("exporting to image"));
  });
});
