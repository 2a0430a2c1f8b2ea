/**
 * The `lpkit` command-line tool, as a library: {@linkcode main} runs a
 * command line against an {@linkcode Io} (the real process or a test double).
 * This front door exports every command and helper, so importing it loads
 * every package; the executable (`main.ts`) imports `cli.ts` instead, which
 * loads only the command that runs.
 *
 * @example
 * ```ts
 * import { main, processIo } from "@lpkit/cli";
 * const code = await main(["help"], processIo());
 * ```
 *
 * @module
 */
export * from "./cli.ts";
export * from "./command.ts";
export { type CommandEntry, COMMANDS } from "./commands.ts";
export * from "./describe_error.ts";
export * from "./errors.ts";
export * from "./example_files.ts";
export * from "./lock.ts";
export * from "./platform.ts";
export * from "./progress.ts";
export * from "./session.ts";
export * from "./signatures.ts";
export * from "./state.ts";
export * from "./sys_errors.ts";
export * from "./units.ts";
export * from "./xen_tool.ts";
export {
  inspectCommand,
  inspectPayload,
  type InspectReport,
  renderInspect,
} from "./commands/inspect.ts";
export { listCommand, type ListReport } from "./commands/list.ts";
export { loadCommand, loadName, type LoadReport } from "./commands/load.ts";
export { applyCommand, replaceCommand, revertCommand, unloadCommand } from "./commands/actions.ts";
export { uploadCommand } from "./commands/upload.ts";
export { hostCommand, type HostReport } from "./commands/host.ts";
export { callCommand, type CallReport } from "./commands/call.ts";
export { cpusCommand, type CpusReport, cpusReport } from "./commands/cpus.ts";
export {
  type DisasmBlock,
  disasmCommand,
  type DisasmReport,
  disasmReport,
  type PatchSite,
  patchSites,
} from "./commands/disasm.ts";
export { checkCommand, type CheckDocument } from "./commands/check.ts";
