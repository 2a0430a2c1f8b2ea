/**
 * The registry of `lpkit` commands, in the order `lpkit help` lists them.
 * Adding a command: write `commands/<name>.ts` exporting a {@linkcode Command}
 * and list it here.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { applyCommand, replaceCommand, revertCommand, unloadCommand } from "./commands/actions.ts";
import { callCommand } from "./commands/call.ts";
import { checkCommand } from "./commands/check.ts";
import { cpusCommand } from "./commands/cpus.ts";
import { disasmCommand } from "./commands/disasm.ts";
import { extractCommand } from "./commands/extract.ts";
import { hostCommand } from "./commands/host.ts";
import { inspectCommand } from "./commands/inspect.ts";
import { listCommand } from "./commands/list.ts";
import { loadCommand } from "./commands/load.ts";
import { signCommand } from "./commands/sign.ts";
import { uploadCommand } from "./commands/upload.ts";
import { verifyCommand } from "./commands/verify.ts";

/** Every command, in help order. */
export const COMMANDS: readonly Command[] = [
  uploadCommand,
  listCommand,
  applyCommand,
  revertCommand,
  replaceCommand,
  unloadCommand,
  loadCommand,
  hostCommand,
  inspectCommand,
  signCommand,
  verifyCommand,
  extractCommand,
  checkCommand,
  disasmCommand,
  callCommand,
  cpusCommand,
];
