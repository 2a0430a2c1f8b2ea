/**
 * The `lpkit` command-line tool, as a library: {@linkcode main} runs a
 * command line against an {@linkcode Io} (the real process or a test double).
 *
 * @example
 * ```ts
 * import { main, processIo } from "@lpkit/cli";
 * const code = main(["help"], processIo());
 * ```
 *
 * @module
 */
export * from "./cli.ts";
export * from "./command.ts";
export { COMMANDS } from "./commands.ts";
export * from "./errors.ts";
export * from "./platform.ts";
export {
  inspectCommand,
  inspectPayload,
  type InspectReport,
  renderInspect,
} from "./commands/inspect.ts";
