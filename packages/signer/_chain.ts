// Certificate chains embedded in a PKCS#7, walked and trusted as Linux 6.1
// does: crypto/asymmetric_keys/pkcs7_verify.c (pkcs7_find_key,
// pkcs7_verify_one, pkcs7_verify_sig_chain), pkcs7_trust.c
// (pkcs7_validate_trust_one), x509_public_key.c (x509_check_for_self_signed)
// and asymmetric_type.c (find_asymmetric_key). The certificate signature
// math is node:crypto's (X509Certificate.verify); the DER helpers only read
// the authority key identifier and the signature algorithm.
import { Buffer } from "node:buffer";
import { X509Certificate } from "node:crypto";
import type { HashAlgorithm, KeyAlgorithm } from "./algorithms.ts";
import { bytesEqual, toHex } from "./_bytes.ts";
import type { Certificate } from "./certificate.ts";
import { CLASS, decodeDer, type DerNode, isTag, oidOf, TAG } from "./_der.ts";
import { SignatureError } from "./errors.ts";
import type { PayloadData } from "./_payload.ts";
import type { Pkcs7Signature } from "./pkcs7.ts";
import type { TrustStore } from "./trust_store.ts";
import { checkTrustedKey, verifyRawSignature } from "./_verify_signature.ts";
import type { ChainLink } from "./verify.ts";

const OID_AUTHORITY_KEY_IDENTIFIER = "2.5.29.35";

/** Certificate signature algorithms the kernel's X.509 parser knows, with lpkit's policy. */
const CERT_SIGNATURE_ALGORITHMS: Readonly<
  Record<string, { key: KeyAlgorithm; hash: HashAlgorithm | "md2" | "md4" | "md5" }>
> = {
  "1.2.840.113549.1.1.2": { key: "rsa", hash: "md2" },
  "1.2.840.113549.1.1.3": { key: "rsa", hash: "md4" },
  "1.2.840.113549.1.1.4": { key: "rsa", hash: "md5" },
  "1.2.840.113549.1.1.5": { key: "rsa", hash: "sha1" },
  "1.2.840.113549.1.1.14": { key: "rsa", hash: "sha224" },
  "1.2.840.113549.1.1.11": { key: "rsa", hash: "sha256" },
  "1.2.840.113549.1.1.12": { key: "rsa", hash: "sha384" },
  "1.2.840.113549.1.1.13": { key: "rsa", hash: "sha512" },
  "1.2.840.10045.4.1": { key: "ecdsa", hash: "sha1" },
  "1.2.840.10045.4.3.1": { key: "ecdsa", hash: "sha224" },
  "1.2.840.10045.4.3.2": { key: "ecdsa", hash: "sha256" },
  "1.2.840.10045.4.3.3": { key: "ecdsa", hash: "sha384" },
  "1.2.840.10045.4.3.4": { key: "ecdsa", hash: "sha512" },
};

/** An authority key identifier: the kernel's `auth_ids[1]` (key id) and `auth_ids[0]`. */
interface AuthorityKeyId {
  readonly keyId: Uint8Array | undefined;
  /** Only when both the directoryName and the serial are present, as the kernel requires. */
  readonly issuerSerial:
    | { readonly issuerDer: Uint8Array; readonly serial: Uint8Array }
    | undefined;
}

/** An embedded certificate with what the chain walk reads from it. */
interface Embedded {
  readonly cert: Certificate;
  /** Offset of the certificate in the file (or PKCS#7). */
  readonly offset: number;
  readonly akid: AuthorityKeyId;
  readonly signatureOid: string;
  /**
   * Why the signature fields are malformed, if they are: signatureAlgorithm
   * must be tbsCertificate.signature byte for byte (RFC 5280 4.1.1.2; the
   * kernel compares the OIDs, OpenSSL the whole identifier) and the BIT
   * STRING must have no unused bits (the kernel's x509_note_signature()).
   */
  readonly malformedSignature: string | undefined;
}

/** Options of the chain walk. */
export interface ChainOptions {
  readonly allowSha1?: boolean;
}

/** Outcome of {@linkcode verifyEmbeddedChain}. */
export interface ChainResult {
  /** The certificate whose key verified the payload signature. */
  readonly signer: Certificate;
  /** The trusted certificate that anchored the chain. */
  readonly anchor: Certificate;
  /** Signer first, anchor last. */
  readonly chain: readonly ChainLink[];
}

function same(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a !== undefined && b !== undefined && bytesEqual(a, b);
}

function malformed(message: string, at: number): never {
  throw new SignatureError("MALFORMED_PKCS7", message, at);
}

function describe(cert: Certificate): string {
  return `"${cert.subject}" (serial ${cert.serialHex})`;
}

/** A certificate of the trust store as a link of the reported chain. */
export function chainLink(cert: Certificate, embedded: boolean, trusted: boolean): ChainLink {
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    serialHex: cert.serialHex,
    keyIdHex: cert.subjectKeyId === undefined ? undefined : toHex(cert.subjectKeyId),
    embedded,
    trusted,
  };
}

function parseAuthorityKeyId(value: DerNode, at: number): AuthorityKeyId {
  const contentsAt = value.offset + value.der.length - value.contents.length;
  const seq = decodeDer(value.contents, "MALFORMED_PKCS7", "authorityKeyIdentifier", contentsAt);
  if (!isTag(seq, CLASS.UNIVERSAL, TAG.SEQUENCE, true)) {
    malformed("authorityKeyIdentifier is not a SEQUENCE", at);
  }
  let keyId: Uint8Array | undefined;
  let issuerDer: Uint8Array | undefined;
  let serial: Uint8Array | undefined;
  for (const field of seq.children) {
    if (isTag(field, CLASS.CONTEXT, 0, false)) keyId = field.contents;
    else if (isTag(field, CLASS.CONTEXT, 2, false) && field.contents.length > 0) {
      serial = field.contents;
    } else if (isTag(field, CLASS.CONTEXT, 1, true)) {
      // GeneralNames; the kernel keeps the (last) directoryName [4] Name.
      for (const name of field.children) {
        if (!isTag(name, CLASS.CONTEXT, 4, true)) continue;
        const inner = name.children[0];
        if (
          name.children.length !== 1 || !isTag(inner, CLASS.UNIVERSAL, TAG.SEQUENCE, true)
        ) {
          malformed("malformed directoryName in authorityKeyIdentifier", name.offset);
        }
        issuerDer = inner.der;
      }
    } else {
      malformed("unexpected field in authorityKeyIdentifier", field.offset);
    }
  }
  return {
    keyId,
    issuerSerial: issuerDer !== undefined && serial !== undefined
      ? { issuerDer, serial }
      : undefined,
  };
}

/** Reads the authority key identifier and signature algorithm of an embedded certificate. */
function embedded(cert: Certificate, offset: number): Embedded {
  const node = decodeDer(cert.der, "MALFORMED_PKCS7", "embedded certificate", offset);
  const [tbs, algorithm, signature] = node.children;
  const algorithmOid = algorithm?.children[0];
  if (
    node.children.length !== 3 || !isTag(algorithm, CLASS.UNIVERSAL, TAG.SEQUENCE, true) ||
    algorithmOid === undefined || !isTag(algorithmOid, CLASS.UNIVERSAL, TAG.OID, false)
  ) {
    malformed("embedded certificate has no signatureAlgorithm", offset);
  }
  const f = tbs.children;
  const i = f.length > 0 && isTag(f[0], CLASS.CONTEXT, 0, true) ? 1 : 0;
  const extensions = f.slice(i + 6).find((n) => isTag(n, CLASS.CONTEXT, 3, true));
  let akid: AuthorityKeyId = { keyId: undefined, issuerSerial: undefined };
  const list = extensions?.children[0];
  if (
    extensions !== undefined &&
    (extensions.children.length !== 1 || !isTag(list!, CLASS.UNIVERSAL, TAG.SEQUENCE, true))
  ) {
    malformed("malformed extensions in embedded certificate", extensions.offset);
  }
  for (const ext of list?.children ?? []) {
    const [id] = ext.children;
    const value = ext.children[ext.children.length - 1];
    if (
      !isTag(ext, CLASS.UNIVERSAL, TAG.SEQUENCE, true) || ext.children.length < 2 ||
      !isTag(id, CLASS.UNIVERSAL, TAG.OID, false) ||
      !isTag(value, CLASS.UNIVERSAL, TAG.OCTET_STRING, false)
    ) {
      malformed("malformed extension in embedded certificate", ext.offset);
    }
    if (oidOf(id) === OID_AUTHORITY_KEY_IDENTIFIER) akid = parseAuthorityKeyId(value, ext.offset);
  }
  const inner = f[i + 1];
  const malformedSignature = !bytesEqual(inner.der, algorithm.der)
    ? "its signatureAlgorithm is not its tbsCertificate's signature algorithm"
    : !isTag(signature, CLASS.UNIVERSAL, TAG.BIT_STRING, false) || signature.contents[0] !== 0
    ? "its signature is not a BIT STRING without unused bits"
    : undefined;
  return { cert, offset, akid, signatureOid: oidOf(algorithmOid), malformedSignature };
}

/**
 * Checks `child`'s certificate signature with `issuer`'s key: lpkit's
 * algorithm policy first (as for the payload: SHA-1 only with the opt-in,
 * MD2/MD4/MD5 never), then node:crypto. Throws `WEAK_DIGEST`,
 * `UNSUPPORTED_ALGORITHM`, `BAD_KEY` or `BAD_CHAIN`.
 */
function verifyIssued(
  child: Embedded,
  issuer: Certificate,
  issuerWhat: string,
  options: ChainOptions,
): void {
  const at = child.offset;
  const who = `certificate ${describe(child.cert)}`;
  if (child.malformedSignature !== undefined) malformed(`${who}: ${child.malformedSignature}`, at);
  const algorithm = CERT_SIGNATURE_ALGORITHMS[child.signatureOid];
  if (algorithm === undefined) {
    throw new SignatureError(
      "UNSUPPORTED_ALGORITHM",
      `${who} is signed with ${child.signatureOid}, not RSA PKCS#1 v1.5 or ECDSA with SHA-1/2`,
      at,
    );
  }
  if (algorithm.hash === "md2" || algorithm.hash === "md4" || algorithm.hash === "md5") {
    throw new SignatureError("WEAK_DIGEST", `${who} is signed with ${algorithm.hash}`, at);
  }
  if (algorithm.hash === "sha1" && !options.allowSha1) {
    throw new SignatureError(
      "WEAK_DIGEST",
      `${who} is signed with SHA-1, which needs an explicit opt-in`,
      at,
    );
  }
  checkTrustedKey(issuer, `the key of ${issuerWhat}`, at);
  if (issuer.keyAlgorithm !== algorithm.key) {
    throw new SignatureError(
      "BAD_CHAIN",
      `${who} is signed with ${algorithm.key} but ${issuerWhat} has an ${issuer.keyDescription} key`,
      at,
    );
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(Buffer.from(child.cert.der));
  } catch {
    malformed(`${who} cannot be read by node:crypto`, at);
  }
  let ok: boolean;
  try {
    ok = x509.verify(issuer.publicKey!);
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new SignatureError(
      "BAD_CHAIN",
      `the signature of ${who} does not verify with the key of ${issuerWhat}`,
      at,
    );
  }
}

/** x509_check_for_self_signed(): same name, an AKID (if any) naming itself, a good signature. */
function isSelfSigned(e: Embedded, options: ChainOptions): boolean {
  const c = e.cert;
  if (!bytesEqual(c.subjectDer, c.issuerDer)) return false;
  const { keyId, issuerSerial } = e.akid;
  if (keyId !== undefined || issuerSerial !== undefined) {
    const a = same(c.subjectKeyId, keyId);
    const b = issuerSerial !== undefined && bytesEqual(c.issuerDer, issuerSerial.issuerDer) &&
      bytesEqual(c.serial, issuerSerial.serial);
    if (!a && !b) return false;
    if (a !== b && keyId !== undefined && issuerSerial !== undefined) {
      throw new SignatureError(
        "BAD_CHAIN",
        `the authority key identifier of self-issued certificate ${
          describe(c)
        } names it by key id or by issuer and serial, not both`,
        e.offset,
      );
    }
  }
  verifyIssued(e, c, "itself", options);
  return true;
}

/**
 * pkcs7_verify_sig_chain(): from the signer, each certificate's issuer among
 * the embedded ones by its AKID (issuer+serial, whose key id must then match
 * too, else the key id alone; no AKID, no issuer), its signature checked with
 * the issuer's key; up to a self-signed certificate, a certificate whose
 * issuer is not embedded, or a loop.
 */
function walkChain(
  pkcs7: Pkcs7Signature,
  signerIndex: number,
  options: ChainOptions,
): { links: Embedded[]; selfSigned: boolean } {
  const certs = pkcs7.certificates;
  // Parsed lazily: certificates off the chain are ignored, malformed or not.
  const at = (i: number) => embedded(certs[i], pkcs7.certificateOffsets[i]);
  const links = [at(signerIndex)];
  const seen = new Set<number>([signerIndex]);
  for (let x = links[0];;) {
    if (isSelfSigned(x, options)) return { links, selfSigned: true };
    const { keyId, issuerSerial } = x.akid;
    let next = -1;
    if (issuerSerial !== undefined) {
      next = certs.findIndex((p) =>
        bytesEqual(p.issuerDer, issuerSerial.issuerDer) && bytesEqual(p.serial, issuerSerial.serial)
      );
      if (next >= 0 && keyId !== undefined && !same(certs[next].subjectKeyId, keyId)) {
        throw new SignatureError(
          "BAD_CHAIN",
          `certificate ${describe(x.cert)} names its issuer ${
            describe(certs[next])
          } by issuer and serial, but with another key id`,
          x.offset,
        );
      }
    } else if (keyId !== undefined) {
      next = certs.findIndex((p) => same(p.subjectKeyId, keyId));
    }
    if (next < 0 || seen.has(next)) return { links, selfSigned: false };
    const issuer = at(next);
    verifyIssued(x, issuer.cert, `embedded certificate ${describe(issuer.cert)}`, options);
    links.push(issuer);
    seen.add(next);
    x = issuer;
  }
}

/**
 * The index of the embedded certificate that is the signer (pkcs7_find_key):
 * the first whose issuer and serial are the SignerInfo's. Linux compares only
 * issuer+serial here, so a signer named by key id (SignerInfo v3) is never
 * found among the embedded certificates and is looked up in the trust store
 * directly. -1 when not embedded.
 */
export function embeddedSignerIndex(pkcs7: Pkcs7Signature): number {
  const id = pkcs7.signer;
  if (id.kind !== "issuerAndSerialNumber") return -1;
  return pkcs7.certificates.findIndex((c) =>
    bytesEqual(c.issuerDer, id.issuerDer) && bytesEqual(c.serial, id.serial)
  );
}

/** find_asymmetric_key(trust, x->id, x->skid): same issuer+serial, and SKID if x has one. */
function trustedCopies(trust: TrustStore, c: Certificate): Certificate[] {
  return trust.findByIssuerAndSerial(c.issuerDer, c.serial).filter((t) =>
    c.subjectKeyId === undefined || same(t.subjectKeyId, c.subjectKeyId)
  );
}

/** The first candidate for which `check` passes, else the first error (of `check`). */
function firstVerifying(
  candidates: readonly Certificate[],
  check: (cert: Certificate) => void,
): Certificate {
  let firstError: unknown;
  for (const cert of candidates) {
    try {
      check(cert);
      return cert;
    } catch (e) {
      if (!(e instanceof SignatureError)) throw e;
      firstError ??= e;
    }
  }
  throw firstError;
}

/**
 * Verifies a signature whose signer's certificate is embedded in the PKCS#7
 * (`index` from {@linkcode embeddedSignerIndex}), as Linux does:
 *
 * 1. the payload signature with the embedded certificate's key
 *    (`BAD_KEY`, `BAD_SIGNATURE`);
 * 2. the chain of embedded certificates above it ({@linkcode walkChain}:
 *    `BAD_CHAIN`, or the algorithm codes);
 * 3. trust (pkcs7_validate_trust_one): the first certificate of the chain
 *    that is in the trust store, whose trusted copy must verify the
 *    signature below it (the payload's for the signer); else, a chain that
 *    ends self-signed is `UNTRUSTED`; else the last certificate's AKID may
 *    name a trusted certificate, whose key must verify it; else the
 *    SignerInfo's issuer+serial in the trust store directly; else `UNTRUSTED`.
 *
 * Embedded certificates off the chain are ignored.
 */
export function verifyEmbeddedChain(
  payload: PayloadData,
  pkcs7: Pkcs7Signature,
  index: number,
  trust: TrustStore,
  options: ChainOptions,
): ChainResult {
  const signerCert = pkcs7.certificates[index];
  const checkPayload = (cert: Certificate, what: string) =>
    verifyRawSignature(
      payload,
      pkcs7.signature,
      pkcs7.hash,
      pkcs7.keyAlgorithm,
      cert,
      pkcs7.signatureOffset,
      what,
    );
  checkPayload(signerCert, `the key of embedded signer certificate ${describe(signerCert)}`);
  const { links, selfSigned } = walkChain(pkcs7, index, options);
  const signer = links[0];
  const reported = (upTo: number, anchor: Certificate, anchorEmbedded: boolean): ChainLink[] => [
    ...links.slice(0, upTo).map((l) => chainLink(l.cert, true, false)),
    chainLink(anchor, anchorEmbedded, true),
  ];

  for (const [i, x] of links.entries()) {
    const copies = trustedCopies(trust, x.cert);
    if (copies.length > 0) {
      // "Verify that the trusted variant can also validate the signature on the descendant."
      const anchor = i === 0
        ? firstVerifying(copies, (t) => {
          // The same key verifies the same signature the same way: no second pass over the payload.
          if (!bytesEqual(t.spki, x.cert.spki)) checkPayload(t, "the trusted key");
        })
        : firstVerifying(
          copies,
          (t) => verifyIssued(links[i - 1], t, `trusted certificate ${describe(t)}`, options),
        );
      return { signer: i === 0 ? anchor : signer.cert, anchor, chain: reported(i, anchor, true) };
    }
    if (selfSigned && i === links.length - 1) {
      throw new SignatureError(
        "UNTRUSTED",
        `the certificate chain ends at self-signed certificate ${
          describe(x.cert)
        }, which is not trusted`,
        x.offset,
      );
    }
  }
  const last = links[links.length - 1];
  const { keyId, issuerSerial } = last.akid;
  if (keyId !== undefined || issuerSerial !== undefined) {
    let named: Certificate[];
    if (issuerSerial !== undefined) {
      const byId = trust.findByIssuerAndSerial(issuerSerial.issuerDer, issuerSerial.serial);
      named = keyId === undefined ? byId : byId.filter((t) => same(t.subjectKeyId, keyId));
      if (byId.length > 0 && named.length === 0) {
        throw new SignatureError(
          "BAD_CHAIN",
          `certificate ${describe(last.cert)} names trusted certificate ${
            describe(byId[0])
          } by issuer and serial, but with another key id`,
          last.offset,
        );
      }
    } else {
      named = trust.findBySubjectKeyId(keyId!);
    }
    if (named.length > 0) {
      const anchor = firstVerifying(
        named,
        (t) => verifyIssued(last, t, `trusted certificate ${describe(t)}`, options),
      );
      return { signer: signer.cert, anchor, chain: reported(links.length, anchor, false) };
    }
  }
  // "As a last resort, see if we have a trusted public key that matches the signed info directly."
  const direct = trust.findByIssuerAndSerial(signer.cert.issuerDer, signer.cert.serial);
  if (direct.length > 0) {
    const anchor = firstVerifying(direct, (t) => {
      if (!bytesEqual(t.spki, signer.cert.spki)) checkPayload(t, "the trusted key");
    });
    return { signer: anchor, anchor, chain: [chainLink(anchor, false, true)] };
  }
  throw new SignatureError(
    "UNTRUSTED",
    links.length === 1
      ? `embedded signer certificate ${describe(signer.cert)} chains to no trusted certificate`
      : `the certificate chain from ${describe(signer.cert)} up to ${
        describe(last.cert)
      } reaches no trusted certificate`,
    last.offset,
  );
}
