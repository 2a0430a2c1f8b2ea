/**
 * The registry of `lpkit` commands, in the order `lpkit help` lists them:
 * what `help` prints for each (name, synopsis, summary) and how to load it.
 * A command's module, and the packages it imports, are loaded only when that
 * command runs (`import()` on demand), so that `lpkit sign` does not load the
 * simulated host and its emulator. Adding a command: write
 * `commands/<name>.ts` exporting a {@linkcode Command} and list it here (the
 * `import()` must stay a string literal, so that the single-binary bundler
 * sees it).
 *
 * @module
 */
import type { Command } from "./command.ts";

/** A registered command: its help line, and its module on demand. */
export interface CommandEntry {
  /** The word typed after `lpkit` (exact match). */
  readonly name: string;
  /** The synopsis shown in `lpkit help`, e.g. `inspect <payload> [--json]`. */
  readonly synopsis: string;
  /** One line for `lpkit help`. */
  readonly summary: string;
  /** Loads the command's module and returns the command. */
  load(): Promise<Command>;
}

/** Every command, in help order. */
export const COMMANDS: readonly CommandEntry[] = [
  {
    name: "upload",
    synopsis: "upload <name> <file>",
    summary: "Upload a payload to the host under a name (CHECKED, not applied)",
    load: async () => (await import("./commands/upload.ts")).uploadCommand,
  },
  {
    name: "list",
    synopsis: "list",
    summary: "List the host's payloads: name, state, last error, metadata",
    load: async () => (await import("./commands/list.ts")).listCommand,
  },
  {
    name: "apply",
    synopsis: "apply <name> [--nodeps]",
    summary: "Apply an uploaded payload (patch the running hypervisor)",
    load: async () => (await import("./commands/actions.ts")).applyCommand,
  },
  {
    name: "revert",
    synopsis: "revert <name>",
    summary: "Revert an applied payload (restore the original code)",
    load: async () => (await import("./commands/actions.ts")).revertCommand,
  },
  {
    name: "replace",
    synopsis: "replace <name>",
    summary: "Apply a payload after reverting every applied one, atomically",
    load: async () => (await import("./commands/actions.ts")).replaceCommand,
  },
  {
    name: "unload",
    synopsis: "unload <name>",
    summary: "Unload a CHECKED payload (free it)",
    load: async () => (await import("./commands/actions.ts")).unloadCommand,
  },
  {
    name: "load",
    synopsis: "load <file> [--nodeps]",
    summary: "Upload and apply a payload named after its file; unload it if the apply fails",
    load: async () => (await import("./commands/load.ts")).loadCommand,
  },
  {
    name: "host",
    synopsis: "host <init|status|reset|run>",
    summary: "Create, show, reset or run the simulated host (init, status, reset, run)",
    load: async () => (await import("./commands/host.ts")).hostCommand,
  },
  {
    name: "inspect",
    synopsis: "inspect <payload> [--json]",
    summary: "Show a payload's funcs, build-ids, hooks, metadata, sections and relocations",
    load: async () => (await import("./commands/inspect.ts")).inspectCommand,
  },
  {
    name: "sign",
    synopsis:
      "sign --key KEY --cert CERT [--hash H] [--keyid] [--detached] [--legacy] [-o OUT] <file>",
    summary: "Append a module signature (sign-file compatible), or write a detached .p7s",
    load: async () => (await import("./commands/sign.ts")).signCommand,
  },
  {
    name: "verify",
    synopsis: "verify --trust CERT_OR_FOLDER [--json] <file>",
    summary: "Check a payload's appended signature against trusted certificates",
    load: async () => (await import("./commands/verify.ts")).verifyCommand,
  },
  {
    name: "extract",
    synopsis: "extract <file> [--payload OUT] [--signature OUT] [--json]",
    summary: "Split a signed file into its payload and raw PKCS#7 (extract-module-sig)",
    load: async () => (await import("./commands/extract.ts")).extractCommand,
  },
  {
    name: "check",
    synopsis: "check <payload...> --xen-syms FILE",
    summary: "Verify payloads against an image: every finding at once, exit 1 on errors",
    load: async () => (await import("./commands/check.ts")).checkCommand,
  },
  {
    name: "disasm",
    synopsis: "disasm <symbol|address>",
    summary: "Disassemble host code, annotating applied trampolines and their targets",
    load: async () => (await import("./commands/disasm.ts")).disasmCommand,
  },
  {
    name: "call",
    synopsis: "call <symbol> [args] [--string]",
    summary: "Run a hypervisor function on the host (patches in effect) and print its result",
    load: async () => (await import("./commands/call.ts")).callCommand,
  },
  {
    name: "cpus",
    synopsis: "cpus",
    summary: "Show each CPU of the host: what it does and its call chain",
    load: async () => (await import("./commands/cpus.ts")).cpusCommand,
  },
];
