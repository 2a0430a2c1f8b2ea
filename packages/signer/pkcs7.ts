/**
 * The PKCS#7 (CMS) SignedData of a module signature: decoding with the
 * kernel's parser rules and building the exact shape sign-file emits
 * (signing.md §1.2, §1.3 step 3–4).
 *
 * Accepted: DER only; SignedData v1 with a v1 SignerInfo naming its signer by
 * issuerAndSerialNumber, or v3 with a v3 SignerInfo naming it by
 * subjectKeyIdentifier (`sign-file -k`); exactly one SignerInfo; content type
 * `data`; certificates and CRLs allowed (the verifier walks the certificates
 * from the signer to a trusted one, as the kernel does, see verify.ts);
 * unsigned attributes ignored, as the kernel does.
 *
 * @module
 */
// @ts-types="npm:@types/node-forge@1.3.14"
import forge from "node-forge";
import {
  classifyDigestOid,
  classifySignatureOid,
  type HashAlgorithm,
  type KeyAlgorithm,
  OID,
} from "./algorithms.ts";
import { toHex } from "./_bytes.ts";
import { type Certificate, parseCertificates } from "./certificate.ts";
import {
  CLASS,
  decodeDer,
  type DerNode,
  encodeDer,
  forgeNode,
  isTag,
  oidOf,
  TAG,
  toBinary,
} from "./_der.ts";
import { formatName, parseName } from "./_name.ts";
import { SignatureError } from "./errors.ts";

/** How a SignerInfo names its signer. */
export type SignerIdentifier =
  | {
    /** issuerAndSerialNumber (SignerInfo v1): what sign-file writes by default. */
    readonly kind: "issuerAndSerialNumber";
    /** The issuer Name, DER. */
    readonly issuerDer: Uint8Array;
    /** The issuer, for display. */
    readonly issuer: string;
    /** The serial number's INTEGER contents octets. */
    readonly serial: Uint8Array;
    /** Lowercase hex of the serial. */
    readonly serialHex: string;
  }
  | {
    /** subjectKeyIdentifier (SignerInfo v3): `sign-file -k`. */
    readonly kind: "subjectKeyIdentifier";
    /** The key id. */
    readonly keyId: Uint8Array;
    /** Lowercase hex of the key id. */
    readonly keyIdHex: string;
  };

/** A decoded and checked module-signature PKCS#7. */
export interface Pkcs7Signature {
  /** The whole message, DER. */
  readonly der: Uint8Array;
  /** SignedData (and SignerInfo) version: 1 or 3. */
  readonly version: 1 | 3;
  /** Who signed. */
  readonly signer: SignerIdentifier;
  /** The digest algorithm. */
  readonly hash: HashAlgorithm;
  /** The public-key algorithm. */
  readonly keyAlgorithm: KeyAlgorithm;
  /** The SignerInfo's signature-algorithm OID. */
  readonly signatureAlgorithmOid: string;
  /** The signature: PKCS#1 v1.5 bytes for RSA, a DER ECDSA-Sig-Value for ECDSA. */
  readonly signature: Uint8Array;
  /** Offset of the signature's OCTET STRING contents (base-relative). */
  readonly signatureOffset: number;
  /** Certificates embedded in the message (sign-file embeds none). */
  readonly certificates: readonly Certificate[];
  /** Offset of each embedded certificate (base-relative), in `certificates` order. */
  readonly certificateOffsets: readonly number[];
}

/** Options of {@linkcode parsePkcs7}. */
export interface ParsePkcs7Options {
  /** Accept SHA-1 digests (deprecated; off by default). MD4/MD5 are never accepted. */
  allowSha1?: boolean;
  /** Offset of the message in its file, added to error offsets. */
  offset?: number;
}

function malformed(message: string, offset: number): never {
  throw new SignatureError("MALFORMED_PKCS7", message, offset);
}

function expect(
  node: DerNode | undefined,
  tag: number,
  constructed: boolean,
  what: string,
  at: number,
): DerNode {
  if (node === undefined || !isTag(node, CLASS.UNIVERSAL, tag, constructed)) {
    malformed(`${what} missing or of the wrong type`, node?.offset ?? at);
  }
  return node;
}

function smallInt(node: DerNode): number {
  return node.contents.length === 1 ? node.contents[0] : -1;
}

/** An AlgorithmIdentifier whose parameters must be absent or NULL. */
function algorithmId(node: DerNode | undefined, what: string, at: number): string {
  const seq = expect(node, TAG.SEQUENCE, true, what, at);
  const [id, params] = seq.children;
  expect(id, TAG.OID, false, `${what} OID`, seq.offset);
  if (
    seq.children.length > 2 ||
    (params !== undefined &&
      !(isTag(params, CLASS.UNIVERSAL, TAG.NULL, false) && params.contents.length === 0))
  ) {
    malformed(`${what} has parameters other than NULL`, params?.offset ?? seq.offset);
  }
  return oidOf(id);
}

interface Decoded {
  version: 1 | 3;
  digestSet: string[];
  digestSetAt: number;
  contentType: string;
  contentAt: number | undefined;
  certificates: Certificate[];
  certificateOffsets: number[];
  signer: SignerIdentifier;
  digestOid: string;
  digestAt: number;
  signedAttributesAt: number | undefined;
  signatureOid: string;
  signatureAlgorithmAt: number;
  signature: DerNode;
}

function decodeSignerId(node: DerNode | undefined, version: 1 | 3, at: number): SignerIdentifier {
  if (version === 1) {
    const seq = expect(node, TAG.SEQUENCE, true, "issuerAndSerialNumber", at);
    const [issuer, serial] = seq.children;
    expect(issuer, TAG.SEQUENCE, true, "issuer", seq.offset);
    expect(serial, TAG.INTEGER, false, "serialNumber", seq.offset);
    if (seq.children.length !== 2 || serial.contents.length === 0) {
      malformed("malformed issuerAndSerialNumber", seq.offset);
    }
    let issuerText: string;
    try {
      issuerText = formatName(parseName(issuer));
    } catch {
      malformed("malformed issuer name", issuer.offset);
    }
    return {
      kind: "issuerAndSerialNumber",
      issuerDer: issuer.der,
      issuer: issuerText,
      serial: serial.contents,
      serialHex: toHex(serial.contents),
    };
  }
  if (node === undefined || !isTag(node, CLASS.CONTEXT, 0, false)) {
    malformed(
      "a v3 SignerInfo must name its signer by [0] subjectKeyIdentifier",
      node?.offset ?? at,
    );
  }
  return { kind: "subjectKeyIdentifier", keyId: node.contents, keyIdHex: toHex(node.contents) };
}

function decode(der: Uint8Array, base: number): Decoded {
  const ci = decodeDer(der, "MALFORMED_PKCS7", "PKCS#7 message", base);
  expect(ci, TAG.SEQUENCE, true, "ContentInfo", base);
  const [type, explicit] = ci.children;
  expect(type, TAG.OID, false, "contentType", ci.offset);
  if (oidOf(type) !== OID.signedData) malformed("ContentInfo is not signedData", type.offset);
  if (
    ci.children.length !== 2 || !isTag(explicit, CLASS.CONTEXT, 0, true) ||
    explicit.children.length !== 1
  ) {
    malformed("signedData content missing", explicit?.offset ?? ci.offset);
  }
  const sd = expect(explicit.children[0], TAG.SEQUENCE, true, "SignedData", explicit.offset);
  const f = sd.children;
  const versionNode = expect(f[0], TAG.INTEGER, false, "SignedData version", sd.offset);
  const version = smallInt(versionNode);
  if (version !== 1 && version !== 3) {
    malformed(`SignedData version must be 1 or 3`, versionNode.offset);
  }
  const digestSetNode = expect(f[1], TAG.SET, true, "digestAlgorithms", sd.offset);
  const digestSet = digestSetNode.children.map((n) =>
    algorithmId(n, "digestAlgorithms entry", digestSetNode.offset)
  );
  const encap = expect(f[2], TAG.SEQUENCE, true, "encapContentInfo", sd.offset);
  const [ctype, content] = encap.children;
  expect(ctype, TAG.OID, false, "encapContentInfo contentType", encap.offset);
  if (
    encap.children.length > 2 ||
    (content !== undefined && !isTag(content, CLASS.CONTEXT, 0, true))
  ) {
    malformed("malformed encapContentInfo", encap.offset);
  }
  let i = 3;
  let certificates: Certificate[] = [];
  let certificateOffsets: number[] = [];
  if (f[i] !== undefined && isTag(f[i], CLASS.CONTEXT, 0, true)) {
    try {
      certificates = f[i].children.flatMap((c) => parseCertificates(c.der));
    } catch (e) {
      malformed(`embedded certificate: ${(e as Error).message}`, f[i].offset);
    }
    certificateOffsets = f[i].children.map((c) => c.offset);
    i++;
  }
  if (f[i] !== undefined && isTag(f[i], CLASS.CONTEXT, 1, true)) i++; // CRLs: ignored
  const infos = expect(f[i], TAG.SET, true, "signerInfos", sd.offset);
  if (f.length !== i + 1) malformed("unexpected field after signerInfos", f[i + 1].offset);
  if (infos.children.length !== 1) {
    malformed(`expected exactly one SignerInfo, found ${infos.children.length}`, infos.offset);
  }
  const si = expect(infos.children[0], TAG.SEQUENCE, true, "SignerInfo", infos.offset);
  const s = si.children;
  const siVersionNode = expect(s[0], TAG.INTEGER, false, "SignerInfo version", si.offset);
  if (smallInt(siVersionNode) !== version) {
    malformed(
      `SignerInfo version ${smallInt(siVersionNode)} does not match SignedData version ${version}`,
      siVersionNode.offset,
    );
  }
  const signer = decodeSignerId(s[1], version, si.offset);
  const digestOid = algorithmId(s[2], "digestAlgorithm", si.offset);
  let j = 3;
  let signedAttributesAt: number | undefined;
  if (
    s[j] !== undefined &&
    (isTag(s[j], CLASS.CONTEXT, 0, true) || isTag(s[j], CLASS.CONTEXT, 2, true))
  ) {
    signedAttributesAt = s[j].offset;
    j++;
  }
  const signatureOid = algorithmId(s[j], "signatureAlgorithm", si.offset);
  const signatureAlgorithmAt = s[j].offset;
  const signature = expect(s[j + 1], TAG.OCTET_STRING, false, "signature", si.offset);
  const rest = s.slice(j + 2);
  if (
    rest.length > 1 ||
    (rest.length === 1 && !isTag(rest[0], CLASS.CONTEXT, 1, true) &&
      !isTag(rest[0], CLASS.CONTEXT, 3, true))
  ) {
    malformed("unexpected field in SignerInfo", rest[0].offset);
  }
  return {
    version,
    digestSet,
    digestSetAt: digestSetNode.offset,
    contentType: oidOf(ctype),
    contentAt: content?.offset,
    certificates,
    certificateOffsets,
    signer,
    digestOid,
    digestAt: s[2].offset,
    signedAttributesAt,
    signatureOid,
    signatureAlgorithmAt,
    signature,
  };
}

/**
 * Decodes a module-signature PKCS#7 and applies the kernel's rules in its
 * order: structure (`MALFORMED_PKCS7`), digest (`UNSUPPORTED_DIGEST`,
 * `WEAK_DIGEST`), signature algorithm (`UNSUPPORTED_ALGORITHM`; `rsaEncryption`
 * or the `ecdsa-with-SHA*` matching the digest), then detached content
 * (`EMBEDDED_CONTENT`) and no authenticated attributes (`SIGNED_ATTRIBUTES`).
 * No cryptography happens here.
 *
 * @example
 * ```ts
 * import { createPkcs7, parseCertificate, parsePkcs7, parsePrivateKey, signingCredentials } from "@lpkit/signer";
 * import { readFileSync } from "node:fs";
 * import assert from "node:assert/strict";
 *
 * const dir = "packages/signer/testdata";
 * const creds = signingCredentials(
 *   parsePrivateKey(readFileSync(`${dir}/rsa2048.key`)),
 *   parseCertificate(readFileSync(`${dir}/rsa2048.crt`)),
 * );
 * const p7 = parsePkcs7(createPkcs7(new Uint8Array([1, 2, 3]), creds, { hash: "sha512" }));
 * assert.equal(p7.hash, "sha512");
 * assert.equal(p7.signer.kind, "issuerAndSerialNumber");
 * ```
 */
export function parsePkcs7(der: Uint8Array, options: ParsePkcs7Options = {}): Pkcs7Signature {
  const base = options.offset ?? 0;
  const d = decode(der, base);
  const digest = classifyDigestOid(d.digestOid);
  if (digest.kind === "weak") {
    throw new SignatureError(
      "WEAK_DIGEST",
      `${digest.name} digests are never accepted`,
      d.digestAt,
    );
  }
  if (digest.kind === "unsupported") {
    throw new SignatureError("UNSUPPORTED_DIGEST", `unsupported digest ${digest.name}`, d.digestAt);
  }
  if (digest.hash === "sha1" && !options.allowSha1) {
    throw new SignatureError(
      "WEAK_DIGEST",
      "SHA-1 digests are deprecated and need an explicit opt-in",
      d.digestAt,
    );
  }
  const algorithm = classifySignatureOid(d.signatureOid);
  if (algorithm.kind === "unsupported") {
    throw new SignatureError(
      "UNSUPPORTED_ALGORITHM",
      `signature algorithm ${algorithm.name} is not rsaEncryption or ecdsa-with-SHA*`,
      d.signatureAlgorithmAt,
    );
  }
  if (algorithm.kind === "ecdsa" && algorithm.hash !== digest.hash) {
    throw new SignatureError(
      "UNSUPPORTED_ALGORITHM",
      `ecdsa-with-${algorithm.hash} does not match the ${digest.hash} digest`,
      d.signatureAlgorithmAt,
    );
  }
  if (!d.digestSet.includes(d.digestOid)) {
    malformed("digestAlgorithms does not list the signer's digest", d.digestSetAt);
  }
  if (d.contentType !== OID.data) {
    malformed(`content type ${d.contentType} is not data`, d.contentAt ?? base);
  }
  if (d.contentAt !== undefined) {
    throw new SignatureError(
      "EMBEDDED_CONTENT",
      "the PKCS#7 embeds its content; module signatures are detached",
      d.contentAt,
    );
  }
  if (d.signedAttributesAt !== undefined) {
    throw new SignatureError(
      "SIGNED_ATTRIBUTES",
      "the SignerInfo has authenticated attributes; module signatures have none",
      d.signedAttributesAt,
    );
  }
  return {
    der,
    version: d.version,
    signer: d.signer,
    hash: digest.hash,
    keyAlgorithm: algorithm.kind,
    signatureAlgorithmOid: d.signatureOid,
    signature: d.signature.contents,
    signatureOffset: d.signature.offset + (d.signature.der.length - d.signature.contents.length),
    certificates: d.certificates,
    certificateOffsets: d.certificateOffsets,
  };
}

/** What {@linkcode encodePkcs7} puts in the message. */
export interface Pkcs7Fields {
  /** Digest algorithm OID (in digestAlgorithms and the SignerInfo), without parameters. */
  digestOid: string;
  /** SignerInfo signature-algorithm OID. */
  signatureAlgorithmOid: string;
  /** Whether that AlgorithmIdentifier carries NULL parameters (OpenSSL: yes for RSA, no for ECDSA). */
  signatureAlgorithmNull: boolean;
  /** The signer: issuer and serial (v1) or key id (v3). */
  signer: { issuerDer: Uint8Array; serial: Uint8Array } | { keyId: Uint8Array };
  /** The signature bytes. */
  signature: Uint8Array;
  /** DER certificates to embed (none by default, as sign-file). */
  certificates?: readonly Uint8Array[];
}

const A = forge.asn1;
const U = A.Class.UNIVERSAL;

function seq(...children: forge.asn1.Asn1[]) {
  return A.create(U, A.Type.SEQUENCE, true, children);
}
function set(...children: forge.asn1.Asn1[]) {
  return A.create(U, A.Type.SET, true, children);
}
function oid(o: string) {
  return A.create(U, A.Type.OID, false, A.oidToDer(o).getBytes());
}
function int(n: number) {
  return A.create(U, A.Type.INTEGER, false, A.integerToDer(n).getBytes());
}
/**
 * Builds a detached SignedData exactly as OpenSSL's CMS code does for
 * sign-file: digestAlgorithms without parameters, content type `data` with no
 * content, no certificates unless given, one SignerInfo without attributes.
 *
 * @example
 * ```ts
 * import { encodePkcs7, hashOid, parsePkcs7 } from "@lpkit/signer";
 * import assert from "node:assert/strict";
 *
 * const der = encodePkcs7({
 *   digestOid: hashOid("sha256"),
 *   signatureAlgorithmOid: "1.2.840.113549.1.1.1",
 *   signatureAlgorithmNull: true,
 *   signer: { keyId: new Uint8Array([1, 2, 3]) },
 *   signature: new Uint8Array(256),
 * });
 * assert.equal(parsePkcs7(der).version, 3);
 * ```
 */
export function encodePkcs7(fields: Pkcs7Fields): Uint8Array {
  const byKeyId = "keyId" in fields.signer;
  const version = byKeyId ? 3 : 1;
  const sid = "keyId" in fields.signer
    ? A.create(A.Class.CONTEXT_SPECIFIC, 0, false, toBinary(fields.signer.keyId))
    : seq(
      forgeNode(fields.signer.issuerDer),
      A.create(U, A.Type.INTEGER, false, toBinary(fields.signer.serial)),
    );
  const sigAlg = fields.signatureAlgorithmNull
    ? seq(oid(fields.signatureAlgorithmOid), A.create(U, A.Type.NULL, false, ""))
    : seq(oid(fields.signatureAlgorithmOid));
  const signerInfo = seq(
    int(version),
    sid,
    seq(oid(fields.digestOid)),
    sigAlg,
    A.create(U, A.Type.OCTETSTRING, false, toBinary(fields.signature)),
  );
  const body = [int(version), set(seq(oid(fields.digestOid))), seq(oid(OID.data))];
  if (fields.certificates !== undefined && fields.certificates.length > 0) {
    body.push(A.create(A.Class.CONTEXT_SPECIFIC, 0, true, fields.certificates.map(forgeNode)));
  }
  body.push(set(signerInfo));
  return encodeDer(
    seq(oid(OID.signedData), A.create(A.Class.CONTEXT_SPECIFIC, 0, true, [seq(...body)])),
  );
}
