/**
 * `lpkit check <payload...>`: the offline verifier. Every finding at once
 * (Xen's upload checks in collecting mode, lpkit's lints, an apply
 * rehearsal per dependency chain), against an image; exit 1 when any
 * finding is an error.
 *
 * @module
 */
import { checkPayloads, type Finding, type ProfileName } from "@lpkit/livepatch-core";
import { hasSignatureMarker, SignatureError, stripSignature } from "@lpkit/signer";
import {
  type Command,
  helpRequested,
  HOST_OPTIONS,
  HOST_OPTIONS_USAGE,
  parseCommandArgs,
  readInput,
} from "../command.ts";
import { CliError } from "../errors.ts";
import { exampleFile } from "../example_files.ts";
import { type Style, style, table, toJson } from "../format.ts";
import { useColor } from "../command.ts";
import { requireIo } from "../platform.ts";
import { readImage } from "../session.ts";
import { readState, stateDir } from "../state.ts";
import { loadName } from "./load.ts";

/** The `lpkit.check/1` document. */
export interface CheckDocument {
  schema: "lpkit.check/1";
  image: { path: string | null; kind: string; buildId: string | null };
  profile: string;
  payloads: {
    name: string;
    file: string;
    /** The file carried a signature trailer, which the checks ignored. */
    signed: boolean;
    uploaded: boolean;
    applied: boolean;
  }[];
  /** Every finding, in order (see livepatch-core's Finding). */
  findings: Finding[];
  errors: number;
  warnings: number;
  /** True when no finding is an error. */
  ok: boolean;
}

const USAGE = `Usage: lpkit check <payload...> [--xen-syms FILE | --example] [options]

Runs every check on the payloads, in order, against a hypervisor image and
reports all findings at once: Xen 4.17's upload checks (with Xen's check ids
and errnos), lpkit's lints (things Xen accepts that hurt a production host),
and a rehearsal that applies each payload on a simulated host on top of the
payloads it depends on. Exits 1 when any finding is an error.

The image is --xen-syms FILE, the bundled minivisor with --example, or else
the image (and profile) of the host in the state folder. A signature
trailer is ignored here (\`lpkit verify\` checks it).

Options:
  --xen-syms FILE   Check against this image
  --example         Check against the bundled minivisor
  --profile NAME    xen-4.17 (default), xen-4.7 or extended
  --no-apply        Skip the apply rehearsal
  --xen-exact       Xen's checks only: lpkit's safety checks off
${HOST_OPTIONS_USAGE}

Examples:
  lpkit check examples/bin/hello.livepatch --example
  lpkit check hello.livepatch bye.livepatch --xen-syms xen-syms-4.17-amd64 --json
`;

function render(d: CheckDocument, s: Style): string {
  let out = `Checked ${d.payloads.length} payload${d.payloads.length === 1 ? "" : "s"} against ${
    d.image.path ?? "the bundled minivisor"
  } (${d.image.kind}, build-id ${d.image.buildId ?? "none"}, ${d.profile})\n`;
  out += table(d.payloads.map((p) => [
    p.name,
    p.uploaded ? (p.applied ? "loads and applies" : "loads, does not apply") : "does not load",
    p.signed ? "(signature trailer ignored)" : "",
  ]));
  if (d.findings.length > 0) {
    out += "\n" + table(d.findings.map((f) => {
      const sev = f.severity === "error" ? s.warn("error") : f.severity;
      const where = [
        f.place.section,
        f.place.symbol,
        f.place.func === undefined ? undefined : `funcs[${f.place.func}]`,
      ]
        .filter((x) => x !== undefined).join(", ");
      return [
        sev,
        f.payload,
        f.code,
        f.errno ?? "",
        f.stage,
        `${f.message}${where === "" ? "" : ` (${where})`}`,
      ];
    }));
  }
  out += `\n${d.errors} error${d.errors === 1 ? "" : "s"}, ${d.warnings} warning${
    d.warnings === 1 ? "" : "s"
  }${
    d.findings.length - d.errors - d.warnings > 0
      ? `, ${d.findings.length - d.errors - d.warnings} notes`
      : ""
  }: ${d.ok ? "OK" : "FAILED"}\n`;
  return out;
}

/** `lpkit check`. */
export const checkCommand: Command = {
  name: "check",
  usage: USAGE,
  run(args, io) {
    const { values, positionals } = parseCommandArgs(args, USAGE, {
      ...HOST_OPTIONS,
      "xen-syms": { type: "string" },
      example: { type: "boolean" },
      profile: { type: "string" },
      "no-apply": { type: "boolean" },
      "xen-exact": { type: "boolean" },
    });
    if (helpRequested(io, values, USAGE)) return 0;
    if (positionals.length === 0) {
      throw new CliError("USAGE", `check needs at least one payload\n\n${USAGE}`);
    }
    if (values.example === true && values["xen-syms"] !== undefined) {
      throw new CliError("USAGE", "--example and --xen-syms exclude each other");
    }
    let image: Uint8Array;
    let path: string | null = null;
    let profile = values.profile as ProfileName | undefined;
    if (values["xen-syms"] !== undefined) {
      path = values["xen-syms"];
      image = readInput(io, path);
    } else if (values.example === true) {
      image = exampleFile(io, "minivisor");
    } else {
      const full = requireIo(io);
      const state = readState(full, stateDir(values.state, full));
      image = readImage(full, state.host);
      path = state.host.image.kind === "file" ? state.host.image.path : null;
      profile ??= state.host.profile;
    }
    profile ??= "xen-4.17";
    if (!["xen-4.17", "xen-4.7", "extended"].includes(profile)) {
      throw new CliError(
        "USAGE",
        `--profile is one of xen-4.17, xen-4.7, extended, not '${profile}'`,
      );
    }
    const names = new Set<string>();
    const inputs = positionals.map((file) => {
      let name = loadName(file);
      for (let k = 2; names.has(name); k++) name = `${loadName(file)}#${k}`;
      names.add(name);
      let bytes = readInput(io, file);
      let signed = false;
      if (hasSignatureMarker(bytes)) {
        try {
          bytes = stripSignature(bytes);
          signed = true;
        } catch (e) {
          if (!(e instanceof SignatureError)) throw e;
        }
      }
      return { name, file, bytes, signed };
    });
    const report = checkPayloads(image, inputs, {
      profile,
      apply: values["no-apply"] !== true,
      ...(values["xen-exact"] === true
        ? { safety: { stackCheck: false, denyList: [], branchCheck: false, reachCheck: false } }
        : {}),
    });
    const doc: CheckDocument = {
      schema: "lpkit.check/1",
      image: { path, kind: report.image.kind, buildId: report.image.buildId ?? null },
      profile,
      payloads: report.payloads.map((p, i) => ({
        name: p.name,
        file: inputs[i].file,
        signed: inputs[i].signed,
        uploaded: p.uploaded,
        applied: p.applied,
      })),
      findings: [...report.findings],
      errors: report.findings.filter((f) => f.severity === "error").length,
      warnings: report.findings.filter((f) => f.severity === "warning").length,
      ok: report.ok,
    };
    io.stdout(values.json ? toJson(doc) : render(doc, style(useColor(io))));
    return doc.ok ? 0 : 1;
  },
};
