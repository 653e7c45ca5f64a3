import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  cmd,
  defaultBaseImages,
  DockerfileError,
  generateDockerfile,
  resolveBaseImages,
} from "../../src/image/dockerfile.ts";
import type { BuildPlan } from "../../src/detect/types.ts";

const plan = (over: Partial<BuildPlan>): BuildPlan => ({
  language: "python",
  version: "3.12",
  start: "python main.py",
  port: 8080,
  appPath: ".",
  context: ".",
  dockerfile: undefined,
  manifests: [],
  reasons: [],
  ...over,
});

const pythonPlan = plan({
  manifests: ["requirements.txt"],
  python: { installer: "pip", framework: "none", module: undefined },
});
const goPlan = plan({
  language: "go",
  version: "1.22",
  start: "./server",
  port: 3000,
  manifests: ["go.mod", "go.sum"],
  go: { package: "./cmd/server", binary: "server" },
});
const rustPlan = plan({
  language: "rust",
  version: "1.80",
  start: "./api",
  manifests: ["Cargo.toml", "Cargo.lock", "crates/api/Cargo.toml"],
  rust: { bin: "api", package: "api" },
});

/** Lines of the stage starting at the n-th FROM (0-based). */
function stage(text: string, n: number): string[] {
  const lines = text.split("\n");
  const starts = lines.flatMap((l, i) => (l.startsWith("FROM ") ? [i] : []));
  return lines.slice(starts[n], starts[n + 1]);
}

describe("generateDockerfile", () => {
  for (const p of [pythonPlan, goPlan, rustPlan]) {
    describe(p.language, () => {
      const text = generateDockerfile(p, defaultBaseImages(p));
      const final = stage(text, 1);

      it("is multi-stage: a builder, then a runtime stage", () => {
        assert.match(text, /^FROM \S+ AS builder$/m);
        assert.equal(text.split("\n").filter((l) => l.startsWith("FROM ")).length, 2);
      });

      it("runs as a numeric non-root user and exposes the configured port", () => {
        assert.ok(final.includes("USER 65532:65532"));
        assert.ok(final.includes(`EXPOSE ${p.port}`));
        assert.ok(final.includes(`ENV PORT=${p.port}`));
      });

      it("bakes the commit sha and the OCI labels in from build args, last", () => {
        const tail = final.filter(Boolean).slice(-4);
        assert.deepEqual(tail, [
          "ARG PAAS_COMMIT_SHA=unknown",
          "ARG PAAS_SOURCE_URL=",
          "ENV PAAS_COMMIT_SHA=$PAAS_COMMIT_SHA",
          "LABEL org.opencontainers.image.source=$PAAS_SOURCE_URL org.opencontainers.image.revision=$PAAS_COMMIT_SHA",
        ]);
      });

      it("copies the dependency manifests and installs them before the source", () => {
        const builder = stage(text, 0);
        const copySource = builder.indexOf("COPY . .");
        assert.ok(copySource > 0);
        for (const m of p.manifests) {
          const at = builder.findIndex((l) => l.startsWith("COPY ") && l.split(" ").includes(m));
          assert.ok(at >= 0 && at < copySource, `${m} copied before the source`);
        }
        const install = builder.findIndex((l) => /(pip install|go mod download|cargo build)/.test(l));
        assert.ok(install > 0 && install < copySource, "dependencies installed before the source is copied");
      });

      it("starts the detected command", () => {
        assert.ok(final.includes(`CMD ${cmd(p.start!)}`));
      });
    });
  }

  it("Python: a virtualenv built with python3, copied into the runtime", () => {
    const text = generateDockerfile(pythonPlan, { builder: "b:1", runtime: "r:1" });
    assert.match(text, /^RUN python3 -m venv \/venv$/m);
    assert.match(
      text,
      /^RUN --mount=type=cache,target=\/root\/\.cache\/pip pip install -r requirements\.txt$/m,
    );
    assert.match(text, /^ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_CACHE_DIR=\/root\/\.cache\/pip /m);
    assert.ok(stage(text, 1).includes("COPY --from=builder /venv /venv"));
    assert.ok(stage(text, 1)[0] === "FROM r:1");
  });

  it("without cache mounts (the classic builder): plain RUN lines, and pip keeps no cache", () => {
    for (const p of [pythonPlan, goPlan, rustPlan]) {
      const text = generateDockerfile(p, { builder: "b:1", runtime: "r:1" }, { cacheMounts: false });
      assert.doesNotMatch(text, /--mount/);
    }
    const py = generateDockerfile(pythonPlan, { builder: "b:1", runtime: "r:1" }, { cacheMounts: false });
    assert.match(py, /^RUN pip install -r requirements\.txt$/m);
    assert.match(py, /PIP_NO_CACHE_DIR=1/);
  });

  it("with cache mounts: the package managers' download and build caches, at the paths their ENV sets", () => {
    const go = generateDockerfile(goPlan, defaultBaseImages(goPlan));
    assert.match(go, /GOMODCACHE=\/go\/pkg\/mod GOCACHE=\/go\/cache/);
    // The build cache mount, seeded from the dependency layer when it is empty (a fresh runner).
    assert.match(
      go,
      /^RUN --mount=type=cache,target=\/root\/\.cache\/go-build \[ -e \/root\/\.cache\/go-build\/README \] \|\| cp -a \/go\/cache\/\. \/root\/\.cache\/go-build\/; GOCACHE=\/root\/\.cache\/go-build go build /m,
    );
    const rust = generateDockerfile(rustPlan, defaultBaseImages(rustPlan));
    assert.match(rust, /CARGO_HOME=\/usr\/local\/cargo/);
    // The registry is a cache mount in both cargo steps; target/ stays in the dependency layer.
    assert.equal(rust.match(/--mount=type=cache,target=\/usr\/local\/cargo\/registry/g)?.length, 2);
    assert.doesNotMatch(rust, /target=\/src\/target/);
  });

  it("Python: uv, poetry and pipenv install from their lock files before the source", () => {
    for (const [installer, manifests, expected] of [
      ["uv", ["pyproject.toml", "uv.lock"], /uv sync --frozen --no-dev --no-install-project/],
      ["poetry", ["pyproject.toml", "poetry.lock"], /poetry install --only main --no-root/],
      ["pipenv", ["Pipfile", "Pipfile.lock"], /pipenv requirements > \/tmp\/requirements\.txt/],
    ] as const) {
      const p = plan({
        manifests: [...manifests],
        python: { installer, framework: "none", module: undefined },
      });
      const builder = stage(generateDockerfile(p, defaultBaseImages(p)), 0);
      const install = builder.findIndex((l) => expected.test(l));
      assert.ok(install > 0 && install < builder.indexOf("COPY . ."), installer);
    }
  });

  it("Python with uv: the project itself is synced after the source only when it is a package", () => {
    const after = (installsProject: boolean | undefined) => {
      const p = plan({
        manifests: ["pyproject.toml", "uv.lock"],
        python: { installer: "uv", framework: "none", module: undefined, installsProject },
      });
      const builder = stage(generateDockerfile(p, defaultBaseImages(p)), 0);
      return builder.slice(builder.indexOf("COPY . .")).filter((l) => /\buv sync /.test(l));
    };
    // Not a package: the dependency layer is all; a source change rebuilds nothing of the venv.
    assert.deepEqual(after(false), []);
    assert.equal(after(true).length, 1);
    assert.match(after(true)[0]!, /uv sync --frozen --no-dev$/);
    // Plans without the field (written before it existed) keep the sync.
    assert.equal(after(undefined).length, 1);
  });

  it("Go: modules and the imported packages compiled in layers before the source, which the registry cache carries", () => {
    const deps = ["github.com/go-chi/chi/v5", "golang.org/x/time/rate"];
    for (const cacheMounts of [true, false]) {
      const builder = stage(
        generateDockerfile(goPlan, defaultBaseImages(goPlan), { cacheMounts, goDependencies: deps }),
        0,
      );
      const download = builder.indexOf("RUN go mod download");
      const warm = builder.findIndex((l) => l.startsWith("RUN go list -e "));
      assert.ok(download > builder.indexOf("COPY go.mod go.sum ./"), builder.join("\n"));
      assert.ok(warm > download && warm < builder.indexOf("COPY . ."), builder.join("\n"));
      assert.match(
        builder[warm]!,
        / github\.com\/go-chi\/chi\/v5 golang\.org\/x\/time\/rate \| xargs -r go build -trimpath$/,
      );
      // Neither step writes into a cache mount: what they produce is in the layer.
      assert.doesNotMatch(builder[download]! + builder[warm]!, /--mount/);
    }
    // No imports, no step; an import path a shell would read is refused.
    assert.doesNotMatch(generateDockerfile(goPlan, defaultBaseImages(goPlan)), /go list/);
    assert.throws(
      () =>
        generateDockerfile(goPlan, defaultBaseImages(goPlan), { goDependencies: ["example.com/x;rm -rf /"] }),
      /not a Go import path/,
    );
  });

  it("Go: static, stripped, toolchain pinned to the local one", () => {
    const text = generateDockerfile(goPlan, defaultBaseImages(goPlan));
    assert.match(text, /^ENV CGO_ENABLED=0 GOTOOLCHAIN=local/m);
    assert.match(text, /^RUN [^\n]*go build -trimpath -ldflags="-s -w" -o \/out\/server \.\/cmd\/server$/m);
    assert.match(text, /^FROM golang:1\.22 AS builder$/m);
    assert.match(text, /^FROM gcr\.io\/distroless\/static-debian12:nonroot$/m);
    assert.ok(stage(text, 1).includes("COPY --from=builder /out/server /app/server"));
  });

  it("Rust: release build of the chosen bin and package, stub-compiled dependencies for every crate", () => {
    const text = generateDockerfile(rustPlan, defaultBaseImages(rustPlan));
    assert.match(text, /mkdir -p src && echo 'fn main\(\) \{\}' > src\/main\.rs/);
    assert.match(text, /mkdir -p crates\/api\/src/);
    assert.match(text, /cargo build --release -p api --bin api && mkdir -p \/out/);
    assert.match(text, /^FROM rust:1\.80 AS builder$/m);
    assert.match(text, /^FROM gcr\.io\/distroless\/cc-debian12:nonroot$/m);
    assert.ok(text.includes("COPY Cargo.toml Cargo.lock ./"));
    assert.ok(text.includes("COPY crates/api/Cargo.toml crates/api/"));
  });

  it("is the same text for the same plan (the sha is a build arg, not text)", () => {
    assert.equal(
      generateDockerfile(goPlan, defaultBaseImages(goPlan)),
      generateDockerfile(goPlan, defaultBaseImages(goPlan)),
    );
  });

  it("refuses manifest paths and names that could inject Dockerfile text", () => {
    assert.throws(
      () =>
        generateDockerfile(
          { ...pythonPlan, manifests: ["requirements.txt\nRUN curl evil"] },
          defaultBaseImages(pythonPlan),
        ),
      DockerfileError,
    );
    assert.throws(
      () =>
        generateDockerfile({ ...pythonPlan, manifests: ["../etc/passwd"] }, defaultBaseImages(pythonPlan)),
      DockerfileError,
    );
    assert.throws(
      () => generateDockerfile({ ...goPlan, go: { package: ".", binary: "a b" } }, defaultBaseImages(goPlan)),
      /Go binary name "a b"/,
    );
    assert.throws(
      () => generateDockerfile(plan({ language: "dockerfile" }), { builder: "x", runtime: "y" }),
      DockerfileError,
    );
  });
});

describe("base images", () => {
  it("default to the official images for the detected version", () => {
    assert.deepEqual(defaultBaseImages(pythonPlan), {
      builder: "python:3.12-slim",
      runtime: "python:3.12-slim",
    });
    assert.deepEqual(defaultBaseImages({ ...rustPlan, version: "stable" }).builder, "rust:1");
    assert.deepEqual(defaultBaseImages({ ...goPlan, version: undefined }).builder, "golang:1.23");
  });

  it("take .paas.yml build.base, then the Action input, field by field", () => {
    const fromConfig = { builder: "paas-base/python:bookworm", runtime: undefined };
    const fromInput = { runtime: "registry.example.com/python:slim" };
    assert.deepEqual(resolveBaseImages(pythonPlan, fromConfig, fromInput), {
      builder: "paas-base/python:bookworm",
      runtime: "registry.example.com/python:slim",
    });
    assert.deepEqual(resolveBaseImages(pythonPlan, undefined, undefined), defaultBaseImages(pythonPlan));
  });
});

describe("cmd", () => {
  it("uses the exec form when no shell is needed (distroless has none)", () => {
    assert.equal(cmd("./server"), '["./server"]');
    assert.equal(cmd("python main.py --workers=2"), '["python","main.py","--workers=2"]');
  });

  it("uses /bin/sh -c when the command needs the shell, so $PORT expands", () => {
    assert.equal(
      cmd("gunicorn -b 0.0.0.0:$PORT app:app"),
      JSON.stringify(["/bin/sh", "-c", "exec gunicorn -b 0.0.0.0:$PORT app:app"]),
    );
  });
});
