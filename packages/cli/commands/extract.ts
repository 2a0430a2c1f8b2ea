/**
 * `lpkit extract FILE [--payload OUT] [--signature OUT]`: takes a signed file
 * apart like Linux's `scripts/extract-module-sig.pl` (`-0` payload, `-s`
 * signature, `-d` header); only the bounds are checked, not the signature
 * (schema `lpkit.extract/1`, packages/signer/README.md "CLI").
 *
 * @module
 */
import {
  forEachChunk,
  type ModuleSignatureHeader,
  PKEY_ID_PKCS7,
  PKEY_ID_X509,
  readLegacySignature,
} from "@lpkit/signer";
import {
  type Command,
  parseCommandArgs,
  withInput,
  writeOutput,
  writeOutputStream,
} from "../command.ts";
import { CliError } from "../errors.ts";
import { hexBytes, table, toJson } from "../format.ts";
import { withSignatureErrors } from "./verify.ts";

/** The `--json` document of `extract` (schema `lpkit.extract/1`). */
export interface ExtractReport {
  schema: "lpkit.extract/1";
  file: string;
  /** `pkcs7` (id_type 2), `legacy` (id_type 1) or `unknown` (another id_type). */
  format: "pkcs7" | "legacy" | "unknown";
  /** The 12-byte header's fields (`sigLen` decoded from big-endian). */
  header: ModuleSignatureHeader;
  payloadSize: number;
  /** Bytes of the signature data (the PKCS#7 DER for `pkcs7`). */
  signatureSize: number;
  /** Bytes after the payload: signature data, header and marker (plus legacy name and key id). */
  trailerSize: number;
  /** The legacy signer name, else null. */
  signerName: string | null;
  /** The legacy key id (hex), else null. */
  keyId: string | null;
  /** Where the payload was written (`--payload`), else null. */
  payloadFile: string | null;
  /** Where the signature was written (`--signature`), else null. */
  signatureFile: string | null;
}

const USAGE = `Usage: lpkit extract FILE [--payload OUT] [--signature OUT] [--json]

Takes a signed file apart, like Linux's scripts/extract-module-sig.pl:
--payload writes the unsigned payload (extract-module-sig.pl -0), --signature
the raw signature (-s: the PKCS#7 DER, which 'openssl cms -verify -inform DER'
reads). Without them it prints the header fields (-d). The signature is not
checked; use 'lpkit verify' for that.

Options:
  --payload OUT     Write the payload without its signature trailer
  --signature OUT   Write the signature data (PKCS#7 DER; legacy: be16 length + RSA signature)
  --json            Print the parts as JSON (schema lpkit.extract/1)

Examples:
  lpkit extract hello.livepatch
  lpkit extract hello.livepatch --payload hello.unsigned --signature hello.p7s
  openssl cms -verify -binary -inform DER -in hello.p7s -content hello.unsigned \\
    -certfile key.crt -CAfile key.crt -out /dev/null
`;

function render(r: ExtractReport): string {
  const h = r.header;
  const rows = [
    ["format", r.format === "legacy" ? "legacy (Linux 3.7–4.2 layout)" : r.format],
    [
      "header",
      `algo ${h.algo}, hash ${h.hash}, id_type ${h.idType}, signer_len ${h.signerLen}, ` +
      `key_id_len ${h.keyIdLen}, pad ${h.pad.join(" ")}, sig_len ${h.sigLen}`,
    ],
    ["payload", `${r.payloadSize} bytes${r.payloadFile === null ? "" : ` -> ${r.payloadFile}`}`],
    [
      "signature",
      `${r.signatureSize} bytes${r.signatureFile === null ? "" : ` -> ${r.signatureFile}`}`,
    ],
  ];
  if (r.signerName !== null) rows.push(["signer", r.signerName]);
  if (r.keyId !== null) rows.push(["key id", r.keyId]);
  return `${r.file}\n${table(rows)}`;
}

/** `lpkit extract`. */
export const extractCommand: Command = {
  name: "extract",
  usage: USAGE,
  run(args, io) {
    const { values, positionals } = parseCommandArgs(args, this.usage, {
      payload: { type: "string" },
      signature: { type: "string" },
      json: { type: "boolean" },
    });
    if (values.help) {
      io.stdout(this.usage);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new CliError("USAGE", `extract takes exactly one file\n\n${this.usage}`);
    }
    const file = positionals[0];
    const report = withInput(io, file, (input): ExtractReport => {
      // Only the trailer is read to split the file (the legacy split is the general one:
      // with signer_len = key_id_len = 0 it is the PKCS#7 split); the payload is copied in chunks.
      const parts = withSignatureErrors(file, () => readLegacySignature(input));
      const idType = parts.header.idType;
      const legacy = idType === PKEY_ID_X509;
      if (values.payload !== undefined) {
        writeOutputStream(io, values.payload, (write) => {
          forEachChunk(input, parts.payloadLength, write);
        });
      }
      if (values.signature !== undefined) writeOutput(io, values.signature, parts.signatureData);
      return {
        schema: "lpkit.extract/1",
        file,
        format: idType === PKEY_ID_PKCS7 ? "pkcs7" : legacy ? "legacy" : "unknown",
        header: parts.header,
        payloadSize: parts.payloadLength,
        signatureSize: parts.signatureData.length,
        trailerSize: input.size - parts.payloadLength,
        signerName: legacy ? new TextDecoder().decode(parts.signerName) : null,
        keyId: legacy ? hexBytes(parts.keyId).replaceAll(" ", "") : null,
        payloadFile: values.payload ?? null,
        signatureFile: values.signature ?? null,
      };
    });
    io.stdout(values.json ? toJson(report) : render(report));
    return 0;
  },
};
