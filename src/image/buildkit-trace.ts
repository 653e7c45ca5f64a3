// Decodes the progress the Docker engine streams for a BuildKit build
// (`/build?version=2`): JSON lines whose `aux` is a base64 protobuf
// `moby.buildkit.v1.StatusResponse` under the id "moby.buildkit.trace".
// Only the fields paas reads are decoded (vertex name, cached, completed,
// error; log bytes), with a small wire-format reader instead of a protobuf
// runtime: the message is stable and these fields are few.

/** One build step (a "vertex") as BuildKit reports it; repeated updates share the digest. */
export interface TraceVertex {
  digest: string;
  /** "[builder 3/7] RUN pip install …", "[internal] load build context", … */
  name: string;
  cached: boolean;
  completed: boolean;
  error: string | undefined;
}

export interface TraceLog {
  vertex: string;
  text: string;
}

export interface TraceUpdate {
  vertexes: TraceVertex[];
  logs: TraceLog[];
}

/** Decodes one `moby.buildkit.trace` aux payload (base64). Throws on malformed bytes. */
export function decodeTrace(base64: string): TraceUpdate {
  const out: TraceUpdate = { vertexes: [], logs: [] };
  for (const [field, value] of fields(Buffer.from(base64, "base64"))) {
    if (field === 1 && value instanceof Buffer) out.vertexes.push(vertex(value));
    else if (field === 3 && value instanceof Buffer) out.logs.push(log(value));
  }
  return out;
}

// message Vertex { string digest = 1; repeated string inputs = 2; string name = 3; bool cached = 4;
//   Timestamp started = 5; Timestamp completed = 6; string error = 7; … }
function vertex(buf: Buffer): TraceVertex {
  const v: TraceVertex = { digest: "", name: "", cached: false, completed: false, error: undefined };
  for (const [field, value] of fields(buf)) {
    if (field === 1 && value instanceof Buffer) v.digest = value.toString("utf8");
    else if (field === 3 && value instanceof Buffer) v.name = value.toString("utf8");
    else if (field === 4 && typeof value === "bigint") v.cached = value !== 0n;
    else if (field === 6) v.completed = true;
    else if (field === 7 && value instanceof Buffer) v.error = value.toString("utf8") || undefined;
  }
  return v;
}

// message VertexLog { string vertex = 1; Timestamp timestamp = 2; int64 stream = 3; bytes msg = 4; }
function log(buf: Buffer): TraceLog {
  const l: TraceLog = { vertex: "", text: "" };
  for (const [field, value] of fields(buf)) {
    if (field === 1 && value instanceof Buffer) l.vertex = value.toString("utf8");
    else if (field === 4 && value instanceof Buffer) l.text = value.toString("utf8");
  }
  return l;
}

/** The fields of one protobuf message: varints as bigint, length-delimited as Buffer; fixed widths skipped. */
function* fields(buf: Buffer): Generator<[number, bigint | Buffer]> {
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw new Error("truncated BuildKit progress message");
      const b = buf[pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new Error("malformed varint in BuildKit progress message");
    }
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const field = key >>> 3;
    switch (key & 7) {
      case 0:
        yield [field, varint()];
        break;
      case 1:
        pos += 8;
        break;
      case 2: {
        const len = Number(varint());
        if (pos + len > buf.length) throw new Error("truncated BuildKit progress message");
        yield [field, buf.subarray(pos, pos + len)];
        pos += len;
        break;
      }
      case 5:
        pos += 4;
        break;
      default:
        throw new Error(`unknown wire type ${key & 7} in BuildKit progress message`);
    }
  }
}

/** A Dockerfile step vertex ("[stage-0 2/5] RUN …"), as opposed to BuildKit's internal work. */
export const STEP_VERTEX = /^\[(?!internal\])([^\]]*?)\s*(\d+)\/(\d+)\] (.*)$/s;
