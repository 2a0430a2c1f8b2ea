/**
 * `lpkit verify --trust CERT_OR_FOLDER [--trust ...] [--json] FILE`: checks
 * an appended module signature against trusted certificates with the
 * kernel's rules (schema `lpkit.verify/1`, packages/signer/README.md "CLI").
 * Also the helpers the `sign` and `extract` commands share.
 *
 * @module
 */
import {
  type ByteSource,
  describeSignature,
  loadTrustStore,
  type PayloadCertificate,
  type PayloadSigner,
  readSourceRange,
  SignatureError,
  type SignatureInfo,
  type TrustStore,
  verifyDetached,
  verifySource,
} from "@lpkit/signer";
import { type Command, parseCommandArgs, readInput, useColor, withInput } from "../command.ts";
import { CliError } from "../errors.ts";
import { style, table, toJson } from "../format.ts";
import type { Io } from "../platform.ts";

/**
 * Runs `fn`, turning a {@linkcode SignatureError} into a one-line
 * {@linkcode CliError} that ends with the stable code: `FILE: message [CODE]`.
 *
 * @example
 * ```ts
 * import { CliError } from "@lpkit/cli";
 * import { withSignatureErrors } from "./verify.ts";
 * import { SignatureError } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 * assert.throws(
 *   () => withSignatureErrors("f", () => { throw new SignatureError("UNSIGNED", "no marker"); }),
 *   (e) => e instanceof CliError && e.message === "f: no marker [UNSIGNED]",
 * );
 * ```
 */
export function withSignatureErrors<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof SignatureError) {
      throw new CliError(e.code, `${file}: ${e.message} [${e.code}]`);
    }
    throw e;
  }
}

/**
 * The trust store of `--trust` paths: PEM bundles, DER certificates, and
 * folders of `.pem`/`.crt`/`.cer`/`.der` files, read through `io`.
 *
 * @example
 * ```ts
 * import { readTrust } from "./verify.ts";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 * const io = {
 *   readFile: (p: string) => readFileSync(p), readDir: () => [], isDirectory: () => false,
 * };
 * assert.equal(readTrust(io, ["packages/signer/testdata/rsa2048.crt"]).size, 1);
 * ```
 */
export function readTrust(
  io: Pick<Io, "readFile" | "readDir" | "isDirectory">,
  paths: readonly string[],
): TrustStore {
  if (paths.length === 0) {
    throw new CliError("USAGE", "at least one --trust CERT_OR_FOLDER is needed");
  }
  return withSignatureErrors(
    "--trust",
    () =>
      loadTrustStore(paths, {
        readFile: (path) => readInput(io, path),
        readDir: (path) => io.readDir(path),
        isDirectory: (path) => io.isDirectory(path),
      }),
  );
}

/**
 * Who signed, as the rows `sign` and `verify` print.
 *
 * @example
 * ```ts
 * import { renderSigner } from "./verify.ts";
 * import assert from "node:assert/strict";
 * const rows = renderSigner({
 *   issuer: "CN=k", subject: "CN=k", serial: "01", keyId: null,
 *   identifiedBy: "issuerAndSerialNumber", name: null,
 * });
 * assert.deepEqual(rows[3], ["key id", "(none)"]);
 * ```
 */
export function renderSigner(signer: PayloadSigner): string[][] {
  const rows = [
    ["issuer", signer.issuer],
    ["subject", signer.subject],
    ["serial", signer.serial],
    ["key id", signer.keyId ?? "(none)"],
    ["named by", signer.identifiedBy],
  ];
  if (signer.name !== null) rows.push(["name", signer.name]);
  return rows;
}

/** The `--json` document of `verify` (schema `lpkit.verify/1`). */
export interface VerifyReport {
  schema: "lpkit.verify/1";
  file: string;
  /** True only for a valid signature by a trusted key. */
  valid: boolean;
  /** The detached `.p7s` given with `--signature`, else null. */
  signatureFile: string | null;
  format: "pkcs7" | "legacy" | null;
  signer: PayloadSigner | null;
  /**
   * The trusted certificate that anchored the signature: the signer's own
   * (sign-file's case), or the CA an embedded chain leads to.
   */
  anchor: PayloadCertificate | null;
  /** Signer first, anchor last; one link when the signer is trusted directly. */
  chain: PayloadCertificate[] | null;
  keyId: string | null;
  hash: string | null;
  algorithm: string | null;
  keyAlgorithm: "rsa" | "ecdsa" | null;
  payloadSize: number | null;
  trailerSize: number | null;
  /** Why the signature is not valid (`valid: false`), else null. */
  error: {
    /** The stable SignatureError code, e.g. `BAD_SIGNATURE`. */
    code: string;
    /** One line. */
    message: string;
    /** Byte offset of the offending field in the file, or null. */
    offset: number | null;
    /** The errno an enforcing host returns, negative as Xen returns it (e.g. -13). */
    errno: number;
    /** Its name, e.g. `EACCES`. */
    errnoName: string;
  } | null;
}

/**
 * Builds the verify report of a signed file (or of a payload and its detached
 * PKCS#7): never throws for a bad signature, which is `valid: false` with the
 * error. The file is read in chunks (a detached signature's payload whole:
 * the signer verifies a detached PKCS#7 over bytes in memory).
 *
 * @example
 * ```ts
 * import { verifyReport } from "./verify.ts";
 * import { bytesSource, TrustStore } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 * const r = verifyReport("x", bytesSource(new Uint8Array(8)), new TrustStore());
 * assert.equal(r.valid, false);
 * assert.equal(r.error?.code, "UNSIGNED");
 * ```
 */
export function verifyReport(
  file: string,
  source: ByteSource,
  trust: TrustStore,
  options: {
    allowSha1?: boolean;
    allowLegacy?: boolean;
    signature?: { file: string; bytes: Uint8Array };
  } = {},
): VerifyReport {
  const base = {
    schema: "lpkit.verify/1" as const,
    file,
    signatureFile: options.signature?.file ?? null,
  };
  let info: SignatureInfo;
  try {
    info = options.signature === undefined ? verifySource(source, trust, options) : verifyDetached(
      readSourceRange(source, 0, source.size),
      options.signature.bytes,
      trust,
      options,
    );
  } catch (e) {
    if (!(e instanceof SignatureError)) throw e;
    return {
      ...base,
      valid: false,
      format: null,
      signer: null,
      anchor: null,
      chain: null,
      keyId: null,
      hash: null,
      algorithm: null,
      keyAlgorithm: null,
      payloadSize: null,
      trailerSize: null,
      error: {
        code: e.code,
        message: e.message,
        offset: e.offset ?? null,
        errno: e.errno,
        errnoName: e.errnoName,
      },
    };
  }
  const d = describeSignature(info);
  return {
    ...base,
    valid: true,
    format: d.format,
    signer: d.signer,
    anchor: d.anchor,
    chain: [...d.chain],
    keyId: d.keyId,
    hash: d.hash,
    algorithm: d.algorithm,
    keyAlgorithm: d.keyAlgorithm,
    payloadSize: info.payloadLength,
    trailerSize: source.size - info.payloadLength,
    error: null,
  };
}

function renderVerify(r: VerifyReport, color: boolean): string {
  const s = style(color);
  if (r.signer === null) return "";
  const format = r.format === "legacy" ? "legacy (Linux 3.7–4.2 layout)" : "PKCS#7 (sign-file)";
  let out = `${s.heading(r.file)}: valid signature by a trusted key\n`;
  out += table([
    ["format", r.signatureFile === null ? format : `detached PKCS#7 ${r.signatureFile}`],
    ...renderSigner(r.signer),
    // An embedded chain: how the signer reaches the trusted certificate.
    ...(r.chain !== null && r.chain.length > 1
      ? [["chain", r.chain.map((l) => l.subject).join(", signed by ")], [
        "trusted",
        r.anchor!.subject,
      ]]
      : []),
    ["hash", r.hash ?? ""],
    ["key", r.algorithm ?? ""],
    ["payload", `${r.payloadSize} bytes, trailer ${r.trailerSize} bytes`],
  ]);
  return out;
}

const USAGE = `Usage: lpkit verify --trust CERT_OR_FOLDER [--trust ...] [options] FILE

Checks FILE's appended module signature ("~Module signature appended~") with
the Linux kernel's rules against the trusted certificates, and prints who
signed it. Exits 0 only for a valid signature by a trusted key.

Trust: a certificate (PEM or DER), a PEM bundle, or a folder of .pem, .crt,
.cer and .der files; repeat --trust for more.

Options:
  --trust PATH        A trusted certificate, bundle or folder (repeatable)
  --signature P7S     Verify FILE (unsigned) against this detached PKCS#7
                      (sign-file -d / lpkit sign --detached)
  --legacy            Also accept the legacy Linux 3.7–4.2 layout (id_type X.509)
  --allow-sha1        Accept SHA-1 digests (deprecated; MD4/MD5 never are)
  --json              Print the result as JSON (schema lpkit.verify/1), also
                      for an invalid signature

Errors end with a stable code, e.g. [UNSIGNED], [UNTRUSTED], [BAD_SIGNATURE]
(the list is in packages/signer/README.md).

Examples:
  lpkit verify --trust signing_key.x509 hello.livepatch
  lpkit verify --trust /etc/lpkit/trusted.d --json hello.livepatch
  lpkit verify --trust key.crt --signature hello.livepatch.p7s hello.livepatch
`;

/** `lpkit verify`. */
export const verifyCommand: Command = {
  name: "verify",
  usage: USAGE,
  run(args, io) {
    const { values, positionals } = parseCommandArgs(args, this.usage, {
      trust: { type: "string", multiple: true },
      signature: { type: "string" },
      legacy: { type: "boolean" },
      "allow-sha1": { type: "boolean" },
      json: { type: "boolean" },
    });
    if (values.help) {
      io.stdout(this.usage);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new CliError("USAGE", `verify takes exactly one file\n\n${this.usage}`);
    }
    if (values.signature !== undefined && values.legacy) {
      throw new CliError("USAGE", "--legacy has no detached form; drop --signature or --legacy");
    }
    const file = positionals[0];
    const trust = readTrust(io, values.trust ?? []);
    const report = withInput(io, file, (input) => {
      const signature = values.signature === undefined
        ? undefined
        : { file: values.signature, bytes: readInput(io, values.signature) };
      return verifyReport(file, input, trust, {
        allowSha1: values["allow-sha1"],
        allowLegacy: values.legacy,
        signature,
      });
    });
    const line = report.error === null
      ? undefined
      : `${file}: ${report.error.message} [${report.error.code}]`;
    if (!values.json) {
      if (line !== undefined) throw new CliError(report.error!.code, line);
      io.stdout(renderVerify(report, useColor(io)));
      return 0;
    }
    // The document is the answer, valid or not; the one line goes to stderr as for any error.
    io.stdout(toJson(report));
    if (line === undefined) return 0;
    io.stderr(`lpkit verify: ${line}\n`);
    return 1;
  },
};
