// The error of a build context the platform refuses to send (a path outside
// the repository, a file too large for tar): its own module because the tar
// encoding (tar-header.ts) and the walker (context.ts) both raise it.
import { PaasError } from "../errors.ts";

export class ContextError extends PaasError {
  constructor(message: string) {
    super("build_context_invalid", message);
  }
}
