// The typed result of language detection, shared by the Action (Dockerfile
// generation), the CLI (`paas detect`, `paas deploy`) and the App (reports).

export type DetectedLanguage = "python" | "go" | "rust" | "dockerfile";
export type PythonInstaller = "pip" | "uv" | "poetry" | "pipenv";
export type PythonFramework = "django" | "flask" | "fastapi" | "starlette" | "none";

export interface BuildPlan {
  language: DetectedLanguage;
  /** Toolchain version: Python "3.12", Go "1.23", Rust "1.80" or "stable"; undefined for dockerfile. */
  version: string | undefined;
  /**
   * Start command run by `/bin/sh -c` with $PORT set, from the image's working
   * directory; undefined when the Dockerfile's CMD is used. `run.command` wins
   * when set. Python: a server or script command ("gunicorn app:app --bind
   * 0.0.0.0:$PORT"). Go and Rust: `./<binary>` (`go.binary` / `rust.bin`): the
   * Action puts the built binary in the working directory of the final stage.
   */
  start: string | undefined;
  port: number;
  /** App folder inside the repository ("." for the root). */
  appPath: string;
  /** Build context relative to the app folder. */
  context: string;
  /** Dockerfile relative to the app folder, when the repository brings one. */
  dockerfile: string | undefined;
  /**
   * Dependency manifests (relative to the context) that exist, copied before the
   * source so source-only changes reuse layers; [] for dockerfile.
   */
  manifests: string[];
  python?: {
    installer: PythonInstaller;
    framework: PythonFramework;
    /** WSGI/ASGI target "module:attr" when a framework server is used. */
    module: string | undefined;
    /**
     * uv only: whether `uv sync` builds and installs the project itself (a [build-system], or
     * tool.uv.package = true), which needs the source. False for an application that is not a
     * package: the dependencies are all there is to install, before the source.
     */
    installsProject?: boolean;
  };
  go?: {
    /** Main package relative to the module root ("." or "./cmd/server"). */
    package: string;
    /** Name of the built binary. */
    binary: string;
  };
  rust?: {
    bin: string;
    /** Workspace member holding the binary, when not the root package. */
    package: string | undefined;
  };
  /** One sentence per choice, e.g. "python via uv.lock". */
  reasons: string[];
}

/** Read-only view of the files of an app, so detection works on a disk folder or a git tree. */
export interface FileSource {
  /** File text, or undefined when absent. Paths are relative, "/"-separated. */
  read(path: string): Promise<string | undefined>;
  /** Entries (names only) of a directory, or [] when absent. Directories end with "/". */
  list(dir: string): Promise<string[]>;
}
