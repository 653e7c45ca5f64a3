// The base-image list the Action's `base-images` input, `paas deploy
// --base-images` and PAAS_BASE_IMAGES share: `builder=<image>` and
// `runtime=<image>` (or `builder: <image>`), separated by commas or newlines;
// a lone image sets both. One parser, so the two entry points accept the same text.
import { PaasError } from "../errors.ts";

export interface BaseImageChoice {
  builder?: string;
  runtime?: string;
}

/** An image reference as Docker accepts it: lowercase repository path, optional tag and digest. */
export const IMAGE_REF =
  /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d{1,5})?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

export class BaseImagesError extends PaasError {
  constructor(message: string) {
    super("base_images_invalid", message);
  }
}

/** Parses the list; undefined when it is empty. Throws BaseImagesError naming the part at fault. */
export function parseBaseImages(text: string | undefined): BaseImageChoice | undefined {
  const parts = (text ?? "")
    .split(/[\n,]/)
    .map((p) => p.trim())
    .filter(Boolean);
  if (parts.length === 0) return undefined;
  const out: BaseImageChoice = {};
  for (const part of parts) {
    const m = /^(builder|runtime)\s*[=:]\s*(\S+)$/.exec(part);
    const [key, image] = m ? [m[1] as "builder" | "runtime", m[2]!] : [undefined, part];
    if (!IMAGE_REF.test(image))
      throw new BaseImagesError(
        `"${image.slice(0, 100)}" is not an image reference (builder=<image>, runtime=<image>, or one image for both)`,
      );
    if (key) out[key] = image;
    else {
      out.builder = image;
      out.runtime = image;
    }
  }
  return out;
}
