// Typed DNS and routing errors. The App turns them into a failed Check Run
// whose text tells the user what to change.
import { PaasError } from "../errors.ts";

/** The hostname has a DNS record that paas did not create: paas never touches those. */
export class DnsRecordConflictError extends PaasError {
  readonly hostname: string;
  constructor(hostname: string, types: string[]) {
    super(
      "dns_record_conflict",
      `hostname ${hostname} already has a DNS record not managed by paas (${types.join(", ")}); ` +
        `delete it in Cloudflare, or choose another app \`name\` or domain in .paas.yml`,
    );
    this.hostname = hostname;
  }
}

/** The DNS provider's API refused or failed after retries. */
export class DnsApiError extends PaasError {
  readonly status: number | undefined;
  constructor(message: string, status: number | undefined, options?: { cause?: unknown }) {
    super("dns_api", message, options);
    this.status = status;
  }
}

/** Operator settings for DNS are missing or malformed; the message names the variable, never its value. */
export class DnsSettingsError extends PaasError {
  constructor(message: string) {
    super("dns_settings", message);
  }
}
