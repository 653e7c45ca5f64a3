import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { demux, registryOf } from "../../../src/runtime/docker/runtime.ts";

describe("Docker runtime helpers", () => {
  it("finds the registry of an image name", () => {
    assert.deepEqual(
      [
        "ghcr.io/octo/shop",
        "localhost:5000/x",
        "127.0.0.1:5000/a/b",
        "localhost/x",
        "octo/shop",
        "python",
      ].map(registryOf),
      ["ghcr.io", "localhost:5000", "127.0.0.1:5000", "localhost", "docker.io", "docker.io"],
    );
  });

  it("reads Docker's multiplexed log stream", () => {
    const frame = (stream: number, text: string) => {
      const body = Buffer.from(text);
      const head = Buffer.alloc(8);
      head[0] = stream;
      head.writeUInt32BE(body.length, 4);
      return Buffer.concat([head, body]);
    };
    assert.equal(
      demux(Buffer.concat([frame(1, "out line\n"), frame(2, "err line\n")])),
      "out line\nerr line\n",
    );
    // A TTY container's log is not multiplexed.
    assert.equal(demux(Buffer.from("plain text\n")), "plain text\n");
  });
});
