/**
 * `lpkit sign --key KEY --cert CERT [--hash ...] [--keyid] [--detached]
 * [--legacy] [-o OUT] FILE`: appends a module signature as Linux's
 * `sign-file` does (byte-identical for RSA), writes a detached `.p7s`
 * (`sign-file -d`), appends a PKCS#7 made elsewhere (`sign-file -s`), or
 * signs in the legacy layout (schema `lpkit.sign/1`, packages/signer/README.md "CLI").
 *
 * @module
 */
import {
  createPkcs7FromSource,
  describeSignature,
  encodeSignatureTrailer,
  forEachChunk,
  hasSignatureMarker,
  MODULE_SIG_MAGIC,
  parseCertificate,
  parsePkcs7,
  parsePrivateKey,
  type PayloadSigner,
  readSourceRange,
  type SigningCredentials,
  signingCredentials,
  type SigningHash,
  signPayloadLegacy,
  TRAILER_SIZE,
  TrustStore,
  verifyDetached,
} from "@lpkit/signer";
import {
  type Command,
  parseCommandArgs,
  readInput,
  withInput,
  writeOutput,
  writeOutputStream,
} from "../command.ts";
import { CliError } from "../errors.ts";
import { hexBytes, table, toJson } from "../format.ts";
import type { FileReader, Io } from "../platform.ts";
import { renderSigner, withSignatureErrors } from "./verify.ts";

/** The `--json` document of `sign` (schema `lpkit.sign/1`). */
export interface SignReport {
  schema: "lpkit.sign/1";
  file: string;
  output: string;
  /** `pkcs7` (sign-file's format) or `legacy`. */
  format: "pkcs7" | "legacy";
  /** Whether only the detached PKCS#7 was written (`--detached`). */
  detached: boolean;
  /** Whether the PKCS#7 came from `--pkcs7` (made elsewhere). */
  attached: boolean;
  hash: string;
  /** The key, e.g. `RSA-2048`; null for `--pkcs7` without `--cert`. */
  algorithm: string | null;
  keyAlgorithm: "rsa" | "ecdsa";
  /** The signer; null for `--pkcs7` without `--cert`. */
  signer: PayloadSigner | null;
  payloadSize: number;
  /** Bytes of the PKCS#7 (or of the legacy signature data). */
  signatureSize: number;
  outputSize: number;
}

const HASHES: readonly string[] = ["sha256", "sha384", "sha512"];

const USAGE = `Usage: lpkit sign --key KEY --cert CERT [options] FILE
       lpkit sign --pkcs7 P7S [--cert CERT] [options] FILE

Appends a Linux module signature to FILE, as the kernel's sign-file does:
FILE || PKCS#7 (detached, no signed attributes, no certificates) || 12-byte
header || "~Module signature appended~\\n". For RSA keys the output is
byte-identical to sign-file's. FILE is replaced (atomically) unless -o is
given. A FILE that is already signed is refused: strip it with
'lpkit extract FILE --payload OUT' first.

Keys: RSA 2048-4096 bits or ECDSA P-256/P-384, PEM or DER (PKCS#8, PKCS#1,
SEC1); an encrypted key's passphrase is read from KBUILD_SIGN_PIN, as
sign-file does. Certificates: PEM or DER.

Options:
  --key KEY          The private key
  --cert CERT        Its X.509 certificate (names the signer)
  --hash HASH        sha256 (default), sha384 or sha512
  --keyid            Name the signer by subject key identifier (sign-file -k)
  --include-cert     Embed the certificate in the PKCS#7 (sign-file never does)
  --detached         Write only the PKCS#7 to FILE.p7s (sign-file -d)
  --pkcs7 P7S        Append this PKCS#7 made elsewhere (sign-file -s); with
                     --cert it must verify over FILE with that certificate
  --legacy           Sign in the LEGACY Linux 3.7–4.2 layout (RSA only;
                     current kernels reject it; for old verifiers only)
  -o, --output OUT   Write here instead of replacing FILE (or FILE.p7s)
  --json             Print what was done as JSON (schema lpkit.sign/1)

Examples:
  lpkit sign --key signing_key.pem --cert signing_key.x509 hello.livepatch
  lpkit sign --key key.pem --cert key.crt --hash sha512 --keyid -o hello.signed hello.livepatch
  lpkit sign --key key.pem --cert key.crt --detached hello.livepatch
  lpkit sign --pkcs7 hello.livepatch.p7s --cert key.crt hello.livepatch
`;

function credentials(io: Io, keyFile: string, certFile: string): SigningCredentials {
  const key = readInput(io, keyFile);
  const cert = readInput(io, certFile);
  const passphrase = io.env("KBUILD_SIGN_PIN");
  const privateKey = withSignatureErrors(keyFile, () => parsePrivateKey(key, { passphrase }));
  const certificate = withSignatureErrors(certFile, () => parseCertificate(cert));
  return withSignatureErrors(keyFile, () => signingCredentials(privateKey, certificate));
}

function signerOf(creds: SigningCredentials, useKeyId: boolean, legacy: boolean): PayloadSigner {
  const c = creds.certificate;
  return {
    issuer: c.issuer,
    subject: c.subject,
    serial: c.serialHex,
    keyId: c.subjectKeyId === undefined ? null : hexBytes(c.subjectKeyId).replaceAll(" ", ""),
    identifiedBy: legacy ? "legacy" : useKeyId ? "subjectKeyIdentifier" : "issuerAndSerialNumber",
    name: null,
  };
}

function conflicts(values: Record<string, unknown>, option: string, others: string[]): void {
  for (const other of others) {
    if (values[other] !== undefined) {
      throw new CliError("USAGE", `--${option} and --${other} do not go together`);
    }
  }
}

function renderSign(r: SignReport): string {
  const what = r.detached
    ? "detached PKCS#7"
    : r.format === "legacy"
    ? "LEGACY signature (Linux 3.7–4.2 layout)"
    : r.attached
    ? "PKCS#7 (attached as given)"
    : "PKCS#7 signature";
  let out = `signed ${r.file} -> ${r.output}: ${what}\n`;
  out += table([
    ...(r.signer === null ? [] : renderSigner(r.signer)),
    ["hash", r.hash],
    ["key", r.algorithm ?? r.keyAlgorithm],
    [
      "sizes",
      `payload ${r.payloadSize}, signature ${r.signatureSize}, output ${r.outputSize} bytes`,
    ],
  ]);
  return out;
}

/** `lpkit sign`. */
export const signCommand: Command = {
  name: "sign",
  usage: USAGE,
  run(args, io) {
    const { values, positionals } = parseCommandArgs(args, this.usage, {
      key: { type: "string" },
      cert: { type: "string" },
      hash: { type: "string" },
      keyid: { type: "boolean" },
      "include-cert": { type: "boolean" },
      detached: { type: "boolean" },
      pkcs7: { type: "string" },
      legacy: { type: "boolean" },
      output: { type: "string", short: "o" },
      json: { type: "boolean" },
    });
    if (values.help) {
      io.stdout(this.usage);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new CliError("USAGE", `sign takes exactly one file\n\n${this.usage}`);
    }
    const hash = values.hash ?? "sha256";
    if (!HASHES.includes(hash)) {
      throw new CliError("USAGE", `--hash ${hash}: lpkit signs with sha256, sha384 or sha512`);
    }
    if (values.pkcs7 !== undefined) {
      conflicts(values, "pkcs7", ["key", "hash", "keyid", "include-cert", "detached", "legacy"]);
    } else if (values.key === undefined || values.cert === undefined) {
      throw new CliError("USAGE", `sign needs --key and --cert (or --pkcs7)\n\n${this.usage}`);
    }
    if (values.legacy) conflicts(values, "legacy", ["keyid", "include-cert", "detached"]);
    const file = positionals[0];
    // The payload is read in chunks, hashed and copied to the output in one pass.
    return withInput(io, file, (payload) => {
      const end = Math.min(payload.size, MODULE_SIG_MAGIC.length);
      if (hasSignatureMarker(readSourceRange(payload, payload.size - end, end))) {
        throw new CliError(
          "ALREADY_SIGNED",
          `${file} already ends with a module signature; strip it first with 'lpkit extract ${file} --payload OUT'`,
        );
      }
      const report = values.pkcs7 !== undefined
        ? attach(io, file, payload, values.pkcs7, values.cert, values.output)
        : sign(io, file, payload, {
          creds: credentials(io, values.key!, values.cert!),
          hash: hash as SigningHash,
          useKeyId: values.keyid === true,
          includeCertificate: values["include-cert"] === true,
          detached: values.detached === true,
          legacy: values.legacy === true,
          output: values.output,
        });
      io.stdout(values.json ? toJson(report) : renderSign(report));
      return 0;
    });
  },
};

function sign(io: Io, file: string, payload: FileReader, o: {
  creds: SigningCredentials;
  hash: SigningHash;
  useKeyId: boolean;
  includeCertificate: boolean;
  detached: boolean;
  legacy: boolean;
  output: string | undefined;
}): SignReport {
  const output = o.output ?? (o.detached ? `${file}.p7s` : file);
  const opts = { hash: o.hash, useKeyId: o.useKeyId, includeCertificate: o.includeCertificate };
  let signatureSize: number;
  let outputSize: number;
  if (o.detached) {
    const p7 = withSignatureErrors(file, () => createPkcs7FromSource(payload, o.creds, opts));
    writeOutput(io, output, p7);
    signatureSize = outputSize = p7.length;
  } else if (o.legacy) {
    // The signer signs the legacy layout in memory only (a niche: old verifiers).
    const bytes = readSourceRange(payload, 0, payload.size);
    const out = withSignatureErrors(
      file,
      () => signPayloadLegacy(bytes, o.creds, { hash: o.hash }),
    );
    writeOutput(io, output, out);
    signatureSize = new DataView(out.buffer, out.byteOffset).getUint32(out.length - 32);
    outputSize = out.length;
  } else {
    // Output may be the input: the reader keeps the old file open across the rename.
    const p7 = writeOutputStream(io, output, (write) => {
      const der = withSignatureErrors(
        file,
        () => createPkcs7FromSource(payload, o.creds, opts, write),
      );
      write(encodeSignatureTrailer(der));
      return der;
    });
    signatureSize = p7.length;
    outputSize = payload.size + p7.length + TRAILER_SIZE;
  }
  return {
    schema: "lpkit.sign/1",
    file,
    output,
    format: o.legacy ? "legacy" : "pkcs7",
    detached: o.detached,
    attached: false,
    hash: o.hash,
    algorithm: o.creds.certificate.keyDescription,
    keyAlgorithm: o.creds.key.algorithm,
    signer: signerOf(o.creds, o.useKeyId, o.legacy),
    payloadSize: payload.size,
    signatureSize,
    outputSize,
  };
}

function attach(
  io: Io,
  file: string,
  payload: FileReader,
  p7File: string,
  certFile: string | undefined,
  output: string | undefined,
): SignReport {
  const p7 = readInput(io, p7File);
  // The kernel's shape rules first (SHA-1 included: the kernel would judge it, not us).
  const parsed = withSignatureErrors(p7File, () => parsePkcs7(p7, { allowSha1: true }));
  let signer: PayloadSigner | null = null;
  let algorithm: string | null = null;
  if (certFile !== undefined) {
    const cert = withSignatureErrors(certFile, () => parseCertificate(readInput(io, certFile)));
    // The signer verifies a detached PKCS#7 over bytes in memory only.
    const bytes = readSourceRange(payload, 0, payload.size);
    const info = withSignatureErrors(
      p7File,
      () => verifyDetached(bytes, p7, new TrustStore([cert]), { allowSha1: true }),
    );
    ({ signer, algorithm } = describeSignature(info));
  }
  const trailer = encodeSignatureTrailer(p7);
  const target = output ?? file;
  writeOutputStream(io, target, (write) => {
    forEachChunk(payload, payload.size, write);
    write(trailer);
  });
  return {
    schema: "lpkit.sign/1",
    file,
    output: target,
    format: "pkcs7",
    detached: false,
    attached: true,
    hash: parsed.hash,
    algorithm,
    keyAlgorithm: parsed.keyAlgorithm,
    signer,
    payloadSize: payload.size,
    signatureSize: p7.length,
    outputSize: payload.size + trailer.length,
  };
}
